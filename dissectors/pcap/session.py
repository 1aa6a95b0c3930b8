"""Per-capture state and the analysis of every application payload that carries key material.

A :class:`Session` is fed application units (a UDP datagram, or a SIP/HTTP message framed from a
TCP stream) with their frame numbers and addresses, and returns typed records
(:mod:`dissectors.pcap.records`): one per MIKEY message or CMS object found, each decoded, and —
with the keyring — verified and decrypted; the objects and results as the codec gives them,
turned into JSON and text only at the output edge (:mod:`dissectors.pcap.render`).  The session
ties MIKEY messages to their SIP dialog (Call-ID), gives RESP messages their INIT, feeds
TRANSFER_INITs to the replay cache and adds keys found in KMS XML to the keyring when the
transport key is known.  Nothing is dropped: a unit that fails to decode gives an error record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codec import mime, psk_smime, rtp, sip
from codec.media import MediaKeys
from codec.errors import DecodeError
from codec.keyring import Keyring
from codec.mikey import decode as mikey_decode
from codec.mikey import ticket
from codec.mikey import sakke as mikey_sakke
from codec.mikey.exchange import ExchangeTracker
from codec import rtsp as rtsp_codec
from codec.mikey.clear_keys import clear_srtp_keys
from dissectors.pcap.message_cache import DECODED
from dissectors.pcap.records import (CarrierErrorRecord, CmsRecord, Failure, KmsRecord,
                                     MediaRecord, MikeyRecord, MsrpRecord, Origin, PskSmimeRecord,
                                     Record, Revision, RtspContext, RtspStreamsRecord, SipContext)

MIKEY_PORT = 2269


@dataclass
class Unit:
    """One application payload and where it came from."""

    frames: list
    time: float
    transport: str  # "udp" | "tcp" | "tls"
    src: str
    sport: int
    dst: str
    dport: int
    data: bytes
    channel: int | None = None  # RTSP interleaved channel (RFC 2326 §10.12)


@dataclass
class Session:
    keyring: Keyring = field(default_factory=Keyring)
    show_secrets: bool = False
    decrypt_unverified: bool = False
    transport_key: bytes | None = None
    replay_cache: ticket.ReplayCache = field(default_factory=lambda: ticket.ReplayCache(1024))
    history: list = field(default_factory=list)  # (Message, wire) of MIKEY messages seen
    media: MediaKeys = field(default_factory=MediaKeys)  # SRTP/SRTCP keys derived so far
    # MIKEY-SAKKE results computed ahead in worker processes (dissectors.pcap.workers), or None
    precomputed: Any = None
    # TLS-PSKs of MIKEY-TICKET TLS crypto sessions (seed 004 Annex X), for the TLS hook
    tls_psks: list = field(default_factory=list)
    msrp_buffers: dict = field(default_factory=dict)  # connection -> incomplete MSRP octets
    # RTSP connections (RFC 2326): requests by CSeq and the keys announced per stream URL
    rtsp_connections: dict = field(default_factory=dict)
    # (address, port) -> the RTSP stream a SETUP's Transport ties to it (RFC 2326 §12.39)
    rtsp_ports: dict = field(default_factory=dict)
    rtsp_bound_ssrcs: set = field(default_factory=set)  # SSRCs keyed by those ports, not by a map
    exchanges: Any = None  # codec.mikey.exchange.ExchangeTracker, made with the first message
    _ticket_records: dict = field(default_factory=dict)  # tracker entry seq -> MikeyRecord
    # RFC 3830 §5.4 for every I_MESSAGE: first sightings per receiving host, and the allowed
    # distance (seconds) of a T payload from the capture time (None: not checked)
    seen_i_messages: Any = field(default_factory=lambda: _replay().SeenIMessages())
    max_clock_skew: float | None = field(default_factory=lambda: _replay().DEFAULT_MAX_CLOCK_SKEW)
    stats: dict = field(default_factory=lambda: {"units": 0, "sip": 0, "mikey": 0, "cms": 0,
                                                 "errors": 0, "kms_xml": 0})
    # (octets, codec.sip.parse of them) of the unit being analysed, when a subclass parsed
    # them already: the SIP message is parsed once
    sip_parsed: Any = None

    def __post_init__(self):
        for k in (self.keyring.srtp if self.keyring is not None else ()):
            self.media.add_session(k.mki, k.key, k.salt, f"keyring {k.source}".strip())

    # -- entry point ---------------------------------------------------------------------------
    def analyze(self, unit: Unit) -> list[Record]:
        """The records of one unit (:mod:`dissectors.pcap.records`), in the order found."""
        self.stats["units"] += 1
        base = Origin(unit.frames[-1], tuple(unit.frames), unit.time, unit.transport, unit.src,
                      unit.sport, unit.dst, unit.dport, unit.channel)
        if unit.transport == "tls-psk" or unit.data.startswith(b"MSRP "):
            return self._msrp(base, unit)
        if MIKEY_PORT in (unit.sport, unit.dport) and not sip.is_sip(unit.data):
            return [self._mikey(base, unit.data, "port 2269", None)]
        if sip.is_sip(unit.data):
            return self._sip(base, unit.data)
        if rtsp_codec.is_rtsp(unit.data):
            return self._rtsp(base, unit.data)
        if unit.data.startswith((b"HTTP/1.", b"POST ", b"GET ", b"PUT ")):
            return self._http(base, unit.data)
        if unit.transport in ("udp", "rtsp-interleaved"):  # RFC 2326 §10.12: RTP in RTSP
            return self._media(base, unit.data)
        return []

    # -- RTSP (RFC 2326; RFC 4567 §3.3 KeyMgmt header, §4 SDP key-mgmt) -------------------------
    def _rtsp(self, base, data):
        """MIKEY in ``KeyMgmt`` headers (SETUP, ANNOUNCE replies …) and in SDP bodies (DESCRIBE
        reply, ANNOUNCE); a SETUP reply's ``Transport`` ties each stream's keys to its RTP/RTCP
        ports (client_port/server_port), so media records name their RTSP stream."""
        try:
            msg = rtsp_codec.parse(data)
        except DecodeError as e:
            return [CarrierErrorRecord(origin=base, layer="rtsp", error=Failure.of(e))]
        request = not msg.is_response
        client = (base.src, base.sport) if request else (base.dst, base.dport)
        server = (base.dst, base.dport) if request else (base.src, base.sport)
        conn = self.rtsp_connections.get((client, server))
        if conn is None:
            conn = self.rtsp_connections[(client, server)] = {"requests": {}, "keys": []}
            while len(self.rtsp_connections) > 256:  # bounded: forget the oldest connection
                del self.rtsp_connections[next(iter(self.rtsp_connections))]
        cseq = msg.header("cseq")
        answered = None
        if request:
            conn["requests"][cseq] = (msg.method, msg.url)
            while len(conn["requests"]) > 64:
                del conn["requests"][next(iter(conn["requests"]))]
            method, url = msg.method, msg.url
        else:
            method, url = conn["requests"].get(cseq, (None, None))
            if method:
                answered = f"{method} {url}"
        side = "client" if request else "server"  # whose keys this message announces
        info = RtspContext(msg.start_line, cseq, answered)
        out = []
        for item in rtsp_codec.find_key_material(msg, url):  # KeyMgmt headers, SDP bodies
            if isinstance(item, rtsp_codec.RtspKeyMgmtError):
                self.stats["errors"] += 1
                out.append(CarrierErrorRecord(origin=base, context=info, layer="rtsp",
                                              error=Failure.of(item.error)))
                continue
            rec = self._mikey(base, item.data, item.carrier, None, info)
            out.append(rec)
            self._rtsp_keys(conn, rec, item.stream, side)
        if not request and method == "SETUP" and msg.status == 200:
            streams = self._rtsp_transport(conn, msg, url, client, server)
            if streams:
                out.append(RtspStreamsRecord(origin=base, context=info, streams=streams))
        return out

    def _rtsp_keys(self, conn, rec, url, side):
        """Remember the crypto sessions a MIKEY record keyed for an RTSP stream URL."""
        keyed = rec.session_keys() if isinstance(rec, MikeyRecord) else []
        labels = [f"PSK 0x{rec.message.hdr.csb_id:08x} CS {cs_id}" for cs_id, _ in keyed]
        ssrcs = [ssrc for _, ssrc in keyed if ssrc is not None]
        conn["keys"].append({"url": url, "side": side, "keys": labels, "ssrcs": ssrcs,
                             "frame": rec.frame if isinstance(rec, MikeyRecord) else None})
        del conn["keys"][:-64]  # bounded

    def _rtsp_transport(self, conn, msg, url, client, server):
        """RFC 2326 §12.39: the SETUP reply's client_port/server_port pairs (RTP, RTCP)."""
        streams = []
        for t in rtsp_codec.transport(msg.header("transport") or ""):
            keys = [k for k in conn["keys"] if rtsp_codec.same_stream(k["url"], url)
                    or (k["url"] and url and url.startswith(k["url"].rstrip("/") + "/"))]
            stream = {"url": url, "protocol": t.protocol}
            for side, addr, ports in (("client", client[0], t.client_port),
                                      ("server", server[0], t.server_port)):
                if not ports:
                    continue
                stream[f"{side}_port"] = list(ports)
                mine = [k for k in keys if k["side"] == side]
                for port, channel in zip(ports, ("RTP", "RTCP")):
                    self.rtsp_ports[(addr, port)] = {
                        "url": url, "side": side, "channel": channel,
                        "keys": [lbl for k in mine for lbl in k["keys"]]}
                stream[f"{side}_keys"] = [{"frame": k["frame"], "keys": k["keys"],
                                           "ssrcs": k["ssrcs"]} for k in mine]
            if t.interleaved:  # RFC 2326 §10.12: channels of the RTSP connection, both ways
                stream["interleaved"] = list(t.interleaved)
                for side, sender, receiver in (("client", client, server),
                                               ("server", server, client)):
                    mine = [k for k in keys if k["side"] == side]
                    for ch, channel in zip(t.interleaved, ("RTP", "RTCP")):
                        self.rtsp_ports[("interleaved", sender, receiver, ch)] = {
                            "url": url, "side": side, "channel": channel,
                            "keys": [lbl for k in mine for lbl in k["keys"]]}
                    stream.setdefault(f"{side}_keys", [{"frame": k["frame"], "keys": k["keys"],
                                                        "ssrcs": k["ssrcs"]} for k in mine])
            if t.ssrc is not None:
                stream["ssrc"] = t.ssrc
            streams.append(stream)
        while len(self.rtsp_ports) > 4096:  # bounded
            del self.rtsp_ports[next(iter(self.rtsp_ports))]
        return streams

    # -- MSRP (RFC 4975), e.g. over TLS-PSK (seed 004) ------------------------------------------
    def _msrp(self, base, unit):
        from codec import msrp

        conn = (unit.src, unit.sport, unit.dst, unit.dport)
        buf = self.msrp_buffers.pop(conn, b"") + unit.data
        messages, rest, errors = msrp.split_messages(buf)
        if rest:
            self.msrp_buffers[conn] = rest
            while len(self.msrp_buffers) > 256:  # bounded: forget the oldest connection
                del self.msrp_buffers[next(iter(self.msrp_buffers))]
        out: list[Record] = [MsrpRecord(origin=base, error=Failure.of(e)) for e in errors]
        decrypted = ("TLS-PSK of a MIKEY-TICKET TLS crypto session"
                     if unit.transport == "tls-psk" else None)
        for offset, octets in messages:
            try:
                fields = msrp.decode(octets)
            except DecodeError as e:
                out.append(MsrpRecord(origin=base, decrypted=decrypted, error=Failure.of(e)))
                continue
            data = fields.pop("msrp.data", None)
            out.append(MsrpRecord(origin=base, decrypted=decrypted, fields=fields, data=data))
        self.stats["msrp"] = self.stats.get("msrp", 0) + len(messages)
        return out

    # -- SRTP / SRTCP and floor control --------------------------------------------------------
    def _media(self, base, data):
        m = self.media
        if not (m.sessions or m.groups or m.ssrc_sessions or m.any_sessions or self.rtsp_ports):
            return []  # no keys yet (MediaKeys.open would answer None): no header looked at
        res = m.open(data)
        if res is None and self.rtsp_ports:
            res = self._open_by_rtsp_port(base, data)
        if res is None:
            return []
        keyed_by = (res.ssrc in self.rtsp_bound_ssrcs
                    and "RTSP Transport ports (SSRC not in the MIKEY map)")
        self.stats[res.kind] = self.stats.get(res.kind, 0) + 1
        # rtsp_stream: sent from ports an RTSP SETUP tied to a stream
        return [MediaRecord(origin=base, result=res, wire=bytes(data),
                            rtsp_stream=self._rtsp_stream_of(base), keyed_by=keyed_by or None)]

    def _rtsp_stream_of(self, base):
        """The RTSP stream a media packet belongs to: by its source port, or (interleaved) by
        its RTSP connection, direction and channel."""
        if base.channel is None:
            return self.rtsp_ports.get((base.src, base.sport))
        return self.rtsp_ports.get(("interleaved", (base.src, base.sport),
                                    (base.dst, base.dport), base.channel))

    def _open_by_rtsp_port(self, base, data):
        """A stream whose SSRC no MIKEY map names (rtspclientsink's receiver reports) sent from
        ports a SETUP tied to keys: those keys, bound to the SSRC once a tag verifies."""
        stream = self._rtsp_stream_of(base)
        if not stream or not stream["keys"] or not rtp.is_rtp_v2(data):
            return None
        try:
            ssrc = rtp.stream_ssrc(data)
        except rtp.HeaderError:
            return None
        sessions = self.media.ssrc_sessions
        if ssrc in sessions:
            return None
        wanted = set(stream["keys"])
        entries = list({id(e): e for known in list(sessions.values()) for e in known
                        if e.label.split(" (")[0] in wanted}.values())
        if not entries:
            return None
        sessions[ssrc] = entries
        res = self.media.open(data)
        if res is None or not res.ok:  # not SRTP of these keys (e.g. NAT hole-punching octets)
            del sessions[ssrc]
            return None
        if len(self.rtsp_bound_ssrcs) < 4096:  # bounded
            self.rtsp_bound_ssrcs.add(ssrc)
        return res

    # -- SIP -----------------------------------------------------------------------------------
    def _sip(self, base, data):
        self.stats["sip"] += 1
        parsed = self.sip_parsed  # parsed already (output.PacketSession's display fields)
        if parsed is not None and parsed[0] is data:
            msg = parsed[1]
        else:
            try:
                msg = sip.parse(data)
            except DecodeError as e:
                self.stats["errors"] += 1
                return [CarrierErrorRecord(origin=base, layer="sip", error=Failure.of(e))]
        call_id = msg.header("call-id")
        info = SipContext(msg.start_line, call_id, msg.header("cseq"), msg.header("from"),
                          msg.header("to"))
        return self._entity(base, msg, call_id, info)

    def _entity(self, base, ent, call_id, info):
        """Records of the key material a SIP message carries, found by the one MIME-tree walk
        (:func:`codec.mime.find_key_material`, also behind ``decode --in sdp``)."""
        out = []
        for item in mime.find_key_material(ent):
            try:
                if isinstance(item, mime.KeyMaterialError):
                    raise item.error
                if isinstance(item, (mime.MikeyInSdp, mime.MikeyBody)):
                    out.append(self._mikey(base, item.data, item.carrier, call_id, info))
                elif isinstance(item, mime.SmimePart):
                    out.extend(self._cms(base, [item], info))
                elif isinstance(item, mime.PskSmimeBody):
                    out.extend(self._psk_smime(base, item, call_id, info))
                elif isinstance(item, mime.KmsXmlBody):
                    out.extend(self._kms_xml(base, item.data))
            except DecodeError as e:
                self.stats["errors"] += 1
                out.append(CarrierErrorRecord(origin=base, context=info, layer="mime",
                                              error=Failure.of(e)))
        return out

    # -- MIKEY ---------------------------------------------------------------------------------
    def _mikey(self, base, data, carrier, call_id, info=None):
        self.stats["mikey"] += 1
        wire = bytes(data)
        rec = MikeyRecord(origin=base, context=info, carrier=carrier, call_id=call_id,
                          wire=wire)
        known = DECODED.get(wire)  # a message seen before: decoded once (message_cache.py)
        if known is None:
            try:
                msg = mikey_decode(wire)
            except DecodeError as e:
                self.stats["errors"] += 1
                rec.error, rec.partial = Failure.of(e), e.partial
                return rec
            # with the SRTP keys of a NULL-encrypted KEMAC: a function of the message too
            known = (msg, clear_srtp_keys(msg))
            DECODED.put(wire, known, len(wire))
        msg, clear = known
        rec.message = msg
        if self.keyring is not None:
            self._keys(rec, msg, data)
        if clear is not None:
            self._clear_srtp(rec, msg, clear)
        rec.replay_of, rec.clock_skew = self._replay_and_skew(msg, base, data)
        self.history.append((msg, data))
        del self.history[:-256]  # bounded
        return rec

    def _clear_srtp(self, rec, msg, clear):
        """SRTP keys of a NULL-encrypted KEMAC (``clear``: :func:`clear_srtp_keys` of ``msg``;
        GStreamer, gortsplib, LIVE555): no keyring needed; the quirks are findings
        (codec.mikey.clear_keys)."""
        rec.clear = clear
        if rec.ticket is not None and rec.ticket.session_keys:  # the keyring's PSK opened it
            return
        rec.clear_used = True
        for s in clear.sessions:
            why = self.media.add_session(s.spi, s.tek, s.salt, f"PSK 0x{msg.hdr.csb_id:08x} CS "
                                         f"{s.cs_id}", s.ssrc, s.roc, s.transform)
            if why and rec.clear_key_error is None:
                rec.clear_key_error = why

    def _keys(self, rec, msg, data):
        if mikey_sakke.carries_sakke(msg):
            res = self.precomputed(data) if self.precomputed is not None else None
            if res is None:
                res = mikey_sakke.process(msg, data, self.keyring,
                                          decrypt_unverified=self.decrypt_unverified)
            rec.sakke = res
            self._register_media(msg, res)
            return
        # PSK MIKEY / MIKEY-TICKET: the exchange tracker matches INITs and RESPs (the same one
        # `mcsec decode` uses); a TRANSFER_INIT checked only when its RESOLVE_RESP comes later
        # gets a revision then (dissect holds its record back meanwhile: awaiting())
        if self.exchanges is None:
            self.exchanges = ExchangeTracker(self.keyring, self.replay_cache, self.tls_psks)
        outcome = self.exchanges.feed(msg, data)
        entry = outcome.entry
        if entry is None:
            return
        rec.ticket, rec.ticket_replay = entry.result, entry.replay
        self._register_session_keys(msg, entry.result)
        self._ticket_records[entry.seq] = rec
        while len(self._ticket_records) > 256:  # bounded: the recent ones can still be revised
            del self._ticket_records[next(iter(self._ticket_records))]
        self._revise(outcome.revised)

    def _revise(self, entries) -> None:
        for e in entries:
            rec = self._ticket_records.get(e.seq)
            if rec is not None:
                rec.revisions.append(Revision(e.result, e.replay))

    def awaiting(self) -> bool:
        """Whether a record already returned still waits for its verdict (a TRANSFER_INIT whose
        RESOLVE_RESP has not come yet)."""
        return self.exchanges is not None and bool(self.exchanges.pending)

    def stop_waiting(self, why: str = "in the capture") -> None:
        """Give up on the verdicts still awaited (end of capture, or the look-ahead is full)."""
        if self.exchanges is not None:
            self._revise(self.exchanges.close(why))

    def _replay_and_skew(self, msg, base, data) -> tuple:
        """RFC 3830 §5.4: (frame of the first copy of an I_MESSAGE delivered again to the same
        host, or None; T minus capture time (s) beyond the limit, or None)."""
        R = _replay()
        first = self.seen_i_messages.check(msg, base.frame, scope=base.dst, wire=data)
        replay_of = first if first is not None and first != base.frame else None  # a copy in
        return replay_of, R.clock_skew(msg, base.time, self.max_clock_skew)  # one frame is not

    def _learn_tls_psks(self, res) -> None:
        for s in getattr(res, "session_keys", None) or ():
            if s.is_tls and s.tek and s.tek not in self.tls_psks:
                self.tls_psks.append(s.tek)

    def _register_session_keys(self, msg, res):
        """SRTP keys of PSK MIKEY crypto sessions (RFC 3830 §4.1.3) with the SP's transform."""
        for k in getattr(res, "session_keys", None) or ():
            if getattr(k, "transform", None) is not None and k.salt is not None:
                self.media.add_session(k.spi, k.tek, k.salt,
                                       f"PSK 0x{msg.hdr.csb_id:08x} CS {k.cs_id}", k.ssrc, k.roc,
                                       k.transform)

    def _register_media(self, msg, res):
        """Keys for the media: per crypto session by MKI; a GMK for every sender's GUK-ID."""
        if res.ssv is None:
            return
        label = f"{res.key_type} 0x{(res.key_id or 0):08x}"
        for cs in res.crypto_sessions:
            self.media.add_session(cs.mki, cs.master_key, cs.master_salt,
                                   f"{label} CS {cs.cs_id}", cs.ssrc, cs.roc)
        if res.key_type == "GMK" and res.key_id is not None:
            rand = msg.find("RAND")
            cs_id = res.crypto_sessions[0].cs_id if res.crypto_sessions else 4
            self.media.add_group(res.key_id, res.ssv, rand.rand if rand else b"",
                                 msg.hdr.prf_func, cs_id, label)

    # -- CMS and S/MIME ------------------------------------------------------------------------
    def _cms(self, base, parts, info=None):
        """Records of CMS objects (:class:`codec.mime.SmimePart`) found in a MIME tree."""
        from codec import cms

        out = []
        for part in parts:
            self.stats["cms"] += 1
            try:
                layer = cms.decode(part.der, allow_trailing=True)  # a finding, as for MIKEY
            except DecodeError as e:
                self.stats["errors"] += 1
                out.append(CmsRecord(origin=base, context=info, smime_type=part.smime_type,
                                     error=Failure.of(e)))
                continue
            opened = None
            if self.keyring is not None and (self.keyring.keks or self.keyring.private_keys
                                             or self.keyring.certificates):
                opened = cms.open_layers(layer, self.keyring, content=part.signed_content)
            out.append(CmsRecord(origin=base, context=info, smime_type=part.smime_type,
                                 layer=layer, opened=opened, findings=tuple(part.findings)))
        return out

    def _psk_smime(self, base, item, call_id, info=None):
        self.stats["cms"] += 1
        res = psk_smime.open_body(item.body, item.content_type,
                                  self.keyring if self.keyring is not None else Keyring(),
                                  self.replay_cache)
        rec = PskSmimeRecord(origin=base, context=info, result=res)
        if res.transfer_init is not None:
            try:
                msg = mikey_decode(res.transfer_init)
                rec.message = msg
                if res.transfer is not None and self.keyring is not None:
                    self._learn_tls_psks(res.transfer)
                    rec.transfer = res.transfer
                rec.replay_of, rec.clock_skew = self._replay_and_skew(msg, base,
                                                                      res.transfer_init)
            except DecodeError as e:
                rec.message_error = Failure.of(e)
        return [rec]

    # -- HTTP (KMS provisioning) ---------------------------------------------------------------
    def _http(self, base, data):
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep or b"<" not in body[:200] or b"mcsecKMSInterface" not in body:
            return []
        return self._kms_xml(base, body)

    def _kms_xml(self, base, body):
        """A KMS XML document (TS 33.180 §D.3), over HTTP or as a MIME body."""
        from codec import kms

        self.stats["kms_xml"] += 1
        try:
            doc = kms.parse(body, self.transport_key, source=f"frame {base.frame}")
        except kms.KmsXmlError as e:
            return [KmsRecord(origin=base, error=Failure(str(e)))]
        if doc.request is None and self.keyring is not None:  # keys found in the capture are
            self.keyring.kms.extend(doc.certificates)  # used for later messages
            self.keyring.users.extend(u for u in doc.key_sets if u.rsk or u.ssk)
        return [KmsRecord(origin=base, document=doc)]


_REPLAY = None


def _replay():
    global _REPLAY
    if _REPLAY is None:  # imported when first needed
        from codec.mikey import replay

        _REPLAY = replay
    return _REPLAY
