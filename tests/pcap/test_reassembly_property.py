"""TCP reassembly with random overlaps, gaps, retransmissions and conflicting re-sends gives the
same octets as a straightforward reference written here (issue 15: the out-of-order buffer is a
sorted list searched by bisect; this checks it against the obvious per-octet model).

The reference works octet by octet: a segment that reaches the next expected octet is delivered
whole (over buffered octets it overlaps: tshark's policy, see test_flows'
test_tcp_overlap_with_different_data), then buffered octets that have become contiguous; a
segment beyond it fills the buffered positions not filled yet (the first received wins); octets
already delivered never change.  At the end (no FIN) what is buffered is delivered run by run,
each hole reported as a gap of its size.  A conflict is reported only when some segment did
carry octets different from earlier ones at the same place."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dissectors.pcap.flows import FlowTable, Limits, StreamData, StreamGap

LINKTYPE_RAW = 101


class _F:
    __slots__ = ("number", "linktype", "data")

    def __init__(self, number, data):
        self.number, self.linktype, self.data = number, LINKTYPE_RAW, data


def _frame(seq: int, flags: int, payload: bytes) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", 40000, 5060, seq & 0xFFFFFFFF, 0, 5 << 4, flags, 65535, 0,
                      0) + payload
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                       bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + tcp


def reference(length: int, segments):
    """(octet or None per position as delivered, whether any segment disagreed with an earlier
    one at the same position)."""
    stream: list = [None] * length  # delivered
    buffered: dict = {}  # position -> octet, beyond ``nxt``
    seen: dict = {}  # position -> first octet received there (for conflicts)
    conflict = False
    nxt = 0
    for start, data in segments:
        for i, octet in enumerate(data):
            first = seen.setdefault(start + i, octet)
            conflict = conflict or first != octet
        end = start + len(data)
        if start <= nxt < end:  # in order: delivered whole from ``nxt``
            for p in range(nxt, end):
                stream[p] = data[p - start]
                buffered.pop(p, None)
            nxt = end
            while nxt in buffered:
                stream[nxt] = buffered.pop(nxt)
                nxt += 1
            for p in [p for p in buffered if p < nxt]:
                del buffered[p]
        elif start > nxt:  # out of order: the first received wins
            for i, octet in enumerate(data):
                buffered.setdefault(start + i, octet)
    for p, octet in buffered.items():  # end of capture: runs after holes
        stream[p] = octet
    return stream, conflict


@st.composite
def messy_streams(draw):
    length = draw(st.integers(1, 600))
    message = draw(st.binary(min_size=length, max_size=length))
    n = draw(st.integers(1, 40))
    segments = []
    for _ in range(n):
        start = draw(st.integers(0, length - 1))
        size = draw(st.integers(1, min(120, length - start)))
        data = message[start:start + size]
        if draw(st.integers(0, 9)) == 0:  # now and then a re-send with other octets
            data = draw(st.binary(min_size=size, max_size=size))
        segments.append((start, data))
    isn = draw(st.one_of(st.integers(0, 2**32 - 1), st.integers(2**32 - 700, 2**32 - 1)))
    return length, segments, isn


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_streams())
def test_reassembly_matches_the_reference(case):
    length, segments, isn = case
    # limits out of the way: this is about placement, not about what a limit gives up
    table = FlowTable(Limits(max_segments=10_000, max_flow_buffer=1 << 30,
                             max_total_buffer=1 << 30, history_bytes=1 << 20))
    events = table.feed(_F(1, _frame(isn, 0x02, b"")))  # SYN: stream offset 0 = isn + 1
    for n, (start, data) in enumerate(segments, 2):
        events += table.feed(_F(n, _frame(isn + 1 + start, 0x18, data)))
    events += table.flush()

    stream, conflict = reference(length, segments)
    got: dict = {}
    gaps = []
    pos = 0
    for e in events:
        if isinstance(e, StreamData) and e.direction == 0:
            assert e.offset == pos, "delivered offsets are contiguous between gaps"
            for i, octet in enumerate(e.data):
                got[e.offset + i] = octet
            pos = e.offset + len(e.data)
        elif isinstance(e, StreamGap) and e.direction == 0:
            assert e.offset == pos
            gaps.append((e.offset, e.missing_bytes))
            pos = e.offset + e.missing_bytes
    filled = [i for i, o in enumerate(stream) if o is not None]
    assert sorted(got) == filled  # every received octet delivered once, nothing invented
    assert all(got[i] == stream[i] for i in filled)  # the octets the policy keeps
    want_gaps, i = [], 0  # holes between runs of received octets (not after the last one)
    last = filled[-1] if filled else -1
    while i <= last:
        if stream[i] is None:
            j = i
            while stream[j] is None:
                j += 1
            want_gaps.append((i, j - i))
            i = j
        else:
            i += 1
    assert gaps == want_gaps
    if not conflict:
        assert table.stats.tcp_conflicts == 0
    assert table.budget.total == 0
