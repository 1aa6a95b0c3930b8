"""Link → IP → UDP/TCP: fragment reassembly, UDP datagrams, TCP byte streams per direction.

API (for the application layers: SIP, RTSP, raw MIKEY, HTTP)::

    from dissectors.pcap.capture import read_frames, CaptureFault
    from dissectors.pcap.flows import FlowTable, Datagram, StreamStart, StreamData, StreamGap, StreamEnd, Anomaly

    table = FlowTable()                       # or FlowTable(Limits(max_flows=..., ...))
    for rec in read_frames(path):
        if isinstance(rec, CaptureFault):
            ...                               # the capture reader's error records
            continue
        for ev in table.feed(rec):            # rec is a dissectors.pcap.capture.Frame
            ...
    for ev in table.flush():                  # end of capture: pending gaps and stream ends
        ...
    # or, all in one: for ev in flow_events(read_frames(path)): ...  (CaptureFaults pass through)

Events (slotted dataclasses, yielded in capture order):

- ``Datagram(frames, src, dst, sport, dport, payload, ip_version)`` — one UDP datagram; ``frames``
  is a tuple of frame numbers (several when the IP datagram was fragmented, the last one
  completing it); addresses are text (``"192.0.2.1"``, ``"2001:db8::1"``).
- ``StreamStart(flow_id, frame, src, dst, sport, dport, ip_version, midstream)`` — a new TCP
  connection; direction 0 is src→dst (the SYN sender, or the first sender seen when the capture
  starts mid-connection: ``midstream=True``), direction 1 is dst→src.
- ``StreamData(flow_id, direction, frames, data, offset)`` — in-order octets of one direction as
  soon as they are contiguous; ``offset`` is the stream offset of ``data[0]`` (0 = the octet after
  the SYN, or the first octet seen).  Offsets only jump after a ``StreamGap``; retransmitted and
  overlapping octets are delivered once.  A consumer frames SIP over TCP by appending ``data``
  to a per-(flow_id, direction) buffer and cutting messages by Content-Length.
- ``StreamGap(flow_id, direction, offset, missing_bytes, reason)`` — ``missing_bytes`` octets at
  ``offset`` were never captured (a lost segment, reported when the flow ends, the capture ends or
  a buffer limit forces delivery of what follows).  Resynchronise the application parser.
- ``StreamEvicted(flow_id, direction, frames, octets, reason)`` — the stream memory budget
  (``Limits.max_total_buffer``) gave up what this direction held: its out-of-order segments
  (``frames``, ``octets``) and whatever its consumer buffers for it (a partial message), which
  the consumer must drop too (and resynchronise, as after a gap).  The least recently fed
  direction is evicted first.
- ``StreamEnd(flow_id, direction, reason)`` — no more data in this direction: ``"fin"``,
  ``"rst"``, ``"capture end"``, ``"evicted"`` (flow limit / idle timeout), ``"new connection"``
  (a SYN with a new ISN reused the ports).
- ``Anomaly(frame, what, layer, offset)`` — something wrong or notable in a frame (a header that
  does not decode, a packet cut short by the snaplen, overlapping fragments or segments with
  different data, fragments or buffered segments dropped by a limit, unsupported link types...).

Every frame is accounted for in ``table.stats`` (``FlowStats``): per layer and per reason.

Limits (``Limits``) bound memory per datagram, per flow and overall; what a limit drops is
reported as an ``Anomaly`` (fragments) or a ``StreamGap`` (TCP): IP reassembly times out after
``frag_timeout_frames`` frames, keeps at most ``max_fragments`` fragments and
``max_datagram_bytes`` per datagram and ``max_pending_datagrams`` datagrams; each TCP direction
buffers at most ``max_segments`` out-of-order segments / ``max_flow_buffer`` octets; all stream
data buffered anywhere — out-of-order segments, retransmission history and what consumers hold
(partial messages, charged with ``table.budget.set(key, CONSUMER, n)``) — shares one budget of
``max_total_buffer`` octets (:class:`StreamBudget`; over it, the least recently fed direction
gives its data up: :class:`StreamEvicted`); at most ``max_flows`` flows are tracked (least
recently used evicted, also after ``flow_idle_frames`` frames without traffic); the sequence state of the
last ``max_closed_flows`` finished connections is kept to recognise their late segments.  The last
``history_bytes`` delivered octets of each direction are kept to check retransmissions.

Every header is decoded by a :mod:`codec.netheaders` schema; nothing here reads bytes by hand
(reassembly only places already-decoded payloads at their offsets).
"""

