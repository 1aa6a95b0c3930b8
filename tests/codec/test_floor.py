"""MCPTT floor control (TS 24.380 §8.2) decoded from opened SRTCP: codec/floor.py.

Oracle: tshark, which decodes RTCP APP "MCPT" packets in the clear; every packet is written to a
pcap as plain RTCP and tshark's ``rtcp.*`` fields are compared with ours, field by field.  The
floor control of the sample captures is checked the same way after `mcsec dissect` decrypted it
from the SRTCP with the keys from the MIKEY-SAKKE messages.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codec import floor as floor_control
from codec.errors import DecodeError
from dissectors.pcap import dissect
from dissectors.keys import load_keys
from dissectors.pcap.session import Session
from tests.conftest import write_udp_pcap

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())
PORT = 5001
MCPTT_TREE = "Mission Critical Push To Talk(MCPTT)"

SSRC = 0x11223344
ALICE = b"sip:alice@mcptt.example.org"
CRAFTED = [
    floor_control.app_packet(SSRC, floor_control.FLOOR_REQUEST, floor_control.field(0, b"\x07\x00") + floor_control.field(6, ALICE)),
    floor_control.app_packet(SSRC, floor_control.FLOOR_GRANTED, floor_control.field(1, b"\x00\x1e") + floor_control.field(4, ALICE)
                             + floor_control.field(8, b"\x00\x05")),
    floor_control.app_packet(SSRC, floor_control.FLOOR_DENY, floor_control.field(2, b"\x00\x04busy") + floor_control.field(13, b"\x90\x00")),
    floor_control.app_packet(SSRC, floor_control.FLOOR_REVOKE, floor_control.field(2, b"\x00\x02")),
    floor_control.app_packet(SSRC, 9, floor_control.field(3, b"\x02\x07") + floor_control.field(10, b"\x00\x02")
                             + floor_control.field(14, b"\x01\x02\x03\x04\x00\x00")),
    floor_control.app_packet(SSRC, 0x11, floor_control.field(12, b"\x04\x00") + floor_control.field(5, b"\x00\x01")
                             + floor_control.field(7, b"\x00\x03") + floor_control.field(9, b"sip:carol@x")),
    floor_control.app_packet(SSRC, floor_control.FLOOR_IDLE, floor_control.field(17, b"fire-chief") + floor_control.field(8, b"\x00\x09")),
    floor_control.app_packet(SSRC, floor_control.FLOOR_RELEASE),
]


def _tshark_rtcp(tshark, tmp_path, packets) -> list[dict]:
    pcap = tmp_path / "rtcp.pcap"
    write_udp_pcap(pcap, packets, port=PORT)
    out = subprocess.run([tshark, "-r", str(pcap), "-d", f"udp.port=={PORT},rtcp", "-T", "json",
                          "--no-duplicate-keys"], capture_output=True, text=True, check=True)
    return [f["_source"]["layers"]["rtcp"] for f in json.loads(out.stdout)]


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _agree(ours: dict, theirs: dict, where: str):
    assert int(theirs["rtcp.app.subtype"]) == ours["rtcp.app.subtype"], where
    assert int(theirs["rtcp.ssrc.identifier"], 16) == ours["rtcp.ssrc.identifier"], where
    assert theirs["rtcp.app.name"] == ours["rtcp.app.name"] == "MCPT", where
    tree = theirs.get(MCPTT_TREE)
    tree = tree if isinstance(tree, dict) else {}  # a message without fields: an empty item
    fields = ours["rtcp.mcptt.fields"]
    assert [int(x) for x in _as_list(tree.get("rtcp.mcptt.fld_id", []))] == [
        f["rtcp.mcptt.fld_id"] for f in fields], where
    assert [int(x) for x in _as_list(tree.get("rtcp.mcptt.fld_len", []))] == [
        f["rtcp.mcptt.fld_len"] for f in fields], where
    compared = 0
    for f in fields:
        for key, value in f.items():
            if key.startswith("rtcp.mcptt.fld_") or key.endswith("_name"):
                continue
            got = tree.get(key)
            assert got is not None, f"{where}: tshark has no {key}"
            got = _as_list(got)
            assert (value in [int(x, 0) for x in got] if isinstance(value, int) else value in got
                    ), f"{where}: {key} {value!r} / tshark {got!r}"
            compared += 1
    return compared


def test_crafted_floor_messages_decode_as_tshark_does(tshark, tmp_path):
    theirs = _tshark_rtcp(tshark, tmp_path, CRAFTED)
    compared = 0
    for i, (packet, t) in enumerate(zip(CRAFTED, theirs)):
        (off, ours), = floor_control.floor_messages(packet)
        assert off == 0
        compared += _agree(ours, t, f"packet {i}")
    assert compared >= 18  # every value-decoded field type of CRAFTED was checked
    # names: TS 24.380 message types, ack-required bit, per-message reject causes
    names = [floor_control.floor_messages(p)[0][1]["rtcp.app.subtype_name"] for p in CRAFTED]
    assert names[:4] == ["Floor Request", "Floor Granted", "Floor Deny", "Floor Revoke"]
    assert names[5] == "Floor Granted(ack req)"
    deny = floor_control.floor_messages(CRAFTED[2])[0][1]["rtcp.mcptt.fields"][0]
    assert deny["rtcp.app_data.mcptt.rej_cause.floor_deny_name"] == "Retry-after timer has not expired"


def _floor_entries():
    return [e for e in MANIFEST["entries"] if e["kind"] == "srtcp" and e.get("floor_message")]


def test_decrypted_floor_control_of_the_captures_equals_tshark_on_the_plaintext(tshark, tmp_path):
    """mcsec dissect opens the SRTCP (keys from MIKEY-SAKKE) and decodes the floor control; tshark
    decodes the generator's plaintext of the same packets: the two agree, message by message."""
    entries = _floor_entries()
    assert len(entries) >= 8
    theirs = _tshark_rtcp(tshark, tmp_path, [bytes.fromhex(e["rtcp"]) for e in entries])
    ring = load_keys([PCAPS / "keyring.toml"])
    by_capture = {}
    for cap in sorted({e["capture"] for e in entries}):
        recs = dissect.record_dicts(PCAPS / cap, Session(keyring=ring), workers=1)
        by_capture[cap] = {r["frame"]: r for r in recs if r.get("kind") == "srtcp"}
    compared = 0
    for e, t in zip(entries, theirs):
        rec = by_capture[e["capture"]][e["frame"]]
        assert rec["ok"], (e["capture"], e["frame"])
        assert rec["floor"] == e["floor_message"]
        (ours,) = rec["floor_control"]
        compared += _agree(ours, t, f"{e['capture']} frame {e['frame']}")
    assert compared >= len(entries) // 2
    taken = [r for c in by_capture.values() for r in c.values() if r.get("floor") == "Floor Taken"]
    assert taken and all(
        r["floor_control"][0]["rtcp.mcptt.fields"][0]["rtcp.mcptt.granted_partys_id"].startswith(
            "sip:alice@") for r in taken)


