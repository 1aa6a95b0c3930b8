"""`mcsec dissect`: capture → flows → SIP/HTTP/MIKEY units → decoded, verified, decrypted records.

A pipeline of generators (memory stays flat in capture size): :func:`records` yields one typed
record (:mod:`dissectors.pcap.records`) per MIKEY message, CMS object, seed 004 body, KMS
document, capture error or stream anomaly, in capture order; :mod:`dissectors.pcap.render` turns
them into output.  Every frame is counted in the statistics even when it carries nothing of
interest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from codec.sip import HTTP_START as HTTP_START_RE
from codec.sip import StreamFramer, is_sip
from codec.rtsp import RtspFramer, is_rtsp
from dissectors.pcap.capture import CaptureFault, read_frames
from dissectors.pcap.flows import (CONSUMER, Anomaly, Datagram, FlowTable, Limits, StreamData,
                              StreamEnd, StreamEvicted, StreamGap, StreamStart)
from dissectors.pcap.records import AnomalyRecord, NoteRecord
from dissectors.pcap.session import Session, Unit

HTTP_START = (b"HTTP/1.", b"POST ", b"GET ", b"PUT ")


@dataclass(slots=True)
class _Direction:
    framer: StreamFramer | None = None
    frames: list = field(default_factory=list)
    kind: str | None = None  # "sip" | "http" | "rtsp" | "mikey" | None (undecided)


def HttpFramer() -> StreamFramer:
    """HTTP/1.x messages, framed by Content-Length like SIP."""
    return StreamFramer(start=HTTP_START_RE)


def records(path, session: Session, *, max_units: int | None = None,
            tls_keylog=None, workers: int | None = None,
            max_stream_memory: int | None = None) -> Iterator:
    """Every record of the capture at ``path`` (see module docstring).  SIP over TLS is decrypted
    by tshark (:mod:`dissectors.pcap.tls`) with ``tls_keylog`` (an NSS key log: bytes or a path)
    and/or the pcapng's Decryption Secrets Blocks; its SIP messages go through the same
    ``session.analyze`` in capture order.  Without key material a note says TLS was present.
    MIKEY-SAKKE crypto runs in ``workers`` processes (default: one per core; 1 = inline).
    ``max_stream_memory``: octets of TCP stream data held at most — out-of-order segments and
    partial messages of every stream together (default ``Limits.max_total_buffer``); over it,
    the least recently fed stream's are given up, reported by an anomaly naming their frames."""
    from dissectors.pcap.workers import Lookahead

    units = 0
    hooks: dict = {}
    items = _items(path, tls_keylog, session.tls_psks, hooks, max_stream_memory)
    try:
        for out in _verdicts_held(Lookahead(session, workers).run(items), session):
            units += 1
            yield out
            if max_units is not None and units >= max_units:
                return
        # a TLS-PSK learnt by the very last messages analysed: its streams come last
        tls = hooks.get("tls")
        if tls is not None:
            for unit in tls.ready(None):
                yield from session.analyze(unit)
            yield from map(_note, tls.notes())
    finally:
        items.close()
        if hooks.get("tls") is not None:
            hooks["tls"].close()


def record_dicts(path, session: Session, **kw) -> Iterator[dict]:
    """:func:`records` as the dicts of ``--format jsonl-records`` (secrets shown as the
    session's ``show_secrets`` says), for consumers of the JSON view."""
    from dissectors.pcap.render import record_json

    for rec in records(path, session, **kw):
        yield record_json(rec, session.show_secrets)


MAX_HELD = 512  # records held back at most while a TRANSFER_INIT waits for its RESOLVE_RESP


def _note(rec):
    """A TLS hook's note (a dict, dissectors/pcap/tls.py) as a :class:`NoteRecord`."""
    if isinstance(rec, dict) and rec.get("kind") == "note":
        return NoteRecord(rec.get("layer"), rec.get("message"), rec.get("frame"))
    return rec


