"""`mcsec synth --scenario transports`: one PCK call over SIP/TCP (split and coalesced
segments) and SIP/UDP over IPv6."""

from __future__ import annotations

from dissectors.synth import sip as synth_sip
from dissectors.synth.scenarios.base import SIP_PORT, Scenario


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
        km = synth_sip.key_mgmt(wire)
        offer = synth_sip.sdp(a, 8001, [synth_sip.audio_media(49500, [km])], user="alice")
        conn = self.cap.tcp(a, srv, 50600, SIP_PORT, self.rng.u32(), self.rng.u32())
        conn.open()
        d1 = synth_sip.Dialog(self.rng, a, srv, alice.uri, bob.uri, transport="TCP")
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
        d2 = synth_sip.Dialog(self.rng, srv6, b6, alice.uri, bob.uri)
        offer6 = synth_sip.sdp(srv6, 8002, [synth_sip.audio_media(49500, [km])])
        n = self.sip_udp(srv6, b6, d2.request("INVITE", offer6, "application/sdp"), 1,
                         comment="INVITE over UDP/IPv6")
        self.entry("mikey-sakke", n, "the INVITE forwarded to bob over UDP on IPv6",
                   carrier="sdp-media", transport="udp-ipv6", mikey=wire.hex(), expect=expect)
        answer6 = synth_sip.sdp(b6, 8003, [synth_sip.audio_media(50500)], user="bob")
        self.sip_udp(b6, srv6, d2.response(200, "OK", "INVITE", answer6, "application/sdp"), 300)
        self.sip_udp(srv6, b6, d2.request("ACK", new_cseq=False), 1)
        d1.to_tag = d2.to_tag
        answer = synth_sip.sdp(srv, 8004, [synth_sip.audio_media(50500)])
        conn.send(False, d1.response(200, "OK", "INVITE", answer, "application/sdp"))
        conn.send(True, d1.request("ACK", new_cseq=False))
        conn.send(True, d1.request("BYE"), gap_ms=1500)
        conn.send(False, d1.response(200, "OK", "BYE"))
        self.sip_udp(srv6, b6, d2.request("BYE"), 1)
        self.sip_udp(b6, srv6, d2.response(200, "OK", "BYE"), 2)
        conn.close()
