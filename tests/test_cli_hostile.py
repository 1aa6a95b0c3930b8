"""Issue 15: hostile and careless input never ends the command line in a traceback.

Every case runs ``dissectors.cli.main`` in-process: an exception escaping it is the traceback a
user would see.  Exit codes are those of the README: 1 does not decode, 2 usage / key file,
3 a verification check failed.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import struct
from pathlib import Path

import pytest

from dissectors.cli import main

ROOT = Path(__file__).resolve().parent.parent
PCAPS = ROOT / "pcaps"
KEYRING = PCAPS / "keyring.toml"


def run(argv, stdin: bytes = b"") -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``mcsec argv``; any exception fails the test."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin = __import__("sys").stdin
    __import__("sys").stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in argv])
            except SystemExit as e:  # argparse usage errors
                rc = e.code
    finally:
        __import__("sys").stdin = old_stdin
    assert "Traceback" not in err.getvalue()
    return rc, out.getvalue(), err.getvalue()


# -- a capture written here, independently of codec/capture.py (pcap: libpcap file format) -------
def _ip_udp(payload: bytes, sport: int = 5060, dport: int = 5060) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                       bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp


def _pcap(payloads) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)  # LINKTYPE_RAW
    for i, p in enumerate(payloads):
        frame = _ip_udp(p)
        out += struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame
    return out


BAD_SIP = (b"MESSAGE sip:bob@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\n"
           b"this header line has no colon\r\nCall-ID: hostile-1\r\nCSeq: 1 MESSAGE\r\n"
           b"Content-Length: 0\r\n\r\n")
GOOD_SIP = BAD_SIP.replace(b"this header line has no colon\r\n", b"").replace(b"hostile-1",
                                                                              b"fine-2")


@pytest.fixture(scope="module")
def bad_sip_capture(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "bad-sip.pcap"
    path.write_bytes(_pcap([BAD_SIP, GOOD_SIP]))
    return path


@pytest.mark.parametrize("mode", [[], ["--brief"], ["--stats"]])
def test_malformed_sip_header_line_text_modes(bad_sip_capture, mode):
    rc, out, err = run(["dissect", bad_sip_capture, "--no-progress", "--filter", "all"] + mode)
    assert rc == 0
    lines = out.splitlines()
    first = [ln for ln in lines if ln.split()[:1] == ["1"]]
    assert first and "SIP MESSAGE" in first[0] and "SIP ERROR" in first[0]
    assert any(ln.split()[:1] == ["2"] and "SIP MESSAGE" in ln for ln in lines)  # carries on
    if not mode or mode == ["--stats"]:
        offset = BAD_SIP.index(b"this header")
        assert f"at offset {offset}:" in out and "sip.Call-ID: hostile-1" in out


def test_malformed_sip_header_line_json_keeps_fields_and_error(bad_sip_capture):
    rc, out, _ = run(["dissect", bad_sip_capture, "--no-progress", "--format", "json"])
    assert rc == 0
    pkt = json.loads(out.splitlines()[0])
    sip = pkt["layers"]["sip"]
    assert isinstance(sip, dict)
    assert sip["sip.Call-ID"] == "hostile-1" and sip["sip.Method"] == "MESSAGE"
    assert sip["mcsec.error"]["offset"] == BAD_SIP.index(b"this header")


# -- one bit flipped in every 400 octets of each sample capture, every output mode -------------
def _flip_bits(data: bytes, seed: str) -> bytes:
    rng = random.Random(seed)
    b = bytearray(data)
    for start in range(0, len(b), 400):
        b[start + rng.randrange(min(400, len(b) - start))] ^= 1 << rng.randrange(8)
    return bytes(b)


MODES = {"text": [], "brief": ["--brief"], "stats": ["--stats"], "json": ["--format", "json"],
         "jsonl-records": ["--format", "jsonl-records"], "keylog": None}
CAPTURES = sorted(p.name for p in PCAPS.glob("*.pcapng"))


@pytest.fixture(scope="module")
def mutated(tmp_path_factory):
    d = tmp_path_factory.mktemp("flipped")
    paths = {}
    for name in CAPTURES:
        data = (PCAPS / name).read_bytes()
        flipped = _flip_bits(data, f"issue-15 {name}")
        assert flipped != data and len(flipped) == len(data)
        paths[name] = d / name
        paths[name].write_bytes(flipped)
    return paths


def test_sample_captures_are_there():
    assert len(CAPTURES) >= 9


@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize("mode", list(MODES))
def test_bit_flipped_captures_every_mode(mutated, tmp_path, capture, mode):
    path = mutated[capture]
    if MODES[mode] is None:
        argv = ["keylog", path, "--keys", KEYRING, "-o", tmp_path / "keylog.txt"]
    else:
        argv = ["dissect", path, "--keys", KEYRING, "--workers", "1", "--no-progress",
                "--filter", "all"] + MODES[mode]
    rc, out, err = run(argv)
    assert rc == 0, err
    if mode in ("json", "jsonl-records"):
        for line in out.splitlines():
            json.loads(line)
    elif mode == "stats":
        stats = json.loads(err.splitlines()[-1])["mcsec.stats"]
        assert stats["frames"]["total"] + stats["capture_errors"] > 0
