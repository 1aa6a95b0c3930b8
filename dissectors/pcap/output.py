"""Per-packet output of ``mcsec dissect``: records grouped by frame, Wireshark field names.

:func:`dissect.records` yields one record per MIKEY message, CMS object, SRTP packet, … .  Here
they are grouped by the frame that carries them (records of one frame arrive together or close
together — a message reassembled from TCP segments is reported at the segment that completes
it, as Wireshark does) into one object per packet::

    {"frame": 31, "time": 1761009631.0, "src": …, "sport": …, "dst": …, "dport": …,
     "transport": "udp", "layers": {"sip": {"sip.Method": "INVITE", …},
                                    "sdp": {"sdp.media": […], …},
                                    "mikey": [<codec.mikey.render JSON doc + decrypted fields>],
                                    "cms": […], "srtp": […], "srtcp": […], …}}

The ``sip`` and ``sdp`` layers use the field names of Wireshark's SIP and SDP dissectors (values as
tshark gives them: header values trimmed, repeated fields as lists), taken from the SIP message of
the unit by :class:`PacketSession`, a :class:`~dissectors.pcap.session.Session` that keeps them aside.

``--filter all`` (and ``--stats``, and the progress bar) read the capture a second time in
lockstep, so that every frame is listed / accounted for; memory stays bounded either way.
"""

from __future__ import annotations

import io
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from codec import netheaders
from codec import sip
from codec.errors import DecodeError
from codec.sdp import lines as sdp_lines
from dissectors.pcap.render import MEDIA_KINDS, add_field as _add, add_layers, new_packet
from dissectors.pcap.render import record_json
from dissectors.pcap.session import Session, Unit

LAG = 64  # frames: a packet is complete when a record this much later has been seen
KEY_KINDS = ("mikey", "cms", "psk-smime", "kms-xml", "mime", "rtsp")
PRIMARY = ("psk-smime", "mikey", "cms", "kms-xml", "msrp", "srtcp", "srtp", "mime", "rtsp", "sip",
           "mcsec.capture-error", "mcsec.anomaly", "mcsec.note")
FILTERS = ("any", "mikey", "cms", "srtp", "all")

# -- SIP / SDP fields as Wireshark names them ------------------------------------------------------
# packet-sip.c header table: the header names whose field is ``sip.<Name>``.
SIP_HEADERS = {n.lower(): n for n in (
    "Accept", "Accept-Contact", "Allow", "Authorization", "Call-ID", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Length", "Content-Type", "CSeq",
    "Event", "Expires", "From", "Max-Forwards", "P-Asserted-Identity", "P-Preferred-Identity",
    "Record-Route", "Require", "Route", "Server", "Subject", "Supported", "To", "User-Agent",
    "Via", "WWW-Authenticate", "Proxy-Authorization", "Session-Expires", "Subscription-State",
    "Refer-To", "Referred-By", "Privacy", "Priority", "Reason", "Resource-Priority",
    "Allow-Events", "Date", "Warning", "Organization", "Min-Expires", "Accept-Encoding",
    "Accept-Language", "Content-Language", "Replaces", "Unsupported")}
SIP_UINT = {"Content-Length", "Max-Forwards", "Expires"}
SDP_LINES = {"v": "sdp.version", "o": "sdp.owner", "s": "sdp.session_name",
             "i": "sdp.session_info", "u": "sdp.uri", "e": "sdp.email", "p": "sdp.phone",
             "c": "sdp.connection_info", "b": "sdp.bandwidth", "t": "sdp.time",
             "r": "sdp.repeat_time", "z": "sdp.timezone", "k": "sdp.encryption_key",
             "m": "sdp.media"}


def sip_layers(data: bytes, msg=None, start_line_only: bool = False) -> dict:
    """``{"sip": {...}, "sdp": {...}}`` of one SIP message, Wireshark field names.  Parsed by
    the one SIP parser (:func:`codec.sip.parse`), tolerantly: a display field never fails
    (``msg``: the strict parse of ``data``, when it succeeded: the same message).
    ``start_line_only``: just the fields of the start line (all ``--brief`` shows)."""
    if msg is None:
        msg = sip.parse(data.lstrip(b"\r\n"), tolerant=True)
    fields: dict = {}
    start = msg.start_line.strip()
    if start.startswith("SIP/"):
        fields["sip.Status-Line"] = start
        parts = start.split(" ", 2)
        if len(parts) > 1 and parts[1].isdigit():
            fields["sip.Status-Code"] = int(parts[1])
    else:
        fields["sip.Request-Line"] = start
        parts = start.split(" ")
        fields["sip.Method"] = parts[0]
        if len(parts) > 1:
            fields["sip.r-uri"] = parts[1]
    if start_line_only:
        return {"sip": fields}
    ctype = None
    for name, value in msg.headers:
        known = _SIP_FIELDS.get(name.lower())
        if known is None:
            continue
        canon, key, uint = known
        if uint and value.isdigit():
            _add(fields, key, int(value))
        else:
            _add(fields, key, value)
        if canon == "CSeq":
            seq, _, method = value.partition(" ")
            if seq.isdigit():
                _add(fields, "sip.CSeq.seq", int(seq))
            _add(fields, "sip.CSeq.method", method.strip())
        elif canon == "Content-Type" and ctype is None:
            ctype = value.split(";")[0].strip().lower()
    out = {"sip": fields}
    if ctype == "application/sdp" and msg.body:
        out["sdp"] = sdp_fields(msg.body)
    return out


