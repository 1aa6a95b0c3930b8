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
(reassembly only places already-decoded payloads at their offsets).  The events and limits are
defined in :mod:`dissectors.pcap.flow_events`, TCP reassembly in :mod:`dissectors.pcap.reassembly`;
this module decodes frames down to UDP/TCP and reassembles IP fragments.
"""

from __future__ import annotations

import io
from typing import Iterable, Iterator

from codec import netheaders
from codec.constructs import StreamError
from dissectors.pcap.flow_events import (Anomaly, Datagram, FlowStats, Limits, StreamData,
                                         StreamEnd, StreamEvicted, StreamGap, StreamStart)
from dissectors.pcap.reassembly import CONSUMER, FLOWS, StreamBudget, TcpStreams

__all__ = ["FlowTable", "flow_events", "Datagram", "StreamStart", "StreamData", "StreamGap",
           "StreamEvicted", "StreamEnd", "Anomaly", "Limits", "FlowStats", "StreamBudget",
           "FLOWS", "CONSUMER"]


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


class FlowTable(TcpStreams):
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
        s = io.BytesIO(frame.data)
        try:
            version = netheaders.link_layer(frame.linktype, s)
        except netheaders.RawIpVersionError as e:
            out.append(Anomaly(number, e.reason, e.path, e.offset))
            st.anomalies += 1
            st.non_ip += 1
            return out
        except netheaders.UnsupportedLinkType as e:
            lt = e.linktype
            if lt not in st.unsupported_linktype:
                out.append(Anomaly(number, f"link type {lt} is not supported: frames of this "
                                   f"type are counted, not decoded", "link", 0))
                st.anomalies += 1
            st.unsupported_linktype[lt] = st.unsupported_linktype.get(lt, 0) + 1
            return out
        except netheaders.LinkHeaderCutShort as e:
            st.decode_errors += 1
            st.anomalies += 1
            out.append(Anomaly(number, e.reason, e.path, None))
            version = None
        if version == 0:
            st.non_ip += 1
            return out
        if version is not None:
            layer = "ipv4" if version == 4 else "ipv6"
            try:
                if version == 4:
                    self._ipv4(number, s, s.tell(), out)
                else:
                    self._ipv6(number, s, s.tell(), out)
            except StreamError as e:
                st.decode_errors += 1
                st.anomalies += 1
                out.append(Anomaly(number, str(e), layer, None))
        if self.budget.total > self.budget.limit:
            self._enforce(out)
        return out

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
