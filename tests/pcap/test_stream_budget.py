"""One memory budget for every octet of TCP stream data held (issue 15): out-of-order segments in
the flow table and in-order partial messages in the SIP framers.  Over it the least recently fed
stream's data is given up, and the anomaly record names the frames given up.  The expected
frames are the ones this test wrote into the capture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from dissectors.pcap.flows import (FlowTable, Limits, StreamData, StreamEnd, StreamEvicted,
                              StreamStart)
from tests.support.capture_util import pcap_file

MCSEC = str(Path(sys.executable).parent / "mcsec")


class _F:
    def __init__(self, n, data):
        self.number, self.linktype, self.data = n, 1, data


def _tcp(sport, seq, flags, data=b"", dport=5060):
    pkt = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
           / IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=sport, dport=dport, seq=seq,
                                                        flags=flags))
    return bytes(pkt / Raw(data) if data else pkt)


def test_flow_table_evicts_the_least_recently_fed_out_of_order_data():
    table = FlowTable(Limits(max_total_buffer=250, history_bytes=0))
    events, n = [], 0
    for port in (1001, 1002, 1003):
        n += 1
        events += table.feed(_F(n, _tcp(port, 100, "S")))
    frames_of = {}
    for port in (1001, 1002, 1003):  # each: 100 octets beyond a 10-octet hole (out of order)
        n += 1
        frames_of[port] = n
        events += table.feed(_F(n, _tcp(port, 111, "PA", bytes([port & 0xFF]) * 100)))
    starts = {e.sport: e.flow_id for e in events if isinstance(e, StreamStart)}
    evicted = [e for e in events if isinstance(e, StreamEvicted)]
    assert len(evicted) == 1
    ev = evicted[0]
    assert (ev.flow_id, ev.direction, ev.frames, ev.octets) == (starts[1001], 0,
                                                                 (frames_of[1001],), 100)
    assert table.budget.total == 200 <= table.budget.limit
    # flow 1001's hole is filled later: its given-up octets are gone, the hole now reaches
    # to the end of what was sent; the other two still deliver their buffered data
    for port in (1002, 1003):
        n += 1
        events = table.feed(_F(n, _tcp(port, 101, "PA", b"x" * 10)))
        data = [e for e in events if isinstance(e, StreamData)]
        assert len(data) == 1 and data[0].data == b"x" * 10 + bytes([port & 0xFF]) * 100
        assert data[0].frames == (n, frames_of[port])
    n += 1
    events = table.feed(_F(n, _tcp(1001, 101, "PA", b"x" * 10)))
    data = [e for e in events if isinstance(e, StreamData)]
    assert len(data) == 1 and data[0].data == b"x" * 10
    ends = table.flush()
    assert table.budget.total == 0
    assert any(isinstance(e, StreamEnd) for e in ends)


def _partial_sip(i: int, size: int) -> bytes:
    head = (f"INVITE sip:bob{i}@example.org SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK{i}"
            f"\r\nCall-ID: {i}@budget\r\nCSeq: 1 INVITE\r\nContent-Length: {10 * size}\r\n\r\n")
    return (head.encode() + b"v=0\r\n" * size)[:size]


def test_dissect_gives_up_the_oldest_partial_message_and_names_its_frames(tmp_path):
    """Four streams each hold a 20,000-octet partial SIP message (two segments) and the last
    4,096 octets delivered (the retransmission check's history): 24,096 octets a stream, so a
    64 KiB budget holds two of them: the two oldest are given up, each reported with its frames."""
    frames, n = [], 0
    data_frames = {}
    for k, port in enumerate((2001, 2002, 2003, 2004)):
        frames.append(_tcp(port, 1000, "S"))
    size, seg = 20_000, 10_000
    for k, port in enumerate((2001, 2002, 2003, 2004)):  # one stream after the other
        msg = _partial_sip(k, size)
        for off in range(0, size, seg):
            frames.append(_tcp(port, 1001 + off, "PA", msg[off:off + seg]))
            data_frames.setdefault(port, []).append(len(frames))
    # then a complete message on the first (evicted) stream: framed again after the resync
    done = (b"MESSAGE sip:bob@example.org SIP/2.0\r\nCall-ID: after@budget\r\nCSeq: 2 MESSAGE"
            b"\r\nContent-Length: 0\r\n\r\n")
    frames.append(_tcp(2001, 1001 + size, "PA", done))
    cap = tmp_path / "budget.pcap"
    cap.write_bytes(pcap_file("<", 1, [(1_700_000_000, i, f) for i, f in enumerate(frames)]))
    r = subprocess.run([MCSEC, "dissect", str(cap), "--format", "jsonl-records", "--no-progress",
                        "--workers", "1", "--max-stream-memory", "64K"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    recs = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    given_up = [x for x in recs if x.get("kind") == "anomaly" and "given up" in x.get("what", "")]
    assert [x["frames"] for x in given_up] == [data_frames[2001], data_frames[2002]]
    for x in given_up:
        assert x["what"].startswith(f"{size} buffered octet(s) of frame(s) "
                                    f"{', '.join(map(str, x['frames']))} given up")
        assert "65536" in x["what"]
    # the two streams still held end incomplete at the end of the capture, as before
    incomplete = [x for x in recs if "incomplete message" in x.get("what", "")]
    assert sorted(x["what"].split(" ")[0] for x in incomplete) == [str(size), str(size)]

    r = subprocess.run([MCSEC, "dissect", str(cap), "--format", "jsonl-records", "--no-progress",
                        "--workers", "1", "--max-stream-memory", "1M"],
                       capture_output=True, text=True, timeout=300)
    assert "given up" not in r.stdout  # a budget that holds them all gives nothing up


def test_max_stream_memory_option_is_checked():
    for bad in ("-1", "12", "lots", "10T"):
        r = subprocess.run([MCSEC, "dissect", "/dev/null", "--max-stream-memory", bad],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert "--max-stream-memory" in r.stderr