# lower-case header name (or compact form, RFC 3261 §7.3.3) -> (canonical name, field, integer?)
_SIP_FIELDS = {**{letter: (canon, f"sip.{canon}", canon in SIP_UINT)
                  for letter, canon in sip.COMPACT_FORMS.items() if len(letter) == 1},
               **{low: (canon, f"sip.{canon}", canon in SIP_UINT)
                  for low, canon in SIP_HEADERS.items()}}


def sdp_fields(body: bytes) -> dict:
    """The SDP lines of a body under Wireshark's ``sdp.*`` names (RFC 4566 §5)."""
    sdp: dict = {}
    for line in sdp_lines(body.decode("utf-8", "replace")):  # codec.sdp: the one SDP scanner
        t, value = line.type, line.value
        if t == "a":
            _add(sdp, "sdp.session_attr" if line.media_index is None else "sdp.media_attr", value)
            if value.startswith("key-mgmt:"):
                _add(sdp, "sdp.key_mgmt", value[9:])
            continue
        name = SDP_LINES.get(t)
        if name is not None:
            _add(sdp, name, value)
    return sdp


@dataclass
class PacketSession(Session):
    """A :class:`Session` that also keeps, per frame, the SIP/SDP fields of the SIP messages
    it analyses and which frames were parts of a unit reported at a later frame."""

    sip_fields: dict = field(default_factory=dict)  # frame -> {"sip": …, "sdp": …}
    part_of: dict = field(default_factory=dict)  # frame -> frame its unit is reported at
    want_fields: bool = True
    start_line_fields_only: bool = False  # --brief without -Y: the SIP start line is all it shows

    def analyze(self, unit: Unit) -> list:
        if len(unit.frames) > 1:
            last = unit.frames[-1]
            for f in unit.frames[:-1]:
                self.part_of[f] = last
        parsed = None
        if self.want_fields and sip.is_sip(unit.data):
            try:  # parsed once, for these fields and the session's analysis (Session._sip)
                parsed = (unit.data, sip.parse(unit.data))
            except DecodeError:
                pass  # parsed tolerantly for the fields; the analysis reports the error
            try:
                layers = sip_layers(unit.data, parsed[1] if parsed else None,
                                    self.start_line_fields_only)
            except Exception as e:  # never lose the records for a display field
                layers = {"sip": {"mcsec.error": str(e)}}
            old = self.sip_fields.get(unit.frames[-1])
            if old is None:
                self.sip_fields[unit.frames[-1]] = layers
            else:  # several SIP messages end in one segment: repeated fields, as tshark
                for name, layer in layers.items():
                    for k, v in layer.items():
                        for x in (v if isinstance(v, list) else [v]):
                            _add(old.setdefault(name, {}), k, x)
            if len(self.sip_fields) > 200_000:  # out-of-order keys never forgotten: bounded
                for k in list(self.sip_fields)[:100_000]:
                    del self.sip_fields[k]
        self.sip_parsed = parsed
        try:
            return super().analyze(unit)
        finally:
            self.sip_parsed = None

    def forget(self, upto: int) -> None:
        """Drop what was kept for frames ≤ ``upto`` (bounded memory)."""
        for d in (self.sip_fields, self.part_of):
            while d:
                k = next(iter(d))
                if k > upto:
                    break
                del d[k]