def _verdicts_held(outs: Iterator, session: Session) -> Iterator:
    """Records in order, holding them back while one already analysed awaits its verdict (RFC
    6043 §4.2.3.6: a TRANSFER_INIT is checked with the MPKi of the RESOLVE_RESP that follows
    it), so that its record carries the verdict; a bounded window of ``MAX_HELD`` records."""
    if not hasattr(session, "awaiting"):  # a session-like object without exchange tracking
        yield from outs
        return
    held: list = []
    for out in outs:
        if not held and not session.awaiting():
            yield out
            continue
        held.append(out)
        if len(held) > MAX_HELD:
            session.stop_waiting("within the look-ahead window")
        if not session.awaiting():
            yield from held
            held = []
    if held:
        session.stop_waiting()
        yield from held


def _items(path, tls_keylog, psks=None, hooks=None, max_stream_memory=None) -> Iterator:
    """Units to analyse and ready records, in capture order (``psks``: the session's TLS-PSKs,
    filled as it learns them; ``hooks["tls"]``: the TLS hook, for what comes after)."""
    from dissectors.pcap.tls import TlsHook

    reader = read_frames(path)
    table = FlowTable(None if max_stream_memory is None
                      else Limits(max_total_buffer=max_stream_memory))
    budget = table.budget  # one budget: the table's segments and the framers' partial messages
    ended: dict = {}  # flow_id -> directions ended so far (bit mask), to forget the flow
    tls = TlsHook(path, reader, tls_keylog, psks)
    if hooks is not None:
        hooks["tls"] = tls
    flows: dict = {}  # flow_id -> StreamStart
    directions: dict = {}  # (flow_id, direction) -> _Direction
    times: dict = {}  # frame number -> timestamp, for the frames of pending units

    def _outputs(events, frame_number):
        for ev in events:
            claimed = tls.claim(ev)  # TLS stream data is never framed as plain SIP
            yield from (map(_note, claimed) if claimed is not None
                        else _event(ev, flows, directions, times, budget, ended))
        yield from (tls.ready(frame_number) if frame_number is not None
                    else map(_note, tls.finish()))

    try:
        for rec in reader:
            if isinstance(rec, CaptureFault):  # its own record (dissectors/pcap/records.py)
                yield rec
                continue
            times[rec.number] = rec.timestamp
            if len(times) > 40_000:  # bounded: keep the recent frames only
                for k in sorted(times)[:20_000]:
                    del times[k]
            yield from _outputs(table.feed(rec), rec.number)
            if budget.total > budget.limit:  # the framers' partial messages count too
                for ev in table.enforce_budget():
                    yield from _event(ev, flows, directions, times, budget, ended)
        yield from _outputs(table.iter_flush(), None)
    finally:
        tls.close()


