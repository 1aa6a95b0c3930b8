"""A deterministic TLS 1.2 (RFC 5246) client and server for `mcsec synth`: real handshakes and
records whose every random value (randoms, ECDHE keys, explicit nonces) comes from the
generator's :class:`~dissectors.synth.rng.Rng`, so that the same seed gives the same octets.

Only what the sample captures need, built on `cryptography` primitives (HMAC-SHA-256, ECDH and
deterministic ECDSA on P-256, AES-GCM); no cipher or hash is written here:

- ``TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`` (0xC02B, RFC 8422 / RFC 5289) with a full
  handshake: ClientHello, ServerHello, Certificate, ServerKeyExchange (named curve secp256r1,
  signed with RFC 6979 deterministic ECDSA), ServerHelloDone, ClientKeyExchange,
  ChangeCipherSpec, Finished;
- ``TLS_PSK_WITH_AES_128_GCM_SHA256`` (0x00A8, RFC 5487 / RFC 4279 §2): no certificate, the
  ClientKeyExchange carries the PSK identity.

Records after ChangeCipherSpec are AES-GCM with an 8-octet explicit nonce (RFC 5288 §3: salt =
the 4-octet write IV, explicit nonce = the record sequence number, as OpenSSL does). The NSS key
log line (``CLIENT_RANDOM <client random> <master secret>``) lets Wireshark decrypt the session.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from codec import tls as tls_codec
from dissectors.synth.rng import Rng

TLS12 = 0x0303
# content types (RFC 5246 §6.2.1)
CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
# handshake types (RFC 5246 §7.4)
CLIENT_HELLO, SERVER_HELLO, CERTIFICATE, SERVER_KEY_EXCHANGE = 1, 2, 11, 12
SERVER_HELLO_DONE, CLIENT_KEY_EXCHANGE, FINISHED = 14, 16, 20
ECDHE_ECDSA_AES128_GCM_SHA256 = 0xC02B
PSK_AES128_GCM_SHA256 = 0x00A8
SECP256R1 = 23  # RFC 8422 §5.1.1 NamedCurve
ECDSA_SECP256R1_SHA256 = 0x0403  # RFC 8446 §4.2.3 SignatureScheme (TLS 1.2: sha256, ecdsa)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
MAX_FRAGMENT = 1 << 14  # RFC 5246 §6.2.1


# -- RFC 5246 §5: the PRF ------------------------------------------------------------------------
def p_sha256(secret: bytes, seed: bytes, n: int) -> bytes:
    """P_SHA256(secret, seed) cut to ``n`` octets (RFC 5246 §5)."""

    def mac(data: bytes) -> bytes:
        h = hmac.HMAC(secret, hashes.SHA256())
        h.update(data)
        return h.finalize()

    out, a = b"", seed
    while len(out) < n:
        a = mac(a)  # A(i) = HMAC(secret, A(i-1))
        out += mac(a + seed)
    return out[:n]


def prf(secret: bytes, label: bytes, seed: bytes, n: int) -> bytes:
    """PRF(secret, label, seed) = P_SHA256(secret, label + seed) (RFC 5246 §5)."""
    return p_sha256(secret, label + seed, n)


# -- encoding helpers ------------------------------------------------------------------------------
def _u8(b: bytes) -> bytes:
    return tls_codec.OPAQUE8.build(b)


def _u16(b: bytes) -> bytes:
    return tls_codec.OPAQUE16.build(b)


def _u24(b: bytes) -> bytes:
    return tls_codec.OPAQUE24.build(b)


def record(ctype: int, fragment: bytes, version: int = TLS12) -> bytes:
    """TLSPlaintext / TLSCiphertext header + fragment (RFC 5246 §6.2)."""
    if len(fragment) > MAX_FRAGMENT + 2048:
        raise ValueError("TLS record fragment too long")
    return tls_codec.RECORD.build(dict(type=ctype, version=version, fragment=fragment))


def handshake(msg_type: int, body: bytes) -> bytes:
    return tls_codec.HANDSHAKE.build(dict(msg_type=msg_type, body=body))


def _extension(ext_type: int, data: bytes) -> bytes:
    return tls_codec.EXTENSION.build(dict(type=ext_type, data=data))


def _aad(seq: int, ctype: int, length: int) -> bytes:
    return tls_codec.AEAD_AAD.build(dict(seq_num=seq, type=ctype, version=TLS12, length=length))


# -- record protection ---------------------------------------------------------------------------
@dataclass
class GcmWriter:
    """One direction's AES-GCM record protection (RFC 5288 §3, RFC 5246 §6.2.3.3)."""

    key: bytes
    salt: bytes  # the 4-octet implicit part of the nonce (client/server_write_IV)
    seq: int = 0

    def seal(self, ctype: int, plaintext: bytes) -> bytes:
        explicit = self.seq.to_bytes(8, "big")  # explicit nonce = sequence number
        aad = _aad(self.seq, ctype, len(plaintext))
        ct = AESGCM(self.key).encrypt(self.salt + explicit, plaintext, aad)
        self.seq += 1
        return record(ctype, explicit + ct)

    def open(self, rec: bytes) -> tuple[int, bytes]:
        """Decrypt one record made by :meth:`seal` (self-check of the generator)."""
        parsed = tls_codec.RECORD.parse(rec)
        ctype, frag = parsed.type, parsed.fragment
        explicit, ct = frag[:8], frag[8:]
        aad = _aad(self.seq, ctype, len(ct) - 16)
        self.seq += 1
        return ctype, AESGCM(self.key).decrypt(self.salt + explicit, ct, aad)