# -- light frame decoding for frames that carry nothing (``--filter all``) -------------------------
def frame_addresses(frame) -> dict:
    """Addresses and ports of a frame (link → IPv4/IPv6 → UDP/TCP), best effort, no reassembly.

    Decoded with the codec/netheaders.py schemas and link-layer ladder, like flows.FlowTable;
    what cannot be decoded is left out (a fragment or a cut-short transport header keeps just
    the addresses)."""
    s = io.BytesIO(frame.data)
    try:
        version = netheaders.link_layer(frame.linktype, s)  # the ladder FlowTable.feed uses
        if version == 4:
            ip = netheaders.IPV4.reader()(s)
            proto = ip.protocol if not (ip.mf or ip.frag_offset) else None
        elif version == 6:
            ip = netheaders.IPV6.reader()(s)
            proto = ip.next_header  # extension headers are not walked here
        else:
            return {}
    except (netheaders.LinkLayerError, netheaders.StreamError):
        return {}
    out = {"src": netheaders.ip_text(ip.src), "dst": netheaders.ip_text(ip.dst)}
    if proto in _TRANSPORTS:
        name, layout = _TRANSPORTS[proto]
        try:
            l4 = layout.reader()(io.BytesIO(ip.payload))
        except netheaders.StreamError:
            return out
        out.update(transport=name, sport=l4.sport, dport=l4.dport)
    return out


_TRANSPORTS = {6: ("tcp", netheaders.TCP), 17: ("udp", netheaders.UDP)}


# -- grouping ---------------------------------------------------------------------------------------
def _matches(pkt: dict, filt: str) -> bool:
    layers = pkt["layers"]
    if filt in ("any", "all"):
        return filt == "all" or bool(layers)
    if filt == "mikey":
        return "mikey" in layers
    if filt == "cms":
        return "cms" in layers or "psk-smime" in layers
    if filt == "srtp":
        return "srtp" in layers or "srtcp" in layers
    return True


class Packets:
    """Iterate the per-packet objects of a dissection (see module docstring).

    ``records``: the iterator of :func:`dissectors.pcap.dissect.records` (typed records,
    rendered here by :func:`dissectors.pcap.render.record_json`); ``session``: the
    :class:`PacketSession` it feeds; ``frames``: optional iterator over the capture's frames
    (:func:`dissectors.pcap.capture.read_frames` on the same file) read in lockstep, for ``all`` and
    for the frame accounting.  ``stats`` (a :class:`Stats`) is updated as packets go out."""

    def __init__(self, records: Iterable[dict], session: PacketSession, *, filt: str = "any",
                 frames: Iterable | None = None, stats: "Stats | None" = None,
                 progress=None, keep_records: bool = False, display_filter=None):
        self.records, self.session, self.filt = iter(records), session, filt
        # -Y: a dissectors.pcap.display_filter.DisplayFilter, tested on the finished packet object
        self.display_filter = display_filter
        self.frames = iter(frames) if frames is not None else None
        self.stats = stats
        self.progress = progress
        self.keep_records = keep_records
        self.pending: dict = {}
        self.done = 0  # every frame ≤ done has been released

    def __iter__(self) -> Iterator[dict]:
        pending, max_seen = self.pending, 0
        show = getattr(self.session, "show_secrets", False)
        for rec in self.records:
            rec = record_json(rec, show)  # the output edge (dissectors/pcap/render.py)
            if self.stats is not None:
                self.stats.record(rec)
            f = rec.get("frame")
            if f is None:  # stream anomalies and capture errors: with the latest frame
                f = max(max_seen, self.done + 1) if rec.get("kind") != "capture-error" else (
                    max(rec.get("after_frame") or 0, self.done + 1))
            if f <= self.done:  # late record (should not happen): a packet of its own
                pkt = new_packet(f, rec)
                add_layers(pkt["layers"], rec)
                if self.keep_records:
                    pkt["_records"] = [rec]
                if _matches(pkt, self.filt):
                    pkt = self._finish(pkt)
                    if self.display_filter is None or self.display_filter(pkt):
                        yield pkt
                continue
            pkt = pending.get(f)
            if pkt is None:
                pkt = pending[f] = new_packet(f, rec)
            elif "src" not in pkt and "src" in rec:
                pkt.update({k: v for k, v in new_packet(f, rec).items() if k != "layers"})
            add_layers(pkt["layers"], rec)
            if self.keep_records:
                pkt.setdefault("_records", []).append(rec)
            if f > max_seen:
                max_seen = f
                if max_seen - LAG > self.done:
                    yield from self._release(max_seen - LAG)
        yield from self._release(None)

    def flush_upto(self, frame: int) -> Iterator[dict]:
        """Release now every packet up to ``frame`` (a live capture gone quiet after it: every
        record of those frames has been produced, when the analysis runs in this process)."""
        if frame > self.done:
            yield from self._release(frame)

    def _finish(self, pkt: dict):
        f = pkt["frame"]
        fields = self.session.sip_fields.get(f)
        if fields:
            layers = dict(fields)
            for name, layer in pkt["layers"].items():
                if name == "sip" and isinstance(layers.get("sip"), dict):  # keep both
                    layers["sip"] = {**layers["sip"], **layer}
                else:
                    layers[name] = layer
            pkt["layers"] = layers
        # the packet's main kind of interest (for `jq 'select(.kind == "mikey")'`)
        pkt["kind"] = next((k for k in PRIMARY if k in pkt["layers"]), "frame")
        return pkt

    def _release(self, upto):
        pending = self.pending
        if self.frames is not None:
            for fr in self.frames:
                if not hasattr(fr, "number"):
                    continue  # capture errors come as records too
                n = fr.number
                if self.progress is not None:
                    self.progress(fr.offset)
                yield from self._out(pending.pop(n, None), fr)
                if upto is not None and n >= upto:
                    break
        keys = sorted(pending if upto is None else filter(upto.__ge__, pending))
        for k in keys:
            yield from self._out(pending.pop(k), None)
        if upto is not None:
            self.done = max(self.done, upto)
            self.session.forget(upto)
        else:
            self.done = float("inf")

    def _out(self, pkt, fr):
        n = fr.number if fr is not None else pkt["frame"]
        if self.stats is not None and fr is not None:
            self.stats.frame(n, pkt, self.session)
        if pkt is None:
            if self.filt != "all":
                return
            pkt = {"frame": n, "time": fr.timestamp, **frame_addresses(fr), "layers": {}}
        elif fr is not None and pkt.get("time") is None:
            pkt.update({"time": fr.timestamp, **frame_addresses(fr)})
        pkt = self._finish(pkt)
        if _matches(pkt, self.filt) and (self.display_filter is None or self.display_filter(pkt)):
            yield pkt


