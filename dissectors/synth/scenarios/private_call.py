"""`mcsec synth --scenario private-call`: alice calls bob with a PCK in the INVITE's SDP,
SRTP media both ways and floor control in SRTCP."""

from __future__ import annotations

from dissectors.synth import sip as synth_sip
from codec import floor as floor_control
from dissectors.synth.scenarios.base import Scenario


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
        km = synth_sip.key_mgmt(wire)
        media = [synth_sip.audio_media(port_a, [km] if media_level else [])]
        offer = synth_sip.sdp(a, 1000 + call, media, [] if media_level else [km], user="alice")
        level = "media" if media_level else "session"
        d1 = synth_sip.Dialog(self.rng, a, srv, alice.uri, bob.uri)
        invite = d1.request("INVITE", offer, "application/sdp",
                            headers=[("P-Preferred-Service",
                                      "urn:urn-7:3gpp-service.ims.icsi.mcptt")])
        n = self.sip_udp(a, srv, invite, comment=f"call {call}: INVITE with PCK ({level} level)")
        self.entry("mikey-sakke", n, f"call {call}: alice's INVITE to bob, PCK in "
                                     f"a=key-mgmt:mikey at SDP {level} level",
                   carrier=f"sdp-{level}", mikey=wire.hex(), expect=expect)
        self.sip_udp(srv, a, d1.response(100, "Trying", "INVITE"), 0.5)
        d2 = synth_sip.Dialog(self.rng, srv, b, alice.uri, bob.uri)
        fwd = d2.request("INVITE", offer, "application/sdp")
        n = self.sip_udp(srv, b, fwd, comment=f"call {call}: INVITE forwarded to bob")
        self.entry("mikey-sakke", n, f"call {call}: the INVITE as forwarded to bob",
                   carrier=f"sdp-{level}", mikey=wire.hex(), expect=expect)
        self.sip_udp(b, srv, d2.response(180, "Ringing", "INVITE"), 30)
        answer = synth_sip.sdp(b, 2000 + call, [synth_sip.audio_media(port_b)],
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
        self.floor(a, srv, csk_a, ssrc_a, floor_control.FLOOR_REQUEST, base, f"call {call}: alice",
                   floor_control.field(floor_control.FLOOR_PRIORITY, b"\x07\x00"), pa)
        self.floor(srv, a, csk_a, ssrc_s, floor_control.FLOOR_GRANTED, base,
                   f"call {call}: server → alice",
                   floor_control.field(floor_control.DURATION, b"\x00\x1e")
                   + floor_control.field(floor_control.FLOOR_PRIORITY, b"\x07\x00"), pa)
        self.floor(srv, b, csk_b, ssrc_s, floor_control.FLOOR_TAKEN, base, f"call {call}: server → bob",
                   floor_control.field(floor_control.GRANTED_PARTYS_IDENTITY, alice.uri.encode()), pb)
        self.srtp_burst(a, b, port_a, port_b, self.session(expect, 0), ssrc_a, 4,
                        f"call {call}: alice → bob (CS 0)")
        self.floor(a, srv, csk_a, ssrc_a, floor_control.FLOOR_RELEASE, base + 1, f"call {call}: alice",
                   port=pa)
        self.floor(srv, b, csk_b, ssrc_s, floor_control.FLOOR_IDLE, base + 1,
                   f"call {call}: server → bob",
                   port=pb)
        self.srtp_burst(b, a, port_b, port_a, self.session(expect, 1), ssrc_b, 4,
                        f"call {call}: bob → alice (CS 1)")
        self.sip_udp(a, srv, d1.request("BYE"), 200)
        self.sip_udp(srv, b, d2.request("BYE"), 0.5)
        self.sip_udp(b, srv, d2.response(200, "OK", "BYE"), 5)
        self.sip_udp(srv, a, d1.response(200, "OK", "BYE"), 0.5)
