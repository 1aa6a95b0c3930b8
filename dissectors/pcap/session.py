"""Per-capture state and the analysis of every application payload that carries key material.

A :class:`Session` is fed application units (a UDP datagram, or a SIP/HTTP message framed from a
TCP stream) with their frame numbers and addresses, and returns records: one per MIKEY message or
CMS object found, each decoded, and — with the keyring — verified and decrypted.  The session
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
from codec.mikey import render, render_sakke, render_ticket, ticket
from codec.mikey import sakke as mikey_sakke
from codec.mikey.exchange import ExchangeTracker
from codec.sdp import key_mgmt_attributes
from codec import rtsp as rtsp_codec
from codec.mikey.clear_keys import clear_srtp_keys

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
    _ticket_docs: dict = field(default_factory=dict)  # tracker entry seq -> (doc, Message)
    # RFC 3830 §5.4 for every I_MESSAGE: first sightings per receiving host, and the allowed
    # distance (seconds) of a T payload from the capture time (None: not checked)
    seen_i_messages: Any = field(default_factory=lambda: _replay().SeenIMessages())
    max_clock_skew: float | None = field(default_factory=lambda: _replay().DEFAULT_MAX_CLOCK_SKEW)
    stats: dict = field(default_factory=lambda: {"units": 0, "sip": 0, "mikey": 0, "cms": 0,
                                                 "errors": 0, "kms_xml": 0})

    def __post_init__(self):
        for k in (self.keyring.srtp if self.keyring is not None else ()):
            self.media.add_session(k.mki, k.key, k.salt, f"keyring {k.source}".strip())

    # -- entry point ---------------------------------------------------------------------------
    def analyze(self, unit: Unit) -> list[dict]:
        self.stats["units"] += 1
        base = {"frame": unit.frames[-1], "frames": list(unit.frames), "time": unit.time,
                "transport": unit.transport, "src": unit.src, "sport": unit.sport,
                "dst": unit.dst, "dport": unit.dport}
        if unit.channel is not None:
            base["channel"] = unit.channel
        if unit.transport == "tls-psk" or unit.data.startswith(b"MSRP "):
            return self._msrp(base, unit)
        if MIKEY_PORT in (unit.sport, unit.dport) and not sip.looks_like_sip(unit.data):
            return [self._mikey(base, unit.data, "port 2269", None)]
        if sip.looks_like_sip(unit.data):
            return self._sip(base, unit.data)
        if sip.looks_like_rtsp(unit.data):
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
            return [dict(base, kind="rtsp", error=_err(e))]
        request = not msg.is_response
        client = (base["src"], base["sport"]) if request else (base["dst"], base["dport"])
        server = (base["dst"], base["dport"]) if request else (base["src"], base["sport"])
        conn = self.rtsp_connections.get((client, server))
        if conn is None:
            conn = self.rtsp_connections[(client, server)] = {"requests": {}, "keys": []}
            while len(self.rtsp_connections) > 256:  # bounded: forget the oldest connection
                del self.rtsp_connections[next(iter(self.rtsp_connections))]
        cseq = msg.header("cseq")
        info = {"start_line": msg.start_line, "cseq": cseq}
        if request:
            conn["requests"][cseq] = (msg.method, msg.url)
            while len(conn["requests"]) > 64:
                del conn["requests"][next(iter(conn["requests"]))]
            method, url = msg.method, msg.url
        else:
            method, url = conn["requests"].get(cseq, (None, None))
            if method:
                info["request"] = f"{method} {url}"
        side = "client" if request else "server"  # whose keys this message announces
        base = dict(base, rtsp=info)
        out = []
        for value in msg.all("keymgmt"):
            for spec in rtsp_codec.key_mgmt(value):
                if spec.error:
                    out.append(dict(base, kind="rtsp", error={
                        "path": "RTSP.KeyMgmt", "offset": 0, "reason": f"bad KeyMgmt: {spec.error}"}))
                elif spec.prot == "mikey":
                    rec = self._mikey(base, spec.data, "rtsp KeyMgmt", None)
                    out.append(rec)
                    self._rtsp_keys(conn, rec, spec.uri or url, side)
        ctype = (msg.header("content-type") or "").split(";")[0].strip().lower()
        if msg.body and ctype == "application/sdp":
            text = msg.body.decode("utf-8", "replace")
            content_base = msg.header("content-base") or msg.header("content-location") or url
            controls = rtsp_codec.sdp_controls(text, content_base)
            try:
                attrs = key_mgmt_attributes(text)
            except DecodeError as e:
                self.stats["errors"] += 1
                attrs = []
                out.append(dict(base, kind="rtsp", error=_err(e)))
            for attr in attrs:
                if attr.protocol != "mikey":
                    continue
                media = attr.media_index
                where = "sdp session" if media is None else f"sdp media {media}"
                rec = self._mikey(base, attr.data, f"rtsp {where}", None)
                out.append(rec)
                stream = (controls[media] if media is not None and media < len(controls)
                          else content_base)
                self._rtsp_keys(conn, rec, stream, side)
        if not request and method == "SETUP" and msg.status == 200:
            streams = self._rtsp_transport(conn, msg, url, client, server)
            if streams:
                out.append(dict(base, kind="rtsp", rtsp=dict(info, streams=streams)))
        return out

    def _rtsp_keys(self, conn, rec, url, side):
        """Remember the crypto sessions a MIKEY record keyed for an RTSP stream URL."""
        doc = rec.get("mikey") or {}
        hdr = (doc.get("mikey") or [{}])[0].get("mikey.hdr", {})
        labels = [f"PSK 0x{hdr.get('mikey.csb_id', 0):08x} CS {s['mikey.ticket.cs_id']}"
                  for s in doc.get("mikey.ticket.session_keys", ())]
        ssrcs = [s["mikey.ticket.ssrc"] for s in doc.get("mikey.ticket.session_keys", ())
                 if s.get("mikey.ticket.ssrc") is not None]
        conn["keys"].append({"url": url, "side": side, "keys": labels, "ssrcs": ssrcs,
                             "frame": rec.get("frame")})
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
        out = [dict(base, kind="msrp", error=_err(e)) for e in errors]
        for offset, octets in messages:
            rec = dict(base, kind="msrp")
            if unit.transport == "tls-psk":
                rec["decrypted"] = "TLS-PSK of a MIKEY-TICKET TLS crypto session"
            try:
                fields = msrp.decode(octets)
            except DecodeError as e:
                rec["error"] = _err(e)
                out.append(rec)
                continue
            data = fields.pop("msrp.data", None)
            if data is not None:
                fields["msrp.data"] = (data.decode("utf-8", "replace") if self.show_secrets
                                       else f"<{len(data)} octets; --show-secrets>")
            rec["msrp"] = fields
            out.append(rec)
        self.stats["msrp"] = self.stats.get("msrp", 0) + len(messages)
        return out

    # -- SRTP / SRTCP and floor control --------------------------------------------------------
    def _media(self, base, data):
        res = self.media.open(data)
        if res is None and self.rtsp_ports:
            res = self._open_by_rtsp_port(base, data)
        if res is None:
            return []
        keyed_by = (res.ssrc in self.rtsp_bound_ssrcs
                    and "RTSP Transport ports (SSRC not in the MIKEY map)")
        self.stats[res.kind] = self.stats.get(res.kind, 0) + 1
        rec = dict(base, kind=res.kind, ok=res.ok, mki=res.mki.hex(), keys=res.label,
                   ssrc=res.ssrc)
        if res.error:
            rec["error"] = {"reason": res.error}
        if res.floor:
            rec["floor"] = res.floor
        if res.floor_control:  # floor control is signalling, not a secret: shown decoded
            rec["floor_control"] = res.floor_control
        if res.floor_errors:
            rec["floor_errors"] = [_err(e) for e in res.floor_errors]
        if res.ok:
            rec["plaintext"] = (res.plaintext.hex() if self.show_secrets
                                else f"<{len(res.plaintext)} octets decrypted; --show-secrets>")
        stream = self._rtsp_stream_of(base)
        if stream is not None:  # sent from ports an RTSP SETUP tied to a stream
            rec["rtsp_stream"] = stream
        if keyed_by:
            rec["keyed_by"] = keyed_by
        return [rec]

    def _rtsp_stream_of(self, base):
        """The RTSP stream a media packet belongs to: by its source port, or (interleaved) by
        its RTSP connection, direction and channel."""
        if base.get("channel") is None:
            return self.rtsp_ports.get((base["src"], base["sport"]))
        return self.rtsp_ports.get(("interleaved", (base["src"], base["sport"]),
                                    (base["dst"], base["dport"]), base["channel"]))

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
        try:
            msg = mime.parse_sip(data)
        except DecodeError as e:
            self.stats["errors"] += 1
            return [dict(base, kind="sip", error=_err(e))]
        info = {"start_line": msg.start_line, "call_id": msg.header("call-id"),
                "cseq": msg.header("cseq"), "from": msg.header("from"), "to": msg.header("to")}
        base = dict(base, sip=info)
        return self._entity(base, msg, msg.header("call-id"))

    def _entity(self, base, ent, call_id, depth=0):
        out = []
        try:
            ctype, params = ent.content_type
        except DecodeError as e:
            return [dict(base, kind="mime", error=_err(e))]
        if not ent.body:
            return out
        try:
            if ctype == "application/sdp":
                text = ent.decoded_body().decode("utf-8", "replace")
                for attr in key_mgmt_attributes(text):
                    if attr.protocol != "mikey":
                        continue
                    where = ("sdp session" if attr.media_index is None
                             else f"sdp media {attr.media_index}")
                    out.append(self._mikey(base, attr.data, where, call_id))
            elif ctype == "application/mikey":
                out.append(self._mikey(base, ent.decoded_body(), "application/mikey", call_id))
            elif ctype == "multipart/signed":  # RFC 1847: the signature covers the first part
                out.extend(self._cms(base, ent))
            elif ctype.startswith("multipart/"):
                parts = ent.parts()
                kinds = {p.content_type[0] for p in parts}
                if "application/mikey" in kinds and any(
                        k in mime.PKCS7_MIME for k in kinds):  # seed 004 PSK S/MIME
                    out.extend(self._psk_smime(base, ent, call_id))
                elif depth < 8:
                    for p in parts:
                        out.extend(self._entity(base, p, call_id, depth + 1))
            elif ctype in mime.PKCS7_MIME or ctype in mime.PKCS7_SIGNATURE:
                out.extend(self._cms(base, ent))
        except DecodeError as e:
            self.stats["errors"] += 1
            out.append(dict(base, kind="mime", error=_err(e)))
        return out

    # -- MIKEY ---------------------------------------------------------------------------------
    def _mikey(self, base, data, carrier, call_id):
        self.stats["mikey"] += 1
        rec = dict(base, kind="mikey", carrier=carrier)
        try:
            msg = mikey_decode(data)
        except DecodeError as e:
            self.stats["errors"] += 1
            rec["error"] = _err(e)
            if e.partial is not None:
                rec["mikey"] = render.to_json(e.partial, show_secrets=self.show_secrets)
            return rec
        doc = render.to_json(msg, show_secrets=self.show_secrets)
        if self.keyring is not None:
            self._keys(doc, msg, data)
        self._clear_srtp(doc, msg)
        self._replay_and_skew(doc, msg, base, data)
        rec["mikey"] = doc
        self.history.append((msg, data))
        del self.history[:-256]  # bounded
        return rec

    def _clear_srtp(self, doc, msg):
        """SRTP keys of a NULL-encrypted KEMAC (GStreamer, gortsplib, LIVE555): no keyring
        needed; the quirks are findings (codec.mikey.clear_keys)."""
        clear = clear_srtp_keys(msg)
        if clear is None:
            return
        if msg.find("KEMAC").mac_alg == 0:  # NULL MAC, NULL encryption: no PSK needed, none
            for p in doc.get("mikey", ()):  # missing (the same verdict with and without --keys)
                obj = p.get("mikey.kemac")
                if obj and str(obj.get("mikey.kemac.error", "")).startswith("no key"):
                    obj.pop("mikey.kemac.error")
                    obj.pop("mikey.kemac.verified", None)
        doc.setdefault("mikey.findings", []).extend(
            {"path": f.path, "offset": f.offset, "message": f.message} for f in clear.findings)
        if clear.error:
            doc["mikey.clear_keys.error"] = clear.error
        if "mikey.ticket.session_keys" in doc:  # the keyring's PSK opened it already
            return
        show = self.show_secrets
        doc["mikey.ticket.session_keys"] = [
            {"mikey.ticket.cs_id": s.cs_id, "mikey.ticket.prot_type": s.prot_type,
             "mikey.ticket.spi": s.spi.hex(),
             "mikey.ticket.tek": s.tek.hex() if show else render.HIDDEN,
             "mikey.ticket.salt": s.salt.hex() if show else render.HIDDEN,
             "mikey.ticket.ssrc": s.ssrc, "mikey.ticket.roc": s.roc,
             "mikey.ticket.srtp_transform": s.transform.name,
             "mikey.ticket.keys_from": "NULL-encrypted KEMAC (keys in the clear)"}
            for s in clear.sessions]
        for s in clear.sessions:
            why = self.media.add_session(s.spi, s.tek, s.salt, f"PSK 0x{msg.hdr.csb_id:08x} CS "
                                         f"{s.cs_id}", s.ssrc, s.roc, s.transform)
            if why:
                doc.setdefault("mikey.clear_keys.error", why)

    def _keys(self, doc, msg, data):
        if msg.hdr.data_type == 26 or msg.find("SAKKE") is not None:
            res = self.precomputed(data) if self.precomputed is not None else None
            if res is None:
                res = mikey_sakke.process(msg, data, self.keyring,
                                          decrypt_unverified=self.decrypt_unverified)
            render_sakke.annotate_json(doc, msg, res, self.show_secrets)
            self._register_media(msg, res)
            return
        # PSK MIKEY / MIKEY-TICKET: the exchange tracker matches INITs and RESPs (the same one
        # `mcsec decode` uses); a TRANSFER_INIT checked only when its RESOLVE_RESP comes later
        # has its doc re-annotated then (dissect holds its record back meanwhile: awaiting())
        if self.exchanges is None:
            self.exchanges = ExchangeTracker(self.keyring, self.replay_cache, self.tls_psks)
        outcome = self.exchanges.feed(msg, data)
        entry = outcome.entry
        if entry is None:
            return
        render_ticket.annotate_json(doc, msg, entry.result, self.show_secrets, entry.replay)
        self._register_session_keys(msg, entry.result)
        self._ticket_docs[entry.seq] = (doc, msg)
        while len(self._ticket_docs) > 256:  # bounded: the recent ones can still be revised
            del self._ticket_docs[next(iter(self._ticket_docs))]
        self._revise(outcome.revised)

    def _revise(self, entries) -> None:
        for e in entries:
            doc_msg = self._ticket_docs.get(e.seq)
            if doc_msg is not None:
                render_ticket.reannotate_json(doc_msg[0], doc_msg[1], e.result, self.show_secrets,
                                              e.replay)

    def awaiting(self) -> bool:
        """Whether a record already returned still waits for its verdict (a TRANSFER_INIT whose
        RESOLVE_RESP has not come yet)."""
        return self.exchanges is not None and bool(self.exchanges.pending)

    def stop_waiting(self, why: str = "in the capture") -> None:
        """Give up on the verdicts still awaited (end of capture, or the look-ahead is full)."""
        if self.exchanges is not None:
            self._revise(self.exchanges.close(why))

    def _replay_and_skew(self, doc, msg, base, data) -> None:
        """RFC 3830 §5.4: ``mikey.replay`` = frame of the first copy of an I_MESSAGE delivered
        again to the same host; ``mikey.clock_skew`` = T minus capture time (s) beyond the limit."""
        R = _replay()
        first = self.seen_i_messages.check(msg, base["frame"], scope=base.get("dst"), wire=data)
        if first is not None and first != base["frame"]:  # a copy in the same frame is not one
            doc["mikey.replay"] = first
        skew = R.clock_skew(msg, base.get("time"), self.max_clock_skew)
        if skew is not None:
            doc["mikey.clock_skew"] = skew

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
    def _cms(self, base, ent):
        from codec import cms
        from codec.cms import render as cms_render

        out = []
        for part in mime.find_smime(ent):
            self.stats["cms"] += 1
            rec = dict(base, kind="cms", smime_type=part.smime_type)
            try:
                layer = cms.decode(part.der, allow_trailing=True)  # a finding, as for MIKEY
            except DecodeError as e:
                self.stats["errors"] += 1
                rec["error"] = _err(e)
                out.append(rec)
                continue
            rec["cms"] = cms_render.to_json(layer)
            if self.keyring is not None and (self.keyring.keks or self.keyring.private_keys
                                             or self.keyring.certificates):
                result = cms.open_layers(layer, self.keyring, content=part.signed_content)
                rec["cms_open"] = cms_render.result_json(result, self.show_secrets)
            if part.findings:
                rec["findings"] = [{"path": f.path, "offset": f.offset, "message": f.message}
                                   for f in part.findings]
            out.append(rec)
        return out

    def _psk_smime(self, base, ent, call_id):
        self.stats["cms"] += 1
        res = psk_smime.open_body(ent.body, ent.header("content-type") or "",
                                  self.keyring if self.keyring is not None else Keyring(),
                                  self.replay_cache)
        rec = dict(base, kind="psk-smime", ok=res.ok, error=res.error,
                   proof_of_origin=res.proof_of_origin, replay=res.replay, notes=res.notes)
        if res.transfer_init is not None:
            try:
                msg = mikey_decode(res.transfer_init)
                doc = render.to_json(msg, show_secrets=self.show_secrets)
                if res.transfer is not None and self.keyring is not None:
                    self._learn_tls_psks(res.transfer)
                    render_ticket.annotate_json(doc, msg, res.transfer, self.show_secrets)
                self._replay_and_skew(doc, msg, base, res.transfer_init)
                rec["mikey"] = doc
            except DecodeError as e:
                rec["mikey_error"] = _err(e)
        if res.ok:
            rec["content"] = (res.content.decode("utf-8", "replace") if self.show_secrets
                              else f"<{len(res.content)} octets decrypted; --show-secrets>")
        return [rec]

    # -- HTTP (KMS provisioning) ---------------------------------------------------------------
    def _http(self, base, data):
        from codec import kms

        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep or b"<" not in body[:200] or b"mcsecKMSInterface" not in body:
            return []
        self.stats["kms_xml"] += 1
        rec = dict(base, kind="kms-xml")
        try:
            doc = kms.parse(body, self.transport_key, source=f"frame {base['frame']}")
        except kms.KmsXmlError as e:
            rec["error"] = {"reason": str(e)}
            return [rec]
        if doc.request is not None:
            rec["kms_request"] = doc.request
            return [rec]
        rec["kms"] = {"certificates": [k.uri for k in doc.certificates],
                      "key_sets": [{"uri": u.uri, "period": u.period,
                                    "keys": [n for n in ("rsk", "ssk", "pvt")
                                             if getattr(u, n) is not None]}
                                   for u in doc.key_sets], "notes": doc.notes}
        if self.keyring is not None:  # keys found in the capture are used for later messages
            self.keyring.kms.extend(doc.certificates)
            self.keyring.users.extend(u for u in doc.key_sets if u.rsk or u.ssk)
        return [rec]


def _replay():
    from codec.mikey import replay

    return replay


def _err(e: DecodeError) -> dict[str, Any]:
    return {"path": e.path, "offset": e.offset, "reason": e.reason}
