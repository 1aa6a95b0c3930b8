"""The once-per-distinct-message caches of `mcsec dissect` (dissectors/pcap/message_cache.py,
issue 17) change no output: the same I_MESSAGE in many packets (other frames, addresses, times,
receivers, carriers; with and without keys and secrets; copies that decode and one that does
not) gives byte for byte what a run with the caches off gives, every JSON line is what
``json.dumps`` writes for the object it parses to, and the caches stay within their bounds."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.cli import main
from dissectors.pcap import message_cache
from dissectors.pcap.message_cache import BoundedCache
from tests.support.capture_util import pcap_file

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
PCK = bytes.fromhex("".join(
    line for line in (PCAPS / "messages" / "mikey-sakke-pck.hex").read_text().split()
    if not line.startswith("#")))
GMK_LINE = next(line for line in (PCAPS / "messages" / "mikey-sakke-gmk.sdp").read_text().splitlines()
                if line.startswith("a=key-mgmt:mikey "))
GMK = base64.b64decode(GMK_LINE.split(" ", 1)[1])
KEYS = ["--keys", str(PCAPS / "messages" / "bob.keyring.toml")]
ETHERNET_IPV4 = bytes(12) + b"\x08\x00"


def _udp_frame(src: int, dst: int, sport: int, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     bytes([10, 0, 0, src]), bytes([10, 0, 1, dst]))
    return ETHERNET_IPV4 + ip + udp


def _invite(n: int, key_mgmt: str) -> bytes:
    sdp = (f"v=0\r\no=- {n} 1 IN IP4 10.0.0.{n}\r\ns=-\r\nc=IN IP4 10.0.0.{n}\r\nt=0 0\r\n"
           f"{key_mgmt}\r\nm=audio {4000 + n} RTP/SAVP 96\r\n").encode()
    head = (f"INVITE sip:bob@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.{n};branch=z9hG4bK{n}\r\n"
            f"From: <sip:alice@example.org>;tag={n}\r\nTo: <sip:bob@example.org>\r\n"
            f"Call-ID: call-{n}\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp)}\r\n\r\n").encode()
    return head + sdp


@pytest.fixture(scope="module")
def repeated_capture(tmp_path_factory) -> Path:
    """The PCK again and again to port 2269 from other hosts and ports to two receivers (so
    some copies are RFC 3830 §5.4 replays and some are not), at times near and far from its T
    (clock skew), a GMK in SIP INVITEs, a copy cut short (a decode error) and one with a
    changed octet (another message)."""
    frames = []
    t0 = 1_761_009_600
    for i in range(40):
        if i % 10 == 7:
            payload, dport = _invite(i, GMK_LINE), 5060
        elif i == 13:
            payload, dport = PCK[:-9], 2269
        elif i == 21:
            payload, dport = PCK[:40] + bytes([PCK[40] ^ 1]) + PCK[41:], 2269
        else:
            payload, dport = PCK, 2269
        sport = 5060 if dport == 5060 else 40000 + i
        when = t0 + i * 37 + (10**6 if i % 5 == 3 else 0)
        frames.append((when, i * 1000, _udp_frame(i % 7 + 1, i % 2 + 1, sport, dport, payload)))
    path = tmp_path_factory.mktemp("cache") / "repeated.pcap"
    path.write_bytes(pcap_file("<", 1, frames))
    return path


MODES = {"json": ["--format", "json"], "all": ["--format", "json", "--filter", "all"],
         "records": ["--format", "jsonl-records"], "text": [], "brief": ["--brief"]}


def _dissect(capsys, path, *argv) -> str:
    capsys.readouterr()
    assert main(["dissect", str(path), "--no-progress", "--workers", "1", *argv]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("keys", ["nokeys", "keys", "secrets"])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_cached_output_is_the_uncached_output(capsys, repeated_capture, mode, keys):
    argv = MODES[mode] + {"nokeys": [], "keys": KEYS, "secrets": KEYS + ["--show-secrets"]}[keys]
    try:
        message_cache.set_enabled(False)
        uncached = _dissect(capsys, repeated_capture, *argv)
        message_cache.set_enabled(True)
        first = _dissect(capsys, repeated_capture, *argv)  # fills the caches
        again = _dissect(capsys, repeated_capture, *argv)  # every message from the caches
    finally:
        message_cache.set_enabled(True)
    assert first == uncached and again == uncached
    if mode != "text" and mode != "brief":
        lines = again.splitlines()
        assert len(lines) >= 39
        for line in lines:  # the spliced text is the encoder's own (json.dumps defaults)
            assert json.dumps(json.loads(line)) == line


def test_the_capture_exercises_what_the_cache_must_not_change(capsys, repeated_capture):
    pkts = [json.loads(x) for x in _dissect(capsys, repeated_capture, "--format", "json").splitlines()]
    mikey = [e for p in pkts for e in p["layers"].get("mikey", [])]
    assert len(mikey) == 40
    assert sum("mikey.replay" in e for e in mikey) >= 10  # copies to the same receiver
    assert sum("mikey.clock_skew" in e for e in mikey) >= 5
    assert sum("mcsec.error" in e for e in mikey) == 1
    assert sum(e.get("mcsec.carrier", "").startswith("sdp") for e in mikey) == 4
    assert len({json.dumps(e["mikey"]) for e in mikey if "mcsec.error" not in e}) == 3


def test_cache_bounded_by_entries_in_the_dissector(capsys, repeated_capture):
    want = _dissect(capsys, repeated_capture, "--format", "json")
    saved = [(c.max_entries, c.max_octets) for c in message_cache.ALL]
    try:
        for c in message_cache.ALL:
            c.max_entries = 1
            c.clear()
        assert _dissect(capsys, repeated_capture, "--format", "json") == want
        assert all(len(c) <= 1 for c in message_cache.ALL)
        for c in message_cache.ALL:
            c.max_entries, c.max_octets = 1024, 100  # smaller than any message: none kept
            c.clear()
        assert _dissect(capsys, repeated_capture, "--format", "json") == want
        assert all(len(c) == 0 for c in message_cache.ALL)
    finally:
        for c, (n, o) in zip(message_cache.ALL, saved):
            c.max_entries, c.max_octets = n, o
            c.clear()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 40)), max_size=60),
       st.integers(1, 5), st.integers(1, 100))
def test_bounded_cache_is_an_lru_within_both_bounds(ops, max_entries, max_octets):
    cache = BoundedCache(max_entries, max_octets)
    model: list = []  # (key, value, size), least recently used first: a second method
    for n, (key, size) in enumerate(ops):
        if n % 3 == 2:  # a lookup: a hit becomes the most recently used
            hit = next((e for e in model if e[0] == key), None)
            assert cache.get(key) == (hit[1] if hit else None)
            if hit:
                model.remove(hit)
                model.append(hit)
            continue
        cache.put(key, n, size)
        model = [e for e in model if e[0] != key]
        if size <= max_octets:
            model.append((key, n, size))
        while len(model) > max_entries or sum(e[2] for e in model) > max_octets:
            model.pop(0)
        assert len(cache) <= max_entries and cache.octets <= max_octets
        assert list(cache.entries) == [e[0] for e in model]
        assert cache.octets == sum(e[2] for e in model)