@pytest.mark.parametrize("packet,path,offset", [
    (floor_control.app_packet(SSRC, 0)[:8], "rtcp.app", 0),
    (floor_control.app_packet(SSRC, 0, bytes([0, 9, 7, 0])), "rtcp.mcptt.fields[0].value", 14),
    (floor_control.app_packet(SSRC, 0, floor_control.field(1, b"\x00\x1e") + bytes([2, 1, 0, 0])),
     "rtcp.mcptt.fields[1].value", 18),
    (floor_control.app_packet(SSRC, 0, floor_control.field(4, b"\xff\xfe")), "rtcp.mcptt.fields[0].value", 14),
])
def test_malformed_floor_messages_give_path_and_offset(packet, path, offset):
    with pytest.raises(DecodeError) as ei:
        floor_control.decode_app(packet)
    assert (ei.value.path, ei.value.offset) == (path, offset), ei.value


def test_malformed_floor_message_in_a_compound_packet_is_reported_not_raised():
    rr = bytes([0x80, 201, 0, 1]) + SSRC.to_bytes(4, "big")  # an empty Receiver Report
    bad = floor_control.app_packet(SSRC, 0, bytes([0, 9, 7, 0]))
    good = floor_control.app_packet(SSRC, floor_control.FLOOR_RELEASE, floor_control.field(8, b"\x00\x01"))
    (o1, m1), (o2, m2) = floor_control.floor_messages(rr + bad + good)
    assert isinstance(m1, DecodeError) and (o1, m1.offset) == (8, 8 + 14)
    assert o2 == 8 + len(bad) and m2["rtcp.app.subtype_name"] == "Floor Release"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_random_rtcp_never_raises(data):
    for _, msg in floor_control.floor_messages(data):
        assert isinstance(msg, (dict, DecodeError))
    try:
        floor_control.decode_app(data)
    except DecodeError:
        pass