# -- statistics --------------------------------------------------------------------------------------
class Stats:
    """Counters of ``--stats``: per message type, verification and decryption outcomes (with the
    reasons of failures), errors, and an accounting of every frame of the capture."""

    def __init__(self):
        self.frames = Counter()
        self.mikey_types = Counter()
        self.cms_kinds = Counter()
        self.kinds = Counter()
        self.checks = Counter()  # (check, "verified"|"failed")
        self.decrypted = Counter()
        self.undecryptable = Counter()  # reason -> n
        self.media = Counter()  # (kind, "ok"|"failed")
        self.media_failures = Counter()
        self.floor = Counter()
        self.errors = Counter()  # layer/path -> n
        self.capture_errors = 0
        self.anomalies = Counter()

    def record(self, rec: dict) -> None:
        kind = rec.get("kind")
        self.kinds[kind] += 1
        if kind == "capture-error":
            self.capture_errors += 1
            return
        if kind == "anomaly":
            self.anomalies[rec.get("layer")] += 1
            return
        if kind == "mikey":
            self._mikey(rec)
        elif kind == "cms":
            self.cms_kinds[rec.get("smime_type") or "unknown"] += 1
            opened = rec.get("cms_open")
            if opened is not None:
                ok = opened.get("cms.ok", opened.get("ok"))
                self.checks[("cms", "verified/opened" if ok else "failed")] += 1
                if not ok:
                    self.undecryptable[f"cms: {_first_failure(opened)}"] += 1
            elif not rec.get("error"):
                self.undecryptable["cms: no keys"] += 1
        elif kind == "psk-smime":
            self.cms_kinds["seed 004 PSK S/MIME"] += 1
            self.decrypted["psk-smime"] += bool(rec.get("ok"))
            if not rec.get("ok"):
                self.undecryptable[f"psk-smime: {rec.get('error')}"] += 1
        elif kind in MEDIA_KINDS:
            self.media[(kind, "ok" if rec.get("ok") else "failed")] += 1
            if not rec.get("ok"):
                self.media_failures[f"{kind}: {(rec.get('error') or {}).get('reason')}"] += 1
            for e in rec.get("floor_errors") or ():
                self.errors[f"floor control: {e.get('path')} {e.get('reason')}"] += 1
            if rec.get("floor"):
                fl = rec["floor"]
                self.floor[fl.get("name") if isinstance(fl, dict) and fl.get("name")
                           else str(fl)[:60]] += 1
        if rec.get("error") and kind not in ("psk-smime",) + MEDIA_KINDS:
            e = rec["error"]
            self.errors[f"{kind}: {e.get('path') or ''} {e.get('reason')}".strip()] += 1

    def _mikey(self, rec):
        doc = rec.get("mikey") or {}
        payloads = doc.get("mikey") or []
        hdr = (payloads[0] if payloads else {}).get("mikey.hdr", {})
        self.mikey_types[hdr.get("mikey.type_name") or str(hdr.get("mikey.type", "undecodable"))] += 1
        if rec.get("error"):
            return
        attempted = decrypted = False
        for p in payloads:
            (name, obj), = p.items() if len(p) == 1 else (("", {}),)
            for check in ("mikey.sign", "mikey.kemac", "mikey.v", "mikey.ticket"):
                if f"{check}.verified" in obj:
                    attempted = True
                    ok = obj[f"{check}.verified"]
                    self.checks[(check, "verified" if ok else "failed")] += 1
            if "mikey.sakke.ssv" in obj:
                attempted = decrypted = True
            if "mikey.sakke.error" in obj:
                attempted = True
                self.undecryptable[f"mikey: {obj['mikey.sakke.error']}"] += 1
        if doc.get("mikey.ticket.session_keys") or doc.get("mikey.3gpp.crypto_sessions"):
            decrypted = True
        if decrypted:
            self.decrypted["mikey"] += 1
        elif not attempted:
            self.undecryptable["mikey: no keys for this message (or not a keyed type)"] += 1

    def frame(self, n, pkt, session: PacketSession) -> None:
        layers = pkt["layers"] if pkt is not None else {}
        if any(k in layers for k in KEY_KINDS):
            cat = "key material"
        elif any(k in layers for k in MEDIA_KINDS):
            cat = "SRTP/SRTCP media"
        elif n in session.sip_fields:
            cat = "SIP without key material"
        elif n in session.part_of:
            cat = "segment of a message reported at a later frame"
        elif layers:
            cat = "anomalies/notes only"
        else:
            cat = "other traffic"
        self.frames[cat] += 1

    def to_json(self, session: Session | None = None) -> dict:
        def flat(c):
            return {" ".join(k) if isinstance(k, tuple) else str(k): v for k, v in c.items()}
        out = {"frames": dict(self.frames, total=sum(self.frames.values())),
               "capture_errors": self.capture_errors,
               "mikey_types": dict(self.mikey_types), "cms_kinds": dict(self.cms_kinds),
               "media": flat(self.media), "floor_control": dict(self.floor),
               "checks": flat(self.checks), "decrypted": dict(self.decrypted),
               "undecryptable": dict(self.undecryptable),
               "media_failures": dict(self.media_failures),
               "error_reasons": dict(self.errors), "anomalies": flat(self.anomalies),
               "records": flat(self.kinds)}
        if session is not None:  # the session's counters (units, sip, mikey, cms, errors, …)
            out = {**session.stats, **out}
        return out


