"""TCP stream reassembly for :class:`dissectors.pcap.flows.FlowTable` (RFC 9293).

:class:`TcpStreams` holds the connection tracking and segment reassembly half of the flow table
(mixed into it): per direction, in-order octets are delivered as soon as they are contiguous
(:class:`StreamData`), retransmitted and overlapping octets once (the first received wins,
conflicts reported), out-of-order segments buffered in a sorted list (bisect), gaps reported
when a flow ends or a limit forces delivery (:class:`StreamGap`).  :class:`StreamBudget` is the
one memory budget every octet of buffered stream data counts against, whoever holds it.
"""

from __future__ import annotations

from bisect import bisect_right, insort

from codec import netheaders
from dissectors.pcap.flow_events import (Anomaly, StreamEnd, StreamEvicted, StreamGap,
                                         StreamStart, StreamData)


_M32 = 0xFFFFFFFF


def _rel(a: int, b: int) -> int:
    """Signed distance a - b in 32-bit sequence space (RFC 9293 §3.4)."""
    return ((a - b + 0x80000000) & _M32) - 0x80000000


# ------------------------------------------------------------------------------------------
# One memory budget for every octet of stream data held, whoever holds it
# ------------------------------------------------------------------------------------------
FLOWS, CONSUMER = 0, 1  # the two holders of a direction's octets


class StreamBudget:
    """Octets held per stream direction ``(flow_id, direction)`` by the flow table (``FLOWS``:
    out-of-order segments and retransmission history) and by its consumer (``CONSUMER``: a
    partial message), in least-recently-fed order.  Holders report absolute amounts with
    :meth:`set`; :meth:`pop_oldest` gives up the oldest direction when over :attr:`limit`."""

    __slots__ = ("limit", "total", "_held")
    _SHIFT = 40  # an entry packs both holders' octets in one int: flows << 40 | consumer

    def __init__(self, limit: int):
        self.limit = limit
        self.total = 0
        # flow_id * 2 + direction -> packed octets; a dict keeps insertion order, and a
        # direction fed again is moved to the end: the first entry is the least recently fed
        self._held: dict = {}

    def set(self, key, holder: int, octets: int) -> None:
        """``holder`` now holds ``octets`` for ``key``; called when the direction is fed, so it
        becomes the most recently fed (evicted last)."""
        k = key[0] * 2 + key[1]
        held = self._held.pop(k, 0)
        flows, consumer = held >> self._SHIFT, held & ((1 << self._SHIFT) - 1)
        if holder == FLOWS:
            self.total += octets - flows
            flows = octets
        else:
            self.total += octets - consumer
            consumer = octets
        if flows or consumer:
            self._held[k] = flows << self._SHIFT | consumer

    def forget(self, key) -> None:
        held = self._held.pop(key[0] * 2 + key[1], 0)
        self.total -= (held >> self._SHIFT) + (held & ((1 << self._SHIFT) - 1))

    def held(self, key) -> int:
        held = self._held.get(key[0] * 2 + key[1], 0)
        return (held >> self._SHIFT) + (held & ((1 << self._SHIFT) - 1))

    def over(self) -> bool:
        return self.total > self.limit

    def pop_oldest(self):
        """((flow_id, direction), octets) of the least recently fed direction, removed."""
        k = next(iter(self._held))
        held = self._held.pop(k)
        octets = (held >> self._SHIFT) + (held & ((1 << self._SHIFT) - 1))
        self.total -= octets
        return (k >> 1, k & 1), octets

    def __len__(self) -> int:
        return len(self._held)


# ------------------------------------------------------------------------------------------
# TCP reassembly (RFC 9293 §3.4 sequence numbers, §3.10.7.4 segment processing)
# ------------------------------------------------------------------------------------------
class _Half:
    __slots__ = ("next_seq", "isn", "offset", "segs", "starts", "buffered", "fin_seq", "closed",
                 "history", "data_seen")

    def __init__(self):
        self.next_seq = None  # absolute sequence number of the next expected octet
        self.isn = None
        self.offset = 0  # stream offset of next_seq
        # out-of-order segments, never overlapping one another: stream offset -> (data, frame),
        # and their stream offsets in a sorted list (bisect: a segment costs O(log n + overlaps));
        # both None until a segment comes out of order (most directions never need them)
        self.segs = None
        self.starts = None
        self.buffered = 0
        self.fin_seq = None
        self.closed = False
        self.history = b""  # last delivered octets (ending at next_seq)
        self.data_seen = False