from __future__ import annotations

import io
from bisect import bisect_right, insort
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from codec import netheaders
from codec.constructs import StreamError

# ------------------------------------------------------------------------------------------
# Events
# ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Datagram:
    frames: tuple
    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes
    ip_version: int


@dataclass(slots=True)
class StreamStart:
    flow_id: int
    frame: int
    src: str
    dst: str
    sport: int
    dport: int
    ip_version: int
    midstream: bool = False


@dataclass(slots=True)
class StreamData:
    flow_id: int
    direction: int
    frames: tuple
    data: bytes
    offset: int


@dataclass(slots=True)
class StreamGap:
    flow_id: int
    direction: int
    offset: int
    missing_bytes: int
    reason: str = ""


@dataclass(slots=True)
class StreamEvicted:
    flow_id: int
    direction: int
    frames: tuple  # frames of the out-of-order segments given up (the consumer adds its own)
    octets: int  # out-of-order octets given up here
    reason: str = ""


@dataclass(slots=True)
class StreamEnd:
    flow_id: int
    direction: int
    reason: str


@dataclass(slots=True)
class Anomaly:
    frame: int | None
    what: str
    layer: str = ""
    offset: int | None = None  # offset in the frame where the failing layer starts


@dataclass
class Limits:
    frag_timeout_frames: int = 10_000
    max_fragments: int = 128
    max_datagram_bytes: int = 65_535 + 40
    max_pending_datagrams: int = 4_096
    max_segments: int = 1_024
    max_flow_buffer: int = 1 << 20
    max_total_buffer: int = 16 << 20  # the stream memory budget (mcsec dissect --max-stream-memory)
    max_flows: int = 65_536
    max_closed_flows: int = 4_096
    flow_idle_frames: int = 5_000_000
    history_bytes: int = 4_096
    max_ext_headers: int = 16


@dataclass
class FlowStats:
    frames: int = 0
    ipv4: int = 0
    ipv6: int = 0
    udp: int = 0
    tcp: int = 0
    fragments: int = 0
    reassembled: int = 0
    non_ip: int = 0  # ARP, LLC, ...: counted, not decoded
    other_ip: dict = field(default_factory=dict)  # IP protocol -> count (ICMP, ESP, SCTP, ...)
    unsupported_linktype: dict = field(default_factory=dict)
    decode_errors: int = 0
    truncated: int = 0
    tcp_flows: int = 0
    tcp_gaps: int = 0
    tcp_gap_bytes: int = 0
    tcp_retransmitted_bytes: int = 0
    tcp_conflicts: int = 0
    tcp_late_segments: int = 0  # segments of a finished (FIN/RST) connection
    tcp_evicted: int = 0  # stream directions whose buffered data the memory budget gave up
    tcp_evicted_bytes: int = 0
    fragments_dropped: int = 0
    anomalies: int = 0


_M32 = 0xFFFFFFFF


def _rel(a: int, b: int) -> int:
    """Signed distance a - b in 32-bit sequence space (RFC 9293 §3.4)."""
    return ((a - b + 0x80000000) & _M32) - 0x80000000


# ------------------------------------------------------------------------------------------
# IP fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5)
# ------------------------------------------------------------------------------------------
class _Pending:
    __slots__ = ("pieces", "frames", "total", "size", "first_frame", "proto", "conflict")

    def __init__(self, first_frame):
        self.pieces = []  # (offset, data) in arrival order
        self.frames = []
        self.total = None  # length once the last fragment is known
        self.size = 0
        self.first_frame = first_frame
        self.proto = None  # next protocol, from the offset-0 fragment
        self.conflict = False


