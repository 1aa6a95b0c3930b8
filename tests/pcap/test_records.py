"""Typed records (dissectors/pcap/records.py) and their one renderer (dissectors/pcap/render.py).

Oracles: the octets fed to the session (a record's wire octets and the keylog's MSG line must be
exactly them), ``json.dumps`` (the orjson fast path must write its very text), and the rendering
before a pickle round trip (records cross process boundaries: worker pools, the Dask engine).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.keys import load_keys
from dissectors.pcap import dissect, keylog, render
from dissectors.pcap.records import MediaRecord, MikeyRecord, Origin
from dissectors.pcap.session import Session, Unit

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
SAMPLES = PCAPS / "messages"
CAPTURES = sorted(p.name for p in PCAPS.glob("*.pcapng"))


def _ring():
    return load_keys([PCAPS / "keyring.toml", PCAPS / "smime-keys.pem"])


@pytest.mark.parametrize("capture", CAPTURES)
def test_records_pickle_and_render_the_same(capture):
    recs = list(dissect.records(PCAPS / capture, Session(keyring=_ring()), workers=1))
    assert recs
    for rec in recs:
        assert not isinstance(rec, dict)  # typed all the way to the edge
        back = pickle.loads(pickle.dumps(rec))
        for show in (False, True):
            assert render.record_json(back, show) == render.record_json(rec, show)


def test_mikey_record_holds_the_message_its_octets_and_results():
    pck = bytes.fromhex((SAMPLES / "mikey-sakke-pck.hex").read_text())
    s = Session(keyring=load_keys([SAMPLES / "bob.keyring.toml"]))
    (rec,) = s.analyze(Unit([7], 1.5, "udp", "192.0.2.1", 2269, "192.0.2.2", 2269, pck))
    assert isinstance(rec, MikeyRecord) and rec.kind == "mikey" and rec.frame == 7
    assert rec.wire == pck and rec.error is None
    assert rec.message.hdr.csb_id == int.from_bytes(pck[4:8], "big")  # RFC 3830 §6.1: octets 4-7
    assert rec.sakke.verified is True and len(rec.sakke.ssv) == 16
    # secrets are the renderer's to hide
    shown, hidden = render.record_json(rec, True), render.record_json(rec, False)
    sakke = [p["mikey.sakke"] for p in shown["mikey"]["mikey"] if "mikey.sakke" in p][0]
    assert sakke["mikey.sakke.ssv"] == rec.sakke.ssv.hex()
    assert rec.sakke.ssv.hex() not in json.dumps(hidden)
    # the keylog's octets are the captured ones, not a re-encoding
    lines = keylog.lines_from_records([rec])
    assert lines[0] == f"MSG {keylog.message_id(pck)} octets={pck.hex()}"
    assert f"ssv={rec.sakke.ssv.hex()}" in lines[1]


def test_undecodable_mikey_keeps_its_octets_and_gives_no_keylog_line():
    pck = bytes.fromhex((SAMPLES / "mikey-sakke-pck.hex").read_text())[:-20]
    (rec,) = Session(keyring=None).analyze(Unit([1], 0.0, "udp", "a", 2269, "b", 2269, pck))
    assert rec.message is None and rec.wire == pck and rec.error.path.endswith("signature")
    assert render.record_json(rec)["error"]["offset"] == rec.error.offset
    assert keylog.lines_from_records([rec]) == []


def test_media_record_kind_is_its_protocol():
    class Res:
        kind, ok, mki, label, ssrc, error, floor = "srtcp", False, b"\x01", "k", 5, "tag", None
        floor_control, floor_errors, plaintext = [], [], None
    o = Origin(3, (3,), 0.0, "udp", "a", 1, "b", 2)
    d = render.record_json(MediaRecord(origin=o, result=Res(), wire=b"xyz"))
    assert d["kind"] == "srtcp" and d["error"] == {"reason": "tag"} and "plaintext" not in d


# -- JSON text: orjson only where it writes json.dumps' very bytes ------------------------------
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2 ** 80, max_value=2 ** 80)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(_json_values)
def test_dumps_compact_is_json_dumps(value):
    assert render.dumps_compact(value) == json.dumps(value, separators=(",", ":"))
    assert render.dumps(value) == json.dumps(value)


@pytest.mark.parametrize("value", [1e-07, 1.5e-05, -2.5e-9, 1e16, 1e300, 0.0001, "é", "\x7f",
                                   {1: "int key"}, 2 ** 64, "5e-3 in text", [0.00001]])
def test_dumps_compact_edge_cases(value):
    assert render.dumps_compact({"v": value}) == json.dumps({"v": value}, separators=(",", ":"))
