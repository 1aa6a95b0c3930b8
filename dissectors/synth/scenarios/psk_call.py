"""`mcsec synth --scenario psk-call`: two dispatch consoles keyed by a classic RFC 3830 PSK
MIKEY (no KMS), with SRTP/SRTCP under two policies."""

from __future__ import annotations

from codec.crypto import prf
from codec.mikey import model
from codec.mikey import ticket_build
from codec.mikey import ticket_keys
from dissectors.synth import sip as synth_sip
from codec import srtp as SRTP
from dissectors.synth.net import Host
from dissectors.synth.world import PSK_CALL_IDENTITY, uri
from dissectors.synth.scenarios.base import Scenario


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
        sp = model.SP(policy_no=0, prot_type=0,
                      policy_params=[model.SpParam(type=t, value=bytes([v])) for t, v in params.items()])
        wire = ticket_build.build_psk_i_message(
            self.w.psk_call_key,
            [ticket_build.key_data(ticket_keys.KEY_TGK, tgk, spi=mki or None)], csb_id=csb,
            t_value=self.ntp64(), initiator=PSK_CALL_IDENTITY, responder=uri("console-2"),
            rand=rand, prf_func=0, cs_id_map=[model.SrtpIdEntry(policy_no=0, ssrc=ssrc_1, roc=0),
                                              model.SrtpIdEntry(policy_no=0, ssrc=ssrc_2, roc=0)],
            sp=[sp])
        name = f"AES-CM-128/HMAC-SHA1-{tag_len * 8}"
        sessions = []
        for cs_id, ssrc in ((1, ssrc_1), (2, ssrc_2)):  # RFC 3830 §4.1.3 over the TGK
            mk, ms = prf.srtp_master(tgk, cs_id, csb, rand, 16, 14, prf.PRF_MIKEY_1)
            sessions.append({"cs_id": cs_id, "ssrc": ssrc, "roc": 0, "mki": mki.hex(),
                             "master_key": mk.hex(), "master_salt": ms.hex(), "profile": name})
        expect = {"psk_identity": PSK_CALL_IDENTITY, "csb_id": csb, "rand": rand.hex(),
                  "tgk": tgk.hex(), "verified": True, "crypto_sessions": sessions}
        d = synth_sip.Dialog(r, one, two, PSK_CALL_IDENTITY, uri("console-2"))
        offer = synth_sip.sdp(one, 5000 + call,
                              [synth_sip.audio_media(port_1, [synth_sip.key_mgmt(wire)])])
        n = self.sip_udp(one, two, d.request("INVITE", offer, "application/sdp"),
                         comment=f"call {call}: INVITE with PSK MIKEY ({name})")
        self.entry("mikey-psk", n, f"call {call}: INVITE, RFC 3830 PSK I_MESSAGE at SDP media "
                                   f"level ({name})", carrier="sdp-media", mikey=wire.hex(),
                   expect=expect)
        self.sip_udp(two, one, d.response(180, "Ringing", "INVITE"), 20)
        answer = synth_sip.sdp(two, 6000 + call, [synth_sip.audio_media(port_2)])
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
