"""`mcsec synth --scenario psk-smime`: seed 004 PSK S/MIME through the list server, a replay,
and an MSRP session's TRANSFER_INIT with a TLS crypto session."""

from __future__ import annotations

from codec.crypto import prf
from codec.mikey import ticket as mikey_ticket
from codec.mikey import ticket_build
from codec.mikey import ticket_keys
from codec import mime as MIME
from codec import psk_smime
from dissectors.synth import sip as synth_sip
from dissectors.synth.world import LIST_SERVER, TPK_IDENTITY
from dissectors.synth.scenarios.base import MSRP_PORT, Scenario


class PskSmime(Scenario):
    name = "psk-smime"
    description = ("Seed 004: alice sends a PSK S/MIME MESSAGE (TRANSFER_INIT + AuthEnvelopedData) "
                   "to the list server, which re-encrypts it under a new ticket for bob and carol; "
                   "the copy to bob is replayed later; then alice sets up an MSRP session with bob "
                   "whose TLS-PSK comes from a TRANSFER_INIT with the TLS Prot type crypto session")

    def ticket(self, tgk_spi: bytes):
        mpk, tgk = self.rng.bytes(16), self.rng.bytes(16)
        t = self.ntp64()
        ticket = ticket_build.build_ticket(
            self.w.tpk, mpk, [ticket_build.key_data(ticket_keys.KEY_TGK, tgk, spi=tgk_spi)],
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
            body, ctype, ti = psk_smime.build(content, ticket=ticket, mpk=mpk, csb_id=csb_id,
                                              initiator=from_uri, responder=to_uri, t_value=t, spi=spi,
                                              tgk=tgk, proof_of_origin=proof)
            expect = {"content": content.hex(), "kek_id": psk_smime.kek_id(csb_id, 1).hex(),
                      "tgk": tgk.hex(), "mpk": mpk.hex(), "proof_of_origin": proof,
                      "replay": "accepted", "csb_id": csb_id}
        d = synth_sip.Dialog(self.rng, src, dst, from_uri, to_uri)
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
        from codec.mikey import config, model

        spi = self.rng.bytes(4)
        ticket, mpk, tgk = self.ticket(spi)
        csb, rand_i = self.rng.u32(), self.rng.bytes(16)
        tls_pt = config.DEFAULT_TLS_PROT_TYPE
        entry = model.GenericIdEntry(cs_id=1, prot_type=tls_pt, s=0, policies=[], spi=spi)
        ti = ticket_build.build_transfer_init(ticket, mpk, csb_id=csb, cs_entries=[entry],
                                              initiator=alice.uri, responder=bob.uri, t_value=self.ntp64(),
                                              rand_i=rand_i)
        psk = ticket_keys.derive_session_key(tgk, prf.TEK, 1, rand_i, None, len(tgk), 1)
        media = "\r\n".join([f"m=message {MSRP_PORT} TCP/TLS/MSRP *", "a=accept-types:text/plain",
                             f"a=path:msrps://{a.ip}:{MSRP_PORT}/{self.rng.token(5)};tcp",
                             "a=setup:active", synth_sip.key_mgmt(ti)])
        offer = synth_sip.sdp(a, 7001, [media], user="alice")
        d = synth_sip.Dialog(self.rng, a, b, alice.uri, bob.uri)
        n = self.sip_udp(a, b, d.request("INVITE", offer, "application/sdp"), 100,
                         comment="MSRP session: INVITE with TRANSFER_INIT (TLS crypto session)")
        self.entry("mikey-ticket", n, "INVITE for an MSRP session: TRANSFER_INIT with a TLS Prot "
                                      "type crypto session (seed 004 Annex X)",
                   carrier="sdp-media", mikey=ti.hex(),
                   expect={"data_type": mikey_ticket.TRANSFER_INIT, "verified": True, "csb_id": csb,
                           "mpk": mpk.hex(), "tgk": tgk.hex(), "rand_i": rand_i.hex(),
                           "tls_prot_type": tls_pt,
                           "session_keys": [{"cs_id": 1, "prot_type": tls_pt, "spi": spi.hex(),
                                             "tls_psk": psk.hex(), "tls_psk_identity": ""}]})
        answer_media = "\r\n".join([f"m=message {MSRP_PORT} TCP/TLS/MSRP *",
                                    "a=accept-types:text/plain",
                                    f"a=path:msrps://{b.ip}:{MSRP_PORT}/{self.rng.token(5)};tcp",
                                    "a=setup:passive"])
        self.sip_udp(b, a, d.response(200, "OK", "INVITE", synth_sip.sdp(b, 7002, [answer_media],
                                                                    user="bob"),
                                      "application/sdp"), 300)
        self.sip_udp(a, b, d.request("ACK", new_cseq=False), 1)
        self.psk = psk  # used by the TLS-PSK session when it is generated
        self.msrp_hosts = (a, b)
        self.sip_udp(a, b, d.request("BYE"), 2000)
        self.sip_udp(b, a, d.response(200, "OK", "BYE"), 2)
