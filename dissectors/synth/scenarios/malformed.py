"""`mcsec synth --scenario malformed`: deliberately broken I_MESSAGEs, CMS bodies and SRTP,
each listed with the error it must produce."""

from __future__ import annotations

import datetime as dt

from codec.cms import build as cms_build
from codec.mikey import keyparams
from codec.mikey import sakke as mikey_sakke
from codec import mime as MIME
from dissectors.synth import sip as synth_sip
from codec import srtp as SRTP
from dissectors.synth.world import GROUP_URI, SERVER_PSI
from dissectors.synth.scenarios.base import Scenario, split_entity


class Malformed(Scenario):
    name = "malformed"
    description = ("Deliberately broken I_MESSAGEs and CMS bodies in SIP MESSAGEs (bad lengths, "
                   "bad next-payload, truncated SIGN, off-curve points, r = s = 0, bad GCM tags, "
                   "tampered signatures), and one SRTP packet with a bad tag; each listed with "
                   "the error it must produce")

    def send(self, body: bytes, ctype: str, label: str, headers=()) -> int:
        a, srv = self.host("alice"), self.host("mcptt-server")
        d = synth_sip.Dialog(self.rng, a, srv, self.person("alice").uri, SERVER_PSI)
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
        region = mikey_sakke.signed_region(unsigned, eccsi.SIGNATURE_LEN, mikey_sakke.REGION_RFC)
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
        params = keyparams.KeyParameters(key_type=0, status=1, activation_time=0, expiry_time=0,
                                         text=b"tampered", group_ids=keyparams.group_ids_field([GROUP_URI]))
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
        kek = cms_build.KekRecipient(self.w.kek.id, self.w.kek.key)
        content = MIME.text_entity(b"malformed test\r\n")
        der = cms_build.envelope(content, [kek])
        bad = der[:-7]
        self.cms_case(bad, "enveloped-data", "EnvelopedData truncated by 7 octets (bad length)",
                      {"stage": "decode", "offset": 0, "path": "ContentInfo",
                       "contains": "exceeds"})
        der = cms_build.auth_envelope(content, [kek])
        bad = der[:-1] + bytes([der[-1] ^ 0x01])  # the mac is the last field
        self.cms_case(bad, "authEnveloped-data", "AuthEnvelopedData with a bad GCM tag (mac)",
                      {"stage": "open", "contains": "tag"})
        when = dt.datetime.fromtimestamp(self.cap.now_us // 1_000_000, dt.timezone.utc)
        der = cms_build.sign(content, acert, akey, signing_time=when)
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
        ctype, hdrs, body = split_entity(ent)
        n = self.send(body, ctype, label,
                      [h for h in hdrs if h[0].lower() != "content-transfer-encoding"])
        self.entry("malformed-cms", n, label, carrier="sip-body", smime_type=smime_type,
                   cms=der.hex(), error=error)