class _Flow:
    __slots__ = ("id", "first0", "h0", "h1", "last_frame")

    def __init__(self, fid, first0, frame):
        self.id = fid
        self.first0 = first0  # whether direction 0's endpoint comes first in the flow key
        self.h0 = self.h1 = None  # the directions' _Half, made when a direction first sends
        self.last_frame = frame

    def half(self, d: int) -> _Half:
        h = self.h0 if d == 0 else self.h1
        if h is None:
            h = _Half()
            if d == 0:
                self.h0 = h
            else:
                self.h1 = h
        return h

    @property
    def halves(self) -> tuple:
        """Both directions (made if absent: for ending them, and for tests)."""
        return self.half(0), self.half(1)



class TcpStreams:
    """The TCP part of :class:`~dissectors.pcap.flows.FlowTable` (which sets ``limits``,
    ``stats``, ``budget``, ``_flows``, ``_closed``, ``_by_id``, ``_names`` and ``_next_id``)."""

    def enforce_budget(self) -> list:
        """:class:`StreamEvicted` events while the stream memory budget is exceeded (for a
        consumer that has just reported what it holds with ``budget.set``)."""
        out: list = []
        if self.budget.total > self.budget.limit:
            self._enforce(out)
        return out

    def _enforce(self, out: list) -> None:
        """Give up the least recently fed directions' buffered data until within budget."""
        budget = self.budget
        while budget.total > budget.limit and len(budget):
            (fid, d), octets = budget.pop_oldest()
            flow = self._by_id.get(fid)
            frames: tuple = ()
            given_up = 0
            half = None if flow is None else flow.h0 if d == 0 else flow.h1
            if half is not None:
                if half.segs:
                    frames = tuple(sorted({f for _data, f in half.segs.values()}))
                    given_up = half.buffered
                    half.segs = half.starts = None
                    half.buffered = 0
                half.history = b""
            if flow is not None and not self.budget.held((fid, 1 - d)):
                del self._by_id[fid]  # nothing of it left in the budget
            self.stats.tcp_evicted += 1
            self.stats.tcp_evicted_bytes += octets
            out.append(StreamEvicted(fid, d, frames, given_up,
                                     f"stream memory budget of {budget.limit} octets reached "
                                     "(least recently fed stream first)"))

    def _account(self, flow, d, half) -> None:
        held = half.buffered + len(half.history)
        self.budget.set((flow.id, d), FLOWS, held)
        if held:
            self._by_id[flow.id] = flow

    def _bad(self, number, what, layer, offset, out):
        self.stats.anomalies += 1
        out.append(Anomaly(number, what, layer, offset))

    def _tcp(self, number, frames, src, dst, version, t, out):
        lim = self.limits
        names = self._names  # one string object per address: flow keys and events share it
        src = names.setdefault(src, src)
        dst = names.setdefault(dst, dst)
        if len(names) > 65_536:
            names.clear()
        sport, dport = t.sport, t.dport
        first = (src, sport) <= (dst, dport)  # the sender's endpoint comes first in the key
        key = (version, src, sport, dst, dport) if first else (version, dst, dport, src, sport)
        flags = t.flags
        flow = self._flows.pop(key, None)
        if flow is None:
            closed = self._closed.get(key)
            if closed is not None and not flags & netheaders.TCP_SYN:
                # late segments of a finished connection: retransmitted FIN/ACK, data after FIN
                half = closed.halves[0 if first == closed.first0 else 1]
                self.stats.tcp_late_segments += 1
                if t.payload and half.fin_seq is not None and _rel(
                        (t.seq + len(t.payload)) & _M32, half.fin_seq) > 0:
                    self._bad(number, f"TCP data after the FIN of flow {closed.id}", "tcp", None,
                              out)
                return
            self._closed.pop(key, None)
            if not (flags & (netheaders.TCP_SYN | netheaders.TCP_FIN)) and not t.payload:
                return  # a pure ACK or RST of a connection we have no state for
            if len(self._flows) >= lim.max_flows:
                self._end_flow(next(iter(self._flows)), "evicted", out, number,
                               f"more than {lim.max_flows} flows")
            # direction 0 is the SYN sender; a SYN-ACK seen first belongs to direction 1
            syn_ack = flags & (netheaders.TCP_SYN | netheaders.TCP_ACK) == (netheaders.TCP_SYN | netheaders.TCP_ACK)
            first0 = first if not syn_ack else (dst, dport) <= (src, sport)
            flow = _Flow(self._next_id, first0, number)
            self._next_id += 1
            self.stats.tcp_flows += 1
            midstream = not (flags & netheaders.TCP_SYN)
            out.append(StreamStart(flow.id, number, dst, src, dport, sport, version, midstream)
                       if syn_ack else
                       StreamStart(flow.id, number, src, dst, sport, dport, version, midstream))
        self._flows[key] = flow
        flow.last_frame = number
        d = 0 if first == flow.first0 else 1
        half = flow.half(d)
        seq = t.seq
        data = t.payload
        if flags & netheaders.TCP_RST:
            self._close_flow(key, flow, "rst", out, number)
            return
        if flags & netheaders.TCP_SYN:
            if half.isn is None:
                if half.segs:  # a late SYN re-anchors the buffered segments' stream offsets
                    self._shift(half, _rel(half.next_seq, (seq + 1) & _M32))
                half.isn, half.next_seq = seq, (seq + 1) & _M32
            elif seq != half.isn:
                other = flow.h1 if d == 0 else flow.h0
                if half.data_seen or half.fin_seq is not None or (other is not None
                                                                  and other.data_seen):
                    # RFC 9293 §3.4: a new incarnation of the connection: end the old flow
                    self._close_flow(key, flow, "new connection", out, number)
                    self._tcp(number, frames, src, dst, version, t, out)
                    return
                self._bad(number, f"TCP SYN with a new ISN {seq} (was {half.isn})", "tcp", None, out)
                if half.segs:
                    self._shift(half, _rel(half.next_seq, (seq + 1) & _M32))
                half.isn, half.next_seq = seq, (seq + 1) & _M32
            seq = (seq + 1) & _M32
        elif half.next_seq is None:
            if not data and not flags & netheaders.TCP_FIN:
                return
            half.next_seq = seq  # capture started mid-connection
        if data:
            half.data_seen = True
            self._segment(flow, d, half, seq, data, number, out)
        if flags & netheaders.TCP_FIN:
            fin = (seq + len(data)) & _M32
            if half.fin_seq is None:
                half.fin_seq = fin
            elif half.fin_seq != fin:
                self._bad(number, f"TCP FIN at a different sequence number {fin} "
                          f"(first {half.fin_seq})", "tcp", None, out)
            self._check_fin(flow, d, half, out)
        if flow.h0 is not None and flow.h1 is not None and flow.h0.closed and flow.h1.closed:
            self._retire(key, flow)
        elif not half.closed:
            self._account(flow, d, half)

    @staticmethod
    def _shift(half, delta: int) -> None:
        """Move every buffered segment's stream offset by ``delta`` (next_seq re-anchored)."""
        half.segs = {o + delta: v for o, v in half.segs.items()}
        half.starts = [o + delta for o in half.starts]

    def _retire(self, key, flow):
        """Keep a finished flow's sequence state a while, to recognise its late segments."""
        self._flows.pop(key, None)
        self._by_id.pop(flow.id, None)
        for d, half in enumerate((flow.h0, flow.h1)):
            if half is not None:
                half.history = b""
            self.budget.forget((flow.id, d))
        self._closed[key] = flow
        if len(self._closed) > self.limits.max_closed_flows:
            del self._closed[next(iter(self._closed))]

    def _segment(self, flow, d, half, seq, data, number, out):
        """RFC 9293 §3.10.7.4: trim what was delivered, deliver what is next, buffer the rest."""
        if half.closed:
            if _rel((seq + len(data)) & _M32, half.fin_seq) > 0:
                self._bad(number, "TCP data after the FIN", "tcp", None, out)
            return
        rel = _rel(seq, half.next_seq)
        if rel <= 0:
            old = min(-rel, len(data))
            if old:
                self._check_retransmission(half, -rel, data, old, number, flow, d, out)
            if old >= len(data):
                return
            if old:
                data = data[old:]
            # in-order data is delivered whole, over buffered octets it overlaps (as tshark)
            pieces, frames = [data], [number]
            half.next_seq = (half.next_seq + len(data)) & _M32
            self._drain(flow, d, half, pieces, frames, out)
            self._deliver(flow, d, half, pieces, frames, out)
            return
        # out of order: buffer what no buffered segment covers yet (the first received wins);
        # buffered segments never overlap, so a bisect finds the few a new one meets
        if half.segs is None:
            half.segs, half.starts = {}, []
        segs, starts = half.segs, half.starts
        p0 = half.offset + rel  # stream offsets (half.offset is next_seq's)
        p1 = p0 + len(data)
        i = bisect_right(starts, p0) - 1
        if i < 0 or starts[i] + len(segs[starts[i]][0]) <= p0:
            i += 1
        pieces = []
        cur = p0  # data before ``cur`` is placed (buffered before, or kept in ``pieces``)
        conflict = None
        n = len(starts)
        while i < n and starts[i] < p1:
            b0 = starts[i]
            bdata, bframe = segs[b0]
            b1 = b0 + len(bdata)
            if b0 > cur:
                pieces.append((cur, data[cur - p0:b0 - p0]))
            lo, hi = max(cur, b0), min(p1, b1)
            if lo < hi:
                if conflict is None and data[lo - p0:hi - p0] != bdata[lo - b0:hi - b0]:
                    conflict = bframe
                self.stats.tcp_retransmitted_bytes += hi - lo
            cur = max(cur, b1)
            i += 1
        if cur < p1:
            pieces.append((cur, data if cur == p0 else data[cur - p0:]))
        if conflict is not None:
            self.stats.tcp_conflicts += 1
            self._bad(number, f"TCP segment overlaps a buffered one (frame {conflict}) with "
                      "different data; the first received is kept", "tcp", None, out)
        for o, pdata in pieces:
            segs[o] = (pdata, number)
            insort(starts, o)
            half.buffered += len(pdata)
        lim = self.limits
        if half.buffered > lim.max_flow_buffer or len(segs) > lim.max_segments:
            self._force_gap(flow, d, half, out, "per-flow buffer limit reached")

    def _check_retransmission(self, half, back, data, old, number, flow, d, out):
        """Compare re-sent octets with what was delivered (kept for ``history_bytes``)."""
        self.stats.tcp_retransmitted_bytes += old
        if back == 1 and len(data) == 1:
            return  # keep-alive (RFC 9293 §3.8.4): one garbage octet at next_seq - 1
        hist = half.history
        if back > len(hist):
            return  # older than the history: cannot be checked
        start = len(hist) - back
        seen = hist[start:start + old]
        if data[:len(seen)] != seen:
            self.stats.tcp_conflicts += 1
            self._bad(number, f"TCP retransmission with different data at stream offset "
                      f"{half.offset - back} of flow {flow.id} direction {d}; the first "
                      "received is kept", "tcp", None, out)

    def _drain(self, flow, d, half, pieces, frames, out):
        """Move buffered segments that have become contiguous into ``pieces``."""
        starts = half.starts
        if not starts:
            return
        segs = half.segs
        cur = half.offset + sum(map(len, pieces))  # stream offset of next_seq
        k = 0
        n = len(starts)
        while k < n and starts[k] <= cur:
            start = starts[k]
            k += 1
            data, frame = segs.pop(start)
            half.buffered -= len(data)
            old = cur - start
            if old:
                # compare the overlap with the octets delivered (or about to be) at its place
                tail = half.history + b"".join(pieces)  # ends at next_seq
                m = min(old, len(data))
                if len(tail) >= old and tail[len(tail) - old:len(tail) - old + m] != data[:m]:
                    self.stats.tcp_conflicts += 1
                    self._bad(frame, f"buffered TCP segment overlaps delivered data with "
                              f"different data (flow {flow.id} direction {d})", "tcp", None, out)
                self.stats.tcp_retransmitted_bytes += m
                if old >= len(data):
                    continue
                data = data[old:]
            pieces.append(data)
            frames.append(frame)
            half.next_seq = (half.next_seq + len(data)) & _M32
            cur += len(data)
        if k:
            del starts[:k]
            if not starts:
                half.segs = half.starts = None  # give the memory back
    def _deliver(self, flow, d, half, pieces, frames, out):
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        out.append(StreamData(flow.id, d, tuple(dict.fromkeys(frames)), data, half.offset))
        half.offset += len(data)
        keep = self.limits.history_bytes
        half.history = (half.history + data)[-keep:] if keep else b""
        if half.fin_seq is not None:
            self._check_fin(flow, d, half, out)

    def _check_fin(self, flow, d, half, out):
        if not half.closed and half.fin_seq is not None and half.next_seq == half.fin_seq:
            half.closed = True
            half.next_seq = (half.next_seq + 1) & _M32
            if half.segs:
                self._bad(None, f"TCP data buffered beyond the FIN of flow {flow.id} direction {d}"
                          " is discarded", "tcp", None, out)
                half.segs = half.starts = None
                half.buffered = 0
            half.history = b""  # a closed direction takes no more data to compare
            self.budget.forget((flow.id, d))
            out.append(StreamEnd(flow.id, d, "fin"))

    def _force_gap(self, flow, d, half, out, reason):
        """Skip to the first buffered segment (reporting the gap) and deliver what follows."""
        segs, starts = half.segs, half.starts
        while starts and starts[0] < half.offset:
            # segments starting before next_seq (a late SYN re-anchored it): trim
            start = starts.pop(0)
            data, frame = segs.pop(start)
            half.buffered -= len(data)
            if start + len(data) > half.offset and half.offset not in segs:
                rest = data[half.offset - start:]
                segs[half.offset] = (rest, frame)
                insort(starts, half.offset)
                half.buffered += len(rest)
        if not starts:
            return
        start = starts[0]
        missing = start - half.offset
        if missing:  # a zero-length "gap" is no gap (e.g. a late SYN re-anchored the stream)
            out.append(StreamGap(flow.id, d, half.offset, missing, reason))
            self.stats.tcp_gaps += 1
            self.stats.tcp_gap_bytes += missing
            half.offset += missing
            half.next_seq = (half.next_seq + missing) & _M32
            half.history = b""
        before = len(segs)
        pieces, frames = [], []
        self._drain(flow, d, half, pieces, frames, out)
        if pieces:
            self._deliver(flow, d, half, pieces, frames, out)
        elif not missing and half.segs is not None and len(segs) == before:
            data, _frame = segs.pop(start)  # nothing deliverable there: drop it
            starts.remove(start)
            half.buffered -= len(data)
            if not starts:
                half.segs = half.starts = None

    def _close_flow(self, key, flow, reason, out, number):
        """End both directions: report gaps, deliver what was buffered, then StreamEnd."""
        for d, half in enumerate(flow.halves):
            while half.segs and not half.closed:
                self._force_gap(flow, d, half, out, reason)
            half.history = b""
            if half.fin_seq is not None and not half.closed and half.next_seq != half.fin_seq:
                missing = _rel(half.fin_seq, half.next_seq)
                if missing > 0:
                    out.append(StreamGap(flow.id, d, half.offset, missing, reason))
                    self.stats.tcp_gaps += 1
                    self.stats.tcp_gap_bytes += missing
            if not half.closed:
                half.closed = True
                out.append(StreamEnd(flow.id, d, reason))
        self._retire(key, flow)

    def _end_flow(self, key, reason, out, number, why):
        flow = self._flows[key]
        self._bad(number, f"TCP flow {flow.id} ended early: {why}", "tcp", None, out)
        self._close_flow(key, flow, reason, out, number)

    def _expire_flows(self, number, out):
        idle = self.limits.flow_idle_frames
        while self._flows:
            key = next(iter(self._flows))
            if number - self._flows[key].last_frame <= idle:
                return
            self._end_flow(key, "evicted", out, number, f"idle for more than {idle} frames")