class _Reassembler:
    def __init__(self, limits: Limits, stats: FlowStats):
        self.limits = limits
        self.stats = stats
        self.pending: dict = {}

    def add(self, key, frame: int, offset: int, more: bool, data: bytes, proto, out: list):
        """Add a fragment; returns (payload, frames, proto) when the datagram is complete."""
        lim = self.limits
        p = self.pending.get(key)
        if p is None:
            if len(self.pending) >= lim.max_pending_datagrams:
                old_key = next(iter(self.pending))
                self._drop(old_key, frame, "too many incomplete datagrams pending", out)
            p = self.pending[key] = _Pending(frame)
        end = offset + len(data)
        if len(p.pieces) >= lim.max_fragments or end > lim.max_datagram_bytes:
            why = (f"more than {lim.max_fragments} fragments" if len(p.pieces) >= lim.max_fragments
                   else f"fragment ends at {end}, beyond {lim.max_datagram_bytes} octets")
            self._drop(key, frame, why, out)
            return None
        for o, d in p.pieces:  # overlap check (RFC 5722: IPv6 overlaps are an attack)
            lo, hi = max(o, offset), min(o + len(d), end)
            if lo < hi:
                same = data[lo - offset:hi - offset] == d[lo - o:hi - o]
                out.append(Anomaly(frame, f"IP fragment at {offset}..{end} overlaps {o}..{o + len(d)}"
                                   + (" (same data)" if same else " with different data; "
                                      "the first received is kept"), "ip"))
                self.stats.anomalies += 1
                if not same:
                    p.conflict = True
                break
        p.pieces.append((offset, data))
        p.frames.append(frame)
        p.size += len(data)
        if offset == 0:
            p.proto = proto
        if not more:
            if p.total is not None and p.total != end:
                out.append(Anomaly(frame, f"second last fragment: ends at {end}, first at {p.total}",
                                   "ip"))
                self.stats.anomalies += 1
            p.total = end if p.total is None else p.total
        if p.total is None or p.proto is None:
            return None
        covered = 0  # is [0, total) covered?
        for o, d in sorted(p.pieces):
            if o > covered:
                return None
            covered = max(covered, o + len(d))
        if covered < p.total:
            return None
        buf = bytearray(p.total)
        for o, d in reversed(p.pieces):  # earliest written last: the first received wins
            if o < p.total:
                d = d[:p.total - o]
                buf[o:o + len(d)] = d
        del self.pending[key]
        self.stats.reassembled += 1
        return bytes(buf), tuple(p.frames), p.proto

    def _drop(self, key, frame, why, out):
        p = self.pending.pop(key)
        self.stats.fragments_dropped += len(p.frames)
        self.stats.anomalies += 1
        out.append(Anomaly(frame, f"IP datagram of frames {p.frames} not reassembled: {why}; "
                           f"its fragments are dropped", "ip"))

    def expire(self, now: int, out: list):
        lim = self.limits.frag_timeout_frames
        while self.pending:
            key = next(iter(self.pending))
            if now - self.pending[key].first_frame <= lim:
                break
            self._drop(key, now, f"incomplete after {lim} frames", out)

    def flush(self, out: list):
        for key in list(self.pending):
            self._drop(key, None, "incomplete at the end of the capture", out)


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


