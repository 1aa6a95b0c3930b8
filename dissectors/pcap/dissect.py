"""`mcsec dissect`: capture → flows → SIP/HTTP/MIKEY units → decoded, verified, decrypted records.

A pipeline of generators (memory stays flat in capture size): :func:`records` yields one dict per
MIKEY message, CMS object, seed 004 body, KMS document, capture error or stream anomaly, in
capture order.  Every frame is counted in the statistics even when it carries nothing of
interest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from codec.sip import HTTP_START as HTTP_START_RE
from codec.sip import StreamFramer, looks_like_rtsp, looks_like_sip
from codec.rtsp import RtspFramer
from dissectors.pcap.capture import CaptureFault, read_frames
from dissectors.pcap.flows import (CONSUMER, Anomaly, Datagram, FlowTable, Limits, StreamData,
                              StreamEnd, StreamEvicted, StreamGap, StreamStart)
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
            max_stream_memory: int | None = None) -> Iterator[dict]:
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
            yield from tls.notes()
    finally:
        items.close()
        if hooks.get("tls") is not None:
            hooks["tls"].close()


MAX_HELD = 512  # records held back at most while a TRANSFER_INIT waits for its RESOLVE_RESP


def _verdicts_held(outs: Iterator[dict], session: Session) -> Iterator[dict]:
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
            yield from (claimed if claimed is not None
                        else _event(ev, flows, directions, times, budget, ended))
        yield from tls.ready(frame_number) if frame_number is not None else tls.finish()

    try:
        for rec in reader:
            if isinstance(rec, CaptureFault):
                yield {"kind": "capture-error", "offset": rec.offset,
                       "after_frame": rec.after_frame, "error": str(rec)}
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
            if looks_like_sip(data.lstrip(b"\r\n")):
                d.framer, d.kind = StreamFramer(), "sip"
            elif data.startswith(HTTP_START):
                d.framer, d.kind = HttpFramer(), "http"
            elif looks_like_rtsp(data.lstrip(b"\r\n")):  # RFC 2326 on any port (8554, 554, …)
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
                yield {"kind": "anomaly", "frame": ev.frames[-1], "layer": d.kind,
                       "what": str(f)}
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
            yield {"kind": "anomaly", "layer": "tcp", "flow": ev.flow_id,
                   "direction": ev.direction, "frame": frames[-1] if frames else None,
                   "frames": frames,
                   "what": f"{held + ev.octets} buffered octet(s) of frame(s) "
                           f"{', '.join(map(str, frames))} given up: {ev.reason}"}
    elif isinstance(ev, StreamGap):
        d = directions.get((ev.flow_id, ev.direction))
        if d is not None and d.framer is not None:
            d.framer = (RtspFramer() if d.kind == "rtsp"  # resynchronise after the hole
                        else StreamFramer(start=d.framer.start))
            d.frames = []
        yield {"kind": "anomaly", "layer": "tcp", "flow": ev.flow_id, "direction": ev.direction,
               "what": f"{ev.missing_bytes} octet(s) missing at stream offset {ev.offset} "
                       f"({ev.reason})"}
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
            yield {"kind": "anomaly", "layer": d.kind, "flow": ev.flow_id,
                   "what": f"{len(d.framer.buffer)} octet(s) of an incomplete message at the "
                           f"end of the stream ({ev.reason})"}
    elif isinstance(ev, Anomaly):
        yield {"kind": "anomaly", "frame": ev.frame, "layer": ev.layer, "what": ev.what}


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


def text_line(rec: dict) -> str:
    """One-line summary of a record, followed by indented verdicts."""
    kind = rec.get("kind")
    if kind in ("anomaly", "capture-error", "note"):
        where = f"frame {rec['frame']}: " if rec.get("frame") else ""
        return f"[{kind}] {where}{rec.get('what') or rec.get('error') or rec.get('message')}"
    head = (f"frame {rec['frame']} {rec['transport']} {rec['src']}:{rec['sport']} -> "
            f"{rec['dst']}:{rec['dport']}")
    sip = rec.get("sip")
    if sip:
        head += f"  SIP {sip['start_line'].split(' SIP/')[0]} (Call-ID {sip['call_id']})"
    lines = [head]
    if kind == "mikey":
        doc = rec.get("mikey") or {}
        hdr = (doc.get("mikey") or [{}])[0].get("mikey.hdr", {})
        lines.append(f"    MIKEY {hdr.get('mikey.type_name', hdr.get('mikey.type'))} via "
                     f"{rec['carrier']}, CSB ID 0x{hdr.get('mikey.csb_id', 0):08x}"
                     + (f", {hdr['mikey.3gpp.key_type']} 0x{hdr['mikey.3gpp.key_id']:08x}"
                        if "mikey.3gpp.key_id" in hdr else ""))
        for k, label in (("mikey.3gpp.sender_uri", "sender (by UID)"),
                         ("mikey.3gpp.receiver_uri", "receiver (by UID)"),
                         ("mikey.3gpp.period_no", "key period")):
            if k in hdr:
                lines.append(f"    {label}: {hdr[k]}")
        for p in doc.get("mikey", []):
            (name, obj), = p.items()
            for k in ("mikey.sign.verified", "mikey.kemac.verified", "mikey.v.verified",
                      "mikey.ticket.verified"):
                if k in obj:
                    lines.append(f"    {k}: {obj[k]}"
                                 + (f" ({obj.get(k.replace('verified', 'error'))})"
                                    if obj.get(k.replace("verified", "error")) else ""))
            if "mikey.sakke.ssv" in obj:
                lines.append(f"    mikey.sakke.ssv: {obj['mikey.sakke.ssv']}")
            if "mikey.sakke.error" in obj:
                lines.append(f"    mikey.sakke.error: {obj['mikey.sakke.error']}")
        for cs in doc.get("mikey.3gpp.crypto_sessions", []):
            lines.append(f"    SRTP CS {cs['mikey.3gpp.cs_id']} MKI {cs['mikey.3gpp.mki']}: key "
                         f"{cs['mikey.3gpp.srtp_master_key']} salt {cs['mikey.3gpp.srtp_master_salt']}")
        for sk in doc.get("mikey.ticket.session_keys", []):
            lines.append(f"    CS {sk['mikey.ticket.cs_id']}: TEK {sk['mikey.ticket.tek']}"
                         + (f" salt {sk['mikey.ticket.salt']}" if "mikey.ticket.salt" in sk else "")
                         + (f", SRTP {sk['mikey.ticket.srtp_transform']}"
                            if "mikey.ticket.srtp_transform" in sk else "")
                         + (f", SSRC 0x{sk['mikey.ticket.ssrc']:08x}"
                            if sk.get("mikey.ticket.ssrc") is not None else "")
                         + (f" ({sk['mikey.ticket.keys_from']})" if "mikey.ticket.keys_from" in sk
                            else "")
                         + (" (TLS-PSK)" if "mikey.ticket.tls_psk" in sk else ""))
        for f in doc.get("mikey.findings", []):  # quirks of the sender (RFC deviations)
            lines.append(f"    finding: {f['path']} at offset {f['offset']}: {f['message']}")
        if "mikey.ticket.replay" in doc:
            lines.append(f"    replay cache: {doc['mikey.ticket.replay']}")
        if "mikey.replay" in doc:
            lines.append(f"    REPLAY: the same I_MESSAGE (CSB ID, RAND, T) was delivered to this "
                         f"host in frame {doc['mikey.replay']} (RFC 3830 §5.4)")
        if "mikey.clock_skew" in doc:
            lines.append(f"    CLOCK SKEW: T is {doc['mikey.clock_skew']:+.3f} s from the capture "
                         f"time (beyond --max-clock-skew)")
    elif kind == "cms":
        opened = rec.get("cms_open")
        lines.append(f"    CMS {rec.get('smime_type')}"
                     + (f": {'opened' if opened.get('cms.ok', opened.get('ok')) else 'FAILED'}"
                        if opened else ""))
    elif kind == "psk-smime":
        lines.append(f"    seed 004 PSK S/MIME: {'opened' if rec['ok'] else 'FAILED: ' + str(rec['error'])}"
                     f", proof of origin {rec['proof_of_origin']}, replay {rec['replay']}")
    elif kind in ("srtp", "srtcp"):
        lines.append(f"    {kind.upper()} SSRC 0x{rec['ssrc']:08x} MKI {rec['mki']} ({rec['keys']}): "
                     + ("authenticated and decrypted" if rec["ok"] else f"FAILED: {rec['error']['reason']}")
                     + (f"; floor control: {rec['floor']}" if rec.get("floor") else ""))
        if rec.get("rtsp_stream"):
            lines.append(f"    RTSP stream {rec['rtsp_stream']['url']} ({rec['rtsp_stream']['side']}"
                         f" {rec['rtsp_stream']['channel']})"
                         + (f", keyed by {rec['keyed_by']}" if rec.get("keyed_by") else ""))
        for msg in rec.get("floor_control", ()):  # TS 24.380 §8.2.3 fields
            for f in msg["rtcp.mcptt.fields"]:
                values = ", ".join(f"{k.rsplit('.', 1)[-1]} {v!r}" for k, v in f.items()
                                   if not k.startswith("rtcp.mcptt.fld_") and not k.endswith("_name"))
                lines.append(f"        {f['rtcp.mcptt.fld_id_name']}: {values}")
        for e in rec.get("floor_errors", ()):
            lines.append(f"    FLOOR CONTROL DECODE ERROR {e['path']} at offset {e['offset']}: "
                         f"{e['reason']}")
    elif kind == "msrp" and rec.get("msrp"):
        m = rec["msrp"]
        lines.append(f"    {m.get('msrp.request.line') or m.get('msrp.response.line')}"
                     + (f" ({rec['decrypted']})" if rec.get("decrypted") else ""))
        for key in ("msrp.from.path", "msrp.to.path", "msrp.messageid", "msrp.byte.range",
                    "msrp.content.type", "msrp.data"):
            if key in m:
                lines.append(f"        {key}: {m[key]}")
    elif kind == "rtsp" and rec.get("rtsp", {}).get("streams"):
        for s in rec["rtsp"]["streams"]:  # RFC 2326 §12.39: the ports a SETUP tied to keys
            for side in ("client", "server"):
                if f"{side}_port" in s:
                    keys = [k for item in s.get(f"{side}_keys", ()) for k in item["keys"]]
                    lines.append(f"    RTSP {s['url']} {side}_port "
                                 f"{'-'.join(map(str, s[side + '_port']))}: "
                                 + (", ".join(keys) if keys else "no keys announced"))
    elif kind == "kms-xml":
        if "kms_request" in rec:
            lines.append(f"    KMS request: {rec['kms_request']}")
        else:
            lines.append(f"    KMS document: {rec.get('kms') or rec.get('error')}")
    if rec.get("error") and kind not in ("psk-smime", "kms-xml", "srtp", "srtcp"):
        e = rec["error"]
        lines.append(f"    DECODE ERROR {e.get('path')} at offset {e.get('offset')}: {e.get('reason')}")
    return "\n".join(lines)
