"""The scenarios of `mcsec synth`: each builds one capture and the manifest entries of the frames
that carry key material, with what they must decode and decrypt to.

Expected values are taken from the builders' *inputs* (the key we encapsulated, the content we
encrypted, the RAND we chose) — never from running the decoder — so the manifest is an oracle
independent of the code under test.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from codec.cms import build as CB
from codec.crypto import mcx, prf
from codec.mikey import keyparams as KP
from codec.mikey import mikey_sakke as MS
from codec.mikey import model as M
from codec.mikey import ticket as TK
from codec import mime as MIME
from codec import psk_smime as PS
from dissectors.synth import sip as SIP
from codec import floor as FL
from codec import srtp as SRTP
from dissectors.synth.net import Capture, Host
from dissectors.synth.rng import Rng
from dissectors.synth.world import (GMS_URI, GROUP_URI, LIST_SERVER, PSK_CALL_IDENTITY, SERVER_PSI,
                                    TPK_IDENTITY, World, uri)

SIP_PORT, HTTP_PORT, MSRP_PORT = 5060, 80, 2855
MCPTT_INFO = "application/vnd.3gpp.mcptt-info+xml"


class Scenario:
    """Shared machinery: the capture, the manifest entries, key bookkeeping."""

    name = ""
    description = ""

    def __init__(self, world: World, rng: Rng, calls: int):
        self.w, self.rng, self.calls = world, rng, calls
        # each capture starts at its own offset after the world's start time
        offset_s = {"kms-provisioning": 0, "csk-upload": 600, "private-call": 1200,
                    "group-call": 1800, "smime": 2400, "psk-smime": 3000, "transports": 3600,
                    "malformed": 4200, "sip-tls": 4800, "psk-call": 5400}.get(self.name, 0)
        self.cap = Capture(self.name, (world.start_unix + offset_s) * 1_000_000)
        self.entries: list[dict] = []
        self.csk: dict = {}  # person name -> crypto session of its uploaded CSK
        self.extra_files: dict[str, bytes] = {}
        self.tls_entries: list[dict] = []  # entries of TLS-carried messages (see SipTls)
        self.capture_info: dict = {}  # extra keys of this capture's manifest "captures" item

    # -- clock ---------------------------------------------------------------------------------
    def ntp64(self) -> int:
        """The capture clock as a 64-bit NTP timestamp (for MIKEY T payloads)."""
        us = self.cap.now_us
        secs = us // 1_000_000 + mcx.NTP_UNIX_OFFSET
        frac = ((us % 1_000_000) << 32) // 1_000_000
        return (secs << 32) | frac

    def clock(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.cap.now_us // 1_000_000, dt.timezone.utc)

    def iso_time(self) -> str:
        return dt.datetime.fromtimestamp(self.cap.now_us // 1_000_000,
                                         dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def entry(self, kind: str, frame: int | list, description: str, **fields) -> dict:
        frames = frame if isinstance(frame, list) else [frame]
        e = {"capture": f"{self.name}.pcapng", "frame": frames[-1], "kind": kind,
             "description": description}
        if len(frames) > 1:
            e["frames"] = frames
        e.update(fields)
        self.entries.append(e)
        return e

    def person(self, name):
        return self.w.people[name]

    def host(self, name, v6=False):
        p = self.w.people[name]
        return p.host6 if v6 else p.host

    # -- MIKEY-SAKKE ---------------------------------------------------------------------------
    def sakke(self, key_type: str, initiator: str, responder: str, *, map_style: str = "generic",
              key_params: KP.KeyParameters | None = None, rand: bytes | None = None,
              key: bytes | None = None, key_id: int | None = None):
        """(wire, expectation) of a real I_MESSAGE; the expectation comes from the inputs."""
        r = self.rng
        key = key or r.bytes(16)
        key_id = key_id if key_id is not None else mcx.make_key_id(key_type, r.randbelow(1 << 28))
        rand = rand or r.bytes(16)
        ini, res = self.person(initiator), self.person(responder)
        ntp = self.ntp64()
        wire = MS.build_i_message(key_type, key, key_id, ini.party(self.w), res.party(self.w),
                                  ntp_time=ntp, rand=rand, map_style=map_style,
                                  key_params=key_params, iv=r.bytes(16) if key_params else None)
        if key_type == "GMK":
            csb = mcx.guk_id(key_id, key, res.uri)
            mkis = {4: key_id.to_bytes(4, "big") + csb.to_bytes(4, "big")}
        else:
            csb = key_id
            cs_ids = MS.DEFAULT_CS_IDS[key_type] if map_style == "empty" else \
                MS.DEFAULT_CS_IDS[key_type][:1]
            mkis = {cs: key_id.to_bytes(4, "big") for cs in cs_ids}
        sessions = []
        for cs, mki in mkis.items():  # TS 33.180 §7.4: RFC 3830 §4.1.3 PRF over the key
            mk, ms = prf.srtp_master(key, cs, csb, rand, 16, 12, prf.PRF_HMAC_SHA_256)
            sessions.append({"cs_id": cs, "mki": mki.hex(), "master_key": mk.hex(),
                             "master_salt": ms.hex()})
        expect = {"key_type": key_type, "key": key.hex(), "key_id": key_id, "csb_id": csb,
                  "initiator": ini.uri, "responder": res.uri, "period": self.w.period,
                  "verified": True, "region": MS.REGION_RFC, "rand": rand.hex(),
                  "crypto_sessions": sessions}
        if key_type == "GMK":
            expect["guk_id"] = csb
        if key_params is not None:
            expect["key_params_text"] = bytes(key_params.text).decode()
        return wire, expect

    @staticmethod
    def session(expect: dict, cs_id: int) -> dict:
        return next(s for s in expect["crypto_sessions"] if s["cs_id"] == cs_id)

    # -- SRTP / SRTCP --------------------------------------------------------------------------
    def srtp_burst(self, src: Host, dst: Host, sport: int, dport: int, session: dict,
                   ssrc: int, count: int, label: str, seq0: int | None = None,
                   relay: list[tuple[Host, Host]] = ()) -> list[int]:
        keys = SRTP.SessionKeys(bytes.fromhex(session["master_key"]),
                                bytes.fromhex(session["master_salt"]))
        mki = bytes.fromhex(session["mki"])
        seq = seq0 if seq0 is not None else self.rng.randbelow(30000)
        ts = self.rng.u32()
        frames = []
        for i in range(count):
            payload = self.rng.bytes(33)  # one AMR-WB 12.65 frame's worth of octets
            rtp = SRTP.rtp_packet(ssrc, seq + i, (ts + 320 * i) & 0xFFFFFFFF, payload,
                                  marker=i == 0)
            wire = SRTP.protect_rtp(keys, rtp, 0, mki)
            for a, b in [(src, dst), *relay]:
                n = self.cap.udp(a, b, sport, dport, wire, gap_ms=20 if (a, b) == (src, dst)
                                 else 0.3)
                frames.append(n)
                self.entry("srtp", n, f"{label}: SRTP packet {i + 1} ({len(payload)} octets of "
                                      f"AMR-WB)", profile="AEAD_AES_128_GCM",
                           cs_id=session["cs_id"], ssrc=ssrc, seq=seq + i, roc=0,
                           mki=session["mki"], master_key=session["master_key"],
                           master_salt=session["master_salt"], rtp=rtp.hex(),
                           srtp=wire.hex())
        return frames

    def floor(self, src: Host, dst: Host, session: dict, ssrc: int, subtype: int, index: int,
              label: str, fields: bytes = b"", port: int = 5062) -> int:
        """``port``: the RTCP port of the client's audio stream (its m=audio port + 1, from the
        SDP), so that the floor control flows where the SDP put the media's RTCP."""
        keys = SRTP.SessionKeys(bytes.fromhex(session["master_key"]),
                                bytes.fromhex(session["master_salt"]))
        rtcp = FL.app_packet(ssrc, subtype, fields)
        wire = SRTP.protect_rtcp(keys, rtcp, index, bytes.fromhex(session["mki"]))
        n = self.cap.udp(src, dst, port, port, wire, gap_ms=15)
        self.entry("srtcp", n, f"{label}: MCPTT floor control {FL.message_name(subtype)} "
                               f"(RTCP APP 'MCPT', TS 24.380) in SRTCP",
                   profile="AEAD_AES_128_GCM", cs_id=session["cs_id"], ssrc=ssrc,
                   srtcp_index=index, mki=session["mki"], master_key=session["master_key"],
                   master_salt=session["master_salt"], rtcp=rtcp.hex(), srtcp=wire.hex(),
                   floor_message=FL.message_name(subtype))
        return n

    # -- SIP helpers ---------------------------------------------------------------------------
    def sip_udp(self, src: Host, dst: Host, msg: bytes, gap_ms: float = 2.0,
                comment: str | None = None) -> int:
        return self.cap.udp(src, dst, SIP_PORT, SIP_PORT, msg, gap_ms, comment)

    def register_with_csk(self, who: str, v6: bool = False) -> dict:
        """REGISTER carrying the CSK upload (client → server, TS 33.180 §5.4: IDRr = the
        server's PSI), 200 OK."""
        p = self.person(who)
        server = self.host("mcptt-server", v6)
        wire, expect = self.sakke("CSK", who, "mcptt-server")
        boundary = "csk-" + self.rng.token(6)
        info = (f'<?xml version="1.0" encoding="UTF-8"?>\r\n<mcpttinfo xmlns="urn:3gpp:ns:'
                f'mcpttInfo:1.0"><mcptt-Params><mcptt-request-uri type="Normal"><mcpttURI>'
                f'{SERVER_PSI}</mcpttURI></mcptt-request-uri></mcptt-Params></mcpttinfo>\r\n')
        body = (f"--{boundary}\r\nContent-Type: {MCPTT_INFO}\r\n\r\n{info}\r\n--{boundary}\r\n"
                f"Content-Type: application/mikey\r\nContent-Transfer-Encoding: binary\r\n"
                f"\r\n").encode() + wire + f"\r\n--{boundary}--\r\n".encode()
        d = SIP.Dialog(self.rng, p.host6 if v6 else p.host, server, p.uri, p.uri)
        msg = d.request("REGISTER", body, f'multipart/mixed; boundary="{boundary}"',
                        request_uri=f"sip:{SERVER_PSI.split('@')[1]}",
                        headers=[("Expires", "3600")])
        n = self.sip_udp(d.caller, server, msg, comment=f"REGISTER with CSK upload ({who})")
        self.entry("mikey-sakke", n, f"{who}'s REGISTER: CSK upload to the MCPTT server "
                                     f"(application/mikey body part)",
                   carrier="sip-body", mikey=wire.hex(), expect=expect)
        self.sip_udp(server, d.caller, d.response(200, "OK", "REGISTER",
                                                  headers=[("Expires", "3600")]))
        self.csk[who] = self.session(expect, 6)
        return expect