class FlowTable:
    """Feed it frames; it yields :class:`Datagram` and TCP stream events (see module docs)."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.stats = FlowStats()
        self._frag = _Reassembler(self.limits, self.stats)
        self._flows: dict = {}  # canonical key -> _Flow (LRU order)
        self._closed: dict = {}  # canonical key -> finished _Flow (bounded, oldest first)
        self._next_id = 0
        self._by_id: dict = {}  # flow id -> _Flow holding budgeted octets (for evictions)
        self._names: dict = {}  # address text -> the one string object kept for it
        self.budget = StreamBudget(self.limits.max_total_buffer)
        self._r_eth = netheaders.ETHERNET.reader()
        self._r_vlan = netheaders.VLAN_TAG.reader()
        self._r_sll = netheaders.SLL.reader()
        self._r_sll2 = netheaders.SLL2.reader()
        self._r_null_le = netheaders.NULL_LE.reader()
        self._r_null_be = netheaders.NULL_BE.reader()
        self._r_ver = netheaders.IP_VERSION.reader()
        self._r_ip4 = netheaders.IPV4.reader()
        self._r_ip6 = netheaders.IPV6.reader()
        self._r_ext = netheaders.IPV6_EXT.reader()
        self._r_ah = netheaders.IPV6_AH.reader()
        self._r_frag6 = netheaders.IPV6_FRAGMENT.reader()
        self._r_udp = netheaders.UDP.reader()
        self._r_tcp = netheaders.TCP.reader()

    # -- frame → IP --------------------------------------------------------------------------
    def feed(self, frame) -> list:
        """Decode one frame; the events it completes, in order."""
        out: list = []
        st = self.stats
        st.frames += 1
        number = frame.number
        if self._frag.pending:
            self._frag.expire(number, out)
        if self._flows:
            self._expire_flows(number, out)
        lt = frame.linktype
        s = io.BytesIO(frame.data)
        layer = "link"
        try:
            if lt == netheaders.LINKTYPE_ETHERNET:
                et = self._r_eth(s).ethertype
                layer = "vlan"
                while et in netheaders.ETHERTYPE_VLAN:
                    et = self._r_vlan(s).ethertype
                version = 4 if et == netheaders.ETHERTYPE_IPV4 else 6 if et == netheaders.ETHERTYPE_IPV6 else 0
            elif lt == netheaders.LINKTYPE_LINUX_SLL:
                et = self._r_sll(s).protocol
                version = 4 if et == netheaders.ETHERTYPE_IPV4 else 6 if et == netheaders.ETHERTYPE_IPV6 else 0
            elif lt == netheaders.LINKTYPE_LINUX_SLL2:
                et = self._r_sll2(s).protocol
                version = 4 if et == netheaders.ETHERTYPE_IPV4 else 6 if et == netheaders.ETHERTYPE_IPV6 else 0
            elif lt == netheaders.LINKTYPE_RAW or lt in netheaders.LINKTYPE_DLT_RAW:
                version = self._r_ver(s).version
                s.seek(0)
                if version not in (4, 6):
                    out.append(Anomaly(number, f"raw IP with IP version {version}", "ip", 0))
                    st.anomalies += 1
                    st.non_ip += 1
                    return out
            elif lt == netheaders.LINKTYPE_IPV4:
                version = 4
            elif lt == netheaders.LINKTYPE_IPV6:
                version = 6
            elif lt == netheaders.LINKTYPE_NULL:
                version = netheaders.NULL_FAMILIES.get(self._r_null_le(s).family, 0)
            elif lt == netheaders.LINKTYPE_LOOP:
                version = netheaders.NULL_FAMILIES.get(self._r_null_be(s).family, 0)
            else:
                if lt not in st.unsupported_linktype:
                    out.append(Anomaly(number, f"link type {lt} is not supported: frames of this "
                                       f"type are counted, not decoded", "link", 0))
                    st.anomalies += 1
                st.unsupported_linktype[lt] = st.unsupported_linktype.get(lt, 0) + 1
                return out
            if version == 0:
                st.non_ip += 1
                return out
            layer = "ipv4" if version == 4 else "ipv6"
            start = s.tell()
            if version == 4:
                self._ipv4(number, s, start, out)
            else:
                self._ipv6(number, s, start, out)
        except StreamError as e:
            st.decode_errors += 1
            st.anomalies += 1
            out.append(Anomaly(number, str(e), layer, None))
        if self.budget.total > self.budget.limit:
            self._enforce(out)
        return out

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

    def _ipv4(self, number, s, start, out):
        st = self.stats
        ip = self._r_ip4(s)
        st.ipv4 += 1
        if ip.version != 4:
            self._bad(number, f"IPv4 header with version {ip.version}", "ipv4", start, out)
            return
        payload = ip.payload
        if len(payload) < ip.total_length - ip.ihl * 4:
            st.truncated += 1
            self._bad(number, f"IPv4 packet cut short by the capture: {len(payload)} of "
                      f"{ip.total_length - ip.ihl * 4} payload octets", "ipv4", start, out)
            return
        if ip.mf or ip.frag_offset:
            st.fragments += 1
            done = self._frag.add((4, ip.src, ip.dst, ip.protocol, ip.identification), number,
                                  ip.frag_offset * 8, bool(ip.mf), payload, ip.protocol, out)
            if done is None:
                return
            payload, frames, _proto = done
        else:
            frames = (number,)
        self._l4(ip.protocol, frames, netheaders.ip_text(ip.src), netheaders.ip_text(ip.dst), 4,
                 io.BytesIO(payload), out)

    def _ipv6(self, number, s, start, out):
        st = self.stats
        ip = self._r_ip6(s)
        st.ipv6 += 1
        if ip.version != 6:
            self._bad(number, f"IPv6 header with version {ip.version}", "ipv6", start, out)
            return
        if len(ip.payload) < ip.payload_length:
            st.truncated += 1
            self._bad(number, f"IPv6 packet cut short by the capture: {len(ip.payload)} of "
                      f"{ip.payload_length} payload octets", "ipv6", start, out)
            return
        if ip.payload_length == 0 and ip.next_header == netheaders.IPPROTO_HOPOPTS:
            self._bad(number, "IPv6 jumbogram (RFC 2675) is not supported", "ipv6", start, out)
            return
        ps = io.BytesIO(ip.payload)
        nh = self._ext_headers(ip.next_header, ps, number, out)
        frames = (number,)
        if nh == netheaders.IPPROTO_FRAGMENT:
            frag = self._r_frag6(ps)
            if frag.frag_offset == 0 and not frag.m:  # RFC 6946 atomic fragment
                nh, ps = frag.next_header, io.BytesIO(frag.payload)
            else:
                st.fragments += 1
                done = self._frag.add((6, ip.src, ip.dst, frag.identification), number,
                                      frag.frag_offset * 8, bool(frag.m), frag.payload,
                                      frag.next_header, out)
                if done is None:
                    return
                payload, frames, nh = done
                ps = io.BytesIO(payload)
            nh = self._ext_headers(nh, ps, number, out)
        if nh is None:
            return
        self._l4(nh, frames, netheaders.ip_text(ip.src), netheaders.ip_text(ip.dst), 6, ps, out)

    def _ext_headers(self, nh, ps, number, out):
        """Skip RFC 8200 §4 extension headers (not Fragment); the next protocol or None."""
        for _ in range(self.limits.max_ext_headers):
            if nh in netheaders.IPV6_EXT_HEADERS:
                nh = self._r_ext(ps).next_header
            elif nh == netheaders.IPPROTO_AH:
                nh = self._r_ah(ps).next_header
            else:
                return nh
        self._bad(number, f"more than {self.limits.max_ext_headers} IPv6 extension headers",
                  "ipv6", None, out)
        return None

    # -- UDP / TCP -----------------------------------------------------------------------------
    def _l4(self, proto, frames, src, dst, version, ps, out):
        st = self.stats
        number = frames[-1]
        if proto == netheaders.IPPROTO_UDP:
            u = self._r_udp(ps)
            st.udp += 1
            if len(u.payload) < u.length - 8:
                st.truncated += 1
                self._bad(number, f"UDP length {u.length} exceeds the {len(u.payload) + 8} "
                          f"octets the IP packet holds", "udp", None, out)
                return
            out.append(Datagram(frames, src, dst, u.sport, u.dport, u.payload, version))
        elif proto == netheaders.IPPROTO_TCP:
            t = self._r_tcp(ps)
            st.tcp += 1
            self._tcp(number, frames, src, dst, version, t, out)
        else:
            st.other_ip[proto] = st.other_ip.get(proto, 0) + 1

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

    # -- end of capture ------------------------------------------------------------------------
    def flush(self) -> list:
        """At the end of the capture: incomplete datagrams, gaps and ends of every open flow."""
        return list(self.iter_flush())

    def iter_flush(self) -> Iterator:
        """:meth:`flush`, one flow at a time (memory: not every flow's events at once)."""
        out: list = []
        self._frag.flush(out)
        yield from out
        for key in list(self._flows):
            flow = self._flows.get(key)
            if flow is not None:
                out = []
                self._close_flow(key, flow, "capture end", out, None)
                yield from out


def flow_events(records: Iterable, table: FlowTable | None = None) -> Iterator:
    """Events of every frame of a capture reader, its CaptureFaults passed through, then flush."""
    table = table or FlowTable()
    feed = table.feed
    for rec in records:
        if hasattr(rec, "linktype"):
            yield from feed(rec)
        else:
            yield rec
    yield from table.iter_flush()
