"""Differential test of ``mcsec dissect --format json`` (per packet) against the real tshark.

tshark runs once per capture (``-T json --no-duplicate-keys``, repeated fields as lists).  For
every frame our output lists, every ``sip.*`` and ``sdp.*`` field name both emit must have the same
value(s); ``mikey.*`` likewise for the messages tshark 4.0 decodes correctly (SDP session-level
key-mgmt with an Empty or SRTP-ID map: tshark mis-parses GENERIC-ID maps, see README).  A missing
tshark fails these tests.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dissectors.pcap import dissect, output
from dissectors.keys import load_keys

PCAPS = Path(__file__).resolve().parents[3] / "pcaps"
CAPTURES = ["csk-upload.pcapng", "private-call.pcapng", "group-call.pcapng", "smime.pcapng",
            "psk-smime.pcapng", "transports.pcapng", "malformed.pcapng",
            "kms-provisioning.pcapng", "sip-tls-dsb.pcapng"]
# fields whose text tshark renders differently from the wire value (not a disagreement on value)
MIKEY_SKIP = {"mikey.t.ntp": "tshark rounds the NTP fraction (…885999999 vs …886000000)"}


def _tshark(capture: Path) -> dict:
    out = subprocess.run(["tshark", "-r", str(capture), "-T", "json", "--no-duplicate-keys",
                          "-o", "sdp.establish_conversation:FALSE"],
                         check=True, capture_output=True, timeout=120).stdout
    return {int(p["_source"]["layers"]["frame"]["frame.number"]): p["_source"]["layers"]
            for p in json.loads(out)}


def _collect(tree, prefix: str, acc: dict) -> None:
    """Every ``prefix*`` field of a tshark JSON tree, name -> list of string values."""
    if isinstance(tree, list):
        for x in tree:
            _collect(x, prefix, acc)
    elif isinstance(tree, dict):
        for k, v in tree.items():
            if k == "mikey" and prefix != "mikey.":
                continue
            if k.startswith(prefix) and not isinstance(v, dict):
                for x in (v if isinstance(v, list) else [v]):
                    if not isinstance(x, dict):
                        acc.setdefault(k, []).append(x)
            _collect(v, prefix, acc)


def _mikey_trees(tree, acc: list) -> list:
    if isinstance(tree, list):
        for x in tree:
            _mikey_trees(x, acc)
    elif isinstance(tree, dict):
        for k, v in tree.items():
            if k == "mikey":
                acc.append(v)
            else:
                _mikey_trees(v, acc)
    return acc


def _norm(v) -> str:
    s = str(v).strip()
    if s.startswith("0x"):
        return str(int(s, 16))
    if len(s) > 2 and s[2:3] == ":" and all(len(b) == 2 for b in s.split(":")):
        try:
            return bytes.fromhex(s.replace(":", "")).hex()
        except ValueError:
            pass
    return s


def _ours(capture: Path) -> dict:
    ring = load_keys([PCAPS / "keyring.toml", PCAPS / "smime-keys.pem"])
    session = output.PacketSession(keyring=ring)
    return {p["frame"]: p for p in output.Packets(dissect.records(capture, session), session)}


@pytest.fixture(scope="module", params=CAPTURES)
def both(request):
    cap = PCAPS / request.param
    return request.param, _ours(cap), _tshark(cap)


def test_sip_and_sdp_fields_equal_tshark(both):
    name, ours, theirs = both
    compared = 0
    for frame, pkt in ours.items():
        for layer, prefix in (("sip", "sip."), ("sdp", "sdp.")):
            mine = pkt["layers"].get(layer)
            if not mine:
                continue
            ts: dict = {}
            _collect(theirs[frame].get("sip", {}), prefix, ts)
            common = set(mine) & set(ts)
            assert "sip.Call-ID" in common or layer == "sdp", (name, frame, sorted(ts)[:20])
            for field in common:
                want = [_norm(x) for x in ts[field]]
                got = [_norm(x) for x in (mine[field] if isinstance(mine[field], list)
                                          else [mine[field]])]
                assert got == want, (name, frame, field)
                compared += 1
    if any("sip" in p["layers"] for p in ours.values()):
        assert compared > 0


def _flatten_ours(doc: dict) -> dict:
    """Our MIKEY doc (list of {payload: fields}) grouped as tshark's: name -> [fields, …]."""
    out: dict = {}
    for p in doc.get("mikey", []):
        (pname, obj), = p.items()
        out.setdefault(pname, []).append(obj)
    return out


def test_mikey_fields_equal_tshark_where_tshark_decodes(both):
    name, ours, theirs = both
    compared = 0
    for frame, pkt in ours.items():
        mine = pkt["layers"].get("mikey", [])
        trees = _mikey_trees(theirs[frame], [])
        if not mine or len(trees) != len(mine):
            continue
        for doc, tree in zip(mine, trees):
            hdr = doc["mikey"][0]["mikey.hdr"]
            if (doc.get("mcsec.carrier") != "sdp session" or hdr["mikey.cs_id_map_type"] == 2
                    or doc.get("mcsec.error")):
                continue
            grouped = _flatten_ours(doc)
            for pname, objs in grouped.items():
                theirs_p = tree.get(pname)
                theirs_p = theirs_p if isinstance(theirs_p, list) else [theirs_p]
                assert len(theirs_p) == len(objs), (name, frame, pname)
                for o, t in zip(objs, theirs_p):
                    for field in set(o) & set(t or {}):
                        if field in MIKEY_SKIP or isinstance(o[field], (dict, list)):
                            continue
                        assert _norm(o[field]) == _norm(t[field]), (name, frame, pname, field)
                        compared += 1
    if name == "private-call.pcapng":  # even calls: PCK at session level, Empty map
        assert compared > 20, name


def test_filter_all_lists_every_frame_tshark_counts(both):
    name, _, theirs = both
    session = output.PacketSession()
    stats = output.Stats()
    from dissectors.pcap.capture import read_frames
    pkts = list(output.Packets(dissect.records(PCAPS / name, session), session, filt="all",
                               frames=read_frames(PCAPS / name), stats=stats))
    assert [p["frame"] for p in pkts] == sorted(theirs)
    assert stats.to_json()["frames"]["total"] == len(theirs)
    for p in pkts:  # addresses as tshark gives them (outermost IP header)
        t = theirs[p["frame"]]
        ip = t.get("ip") or t.get("ipv6")
        if ip and p.get("src") and p.get("transport") != "tls":
            assert p["src"] in (ip.get("ip.src"), ip.get("ipv6.src")), (name, p["frame"])