@dataclass
class Flight:
    """Records one side sends in one go (written to TCP as one send)."""

    from_client: bool
    data: bytes
    label: str


@dataclass
class Tls12Session:
    """A completed TLS 1.2 handshake: its flights, keys and the record writers of both sides."""

    suite: int
    client_random: bytes
    server_random: bytes
    master_secret: bytes
    client: GcmWriter
    server: GcmWriter
    flights: list = field(default_factory=list)

    def keylog_line(self) -> str:
        """NSS key log format (what SSLKEYLOGFILE holds; Wireshark ``tls.keylog_file``)."""
        return f"CLIENT_RANDOM {self.client_random.hex()} {self.master_secret.hex()}\n"

    def application_data(self, from_client: bool, data: bytes,
                         split: list[int] | None = None) -> tuple[bytes, list[int]]:
        """``data`` as application_data records, one per chunk of the sizes in ``split`` (the
        rest in a last one, each at most 2^14 octets).  Returns (records, record lengths)."""
        w = self.client if from_client else self.server
        chunks, pos = [], 0
        for s in split or []:
            if 0 < s < len(data) - pos:
                chunks.append(data[pos:pos + s])
                pos += s
        rest = data[pos:]
        while len(rest) > MAX_FRAGMENT:
            chunks.append(rest[:MAX_FRAGMENT])
            rest = rest[MAX_FRAGMENT:]
        chunks.append(rest)
        recs = [w.seal(APPLICATION_DATA, c) for c in chunks]
        return b"".join(recs), [len(r) for r in recs]

    def close_notify(self, from_client: bool) -> bytes:
        """An encrypted warning-level close_notify alert (RFC 5246 §7.2.1)."""
        return (self.client if from_client else self.server).seal(ALERT, b"\x01\x00")


def _hello_random(rng: Rng, unix_time: int) -> bytes:
    """RFC 5246 §7.4.1.2 Random: gmt_unix_time (the capture clock) + 28 random octets."""
    return tls_codec.U32.build(unix_time & 0xFFFFFFFF) + rng.bytes(28)


def _keys(master: bytes, client_random: bytes, server_random: bytes) -> tuple[GcmWriter, GcmWriter]:
    """RFC 5246 §6.3 key block for an AES-128-GCM suite: no MAC keys, 16-octet keys, 4-octet IVs."""
    kb = prf(master, b"key expansion", server_random + client_random, 2 * 16 + 2 * 4)
    k = tls_codec.KEY_BLOCK_AES128_GCM.parse(kb)
    return (GcmWriter(k.client_write_key, k.client_write_iv),
            GcmWriter(k.server_write_key, k.server_write_iv))


def _finish(suite: int, pms: bytes, client_random: bytes, server_random: bytes,
            transcript: list[bytes], client_first: bytes, server_first: bytes,
            client_kx: bytes, label: str) -> Tls12Session:
    """Master secret, keys, both Finished messages and the flights of a full handshake."""
    master = prf(pms, b"master secret", client_random + server_random, 48)  # RFC 5246 §8.1
    client, server = _keys(master, client_random, server_random)
    msgs = list(transcript) + [client_kx]
    vd_c = prf(master, b"client finished", hashlib.sha256(b"".join(msgs)).digest(), 12)
    fin_c = handshake(FINISHED, vd_c)
    msgs.append(fin_c)
    vd_s = prf(master, b"server finished", hashlib.sha256(b"".join(msgs)).digest(), 12)
    fin_s = handshake(FINISHED, vd_s)
    ccs = record(CHANGE_CIPHER_SPEC, b"\x01")
    s = Tls12Session(suite, client_random, server_random, master, client, server)
    s.flights = [
        Flight(True, client_first, f"TLS ClientHello ({label})"),
        Flight(False, server_first, f"TLS server hello flight ({label})"),
        Flight(True, record(HANDSHAKE, client_kx) + ccs + client.seal(HANDSHAKE, fin_c),
               "TLS ClientKeyExchange, ChangeCipherSpec, Finished"),
        Flight(False, ccs + server.seal(HANDSHAKE, fin_s), "TLS ChangeCipherSpec, Finished"),
    ]
    return s


