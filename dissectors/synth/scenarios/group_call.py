"""`mcsec synth --scenario group-call`: over IPv6, GMKs from the GMS in SIP MESSAGEs, a group
call with SRTP media under the GMK and floor control in SRTCP."""

from __future__ import annotations

from codec.crypto import mcx
from codec.mikey import keyparams
from dissectors.synth import sip as synth_sip
from codec import floor as floor_control
from dissectors.synth.world import GMS_URI, GROUP_URI
from dissectors.synth.scenarios.base import Scenario


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
        params = keyparams.KeyParameters(key_type=0, status=1, activation_time=0, expiry_time=0,
                                         text=b"Fire brigade group key",
                                         group_ids=keyparams.group_ids_field([GROUP_URI]))
        expects = {}
        for who in members:
            wire, expect = self.sakke("GMK", "gms", who, key=gmk, key_id=gmk_id, rand=rand,
                                      key_params=params)
            expects[who] = expect
            p = self.person(who)
            d = synth_sip.Dialog(self.rng, gms, p.host6, GMS_URI, p.uri)
            msg = d.request("MESSAGE", wire, "application/mikey",
                            headers=[("Content-Disposition", "render;handling=required")])
            n = self.sip_udp(gms, p.host6, msg, comment=f"GMK for {who}")
            self.entry("mikey-sakke", n, f"GMS → {who}: GMK of {GROUP_URI} (GUK-ID "
                                         f"{expect['guk_id']:08x})", carrier="sip-body",
                       mikey=wire.hex(), expect=expect)
            self.sip_udp(p.host6, gms, d.response(200, "OK", "MESSAGE"), 20)
        a = self.host("alice", v6)
        port = 49300
        offer = synth_sip.sdp(a, 3001, [synth_sip.audio_media(port)], user="alice")
        d1 = synth_sip.Dialog(self.rng, a, srv, self.person("alice").uri, GROUP_URI)
        self.sip_udp(a, srv, d1.request("INVITE", offer, "application/sdp"), 200,
                     comment="group call INVITE")
        self.sip_udp(srv, a, d1.response(100, "Trying", "INVITE"), 0.5)
        legs = []
        for who in ("bob", "carol"):
            h = self.host(who, v6)
            d = synth_sip.Dialog(self.rng, srv, h, GROUP_URI, self.person(who).uri)
            self.sip_udp(srv, h, d.request("INVITE", synth_sip.sdp(srv, 4000 + len(legs),
                                                                   [synth_sip.audio_media(port)]),
                                           "application/sdp"), 1)
            self.sip_udp(h, srv, d.response(200, "OK", "INVITE",
                                            synth_sip.sdp(h, 5000 + len(legs),
                                                          [synth_sip.audio_media(port)], user=who),
                                            "application/sdp"), 150)
            self.sip_udp(srv, h, d.request("ACK", new_cseq=False), 0.5)
            legs.append((who, h, d))
        self.sip_udp(srv, a, d1.response(200, "OK", "INVITE",
                                         synth_sip.sdp(srv, 4100, [synth_sip.audio_media(port)]),
                                         "application/sdp"), 1)
        self.sip_udp(a, srv, d1.request("ACK", new_cseq=False), 1)
        ssrc_a, ssrc_s = self.rng.u32(), self.rng.u32()
        fp = port + 1
        self.floor(a, srv, self.csk["alice"], ssrc_a, floor_control.FLOOR_REQUEST, 1, "alice", port=fp)
        self.floor(srv, a, self.csk["alice"], ssrc_s, floor_control.FLOOR_GRANTED, 1, "server → alice",
                   floor_control.field(floor_control.DURATION, b"\x00\x1e"), fp)
        for who, h, _ in legs:
            self.floor(srv, h, self.csk[who], ssrc_s, floor_control.FLOOR_TAKEN, 1, f"server → {who}",
                       floor_control.field(floor_control.GRANTED_PARTYS_IDENTITY,
                                           self.person("alice").uri.encode()), fp)
        # alice's media under her crypto session of the GMK (see pcaps/README.md: UNCONFIRMED
        # whether TS 33.180 derives group SRTP keys per member's GUK-ID)
        self.srtp_burst(a, srv, port, port, self.session(expects["alice"], 4), ssrc_a, 4,
                        "group call: alice → server (CS 4, GMK)",
                        relay=[(srv, h) for _, h, _ in legs])
        self.floor(a, srv, self.csk["alice"], ssrc_a, floor_control.FLOOR_RELEASE, 2, "alice", port=fp)
        for who, h, _ in legs:
            self.floor(srv, h, self.csk[who], ssrc_s, floor_control.FLOOR_IDLE, 2, f"server → {who}",
                       port=fp)
        self.sip_udp(a, srv, d1.request("BYE"), 100)
        self.sip_udp(srv, a, d1.response(200, "OK", "BYE"), 1)
        for who, h, d in legs:
            self.sip_udp(srv, h, d.request("BYE"), 0.5)
            self.sip_udp(h, srv, d.response(200, "OK", "BYE"), 3)
