"""`mcsec synth --scenario smime`: seed 003 S/MIME bodies (signed, enveloped, compressed,
AuthEnveloped) in SIP MESSAGEs."""

from __future__ import annotations

import datetime as dt

from codec.cms import build as cms_build
from codec import mime as MIME
from dissectors.synth import sip as synth_sip
from dissectors.synth.world import SERVER_PSI
from dissectors.synth.scenarios.base import MCPTT_INFO, Scenario, split_entity


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
        kek = cms_build.KekRecipient(self.w.kek.id, self.w.kek.key)
        kari = cms_build.KeyAgreeRecipient(bcert)
        cases = []

        def content(i, text):
            return MIME.text_entity(_info_xml(alice.uri, text), MCPTT_INFO)

        # 1. multipart/signed (detached SignedData)
        c1 = MIME.canonical(content(1, "signed"))
        sig = cms_build.sign(c1, acert, akey, detached=True, signing_time=when)
        body = MIME.build_multipart_signed(c1, sig, boundary="signed-" + self.rng.token(6))
        ctype, hdrs, body = split_entity(body)
        cases.append(("multipart/signed (detached SignedData, ECDSA P-256)", body, (ctype, hdrs),
                      sig,
                      "signed-data", c1, ["SignedData"], "multipart/signed"))
        # 2. opaque signed-data
        c2 = content(2, "opaque signed")
        der = cms_build.sign(c2, acert, akey, signing_time=when)
        cases.append(("application/pkcs7-mime signed-data (opaque)", *self._pkcs7(der, "signed-data"),
                      der, "signed-data", c2, ["SignedData"], "pkcs7-mime"))
        # 3. enveloped to the pre-shared KEK
        c3 = content(3, "enveloped KEK")
        der = cms_build.envelope(c3, [kek])
        cases.append(("enveloped-data, KEKRecipientInfo (AES-128 key wrap)",
                      *self._pkcs7(der, "enveloped-data"), der, "enveloped-data", c3,
                      ["EnvelopedData"], "pkcs7-mime"))
        # 4. enveloped to bob's certificate (ECDH, RFC 5753)
        c4 = content(4, "enveloped ECDH")
        der = cms_build.envelope(c4, [kari, kek], cipher="aes-256-cbc")
        cases.append(("enveloped-data, KeyAgreeRecipientInfo to bob's certificate and a KEK",
                      *self._pkcs7(der, "enveloped-data"), der, "enveloped-data", c4,
                      ["EnvelopedData"], "pkcs7-mime"))
        # 5. sign-then-encrypt (SignedData inside EnvelopedData)
        c5 = content(5, "sign then encrypt")
        der = cms_build.sign_then_encrypt(c5, [kek], acert, akey)
        cases.append(("sign-then-encrypt: SignedData inside EnvelopedData (KEK)",
                      *self._pkcs7(der, "enveloped-data"), der, "enveloped-data", c5,
                      ["EnvelopedData", "SignedData"], "pkcs7-mime"))
        # 6. encrypt-then-sign (seed 003 numbered procedure)
        c6 = content(6, "encrypt then sign")
        der = cms_build.encrypt_then_sign(c6, [kek], acert, akey)
        cases.append(("encrypt-then-sign: EnvelopedData inside SignedData (seed 003 §7.x.3)",
                      *self._pkcs7(der, "signed-data"), der, "signed-data", c6,
                      ["SignedData", "EnvelopedData"], "pkcs7-mime"))
        # 7. compressed
        c7 = content(7, "compressed " * 20)
        der = cms_build.compress(c7)
        cases.append(("compressed-data (zlib, RFC 3274)", *self._pkcs7(der, "compressed-data"),
                      der, "compressed-data", c7, ["CompressedData"], "pkcs7-mime"))
        # 8. AuthEnvelopedData (AES-GCM) to the KEK
        c8 = content(8, "auth enveloped")
        der = cms_build.auth_envelope(c8, [kek])
        cases.append(("authEnveloped-data, AES-128-GCM to the KEK (RFC 5083)",
                      *self._pkcs7(der, "authEnveloped-data"), der, "authEnveloped-data", c8,
                      ["AuthEnvelopedData"], "pkcs7-mime"))
        for desc, body, ctype, der, stype, plain, layers, form in cases:
            d = synth_sip.Dialog(self.rng, a, srv, alice.uri, SERVER_PSI)
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
        ctype, hdrs, body = split_entity(ent)
        return body, (ctype, [h for h in hdrs if h[0].lower() != "content-transfer-encoding"])