# ----------------------------------------------------------------------------------------------
class KmsProvisioning(Scenario):
    name = "kms-provisioning"
    description = ("HTTP exchanges with the KMS (TS 33.180 §5.3, Annex D): each user fetches "
                   "the KmsInit (KMS certificate) and its KmsKeyProv, key sets wrapped with the "
                   "transport key TrK (kw-aes256)")

    def run(self):
        kms = self.w.kms
        for i, who in enumerate(("alice", "bob", "carol", "mcptt-server", "gms")):
            p = self.person(who)
            conn = self.cap.tcp(p.host, self.w.kms_host, 40000 + i, HTTP_PORT, self.rng.u32(),
                                self.rng.u32())
            conn.open()
            for what, path in (("init", "init"), ("keyprov", "keyprov")):
                req_body = (f'<?xml version="1.0" encoding="UTF-8"?>\r\n<KmsRequest '
                            f'xmlns="urn:3gpp:ns:mcsecKMSInterface:1.0" Version="1.1.0">'
                            f'<UserUri>{p.uri}</UserUri><KmsUri>{kms.uri}</KmsUri>'
                            f'<Time>{self.iso_time()}</Time><ClientId>{p.uri}</ClientId>'
                            f'</KmsRequest>\r\n').encode()
                req = (f"POST /keymanagement/identity/v1/{path} HTTP/1.1\r\nHost: {kms.uri}\r\n"
                       f"User-Agent: {SIP.UA}\r\nAccept: application/xml\r\n"
                       f"Content-Type: application/xml\r\nContent-Length: {len(req_body)}\r\n"
                       f"\r\n").encode() + req_body
                conn.send(True, req)
                if what == "init":
                    doc = kms.init_document(p.uri, self.iso_time())
                else:
                    doc = kms.key_prov_document([p.keys], transport_key=self.w.trk,
                                                trk_id=f"trk.{who}", time=self.iso_time())
                resp = (f"HTTP/1.1 200 OK\r\nServer: {SIP.UA}\r\nContent-Type: application/xml"
                        f"\r\nContent-Length: {len(doc)}\r\n\r\n").encode() + doc
                frames = conn.send(False, resp, split=[1448] * (len(resp) // 1448))
                if what == "init":
                    self.entry("kms-xml", frames, f"KmsInit for {who}: the KMS certificate",
                               document="KmsInit", carrier="http-body", sha256=_sha(doc),
                               expect={"kms_uri": kms.uri, "kpak": kms.kpak.hex(),
                                       "z": kms.z.hex(),
                                       "user_key_period": kms.user_key_period,
                                       "user_key_offset": kms.user_key_offset})
                else:
                    k = p.keys
                    self.entry("kms-xml", frames, f"KmsKeyProv for {who}: key set of period "
                                                  f"{k.period}, wrapped under the TrK",
                               document="KmsKeyProv", carrier="http-body", sha256=_sha(doc),
                               trk=self.w.trk.hex(),
                               expect={"user_uri": k.uri, "uid": k.uid.hex(), "period": k.period,
                                       "rsk": k.rsk.hex(), "ssk": k.ssk.hex(),
                                       "pvt": k.pvt.hex()})
            conn.close()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


class CskUpload(Scenario):
    name = "csk-upload"
    description = ("Each MCPTT client registers and uploads a CSK to the MCPTT server in its "
                   "REGISTER (MIKEY-SAKKE, IDRr = the server PSI; seed 000)")

    def run(self):
        for who in ("alice", "bob", "carol"):
            self.register_with_csk(who)


class PrivateCall(Scenario):
    name = "private-call"
    description = ("alice and bob register (CSK upload), then alice calls bob: PCK I_MESSAGE in "
                   "the INVITE's SDP (a=key-mgmt:mikey at media level in odd calls, session level "
                   "in even ones), SRTP media both ways (CS 0 / CS 1), floor control in SRTCP "
                   "under each client's CSK (CS 6), BYE")

    def run(self):
        for who in ("alice", "bob"):
            self.register_with_csk(who)
        for call in range(1, self.calls + 1):
            self.one_call(call, media_level=call % 2 == 1)

    def one_call(self, call: int, media_level: bool):
        a, b, srv = self.host("alice"), self.host("bob"), self.host("mcptt-server")
        alice, bob = self.person("alice"), self.person("bob")
        wire, expect = self.sakke("PCK", "alice", "bob", map_style="empty")
        port_a, port_b = 49170 + 10 * call, 50170 + 10 * call
        km = SIP.key_mgmt(wire)
        media = [SIP.audio_media(port_a, [km] if media_level else [])]
        offer = SIP.sdp(a, 1000 + call, media, [] if media_level else [km], user="alice")
        level = "media" if media_level else "session"
        d1 = SIP.Dialog(self.rng, a, srv, alice.uri, bob.uri)
        invite = d1.request("INVITE", offer, "application/sdp",
                            headers=[("P-Preferred-Service",
                                      "urn:urn-7:3gpp-service.ims.icsi.mcptt")])
        n = self.sip_udp(a, srv, invite, comment=f"call {call}: INVITE with PCK ({level} level)")
        self.entry("mikey-sakke", n, f"call {call}: alice's INVITE to bob, PCK in "
                                     f"a=key-mgmt:mikey at SDP {level} level",
                   carrier=f"sdp-{level}", mikey=wire.hex(), expect=expect)
        self.sip_udp(srv, a, d1.response(100, "Trying", "INVITE"), 0.5)
        d2 = SIP.Dialog(self.rng, srv, b, alice.uri, bob.uri)
        fwd = d2.request("INVITE", offer, "application/sdp")
        n = self.sip_udp(srv, b, fwd, comment=f"call {call}: INVITE forwarded to bob")
        self.entry("mikey-sakke", n, f"call {call}: the INVITE as forwarded to bob",
                   carrier=f"sdp-{level}", mikey=wire.hex(), expect=expect)
        self.sip_udp(b, srv, d2.response(180, "Ringing", "INVITE"), 30)
        answer = SIP.sdp(b, 2000 + call, [SIP.audio_media(port_b)],
                         user="bob")
        self.sip_udp(b, srv, d2.response(200, "OK", "INVITE", answer, "application/sdp"), 400)
        self.sip_udp(srv, a, d1.response(180, "Ringing", "INVITE"), 0.5)
        d1.to_tag = d2.to_tag
        self.sip_udp(srv, a, d1.response(200, "OK", "INVITE", answer, "application/sdp"), 0.5)
        self.sip_udp(a, srv, d1.request("ACK", new_cseq=False), 1)
        self.sip_udp(srv, b, d2.request("ACK", new_cseq=False), 0.5)
        # floor control (alice requests, is granted, talks, releases) and media
        ssrc_a, ssrc_b, ssrc_s = self.rng.u32(), self.rng.u32(), self.rng.u32()
        csk_a, csk_b = self.csk["alice"], self.csk["bob"]
        base = 1 + 10 * (call - 1)
        pa, pb = port_a + 1, port_b + 1
        self.floor(a, srv, csk_a, ssrc_a, FL.FLOOR_REQUEST, base, f"call {call}: alice",
                   FL.field(FL.FLOOR_PRIORITY, b"\x07\x00"), pa)
        self.floor(srv, a, csk_a, ssrc_s, FL.FLOOR_GRANTED, base, f"call {call}: server → alice",
                   FL.field(FL.DURATION, b"\x00\x1e")
                   + FL.field(FL.FLOOR_PRIORITY, b"\x07\x00"), pa)
        self.floor(srv, b, csk_b, ssrc_s, FL.FLOOR_TAKEN, base, f"call {call}: server → bob",
                   FL.field(FL.GRANTED_PARTYS_IDENTITY, alice.uri.encode()), pb)
        self.srtp_burst(a, b, port_a, port_b, self.session(expect, 0), ssrc_a, 4,
                        f"call {call}: alice → bob (CS 0)")
        self.floor(a, srv, csk_a, ssrc_a, FL.FLOOR_RELEASE, base + 1, f"call {call}: alice",
                   port=pa)
        self.floor(srv, b, csk_b, ssrc_s, FL.FLOOR_IDLE, base + 1, f"call {call}: server → bob",
                   port=pb)
        self.srtp_burst(b, a, port_b, port_a, self.session(expect, 1), ssrc_b, 4,
                        f"call {call}: bob → alice (CS 1)")
        self.sip_udp(a, srv, d1.request("BYE"), 200)
        self.sip_udp(srv, b, d2.request("BYE"), 0.5)
        self.sip_udp(b, srv, d2.response(200, "OK", "BYE"), 5)
        self.sip_udp(srv, a, d1.response(200, "OK", "BYE"), 0.5)


class GroupCall(Scenario):
    name = "group-call"
    description = ("Over IPv6: alice, bob and carol register (CSK upload); the GMS sends each "
                   "member the group's GMK in a SIP MESSAGE (MIKEY-SAKKE with protected key "
                   "parameters, CSB ID = the member's GUK-ID); alice starts a group call, the "
                   "server invites bob and carol, SRTP media under the GMK (CS 4), floor control "
                   "in SRTCP under each CSK")

    def run(self):
        v6 = True
        members = ("alice", "bob", "carol")
        for who in members:
            self.register_with_csk(who, v6=True)
        gms, srv = self.host("gms", v6), self.host("mcptt-server", v6)
        gmk = self.rng.bytes(16)
        gmk_id = mcx.make_key_id("GMK", self.rng.randbelow(1 << 28))
        rand = self.rng.bytes(16)  # one RAND for every member's I_MESSAGE
        params = KP.KeyParameters(key_type=0, status=1, activation_time=0, expiry_time=0,
                                  text=b"Fire brigade group key",
                                  group_ids=KP.group_ids_field([GROUP_URI]))
        expects = {}
        for who in members:
            wire, expect = self.sakke("GMK", "gms", who, key=gmk, key_id=gmk_id, rand=rand,
                                      key_params=params)
            expects[who] = expect
            p = self.person(who)
            d = SIP.Dialog(self.rng, gms, p.host6, GMS_URI, p.uri)
            msg = d.request("MESSAGE", wire, "application/mikey",
                            headers=[("Content-Disposition", "render;handling=required")])
            n = self.sip_udp(gms, p.host6, msg, comment=f"GMK for {who}")
            self.entry("mikey-sakke", n, f"GMS → {who}: GMK of {GROUP_URI} (GUK-ID "
                                         f"{expect['guk_id']:08x})", carrier="sip-body",
                       mikey=wire.hex(), expect=expect)
            self.sip_udp(p.host6, gms, d.response(200, "OK", "MESSAGE"), 20)
        a = self.host("alice", v6)
        port = 49300
        offer = SIP.sdp(a, 3001, [SIP.audio_media(port)], user="alice")
        d1 = SIP.Dialog(self.rng, a, srv, self.person("alice").uri, GROUP_URI)
        self.sip_udp(a, srv, d1.request("INVITE", offer, "application/sdp"), 200,
                     comment="group call INVITE")
        self.sip_udp(srv, a, d1.response(100, "Trying", "INVITE"), 0.5)
        legs = []
        for who in ("bob", "carol"):
            h = self.host(who, v6)
            d = SIP.Dialog(self.rng, srv, h, GROUP_URI, self.person(who).uri)
            self.sip_udp(srv, h, d.request("INVITE", SIP.sdp(srv, 4000 + len(legs),
                                                             [SIP.audio_media(port)]),
                                           "application/sdp"), 1)
            self.sip_udp(h, srv, d.response(200, "OK", "INVITE",
                                            SIP.sdp(h, 5000 + len(legs),
                                                    [SIP.audio_media(port)], user=who),
                                            "application/sdp"), 150)
            self.sip_udp(srv, h, d.request("ACK", new_cseq=False), 0.5)
            legs.append((who, h, d))
        self.sip_udp(srv, a, d1.response(200, "OK", "INVITE",
                                         SIP.sdp(srv, 4100, [SIP.audio_media(port)]),
                                         "application/sdp"), 1)
        self.sip_udp(a, srv, d1.request("ACK", new_cseq=False), 1)
        ssrc_a, ssrc_s = self.rng.u32(), self.rng.u32()
        fp = port + 1
        self.floor(a, srv, self.csk["alice"], ssrc_a, FL.FLOOR_REQUEST, 1, "alice", port=fp)
        self.floor(srv, a, self.csk["alice"], ssrc_s, FL.FLOOR_GRANTED, 1, "server → alice",
                   FL.field(FL.DURATION, b"\x00\x1e"), fp)
        for who, h, _ in legs:
            self.floor(srv, h, self.csk[who], ssrc_s, FL.FLOOR_TAKEN, 1, f"server → {who}",
                       FL.field(FL.GRANTED_PARTYS_IDENTITY, self.person("alice").uri.encode()), fp)
        # alice's media under her crypto session of the GMK (see pcaps/README.md: UNCONFIRMED
        # whether TS 33.180 derives group SRTP keys per member's GUK-ID)
        self.srtp_burst(a, srv, port, port, self.session(expects["alice"], 4), ssrc_a, 4,
                        "group call: alice → server (CS 4, GMK)",
                        relay=[(srv, h) for _, h, _ in legs])
        self.floor(a, srv, self.csk["alice"], ssrc_a, FL.FLOOR_RELEASE, 2, "alice", port=fp)
        for who, h, _ in legs:
            self.floor(srv, h, self.csk[who], ssrc_s, FL.FLOOR_IDLE, 2, f"server → {who}",
                       port=fp)
        self.sip_udp(a, srv, d1.request("BYE"), 100)
        self.sip_udp(srv, a, d1.response(200, "OK", "BYE"), 1)
        for who, h, d in legs:
            self.sip_udp(srv, h, d.request("BYE"), 0.5)
            self.sip_udp(h, srv, d.response(200, "OK", "BYE"), 3)


# ----------------------------------------------------------------------------------------------
def _info_xml(who: str, text: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\r\n<mcpttinfo xmlns="urn:3gpp:ns:mcpttInfo:'
            f'1.0"><mcptt-Params><mcptt-calling-user-id>{who}</mcptt-calling-user-id>'
            f'<alert-ind>{text}</alert-ind></mcptt-Params></mcpttinfo>\r\n').encode()


class Smime(Scenario):
    name = "smime"
    description = ("Seed 003: SIP MESSAGEs from alice to the MCPTT server whose bodies are "
                   "S/MIME: multipart/signed, opaque signed-data, enveloped-data to a KEK and to "
                   "bob's EC certificate (ECDH key agreement), sign-then-encrypt, "
                   "encrypt-then-sign, compressed-data and AuthEnvelopedData")

    def run(self):
        a, srv = self.host("alice"), self.host("mcptt-server")
        alice = self.person("alice")
        akey, acert = self.w.certs["alice"]
        _, bcert = self.w.certs["bob"]
        when = dt.datetime.fromtimestamp(self.cap.now_us // 1_000_000, dt.timezone.utc)
        kek = CB.KekRecipient(self.w.kek.id, self.w.kek.key)
        kari = CB.KeyAgreeRecipient(bcert)
        cases = []

        def content(i, text):
            return MIME.text_entity(_info_xml(alice.uri, text), MCPTT_INFO)

        # 1. multipart/signed (detached SignedData)
        c1 = MIME.canonical(content(1, "signed"))
        sig = CB.sign(c1, acert, akey, detached=True, signing_time=when)
        body = MIME.build_multipart_signed(c1, sig, boundary="signed-" + self.rng.token(6))
        ctype, hdrs, body = _split_entity(body)
        cases.append(("multipart/signed (detached SignedData, ECDSA P-256)", body, (ctype, hdrs),
                      sig,
                      "signed-data", c1, ["SignedData"], "multipart/signed"))
        # 2. opaque signed-data
        c2 = content(2, "opaque signed")
        der = CB.sign(c2, acert, akey, signing_time=when)
        cases.append(("application/pkcs7-mime signed-data (opaque)", *self._pkcs7(der, "signed-data"),
                      der, "signed-data", c2, ["SignedData"], "pkcs7-mime"))
        # 3. enveloped to the pre-shared KEK
        c3 = content(3, "enveloped KEK")
        der = CB.envelope(c3, [kek])
        cases.append(("enveloped-data, KEKRecipientInfo (AES-128 key wrap)",
                      *self._pkcs7(der, "enveloped-data"), der, "enveloped-data", c3,
                      ["EnvelopedData"], "pkcs7-mime"))
        # 4. enveloped to bob's certificate (ECDH, RFC 5753)
        c4 = content(4, "enveloped ECDH")
        der = CB.envelope(c4, [kari, kek], cipher="aes-256-cbc")
        cases.append(("enveloped-data, KeyAgreeRecipientInfo to bob's certificate and a KEK",
                      *self._pkcs7(der, "enveloped-data"), der, "enveloped-data", c4,
                      ["EnvelopedData"], "pkcs7-mime"))
        # 5. sign-then-encrypt (SignedData inside EnvelopedData)
        c5 = content(5, "sign then encrypt")
        der = CB.sign_then_encrypt(c5, [kek], acert, akey)
        cases.append(("sign-then-encrypt: SignedData inside EnvelopedData (KEK)",
                      *self._pkcs7(der, "enveloped-data"), der, "enveloped-data", c5,
                      ["EnvelopedData", "SignedData"], "pkcs7-mime"))
        # 6. encrypt-then-sign (seed 003 numbered procedure)
        c6 = content(6, "encrypt then sign")
        der = CB.encrypt_then_sign(c6, [kek], acert, akey)
        cases.append(("encrypt-then-sign: EnvelopedData inside SignedData (seed 003 §7.x.3)",
                      *self._pkcs7(der, "signed-data"), der, "signed-data", c6,
                      ["SignedData", "EnvelopedData"], "pkcs7-mime"))
        # 7. compressed
        c7 = content(7, "compressed " * 20)
        der = CB.compress(c7)
        cases.append(("compressed-data (zlib, RFC 3274)", *self._pkcs7(der, "compressed-data"),
                      der, "compressed-data", c7, ["CompressedData"], "pkcs7-mime"))
        # 8. AuthEnvelopedData (AES-GCM) to the KEK
        c8 = content(8, "auth enveloped")
        der = CB.auth_envelope(c8, [kek])
        cases.append(("authEnveloped-data, AES-128-GCM to the KEK (RFC 5083)",
                      *self._pkcs7(der, "authEnveloped-data"), der, "authEnveloped-data", c8,
                      ["AuthEnvelopedData"], "pkcs7-mime"))
        for desc, body, ctype, der, stype, plain, layers, form in cases:
            d = SIP.Dialog(self.rng, a, srv, alice.uri, SERVER_PSI)
            msg = d.request("MESSAGE", body, ctype[0], headers=ctype[1])
            n = self.sip_udp(a, srv, msg, 50, comment=desc)
            self.entry("cms", n, desc, carrier="sip-body", form=form, smime_type=stype,
                       cms=der.hex(), expect={"content": plain.hex(), "layers": layers,
                                              "signer": "alice" if "SignedData" in layers
                                              else None})
            self.sip_udp(srv, a, d.response(200, "OK", "MESSAGE"), 5)

    @staticmethod
    def _pkcs7(der: bytes, smime_type: str):
        # RFC 3261 §23.2: binary S/MIME bodies; the entity headers go into the SIP header
        ent = MIME.build_pkcs7_mime(der, smime_type, transfer_encoding="binary")
        ctype, hdrs, body = _split_entity(ent)
        return body, (ctype, [h for h in hdrs if h[0].lower() != "content-transfer-encoding"])


def _split_entity(entity: bytes) -> tuple[str, list, bytes]:
    """(Content-Type, other MIME headers, body) of an entity: in a SIP message the entity's
    headers become SIP header fields (RFC 3261 §7.4, §23)."""
    head, _, body = entity.partition(b"\r\n\r\n")
    ctype, other = None, []
    for line in head.split(b"\r\n"):
        k, _, v = line.decode().partition(":")
        if k.strip().lower() == "content-type":
            ctype = v.strip()
        else:
            other.append((k.strip(), v.strip()))
    return ctype, other, body


class PskSmime(Scenario):
    name = "psk-smime"
    description = ("Seed 004: alice sends a PSK S/MIME MESSAGE (TRANSFER_INIT + AuthEnvelopedData) "
                   "to the list server, which re-encrypts it under a new ticket for bob and carol; "
                   "the copy to bob is replayed later; then alice sets up an MSRP session with bob "
                   "whose TLS-PSK comes from a TRANSFER_INIT with the TLS Prot type crypto session")

    def ticket(self, tgk_spi: bytes):
        mpk, tgk = self.rng.bytes(16), self.rng.bytes(16)
        t = self.ntp64()
        ticket = TK.build_ticket(self.w.tpk, mpk, [TK.key_data(TK.KEY_TGK, tgk, spi=tgk_spi)],
                                 t_value=t, rand=self.rng.bytes(16), tpk_identity=TPK_IDENTITY)
        return ticket, mpk, tgk

    def smime_message(self, src, dst, from_uri, to_uri, content, csb_id, label,
                      proof=True, replay_of=None):
        if replay_of is not None:
            body, ctype, ti, expect = replay_of
            expect = dict(expect, replay="replay")
        else:
            spi = self.rng.bytes(4)
            ticket, mpk, tgk = self.ticket(spi)
            t = self.ntp64()
            body, ctype, ti = PS.build(content, ticket=ticket, mpk=mpk, csb_id=csb_id,
                                       initiator=from_uri, responder=to_uri, t_value=t, spi=spi,
                                       tgk=tgk, proof_of_origin=proof)
            expect = {"content": content.hex(), "kek_id": PS.kek_id(csb_id, 1).hex(),
                      "tgk": tgk.hex(), "mpk": mpk.hex(), "proof_of_origin": proof,
                      "replay": "accepted", "csb_id": csb_id}
        d = SIP.Dialog(self.rng, src, dst, from_uri, to_uri)
        msg = d.request("MESSAGE", body, ctype)
        n = self.sip_udp(src, dst, msg, 40, comment=label)
        self.entry("psk-smime", n, label, carrier="sip-body", mikey=ti.hex(),
                   content_type=ctype, expect=expect)
        self.sip_udp(dst, src, d.response(202 if "list" in to_uri else 200,
                                          "Accepted" if "list" in to_uri else "OK", "MESSAGE"), 5)
        return body, ctype, ti, expect

    def run(self):
        a, b, c = self.host("alice"), self.host("bob"), self.host("carol")
        ls = self.host("list-server")
        alice, bob, carol = (self.person(x) for x in ("alice", "bob", "carol"))
        content = MIME.text_entity(b"Evacuate sector 7 now. Acknowledge on channel 2.\r\n")
        self.smime_message(a, ls, alice.uri, LIST_SERVER, content, self.rng.u32(),
                           "alice → list server: PSK S/MIME MESSAGE (seed 004)")
        csb = self.rng.u32()
        first = None
        for host, p in ((b, bob), (c, carol)):
            r = self.smime_message(ls, host, alice.uri, p.uri, content, csb,
                                   f"list server → {p.name}: the content re-encrypted under the "
                                   f"list server's ticket")
            first = first or r
        self.cap.advance(5000)
        self.smime_message(ls, b, alice.uri, bob.uri, content, csb,
                           "replay: the MESSAGE to bob sent again unchanged", replay_of=first)
        self.msrp_session(a, b, alice, bob)

    def msrp_session(self, a, b, alice, bob):
        """INVITE with m=message TCP/TLS/MSRP and a TRANSFER_INIT whose crypto session is of the
        TLS Prot type (seed 004 Annex X): TEK = TLS-PSK, #P = 0, no session data."""
        from codec.mikey import config, model as M

        spi = self.rng.bytes(4)
        ticket, mpk, tgk = self.ticket(spi)
        csb, rand_i = self.rng.u32(), self.rng.bytes(16)
        tls_pt = config.tls_prot_type()
        entry = M.GenericIdEntry(cs_id=1, prot_type=tls_pt, s=0, policies=[], spi=spi)
        ti = TK.build_transfer_init(ticket, mpk, csb_id=csb, cs_entries=[entry],
                                    initiator=alice.uri, responder=bob.uri, t_value=self.ntp64(),
                                    rand_i=rand_i)
        psk = TK.derive_session_key(tgk, prf.TEK, 1, rand_i, None, len(tgk), 1)
        media = "\r\n".join([f"m=message {MSRP_PORT} TCP/TLS/MSRP *", "a=accept-types:text/plain",
                             f"a=path:msrps://{a.ip}:{MSRP_PORT}/{self.rng.token(5)};tcp",
                             "a=setup:active", SIP.key_mgmt(ti)])
        offer = SIP.sdp(a, 7001, [media], user="alice")
        d = SIP.Dialog(self.rng, a, b, alice.uri, bob.uri)
        n = self.sip_udp(a, b, d.request("INVITE", offer, "application/sdp"), 100,
                         comment="MSRP session: INVITE with TRANSFER_INIT (TLS crypto session)")
        self.entry("mikey-ticket", n, "INVITE for an MSRP session: TRANSFER_INIT with a TLS Prot "
                                      "type crypto session (seed 004 Annex X)",
                   carrier="sdp-media", mikey=ti.hex(),
                   expect={"data_type": TK.TRANSFER_INIT, "verified": True, "csb_id": csb,
                           "mpk": mpk.hex(), "tgk": tgk.hex(), "rand_i": rand_i.hex(),
                           "tls_prot_type": tls_pt,
                           "session_keys": [{"cs_id": 1, "prot_type": tls_pt, "spi": spi.hex(),
                                             "tls_psk": psk.hex(), "tls_psk_identity": ""}]})
        answer_media = "\r\n".join([f"m=message {MSRP_PORT} TCP/TLS/MSRP *",
                                    "a=accept-types:text/plain",
                                    f"a=path:msrps://{b.ip}:{MSRP_PORT}/{self.rng.token(5)};tcp",
                                    "a=setup:passive"])
        self.sip_udp(b, a, d.response(200, "OK", "INVITE", SIP.sdp(b, 7002, [answer_media],
                                                                    user="bob"),
                                      "application/sdp"), 300)
        self.sip_udp(a, b, d.request("ACK", new_cseq=False), 1)
        self.psk = psk  # used by the TLS-PSK session when it is generated
        self.msrp_hosts = (a, b)
        self.sip_udp(a, b, d.request("BYE"), 2000)
        self.sip_udp(b, a, d.response(200, "OK", "BYE"), 2)


class Transports(Scenario):
    name = "transports"
    description = ("The same kind of PCK call carried differently: alice's leg is SIP over TCP "
                   "(the INVITE split across three segments; 100 Trying and 180 Ringing coalesced "
                   "in one segment), bob's leg is SIP over UDP on IPv6")

    def run(self):
        a, srv = self.host("alice"), self.host("mcptt-server")
        srv6, b6 = self.host("mcptt-server", True), self.host("bob", True)
        alice, bob = self.person("alice"), self.person("bob")
        wire, expect = self.sakke("PCK", "alice", "bob", map_style="empty")
        km = SIP.key_mgmt(wire)
        offer = SIP.sdp(a, 8001, [SIP.audio_media(49500, [km])], user="alice")
        conn = self.cap.tcp(a, srv, 50600, SIP_PORT, self.rng.u32(), self.rng.u32())
        conn.open()
        d1 = SIP.Dialog(self.rng, a, srv, alice.uri, bob.uri, transport="TCP")
        invite = d1.request("INVITE", offer, "application/sdp")
        third = len(invite) // 3
        frames = conn.send(True, invite, split=[third, third],
                           comment="INVITE over TCP, third of three segments")
        self.entry("mikey-sakke", frames, "INVITE over TCP split across three segments (PCK at "
                                          "media level); frame = the last segment",
                   carrier="sdp-media", transport="tcp-split", mikey=wire.hex(), expect=expect)
        both = d1.response(100, "Trying", "INVITE")
        conn.send(False, both + d1.response(180, "Ringing", "INVITE"),
                  comment="100 Trying and 180 Ringing in one TCP segment")
        d2 = SIP.Dialog(self.rng, srv6, b6, alice.uri, bob.uri)
        offer6 = SIP.sdp(srv6, 8002, [SIP.audio_media(49500, [km])])
        n = self.sip_udp(srv6, b6, d2.request("INVITE", offer6, "application/sdp"), 1,
                         comment="INVITE over UDP/IPv6")
        self.entry("mikey-sakke", n, "the INVITE forwarded to bob over UDP on IPv6",
                   carrier="sdp-media", transport="udp-ipv6", mikey=wire.hex(), expect=expect)
        answer6 = SIP.sdp(b6, 8003, [SIP.audio_media(50500)], user="bob")
        self.sip_udp(b6, srv6, d2.response(200, "OK", "INVITE", answer6, "application/sdp"), 300)
        self.sip_udp(srv6, b6, d2.request("ACK", new_cseq=False), 1)
        d1.to_tag = d2.to_tag
        answer = SIP.sdp(srv, 8004, [SIP.audio_media(50500)])
        conn.send(False, d1.response(200, "OK", "INVITE", answer, "application/sdp"))
        conn.send(True, d1.request("ACK", new_cseq=False))
        conn.send(True, d1.request("BYE"), gap_ms=1500)
        conn.send(False, d1.response(200, "OK", "BYE"))
        self.sip_udp(srv6, b6, d2.request("BYE"), 1)
        self.sip_udp(b6, srv6, d2.response(200, "OK", "BYE"), 2)
        conn.close()


class Malformed(Scenario):
    name = "malformed"
    description = ("Deliberately broken I_MESSAGEs and CMS bodies in SIP MESSAGEs (bad lengths, "
                   "bad next-payload, truncated SIGN, off-curve points, r = s = 0, bad GCM tags, "
                   "tampered signatures), and one SRTP packet with a bad tag; each listed with "
                   "the error it must produce")

    def send(self, body: bytes, ctype: str, label: str, headers=()) -> int:
        a, srv = self.host("alice"), self.host("mcptt-server")
        d = SIP.Dialog(self.rng, a, srv, self.person("alice").uri, SERVER_PSI)
        n = self.sip_udp(a, srv, d.request("MESSAGE", body, ctype, headers=list(headers)), 20,
                         comment=label)
        self.sip_udp(srv, a, d.response(400, "Bad Request", "MESSAGE"), 2)
        return n

    def mikey_case(self, wire: bytes, label: str, error: dict, expect: dict | None = None):
        n = self.send(wire, "application/mikey", label)
        self.entry("malformed-mikey", n, label, carrier="sip-body", mikey=wire.hex(),
                   error=error, **({"expect": expect} if expect else {}))

    def resign(self, msg, who: str = "alice") -> bytes:
        """Re-encode a modified message and sign it again (RFC 3830 §5.2 region) so that only
        the intended defect remains."""
        from codec.crypto import eccsi
        from codec.mikey import encode

        sign = msg.payloads[-1]
        sign.signature = bytes(eccsi.SIGNATURE_LEN)
        unsigned = encode(msg)
        region = MS.signed_region(unsigned, eccsi.SIGNATURE_LEN, MS.REGION_RFC)
        p = self.person(who).keys
        sign.signature = eccsi.sign(region, p.uid, p.ssk, p.pvt, self.w.kms.kpak,
                                    j=self.rng.randbelow(eccsi.Q - 1) + 1)
        return encode(msg)

    def run(self):
        from codec import mikey

        wire, expect = self.sakke("PCK", "alice", "bob", map_style="empty")
        m = mikey.decode(wire)
        off = m.offsets  # off[0] = HDR, off[i + 1] = payloads[i]
        names = [p.NAME for p in m.payloads]
        i_sign, i_sakke = names.index("SIGN"), names.index("SAKKE")
        i_idr = names.index("IDR")
        # 1. truncated SIGN
        cut = wire[:-10]
        self.mikey_case(cut, "truncated SIGN payload (last 10 octets missing)",
                        {"stage": "decode", "path": f"payloads[{i_sign}](SIGN).signature",
                         "offset": off[i_sign + 1] + 2,
                         "contains": f"needs 129 octet(s), {129 - 10} left"})
        # 2. bad next-payload in T
        b = bytearray(wire)
        b[off[1]] = 200
        self.mikey_case(bytes(b), "T payload's next payload = 200 (unknown)",
                        {"stage": "decode", "path": "payloads[0](T).next_payload",
                         "offset": off[1], "contains": "unknown payload type 200"})
        # 3. bad length: IDR id len far beyond the message
        b = bytearray(wire)
        b[off[i_idr + 1] + 3:off[i_idr + 1] + 5] = (2000).to_bytes(2, "big")
        left = len(wire) - (off[i_idr + 1] + 5)
        self.mikey_case(bytes(b), "IDR length 2000 (beyond the end of the message)",
                        {"stage": "decode", "path": f"payloads[{i_idr}](IDR).id_data",
                         "offset": off[i_idr + 1] + 5,
                         "contains": f"needs 2000 octet(s), {left} left"})
        # 4. bad next payload in the HDR
        b = bytearray(wire)
        b[2] = 0xFE
        self.mikey_case(bytes(b), "HDR next payload = 254 (unknown)",
                        {"stage": "decode", "path": "HDR.next_payload", "offset": 2,
                         "contains": "unknown payload type 254"})
        # 5. SAKKE R point off the curve (validly signed)
        mm = mikey.decode(wire)
        sk = mm.payloads[i_sakke]
        data = bytearray(sk.sakke_data)
        data[1 + 127] ^= 0x01  # last octet of x
        sk.sakke_data = bytes(data)
        self.mikey_case(self.resign(mm), "SAKKE R_(b,S) not on the curve (message validly signed)",
                        {"stage": "process", "field": "decrypt_error",
                         "contains": "not on the curve"}, {"verified": True})
        # 6. PVT in the signature off the curve
        mm = mikey.decode(wire)
        sig = bytearray(mm.payloads[i_sign].signature)
        sig[64 + 1 + 31] ^= 0x01  # last octet of PVT's x
        mm.payloads[i_sign].signature = bytes(sig)
        from codec.mikey import encode

        self.mikey_case(encode(mm), "ECCSI PVT in SIGN off the curve",
                        {"stage": "process", "field": "sign_error", "contains": "curve",
                         "verified": False})
        # 7. r = s = 0
        mm = mikey.decode(wire)
        sig = bytearray(mm.payloads[i_sign].signature)
        sig[:64] = bytes(64)
        mm.payloads[i_sign].signature = bytes(sig)
        self.mikey_case(encode(mm), "ECCSI signature with r = s = 0",
                        {"stage": "process", "field": "sign_error",
                         "contains": "r outside [1, q-1]", "verified": False})
        # 8. bad GCM tag in the GEN_EXT 7 key parameters (validly signed)
        params = KP.KeyParameters(key_type=0, status=1, activation_time=0, expiry_time=0,
                                  text=b"tampered", group_ids=KP.group_ids_field([GROUP_URI]))
        gwire, gexp = self.sakke("GMK", "gms", "bob", key_params=params)
        mm = mikey.decode(gwire)
        ext = next(p for p in mm.payloads if p.NAME == "GEN_EXT" and p.type == 7)
        d = bytearray(ext.data)
        d[-1] ^= 0x80
        ext.data = bytes(d)
        self.mikey_case(self.resign(mm, "gms"), "GMK key parameters (GEN_EXT 7) with a bad GCM tag",
                        {"stage": "process", "field": "key_params_error",
                         "contains": "GCM tag check failed"},
                        {"verified": True, "key": gexp["key"]})
        # CMS bodies
        akey, acert = self.w.certs["alice"]
        kek = CB.KekRecipient(self.w.kek.id, self.w.kek.key)
        content = MIME.text_entity(b"malformed test\r\n")
        der = CB.envelope(content, [kek])
        bad = der[:-7]
        self.cms_case(bad, "enveloped-data", "EnvelopedData truncated by 7 octets (bad length)",
                      {"stage": "decode", "offset": 0, "path": "ContentInfo",
                       "contains": "exceeds"})
        der = CB.auth_envelope(content, [kek])
        bad = der[:-1] + bytes([der[-1] ^ 0x01])  # the mac is the last field
        self.cms_case(bad, "authEnveloped-data", "AuthEnvelopedData with a bad GCM tag (mac)",
                      {"stage": "open", "contains": "tag"})
        when = dt.datetime.fromtimestamp(self.cap.now_us // 1_000_000, dt.timezone.utc)
        der = CB.sign(content, acert, akey, signing_time=when)
        i = der.find(b"malformed test")
        bad = der[:i] + b"M" + der[i + 1:]
        self.cms_case(bad, "signed-data", "SignedData whose content was altered after signing",
                      {"stage": "open", "contains": "digest"})
        # an SRTP packet whose tag does not verify
        session = self.session(expect, 0)
        keys = SRTP.SessionKeys(bytes.fromhex(session["master_key"]),
                                bytes.fromhex(session["master_salt"]))
        rtp = SRTP.rtp_packet(self.rng.u32(), 1, 0, self.rng.bytes(33))
        wire_srtp = bytearray(SRTP.protect_rtp(keys, rtp, 0, bytes.fromhex(session["mki"])))
        wire_srtp[-5] ^= 0x01  # in the tag, before the 4-octet MKI
        n = self.cap.udp(self.host("alice"), self.host("bob"), 49170, 50170, bytes(wire_srtp), 20)
        self.entry("malformed-srtp", n, "SRTP packet with a bad GCM tag", cs_id=0,
                   mki=session["mki"], master_key=session["master_key"],
                   master_salt=session["master_salt"], srtp=bytes(wire_srtp).hex(),
                   error={"stage": "unprotect", "contains": "InvalidTag"})

    def cms_case(self, der: bytes, smime_type: str, label: str, error: dict):
        ent = MIME.build_pkcs7_mime(der, smime_type, transfer_encoding="binary")
        ctype, hdrs, body = _split_entity(ent)
        n = self.send(body, ctype, label,
                      [h for h in hdrs if h[0].lower() != "content-transfer-encoding"])
        self.entry("malformed-cms", n, label, carrier="sip-body", smime_type=smime_type,
                   cms=der.hex(), error=error)



class SipTls(Scenario):
    """SIP over TLS (TCP 5061) with its key log, and seed 004's MSRP session over TLS-PSK.

    The TLS sessions are real TLS 1.2 (:mod:`dissectors.synth.tls`) with every random value from
    the seed.  The MIKEY messages they carry are listed in the manifest's ``tls_entries`` (their
    frames hold ciphertext, so they are not plain ``entries``); the leg the server forwards to
    bob over UDP is a plain entry."""

    name = "sip-tls"
    description = ("SIP over TLS 1.2 (TCP 5061, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) between "
                   "alice and the MCPTT server: REGISTER, a PCK call (the INVITE in two TLS "
                   "records over two TCP segments, 100 and 180 in one record; forwarded to bob "
                   "over UDP), a GMK MESSAGE from the server, an MSRP session offer with a "
                   "TRANSFER_INIT (TLS Prot type crypto session, seed 004) and that MSRP session "
                   "over TLS-PSK (TLS_PSK_WITH_AES_128_GCM_SHA256, PSK = the TLS-PSK of the "
                   "TRANSFER_INIT, empty identity); key log in sip-tls.keylog, and in a pcapng "
                   "Decryption Secrets Block in sip-tls-dsb.pcapng")

    KEYLOG = "sip-tls.keylog"
    DSB_COPY = "sip-tls-dsb.pcapng"
    SIPS_PORT = 5061
    MSS = 1448

    def unix_time(self) -> int:
        return self.cap.now_us // 1_000_000

    def tls_send(self, conn, tls, from_client: bool, data: bytes, comment: str,
                 records: list[int] | None = None, tcp_split: list[int] | None = None,
                 gap_ms: float = 1.0) -> list[int]:
        """``data`` as application_data records (plaintext chunk sizes ``records``), written to
        TCP in segments of ``tcp_split`` (else of at most one MSS)."""
        wire, _ = tls.application_data(from_client, data, records)
        split = tcp_split if tcp_split is not None else [self.MSS] * (len(wire) // self.MSS)
        return conn.send(from_client, wire, split=split, comment=comment, gap_ms=gap_ms)

    def tls_entry(self, kind: str, frames: list[int], description: str, sip_msg: bytes,
                  **fields) -> dict:
        e = {"capture": f"{self.name}.pcapng", "frame": frames[-1], "kind": kind,
             "description": description}
        if len(frames) > 1:
            e["frames"] = frames
        e.update(fields)
        e.update(transport="tls", keylog=self.KEYLOG, dsb_capture=self.DSB_COPY,
                 sip_length=len(sip_msg), sip_sha256=_sha(sip_msg))
        self.tls_entries.append(e)
        return e

    def run(self):
        from dissectors.synth import tls as T
        from dissectors.synth.net import SECRETS_TLS_KEYLOG
        from dissectors.synth.world import DOMAIN, _ec_cert

        from cryptography.hazmat.primitives import serialization

        a, srv, b = self.host("alice"), self.host("mcptt-server"), self.host("bob")
        alice, bob = self.person("alice"), self.person("bob")
        start = dt.datetime.fromtimestamp(self.unix_time(), dt.timezone.utc)
        skey, scert = _ec_cert(self.rng.child("server-cert"), "mcptt-server (MCPTT server)",
                               SERVER_PSI, start)
        conn = self.cap.tcp(a, srv, 50610, self.SIPS_PORT, self.rng.u32(), self.rng.u32())
        conn.open()
        tls = T.ecdhe_ecdsa(self.rng.child("tls/sip"), skey,
                            scert.public_bytes(serialization.Encoding.DER), self.unix_time(),
                            server_name=DOMAIN)
        for f in tls.flights:
            conn.send(f.from_client, f.data, comment=f.label)
        def send(from_client, msg, comment, **kw):
            return self.tls_send(conn, tls, from_client, msg, comment, **kw)

        # REGISTER (no body), 200 OK
        reg = SIP.Dialog(self.rng, a, srv, alice.uri, alice.uri, transport="TLS",
                         port=self.SIPS_PORT)
        send(True, reg.request("REGISTER", request_uri=f"sips:{DOMAIN}",
                               headers=[("Expires", "3600")]), "REGISTER over TLS")
        send(False, reg.response(200, "OK", "REGISTER", headers=[("Expires", "3600")]),
             "200 OK (REGISTER) over TLS")
        # a PCK call: alice's leg over TLS, bob's leg over UDP
        wire, expect = self.sakke("PCK", "alice", "bob", map_style="empty")
        km = SIP.key_mgmt(wire)
        offer = SIP.sdp(a, 9001, [SIP.audio_media(49600, [km])], user="alice")
        d1 = SIP.Dialog(self.rng, a, srv, alice.uri, bob.uri, transport="TLS",
                        port=self.SIPS_PORT)
        invite = d1.request("INVITE", offer, "application/sdp",
                            headers=[("P-Preferred-Service",
                                      "urn:urn-7:3gpp-service.ims.icsi.mcptt")])
        half = len(invite) // 2
        frames = send(True, invite, "INVITE over TLS (two TLS records, two TCP segments)",
                      records=[half], tcp_split=[half + 200])
        self.tls_entry("mikey-sakke", frames, "INVITE over TLS with PCK at media level: two "
                                              "application_data records, the second spanning "
                                              "two TCP segments", invite, carrier="sip-tls",
                       sip_carrier="sdp-media", mikey=wire.hex(), expect=expect)
        ringing = d1.response(100, "Trying", "INVITE") + d1.response(180, "Ringing", "INVITE")
        d2 = SIP.Dialog(self.rng, srv, b, alice.uri, bob.uri)
        offer_b = SIP.sdp(srv, 9002, [SIP.audio_media(49600, [km])])
        n = self.sip_udp(srv, b, d2.request("INVITE", offer_b, "application/sdp"), 1,
                         comment="INVITE forwarded to bob over UDP")
        self.entry("mikey-sakke", n, "the TLS INVITE as forwarded to bob over UDP",
                   carrier="sdp-media", transport="udp", mikey=wire.hex(), expect=expect)
        self.sip_udp(b, srv, d2.response(180, "Ringing", "INVITE"), 30)
        send(False, ringing, "100 Trying and 180 Ringing in one TLS record")
        answer_b = SIP.sdp(b, 9003, [SIP.audio_media(50600)], user="bob")
        self.sip_udp(b, srv, d2.response(200, "OK", "INVITE", answer_b, "application/sdp"), 300)
        self.sip_udp(srv, b, d2.request("ACK", new_cseq=False), 1)
        d1.to_tag = d2.to_tag
        answer = SIP.sdp(srv, 9004, [SIP.audio_media(50600)])
        send(False, d1.response(200, "OK", "INVITE", answer, "application/sdp"),
             "200 OK (INVITE) over TLS")
        send(True, d1.request("ACK", new_cseq=False), "ACK over TLS")
        # the GMK for alice, relayed by the server over the TLS connection (server → client)
        params = KP.KeyParameters(key_type=0, status=1, activation_time=0, expiry_time=0,
                                  text=b"Fire brigade group key",
                                  group_ids=KP.group_ids_field([GROUP_URI]))
        gwire, gexpect = self.sakke("GMK", "gms", "alice", key_params=params)
        dm = SIP.Dialog(self.rng, srv, a, GMS_URI, alice.uri, transport="TLS",
                        port=self.SIPS_PORT)
        msg = dm.request("MESSAGE", gwire, "application/mikey",
                         headers=[("Content-Disposition", "render;handling=required")])
        frames = send(False, msg, "GMK MESSAGE over TLS (server → alice)", gap_ms=200)
        self.tls_entry("mikey-sakke", frames, f"GMK MESSAGE for alice over TLS, server → "
                                              f"client (GUK-ID {gexpect['guk_id']:08x})", msg,
                       carrier="sip-tls", sip_carrier="sip-body", mikey=gwire.hex(),
                       expect=gexpect)
        send(True, dm.response(200, "OK", "MESSAGE"), "200 OK (MESSAGE) over TLS")
        # seed 004: MSRP session with the server whose TLS-PSK comes from a TRANSFER_INIT
        self.msrp_over_tls_psk(conn, tls, send, a, srv, alice)
        send(True, d1.request("BYE"), "BYE over TLS", gap_ms=500)
        self.sip_udp(srv, b, d2.request("BYE"), 1)
        self.sip_udp(b, srv, d2.response(200, "OK", "BYE"), 3)
        send(False, d1.response(200, "OK", "BYE"), "200 OK (BYE) over TLS")
        conn.send(True, tls.close_notify(True), comment="TLS close_notify (alice)")
        conn.send(False, tls.close_notify(False), comment="TLS close_notify (server)")
        conn.close()
        keylog = tls.keylog_line().encode()
        self.extra_files[self.KEYLOG] = keylog
        dsb = self.cap.pcapng(secrets=[(SECRETS_TLS_KEYLOG, keylog)])
        self.extra_files[self.DSB_COPY] = dsb
        self.capture_info = {
            "keylog": self.KEYLOG,
            "tls": [{"port": self.SIPS_PORT, "suite": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                     "client_random": tls.client_random.hex(),
                     "master_secret": tls.master_secret.hex(), "keylog": self.KEYLOG},
                    {"port": MSRP_PORT, "suite": "TLS_PSK_WITH_AES_128_GCM_SHA256",
                     "client_random": self.msrp_tls.client_random.hex(),
                     "master_secret": self.msrp_tls.master_secret.hex(),
                     "psk": self.msrp_psk.hex(), "psk_identity": ""}],
            "dsb_copy": {"file": self.DSB_COPY, "sha256": _sha(dsb),
                         "secrets": "TLS key log of the SIP session (not the TLS-PSK one)"},
        }

    def msrp_over_tls_psk(self, conn, tls, send, a, srv, alice):
        """INVITE (over SIP/TLS) with m=message TCP/TLS/MSRP and a TRANSFER_INIT whose crypto
        session is of the TLS Prot type (seed 004 Annex X.2: TEK = TLS-PSK, PSK identity ""),
        then the MSRP session over TLS_PSK_WITH_AES_128_GCM_SHA256 with that PSK."""
        from codec.mikey import config, model as M
        from dissectors.synth import tls as T

        spi = self.rng.bytes(4)
        ticket, mpk, tgk = PskSmime.ticket(self, spi)
        csb, rand_i = self.rng.u32(), self.rng.bytes(16)
        tls_pt = config.tls_prot_type()
        entry = M.GenericIdEntry(cs_id=1, prot_type=tls_pt, s=0, policies=[], spi=spi)
        ti = TK.build_transfer_init(ticket, mpk, csb_id=csb, cs_entries=[entry],
                                    initiator=alice.uri, responder=SERVER_PSI,
                                    t_value=self.ntp64(), rand_i=rand_i)
        psk = TK.derive_session_key(tgk, prf.TEK, 1, rand_i, None, len(tgk), 1)
        path_a = f"msrps://{a.ip}:{MSRP_PORT}/{self.rng.token(5)};tcp"
        path_s = f"msrps://{srv.ip}:{MSRP_PORT}/{self.rng.token(5)};tcp"
        media = "\r\n".join([f"m=message {MSRP_PORT} TCP/TLS/MSRP *",
                             "a=accept-types:text/plain", f"a=path:{path_a}", "a=setup:active",
                             SIP.key_mgmt(ti)])
        d = SIP.Dialog(self.rng, a, srv, alice.uri, SERVER_PSI, transport="TLS",
                       port=self.SIPS_PORT)
        invite = d.request("INVITE", SIP.sdp(a, 9101, [media], user="alice"), "application/sdp")
        frames = send(True, invite, "MSRP session INVITE with TRANSFER_INIT over TLS",
                      gap_ms=300)
        self.tls_entry("mikey-ticket", frames, "INVITE over TLS for an MSRP session: "
                                               "TRANSFER_INIT with a TLS Prot type crypto "
                                               "session (seed 004 Annex X)", invite,
                       carrier="sip-tls", sip_carrier="sdp-media", mikey=ti.hex(),
                       expect={"data_type": TK.TRANSFER_INIT, "verified": True, "csb_id": csb,
                               "mpk": mpk.hex(), "tgk": tgk.hex(), "rand_i": rand_i.hex(),
                               "tls_prot_type": tls_pt,
                               "session_keys": [{"cs_id": 1, "prot_type": tls_pt,
                                                 "spi": spi.hex(), "tls_psk": psk.hex(),
                                                 "tls_psk_identity": ""}]})
        answer = "\r\n".join([f"m=message {MSRP_PORT} TCP/TLS/MSRP *",
                              "a=accept-types:text/plain", f"a=path:{path_s}",
                              "a=setup:passive"])
        send(False, d.response(200, "OK", "INVITE", SIP.sdp(srv, 9102, [answer]),
                               "application/sdp"), "200 OK (MSRP INVITE) over TLS")
        send(True, d.request("ACK", new_cseq=False), "ACK (MSRP INVITE) over TLS")
        # the MSRP session (RFC 4975) over TLS-PSK (RFC 4279), alice connects (a=setup:active)
        mc = self.cap.tcp(a, srv, 50620, MSRP_PORT, self.rng.u32(), self.rng.u32())
        mc.open()
        mt = T.psk(self.rng.child("tls/msrp"), psk, b"", self.unix_time())
        for f in mt.flights:
            mc.send(f.from_client, f.data, comment=f.label + " (MSRP, TLS-PSK)")
        text = b"Evacuate sector 7 now. Acknowledge on channel 2."
        tid, mid = self.rng.token(6), self.rng.token(8)
        # RFC 4975 §7.1: ... Content-Type CRLF CRLF data CRLF end-line (the CRLF is not data)
        msrp_send = (f"MSRP {tid} SEND\r\nTo-Path: {path_s}\r\nFrom-Path: {path_a}\r\n"
                     f"Message-ID: {mid}\r\nByte-Range: 1-{len(text)}/{len(text)}\r\n"
                     f"Content-Type: text/plain\r\n\r\n").encode() + text + \
            f"\r\n-------{tid}$\r\n".encode()
        wire, _ = mt.application_data(True, msrp_send)
        frames = mc.send(True, wire, comment="MSRP SEND over TLS-PSK")
        self.tls_entries.append({
            "capture": f"{self.name}.pcapng", "frame": frames[-1], "kind": "msrp-tls-psk",
            "description": "MSRP SEND over TLS-PSK (PSK = the TRANSFER_INIT's TLS-PSK)",
            "transport": "tls-psk", "port": MSRP_PORT,
            "suite": "TLS_PSK_WITH_AES_128_GCM_SHA256", "psk": psk.hex(), "psk_identity": "",
            "msrp_transaction_id": tid, "msrp": msrp_send.hex(), "content": text.hex()})
        ok = (f"MSRP {tid} 200 OK\r\nTo-Path: {path_a}\r\nFrom-Path: {path_s}\r\n"
              f"-------{tid}$\r\n").encode()
        mc.send(False, mt.application_data(False, ok)[0], comment="MSRP 200 OK over TLS-PSK")
        mc.send(True, mt.close_notify(True), comment="TLS close_notify (MSRP, alice)",
                gap_ms=1000)
        mc.send(False, mt.close_notify(False), comment="TLS close_notify (MSRP, server)")
        mc.close()
        send(True, d.request("BYE"), "BYE (MSRP session) over TLS")
        send(False, d.response(200, "OK", "BYE"), "200 OK (BYE, MSRP session) over TLS")
        self.msrp_tls, self.msrp_psk = mt, psk


class PskCall(Scenario):
    name = "psk-call"
    description = ("two dispatch consoles keyed by a classic RFC 3830 PSK MIKEY (no KMS): the "
                   "I_MESSAGE in the INVITE's SDP (SRTP-ID map naming both streams, SP, KEMAC "
                   "AES-CM-128 + HMAC-SHA-1 holding a TGK); call 1 SRTP AES-CM-128/HMAC-SHA1-80 "
                   "(every SP parameter written), call 2 AES-CM-128/HMAC-SHA1-32 (only the tag "
                   "length written, RFC 3830 §6.10.1 defaults) with a 4-octet MKI and a ROC "
                   "rollover; SRTP both ways and an SRTCP sender report each way, BYE")

    CALLS = (  # (SP parameters, authentication tag octets, MKI octets)
        ({0: 1, 1: 16, 2: 1, 3: 20, 4: 14, 5: 0, 6: 0, 7: 1, 8: 1, 10: 1, 11: 10}, 10, 0),
        ({11: 4}, 4, 4),
    )

    def run(self):
        one = Host("console-1", "02:00:5e:00:00:80", "192.0.2.80")
        two = Host("console-2", "02:00:5e:00:00:81", "192.0.2.81")
        for call, (params, tag, mki_len) in enumerate(self.CALLS, start=1):
            self.one_call(call, one, two, params, tag, mki_len)

    def one_call(self, call, one, two, params, tag_len, mki_len):
        r = self.rng
        tgk, rand, csb = r.bytes(16), r.bytes(16), r.u32()
        mki = r.bytes(mki_len) if mki_len else b""
        ssrc_1, ssrc_2 = r.u32(), r.u32()
        port_1, port_2 = 40000 + 10 * call, 42000 + 10 * call
        sp = M.SP(policy_no=0, prot_type=0,
                  policy_params=[M.SpParam(type=t, value=bytes([v])) for t, v in params.items()])
        wire = TK.build_psk_i_message(
            self.w.psk_call_key, [TK.key_data(TK.KEY_TGK, tgk, spi=mki or None)], csb_id=csb,
            t_value=self.ntp64(), initiator=PSK_CALL_IDENTITY, responder=uri("console-2"),
            rand=rand, prf_func=0, cs_id_map=[M.SrtpIdEntry(policy_no=0, ssrc=ssrc_1, roc=0),
                                              M.SrtpIdEntry(policy_no=0, ssrc=ssrc_2, roc=0)],
            sp=[sp])
        name = f"AES-CM-128/HMAC-SHA1-{tag_len * 8}"
        sessions = []
        for cs_id, ssrc in ((1, ssrc_1), (2, ssrc_2)):  # RFC 3830 §4.1.3 over the TGK
            mk, ms = prf.srtp_master(tgk, cs_id, csb, rand, 16, 14, prf.PRF_MIKEY_1)
            sessions.append({"cs_id": cs_id, "ssrc": ssrc, "roc": 0, "mki": mki.hex(),
                             "master_key": mk.hex(), "master_salt": ms.hex(), "profile": name})
        expect = {"psk_identity": PSK_CALL_IDENTITY, "csb_id": csb, "rand": rand.hex(),
                  "tgk": tgk.hex(), "verified": True, "crypto_sessions": sessions}
        d = SIP.Dialog(r, one, two, PSK_CALL_IDENTITY, uri("console-2"))
        offer = SIP.sdp(one, 5000 + call, [SIP.audio_media(port_1, [SIP.key_mgmt(wire)])])
        n = self.sip_udp(one, two, d.request("INVITE", offer, "application/sdp"),
                         comment=f"call {call}: INVITE with PSK MIKEY ({name})")
        self.entry("mikey-psk", n, f"call {call}: INVITE, RFC 3830 PSK I_MESSAGE at SDP media "
                                   f"level ({name})", carrier="sdp-media", mikey=wire.hex(),
                   expect=expect)
        self.sip_udp(two, one, d.response(180, "Ringing", "INVITE"), 20)
        answer = SIP.sdp(two, 6000 + call, [SIP.audio_media(port_2)])
        self.sip_udp(two, one, d.response(200, "OK", "INVITE", answer, "application/sdp"), 300)
        self.sip_udp(one, two, d.request("ACK", new_cseq=False), 1)
        seq0 = 65534 if call == 2 else r.randbelow(30000)  # call 2 crosses a ROC rollover
        for (src, dst, sport, dport), s in zip(((one, two, port_1, port_2),
                                                (two, one, port_2, port_1)), sessions):
            self.psk_media(src, dst, sport, dport, s, params, mki, seq0, call)
        self.sip_udp(one, two, d.request("BYE"), 200)
        self.sip_udp(two, one, d.response(200, "OK", "BYE"), 5)

    def psk_media(self, src, dst, sport, dport, s, params, mki, seq0, call):
        t = SRTP.transform_from_sp({k: bytes([v]) for k, v in params.items()}, len(mki))
        ctx = SRTP.Context(t, bytes.fromhex(s["master_key"]), bytes.fromhex(s["master_salt"]))
        ts = self.rng.u32()
        common = dict(profile=s["profile"], cs_id=s["cs_id"], ssrc=s["ssrc"], mki=s["mki"],
                      master_key=s["master_key"], master_salt=s["master_salt"])
        for i in range(4):
            index = seq0 + i
            roc, seq = index >> 16, index & 0xFFFF
            rtp = SRTP.rtp_packet(s["ssrc"], seq, (ts + 320 * i) & 0xFFFFFFFF,
                                  self.rng.bytes(33), marker=i == 0)
            wire = ctx.protect_rtp(rtp, roc, mki)
            n = self.cap.udp(src, dst, sport, dport, wire, gap_ms=20)
            self.entry("srtp", n, f"call {call}: SRTP packet {i + 1} of CS {s['cs_id']} "
                                  f"({s['profile']})", seq=seq, roc=roc, rtp=rtp.hex(),
                       srtp=wire.hex(), **common)
        sr = (bytes([0x80, 200, 0, 6]) + s["ssrc"].to_bytes(4, "big") + self.rng.bytes(8)
              + ((ts + 1280) & 0xFFFFFFFF).to_bytes(4, "big") + (4).to_bytes(4, "big")
              + (132).to_bytes(4, "big"))  # RTCP SR without report blocks (RFC 3550 §6.4.1)
        wire = ctx.protect_rtcp(sr, 1, mki)
        n = self.cap.udp(src, dst, sport + 1, dport + 1, wire, gap_ms=5)
        self.entry("srtcp", n, f"call {call}: SRTCP sender report of CS {s['cs_id']} "
                               f"({s['profile']}, SRTCP tag as SRTP's: RFC 3711 §4.2)",
                   srtcp_index=1, rtcp=sr.hex(), srtcp=wire.hex(), **common)


SCENARIOS = {cls.name: cls for cls in (KmsProvisioning, CskUpload, PrivateCall, GroupCall, Smime,
                                        PskSmime, Transports, Malformed, SipTls, PskCall)}