def _event(ev, flows, directions, times, budget=None, ended=None):
    if isinstance(ev, Datagram):
        t = times.get(ev.frames[-1], 0.0)
        yield Unit(list(ev.frames), t, "udp", ev.src, ev.sport, ev.dst, ev.dport,
                   bytes(ev.payload))
    elif isinstance(ev, StreamStart):
        flows[ev.flow_id] = ev
    elif isinstance(ev, StreamData):
        start = flows.get(ev.flow_id)
        if start is None:
            return
        d = directions.setdefault((ev.flow_id, ev.direction), _Direction())
        data = bytes(ev.data)
        if d.framer is None:
            if is_sip(data.lstrip(b"\r\n")):
                d.framer, d.kind = StreamFramer(), "sip"
            elif data.startswith(HTTP_START):
                d.framer, d.kind = HttpFramer(), "http"
            elif is_rtsp(data.lstrip(b"\r\n")):  # RFC 2326 on any port (8554, 554, …)
                d.framer, d.kind = RtspFramer(), "rtsp"
            elif 2269 in (start.sport, start.dport):
                d.kind = "mikey"
            else:
                return  # not a protocol that carries key material
        src, dst, sport, dport = ((start.src, start.dst, start.sport, start.dport)
                                  if ev.direction == 0 else
                                  (start.dst, start.src, start.dport, start.sport))
        if d.kind == "mikey":  # raw MIKEY on TCP 2269: one message per segment run
            yield Unit(list(ev.frames), times.get(ev.frames[-1], 0.0), "tcp", src, sport, dst,
                       dport, data)
            return
        d.frames.extend(ev.frames)
        for framed in d.framer.feed(data):
            for f in framed.findings:
                yield AnomalyRecord(d.kind, str(f), frame=ev.frames[-1])
            if framed.data:
                frames = list(dict.fromkeys(d.frames)) or list(ev.frames)
                d.frames = [] if not d.framer.buffer else [ev.frames[-1]]
                # RTP/RTCP interleaved in RTSP (RFC 2326 §10.12) goes to the media analysis
                channel = getattr(framed, "channel", None)
                transport = "rtsp-interleaved" if channel is not None else "tcp"
                yield Unit(frames, times.get(frames[-1], 0.0), transport, src, sport, dst, dport,
                           framed.data, channel)
        if budget is not None:  # the partial message held counts in the stream memory budget
            budget.set((ev.flow_id, ev.direction), CONSUMER, len(d.framer.buffer))
    elif isinstance(ev, StreamEvicted):
        d = directions.get((ev.flow_id, ev.direction))
        frames, held = set(ev.frames), 0
        if d is not None and d.framer is not None and d.framer.buffer:
            held = len(d.framer.buffer)
            frames.update(d.frames)
            d.framer.offset += held  # resynchronise on the next start line, as after a gap
            d.framer.buffer = bytearray()
            d.frames = []
        if budget is not None:
            budget.set((ev.flow_id, ev.direction), CONSUMER, 0)
        if held or ev.octets:
            frames = sorted(frames)
            yield AnomalyRecord("tcp", f"{held + ev.octets} buffered octet(s) of frame(s) "
                                       f"{', '.join(map(str, frames))} given up: {ev.reason}",
                                frame=frames[-1] if frames else None, flow=ev.flow_id,
                                direction=ev.direction, frames=frames)
    elif isinstance(ev, StreamGap):
        d = directions.get((ev.flow_id, ev.direction))
        if d is not None and d.framer is not None:
            d.framer = (RtspFramer() if d.kind == "rtsp"  # resynchronise after the hole
                        else StreamFramer(start=d.framer.start))
            d.frames = []
        yield AnomalyRecord("tcp", f"{ev.missing_bytes} octet(s) missing at stream offset "
                                   f"{ev.offset} ({ev.reason})", flow=ev.flow_id,
                            direction=ev.direction)
    elif isinstance(ev, StreamEnd):
        d = directions.pop((ev.flow_id, ev.direction), None)
        if budget is not None:
            budget.forget((ev.flow_id, ev.direction))
        if ended is not None:  # both directions ended: forget the flow
            mask = ended.pop(ev.flow_id, 0) | (1 << ev.direction)
            if mask == 3:
                flows.pop(ev.flow_id, None)
            else:
                ended[ev.flow_id] = mask
        if d is not None and d.framer is not None and d.framer.buffer:
            yield AnomalyRecord(d.kind, f"{len(d.framer.buffer)} octet(s) of an incomplete "
                                       f"message at the end of the stream ({ev.reason})",
                                flow=ev.flow_id)
    elif isinstance(ev, Anomaly):
        yield AnomalyRecord(ev.layer, ev.what, frame=ev.frame)


def stream_memory_size(text: str) -> int:
    """argparse type of ``--max-stream-memory``: octets, with an optional K/M/G suffix (powers
    of 1024; ``32M``, ``512k``, ``1G``, ``65536``); at least 64 KiB."""
    import argparse
    import re

    m = re.fullmatch(r"\s*(\d{1,12})\s*([kKmMgG]?)(?:i?[bB])?\s*", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: expected octets, e.g. 32M, 512K, 65536")
    value = int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]
    if value < 64 << 10:
        raise argparse.ArgumentTypeError(f"{text}: at least 64K")
    return value
