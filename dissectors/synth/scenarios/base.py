"""What every scenario of `mcsec synth` shares: :class:`Scenario` (the capture, the manifest
entries, the clock, MIKEY-SAKKE, SRTP/SRTCP and SIP helpers) and a few helpers and constants."""

from __future__ import annotations

import datetime as dt
import hashlib

from codec.crypto import mcx, prf
from codec.mikey import keyparams
from codec.mikey import sakke as mikey_sakke
from dissectors.synth import sip as synth_sip
from codec import floor as floor_control
from codec import srtp as SRTP
from dissectors.synth.net import Capture, Host
from dissectors.synth.rng import Rng
from dissectors.synth.world import SERVER_PSI, World

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
              key_params: keyparams.KeyParameters | None = None, rand: bytes | None = None,
              key: bytes | None = None, key_id: int | None = None):
        """(wire, expectation) of a real I_MESSAGE; the expectation comes from the inputs."""
        r = self.rng
        key = key or r.bytes(16)
        key_id = key_id if key_id is not None else mcx.make_key_id(key_type, r.randbelow(1 << 28))
        rand = rand or r.bytes(16)
        ini, res = self.person(initiator), self.person(responder)
        ntp = self.ntp64()
        wire = mikey_sakke.build_i_message(key_type, key, key_id, ini.party(self.w), res.party(self.w),
                                           ntp_time=ntp, rand=rand, map_style=map_style,
                                           key_params=key_params, iv=r.bytes(16) if key_params else None)
        if key_type == "GMK":
            csb = mcx.guk_id(key_id, key, res.uri)
            mkis = {4: key_id.to_bytes(4, "big") + csb.to_bytes(4, "big")}
        else:
            csb = key_id
            cs_ids = mikey_sakke.DEFAULT_CS_IDS[key_type] if map_style == "empty" else \
                mikey_sakke.DEFAULT_CS_IDS[key_type][:1]
            mkis = {cs: key_id.to_bytes(4, "big") for cs in cs_ids}
        sessions = []
        for cs, mki in mkis.items():  # TS 33.180 §7.4: RFC 3830 §4.1.3 PRF over the key
            mk, ms = prf.srtp_master(key, cs, csb, rand, 16, 12, prf.PRF_HMAC_SHA_256)
            sessions.append({"cs_id": cs, "mki": mki.hex(), "master_key": mk.hex(),
                             "master_salt": ms.hex()})
        expect = {"key_type": key_type, "key": key.hex(), "key_id": key_id, "csb_id": csb,
                  "initiator": ini.uri, "responder": res.uri, "period": self.w.period,
                  "verified": True, "region": mikey_sakke.REGION_RFC, "rand": rand.hex(),
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
        rtcp = floor_control.app_packet(ssrc, subtype, fields)
        wire = SRTP.protect_rtcp(keys, rtcp, index, bytes.fromhex(session["mki"]))
        n = self.cap.udp(src, dst, port, port, wire, gap_ms=15)
        self.entry("srtcp", n, f"{label}: MCPTT floor control {floor_control.message_name(subtype)} "
                               f"(RTCP APP 'MCPT', TS 24.380) in SRTCP",
                   profile="AEAD_AES_128_GCM", cs_id=session["cs_id"], ssrc=ssrc,
                   srtcp_index=index, mki=session["mki"], master_key=session["master_key"],
                   master_salt=session["master_salt"], rtcp=rtcp.hex(), srtcp=wire.hex(),
                   floor_message=floor_control.message_name(subtype))
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
        d = synth_sip.Dialog(self.rng, p.host6 if v6 else p.host, server, p.uri, p.uri)
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


def sha256_hex(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def split_entity(entity: bytes) -> tuple[str, list, bytes]:
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
