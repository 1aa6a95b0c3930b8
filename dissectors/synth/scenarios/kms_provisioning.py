"""`mcsec synth --scenario kms-provisioning`: every user fetches its KmsInit and KmsKeyProv
from the KMS over HTTP (TS 33.180 §5.3, Annex D)."""

from __future__ import annotations

from dissectors.synth import sip as synth_sip
from dissectors.synth.scenarios.base import HTTP_PORT, Scenario, sha256_hex


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
                       f"User-Agent: {synth_sip.UA}\r\nAccept: application/xml\r\n"
                       f"Content-Type: application/xml\r\nContent-Length: {len(req_body)}\r\n"
                       f"\r\n").encode() + req_body
                conn.send(True, req)
                if what == "init":
                    doc = kms.init_document(p.uri, self.iso_time())
                else:
                    doc = kms.key_prov_document([p.keys], transport_key=self.w.trk,
                                                trk_id=f"trk.{who}", time=self.iso_time())
                resp = (f"HTTP/1.1 200 OK\r\nServer: {synth_sip.UA}\r\nContent-Type: application/xml"
                        f"\r\nContent-Length: {len(doc)}\r\n\r\n").encode() + doc
                frames = conn.send(False, resp, split=[1448] * (len(resp) // 1448))
                if what == "init":
                    self.entry("kms-xml", frames, f"KmsInit for {who}: the KMS certificate",
                               document="KmsInit", carrier="http-body", sha256=sha256_hex(doc),
                               expect={"kms_uri": kms.uri, "kpak": kms.kpak.hex(),
                                       "z": kms.z.hex(),
                                       "user_key_period": kms.user_key_period,
                                       "user_key_offset": kms.user_key_offset})
                else:
                    k = p.keys
                    self.entry("kms-xml", frames, f"KmsKeyProv for {who}: key set of period "
                                                  f"{k.period}, wrapped under the TrK",
                               document="KmsKeyProv", carrier="http-body", sha256=sha256_hex(doc),
                               trk=self.w.trk.hex(),
                               expect={"user_uri": k.uri, "uid": k.uid.hex(), "period": k.period,
                                       "rsk": k.rsk.hex(), "ssk": k.ssk.hex(),
                                       "pvt": k.pvt.hex()})
            conn.close()
