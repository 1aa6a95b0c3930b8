"""Who is in the generated captures: the KMS, the users and servers with their key sets, the
network hosts, the S/MIME certificates (seed 003) and the MIKEY-TICKET pre-shared keys (seed 004).
Everything is derived from the seed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from codec.crypto import mcx
from codec.crypto.p256 import Q as P256_Q
from codec.keyring import Kek, Keyring, Psk, UserKeys
from codec.kms import Kms
from codec.mikey import sakke as mikey_sakke
from dissectors.synth.net import Host
from dissectors.synth.rng import Rng

DOMAIN = "mcptt.example.org"
KMS_URI = "kms.example.org"
NTP_UNIX_OFFSET = mcx.NTP_UNIX_OFFSET
BASE_UNIX = 1761004800  # 2025-10-21T00:00:00Z: captures start within 10 days of it


def uri(user: str) -> str:
    return f"sip:{user}@{DOMAIN}"


SERVER_PSI = uri("mcptt-server")  # the MCPTT server's PSI: IDRr of the CSK upload (seed 000)
GMS_URI = uri("gms")
GROUP_URI = uri("fire-brigade")
TPK_IDENTITY = "tpk@kms.example.org"  # the ticket protection key's identity (RFC 6043 IDRpsk)
LIST_SERVER = uri("list-server")
PSK_CALL_IDENTITY = uri("console-1")  # the psk-call scenario's RFC 3830 IDi, its [[psk]] identity


@dataclass
class Person:
    name: str
    uri: str
    host: Host
    host6: Host
    keys: UserKeys | None = None

    def party(self, world: "World") -> mikey_sakke.Party:
        k = self.keys
        return mikey_sakke.Party(self.uri, world.kms.uri, k.uid, world.kms.kpak, world.kms.z,
                                 k.ssk, k.pvt)


@dataclass
class World:
    seed: int
    start_unix: int
    kms: Kms
    people: dict
    trk: bytes  # KMS transport key (TrK) that wraps the key sets in the provisioning capture
    tpk: bytes  # MIKEY-TICKET ticket protection key, shared by the users and the KMS
    kek: Kek  # seed 003 pre-shared KEK (KEKRecipientInfo)
    certs: dict = field(default_factory=dict)  # name -> (private key, certificate)
    kms_host: Host | None = None
    kms_host6: Host | None = None

    @property
    def ntp(self) -> int:
        return self.start_unix + NTP_UNIX_OFFSET

    @property
    def period(self) -> int:
        return self.kms.period_no(self.ntp)

    @property
    def psk_call_key(self) -> bytes:
        """The RFC 3830 pre-shared key of the psk-call scenario (a stream of its own, so that the
        world's other values stay as they were)."""
        from dissectors.synth.rng import Rng

        return Rng(self.seed, "world/psk-call").bytes(16)

    def keyring(self) -> Keyring:
        ring = Keyring(kms=[self.kms.public()], users=[p.keys for p in self.people.values()])
        ring.keks.append(self.kek)
        ring.psks.append(Psk(key=self.tpk, identity=TPK_IDENTITY))
        ring.psks.append(Psk(key=self.psk_call_key, identity=PSK_CALL_IDENTITY))
        return ring

    def pem(self) -> bytes:
        out = b""
        for name in sorted(self.certs):
            key, cert = self.certs[name]
            out += cert.public_bytes(serialization.Encoding.PEM)
            out += key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        return out


def _host(name: str, index: int, v4: str) -> tuple[Host, Host]:
    mac = f"02:00:5e:00:00:{index:02x}"  # locally administered
    return Host(name, mac, v4), Host(name, mac, f"2001:db8::{index:x}")


def _ec_cert(rng: Rng, name: str, email: str, start: dt.datetime):
    key = ec.derive_private_key(rng.randbelow(P256_Q - 1) + 1, ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mcsec test MCPTT"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(rng.randbelow(1 << 63) + 1)
            .not_valid_before(start - dt.timedelta(days=1))
            .not_valid_after(start + dt.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(email)]),
                           critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=True, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256(), ecdsa_deterministic=True))
    return key, cert


def build_world(seed: int) -> World:
    rng = Rng(seed, "world")
    start_unix = BASE_UNIX + rng.randbelow(10 * 86400)
    from codec.crypto import sakke

    kms = Kms(KMS_URI, ksak=rng.randbelow(P256_Q - 1) + 1,
              z_s=rng.randbelow(int(sakke.Q) - 1) + 1)
    people = {}
    hosts = {"alice": (10, "192.0.2.10"), "bob": (20, "192.0.2.20"),
             "carol": (30, "192.0.2.30"), "mcptt-server": (40, "198.51.100.10"),
             "gms": (50, "198.51.100.30"), "list-server": (60, "198.51.100.40")}
    for name, (idx, v4) in hosts.items():
        h4, h6 = _host(name, idx, v4)
        people[name] = Person(name, uri(name), h4, h6)
    w = World(seed, start_unix, kms, people, trk=rng.bytes(32), tpk=rng.bytes(16),
              kek=Kek(id=b"synth-kek-" + rng.bytes(4), key=rng.bytes(16)))
    w.kms_host, w.kms_host6 = _host("kms", 70, "198.51.100.20")
    from codec.crypto import eccsi

    for name, p in people.items():  # ECCSI v from the seed (Kms.issue draws it otherwise)
        ident = kms.uid(p.uri, w.period)
        v = rng.randbelow(P256_Q - 1) + 1
        ssk, pvt = eccsi.issue_user_keys(kms.ksak, kms.kpak, ident, v)
        p.keys = UserKeys(uri=p.uri, uid=ident, kms=kms.uri, rsk=sakke.issue_rsk(kms.z_s, ident),
                          ssk=ssk, pvt=pvt, period=w.period)
    start = dt.datetime.fromtimestamp(start_unix, dt.timezone.utc)
    for name in ("alice", "bob", "carol"):
        w.certs[name] = _ec_cert(rng.child(f"cert/{name}"), f"{name} (MCPTT user)",
                                 people[name].uri, start)
    return w