def _first_failure(opened: dict) -> str:
    """Why a CMS object did not open or verify: the first failing layer, and in it the first
    failing check (``cms.checks`` of the layer or of a signer), else the layer's error."""
    for layer in opened.get("cms.layers") or []:
        if not isinstance(layer, dict) or layer.get("cms.layer.ok", True):
            continue
        kind = layer.get("cms.layer.type", "layer")
        checks = list(layer.get("cms.checks") or [])
        for signer in layer.get("cms.signers") or []:
            checks.extend(signer.get("cms.checks") or [])
        for c in checks:
            if isinstance(c, dict) and not c.get("ok"):
                return f"{kind} {c.get('check')}: {c.get('detail', '')}".rstrip(": ")
        if layer.get("cms.layer.error"):
            return f"{kind}: {layer['cms.layer.error']}"
    return str(opened.get("cms.error") or "failed (no reason given)")


# -- progress ------------------------------------------------------------------------------------------
class Progress:
    """A rich progress bar on stderr (only when stderr is a terminal), by file offset."""

    def __init__(self, path, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = self.task = None
        self._last = 0
        if not self.enabled:
            return
        try:  # a capture set (dissectors/pcap/captureset.py) knows its size: not os.fspath() it
            size = path.size if hasattr(path, "open_reader") else os.path.getsize(path)
        except OSError:
            size = None
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, Progress as RichProgress,
                                   TimeRemainingColumn)
        self.bar = RichProgress("[progress.description]{task.description}", BarColumn(),
                                DownloadColumn(), TimeRemainingColumn(),
                                console=Console(file=self.stream), transient=True)
        self.task = self.bar.add_task(f"dissecting {os.path.basename(str(path))}", total=size)
        self.bar.start()

    def __call__(self, offset: int) -> None:
        if self.bar is not None and offset - self._last >= 1 << 16:
            self._last = offset
            self.bar.update(self.task, completed=offset)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
