"""`mcsec synth --scenario sip-tls`: SIP over TLS with its key log, and seed 004's MSRP
session over TLS-PSK."""

from __future__ import annotations

import datetime as dt

from codec.crypto import prf
from codec.mikey import keyparams
from codec.mikey import ticket as mikey_ticket
from codec.mikey import ticket_build
from codec.mikey import ticket_keys
from dissectors.synth import sip as synth_sip
from dissectors.synth.world import GMS_URI, GROUP_URI, SERVER_PSI
from dissectors.synth.scenarios.base import MSRP_PORT, Scenario, sha256_hex
from dissectors.synth.scenarios.psk_smime import PskSmime


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
                 sip_length=len(sip_msg), sip_sha256=sha256_hex(sip_msg))
        self.tls_entries.append(e)
        return e

    def run(self):
        from dissectors.synth import tls as synth_tls
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
        tls = synth_tls.ecdhe_ecdsa(self.rng.child("tls/sip"), skey,
                                    scert.public_bytes(serialization.Encoding.DER), self.unix_time(),
                                    server_name=DOMAIN)
        for f in tls.flights:
            conn.send(f.from_client, f.data, comment=f.label)
        def send(from_client, msg, comment, **kw):
            return self.tls_send(conn, tls, from_client, msg, comment, **kw)

        # REGISTER (no body), 200 OK
        reg = synth_sip.Dialog(self.rng, a, srv, alice.uri, alice.uri, transport="TLS",
                               port=self.SIPS_PORT)
        send(True, reg.request("REGISTER", request_uri=f"sips:{DOMAIN}",
                               headers=[("Expires", "3600")]), "REGISTER over TLS")
        send(False, reg.response(200, "OK", "REGISTER", headers=[("Expires", "3600")]),
             "200 OK (REGISTER) over TLS")
        # a PCK call: alice's leg over TLS, bob's leg over UDP
        wire, expect = self.sakke("PCK", "alice", "bob", map_style="empty")
        km = synth_sip.key_mgmt(wire)
        offer = synth_sip.sdp(a, 9001, [synth_sip.audio_media(49600, [km])], user="alice")
        d1 = synth_sip.Dialog(self.rng, a, srv, alice.uri, bob.uri, transport="TLS",
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
        d2 = synth_sip.Dialog(self.rng, srv, b, alice.uri, bob.uri)
        offer_b = synth_sip.sdp(srv, 9002, [synth_sip.audio_media(49600, [km])])
        n = self.sip_udp(srv, b, d2.request("INVITE", offer_b, "application/sdp"), 1,
                         comment="INVITE forwarded to bob over UDP")
        self.entry("mikey-sakke", n, "the TLS INVITE as forwarded to bob over UDP",
                   carrier="sdp-media", transport="udp", mikey=wire.hex(), expect=expect)
        self.sip_udp(b, srv, d2.response(180, "Ringing", "INVITE"), 30)
        send(False, ringing, "100 Trying and 180 Ringing in one TLS record")
        answer_b = synth_sip.sdp(b, 9003, [synth_sip.audio_media(50600)], user="bob")
        self.sip_udp(b, srv, d2.response(200, "OK", "INVITE", answer_b, "application/sdp"), 300)
        self.sip_udp(srv, b, d2.request("ACK", new_cseq=False), 1)
        d1.to_tag = d2.to_tag
        answer = synth_sip.sdp(srv, 9004, [synth_sip.audio_media(50600)])
        send(False, d1.response(200, "OK", "INVITE", answer, "application/sdp"),
             "200 OK (INVITE) over TLS")
        send(True, d1.request("ACK", new_cseq=False), "ACK over TLS")
        # the GMK for alice, relayed by the server over the TLS connection (server → client)
        params = keyparams.KeyParameters(key_type=0, status=1, activation_time=0, expiry_time=0,
                                         text=b"Fire brigade group key",
                                         group_ids=keyparams.group_ids_field([GROUP_URI]))
        gwire, gexpect = self.sakke("GMK", "gms", "alice", key_params=params)
        dm = synth_sip.Dialog(self.rng, srv, a, GMS_URI, alice.uri, transport="TLS",
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
            "dsb_copy": {"file": self.DSB_COPY, "sha256": sha256_hex(dsb),
                         "secrets": "TLS key log of the SIP session (not the TLS-PSK one)"},
        }

    def msrp_over_tls_psk(self, conn, tls, send, a, srv, alice):
        """INVITE (over SIP/TLS) with m=message TCP/TLS/MSRP and a TRANSFER_INIT whose crypto
        session is of the TLS Prot type (seed 004 Annex X.2: TEK = TLS-PSK, PSK identity ""),
        then the MSRP session over TLS_PSK_WITH_AES_128_GCM_SHA256 with that PSK."""
        from codec.mikey import config, model
        from dissectors.synth import tls as synth_tls

        spi = self.rng.bytes(4)
        ticket, mpk, tgk = PskSmime.ticket(self, spi)
        csb, rand_i = self.rng.u32(), self.rng.bytes(16)
        tls_pt = config.DEFAULT_TLS_PROT_TYPE
        entry = model.GenericIdEntry(cs_id=1, prot_type=tls_pt, s=0, policies=[], spi=spi)
        ti = ticket_build.build_transfer_init(ticket, mpk, csb_id=csb, cs_entries=[entry],
                                              initiator=alice.uri, responder=SERVER_PSI,
                                              t_value=self.ntp64(), rand_i=rand_i)
        psk = ticket_keys.derive_session_key(tgk, prf.TEK, 1, rand_i, None, len(tgk), 1)
        path_a = f"msrps://{a.ip}:{MSRP_PORT}/{self.rng.token(5)};tcp"
        path_s = f"msrps://{srv.ip}:{MSRP_PORT}/{self.rng.token(5)};tcp"
        media = "\r\n".join([f"m=message {MSRP_PORT} TCP/TLS/MSRP *",
                             "a=accept-types:text/plain", f"a=path:{path_a}", "a=setup:active",
                             synth_sip.key_mgmt(ti)])
        d = synth_sip.Dialog(self.rng, a, srv, alice.uri, SERVER_PSI, transport="TLS",
                             port=self.SIPS_PORT)
        invite = d.request("INVITE", synth_sip.sdp(a, 9101, [media], user="alice"), "application/sdp")
        frames = send(True, invite, "MSRP session INVITE with TRANSFER_INIT over TLS",
                      gap_ms=300)
        self.tls_entry("mikey-ticket", frames, "INVITE over TLS for an MSRP session: "
                                               "TRANSFER_INIT with a TLS Prot type crypto "
                                               "session (seed 004 Annex X)", invite,
                       carrier="sip-tls", sip_carrier="sdp-media", mikey=ti.hex(),
                       expect={"data_type": mikey_ticket.TRANSFER_INIT, "verified": True, "csb_id": csb,
                               "mpk": mpk.hex(), "tgk": tgk.hex(), "rand_i": rand_i.hex(),
                               "tls_prot_type": tls_pt,
                               "session_keys": [{"cs_id": 1, "prot_type": tls_pt,
                                                 "spi": spi.hex(), "tls_psk": psk.hex(),
                                                 "tls_psk_identity": ""}]})
        answer = "\r\n".join([f"m=message {MSRP_PORT} TCP/TLS/MSRP *",
                              "a=accept-types:text/plain", f"a=path:{path_s}",
                              "a=setup:passive"])
        send(False, d.response(200, "OK", "INVITE", synth_sip.sdp(srv, 9102, [answer]),
                               "application/sdp"), "200 OK (MSRP INVITE) over TLS")
        send(True, d.request("ACK", new_cseq=False), "ACK (MSRP INVITE) over TLS")
        # the MSRP session (RFC 4975) over TLS-PSK (RFC 4279), alice connects (a=setup:active)
        mc = self.cap.tcp(a, srv, 50620, MSRP_PORT, self.rng.u32(), self.rng.u32())
        mc.open()
        mt = synth_tls.psk(self.rng.child("tls/msrp"), psk, b"", self.unix_time())
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