def _client_hello(client_random: bytes, suites: list[int], extensions: bytes) -> bytes:
    body = (tls_codec.U16.build(TLS12) + client_random + _u8(b"")
            + _u16(b"".join(tls_codec.U16.build(c) for c in suites)) + _u8(b"\x00")  # null only
            + (_u16(extensions) if extensions else b""))
    return handshake(CLIENT_HELLO, body)


def _server_hello(server_random: bytes, session_id: bytes, suite: int,
                  extensions: bytes) -> bytes:
    body = (tls_codec.U16.build(TLS12) + server_random + _u8(session_id) + tls_codec.U16.build(suite) + tls_codec.U8.build(0)
            + (_u16(extensions) if extensions else b""))
    return handshake(SERVER_HELLO, body)


def _point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)


def _ec_key(rng: Rng) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(rng.randbelow(P256_ORDER - 1) + 1, ec.SECP256R1())


def ecdhe_ecdsa(rng: Rng, server_key: ec.EllipticCurvePrivateKey, cert_der: bytes,
                unix_time: int, server_name: str | None = None) -> Tls12Session:
    """A full TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 handshake (RFC 5246 §7.3, RFC 8422 §5)."""
    client_random = _hello_random(rng, unix_time)
    groups = _extension(10, _u16(tls_codec.U16.build(SECP256R1)))  # supported_groups
    formats = _extension(11, _u8(b"\x00"))  # ec_point_formats: uncompressed
    sigalgs = _extension(13, _u16(tls_codec.U16.build(ECDSA_SECP256R1_SHA256)))
    sni = b""
    if server_name:  # RFC 6066 §3
        name = server_name.encode()
        sni = _extension(0, _u16(b"\x00" + _u16(name)))
    ch = _client_hello(client_random, [ECDHE_ECDSA_AES128_GCM_SHA256],
                       sni + groups + formats + sigalgs)
    server_random = _hello_random(rng, unix_time)
    session_id = rng.bytes(32)
    sh = _server_hello(server_random, session_id, ECDHE_ECDSA_AES128_GCM_SHA256,
                       _extension(11, _u8(b"\x00")))
    cert = handshake(CERTIFICATE, _u24(_u24(cert_der)))
    server_eph = _ec_key(rng)
    params = tls_codec.U8.build(3) + tls_codec.U16.build(SECP256R1) + _u8(_point(server_eph))  # named_curve
    signed = client_random + server_random + params  # RFC 8422 §5.4
    sig = server_key.sign(signed, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    ske = handshake(SERVER_KEY_EXCHANGE,
                    params + tls_codec.U16.build(ECDSA_SECP256R1_SHA256) + _u16(sig))
    shd = handshake(SERVER_HELLO_DONE, b"")
    client_eph = _ec_key(rng)
    cke = handshake(CLIENT_KEY_EXCHANGE, _u8(_point(client_eph)))  # RFC 8422 §5.7
    pms = client_eph.exchange(ec.ECDH(), server_eph.public_key())
    if pms != server_eph.exchange(ec.ECDH(), client_eph.public_key()):  # pragma: no cover
        raise AssertionError("ECDH disagreement")
    server_first = b"".join(record(HANDSHAKE, m) for m in (sh, cert, ske, shd))
    return _finish(ECDHE_ECDSA_AES128_GCM_SHA256, pms, client_random, server_random,
                   [ch, sh, cert, ske, shd], record(HANDSHAKE, ch), server_first, cke,
                   "ECDHE-ECDSA-AES128-GCM-SHA256")


def psk(rng: Rng, key: bytes, identity: bytes, unix_time: int) -> Tls12Session:
    """A full TLS_PSK_WITH_AES_128_GCM_SHA256 handshake (RFC 4279 §2, RFC 5487)."""
    client_random = _hello_random(rng, unix_time)
    ch = _client_hello(client_random, [PSK_AES128_GCM_SHA256], b"")
    server_random = _hello_random(rng, unix_time)
    sh = _server_hello(server_random, rng.bytes(32), PSK_AES128_GCM_SHA256, b"")
    shd = handshake(SERVER_HELLO_DONE, b"")  # no ServerKeyExchange: no identity hint
    cke = handshake(CLIENT_KEY_EXCHANGE, _u16(identity))
    n = len(key)
    pms = tls_codec.U16.build(n) + bytes(n) + tls_codec.U16.build(n) + key  # RFC 4279 §2
    server_first = record(HANDSHAKE, sh) + record(HANDSHAKE, shd)
    return _finish(PSK_AES128_GCM_SHA256, pms, client_random, server_random, [ch, sh, shd],
                   record(HANDSHAKE, ch), server_first, cke, "PSK-AES128-GCM-SHA256")


def write_keylog(sessions: list[Tls12Session]) -> bytes:
    return "".join(s.keylog_line() for s in sessions).encode()


__all__ = ["Tls12Session", "GcmWriter", "Flight", "ecdhe_ecdsa", "psk", "prf", "p_sha256",
           "write_keylog"]
