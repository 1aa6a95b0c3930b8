"""ECCSI signatures (RFC 6507) with the MIKEY-SAKKE profile: NIST P-256, SHA-256, N = 32.

Verification is mapped onto ECDSA, which ``cryptography`` runs in C: with Y = [HS]PVT + KPAK,
RFC 6507 §5.2.2 computes J = [s]([HE]G + [r]Y) and accepts iff Jx = r.  ECDSA with public key Y,
digest HE and signature (r, s⁻¹ mod q) computes X = [HE·s][G] + [r·s]Y = J and accepts iff
Xx mod q = r.  Y depends only on (KPAK, ID, PVT) and is cached by :class:`EccsiVerifier`.

Failures are verdicts (:class:`Verdict`), never exceptions: r = s = 0, r or s outside [1, q-1], a
PVT off the curve or a J at infinity all give ``ok=False`` with the reason.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import lru_cache

import gmpy2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives import hashes

from codec.crypto import p256
from codec.crypto.p256 import G_BYTES, Q, encode_point, decode_point, point_add, scalar_mult

N = 32  # octets per scalar/coordinate (RFC 6507 §3.3 with P-256)
SIGNATURE_LEN = 2 * N + 1 + 2 * N  # r || s || PVT = 129


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""

    def __bool__(self):
        return self.ok


def hash_hs(kpak: bytes, identifier: bytes, pvt: bytes) -> int:
    """HS = hash(G || KPAK || ID || PVT) (RFC 6507 §5.1.1)."""
    return int.from_bytes(hashlib.sha256(G_BYTES + kpak + identifier + pvt).digest(), "big")


def hash_he(hs: int, r: int, message: bytes) -> bytes:
    """HE = hash(HS || r || M) (RFC 6507 §5.2.1), as a 32-octet digest."""
    return hashlib.sha256(hs.to_bytes(N, "big") + r.to_bytes(N, "big") + message).digest()


# -- KMS side (RFC 6507 §4, §5.1.1) ------------------------------------------------------------
def kms_keypair(ksak: int | None = None) -> tuple[int, bytes]:
    """(KSAK, KPAK): the KMS secret and public authentication keys."""
    ksak = ksak or (secrets.randbelow(Q - 1) + 1)
    return ksak, encode_point(p256.base_mult(ksak))


def issue_user_keys(ksak: int, kpak: bytes, identifier: bytes, v: int | None = None):
    """(SSK, PVT) for ``identifier`` (RFC 6507 §5.1.1)."""
    while True:
        vv = v or (secrets.randbelow(Q - 1) + 1)
        pvt = encode_point(p256.base_mult(vv))
        hs = hash_hs(kpak, identifier, pvt)
        ssk = (ksak + hs * vv) % Q
        if ssk != 0 and hs % Q != 0:
            return ssk.to_bytes(N, "big"), pvt
        if v is not None:
            raise ValueError("this v gives SSK = 0; choose another")


def validate_user_keys(kpak: bytes, identifier: bytes, ssk: bytes, pvt: bytes) -> Verdict:
    """RFC 6507 §5.1.2: [SSK]G == KPAK + [HS]PVT, with the PVT on the curve."""
    try:
        pvt_point = decode_point(pvt)
        kpak_point = decode_point(kpak)
    except ValueError as e:
        return Verdict(False, str(e))
    s = int.from_bytes(ssk, "big")
    if not 0 < s < Q:
        return Verdict(False, "SSK outside [1, q-1]")
    hs = hash_hs(kpak, identifier, pvt)
    if p256.base_mult(s) != point_add(kpak_point, scalar_mult(hs, pvt_point)):
        return Verdict(False, "[SSK]G != KPAK + [HS]PVT")
    return Verdict(True)


# -- signing (RFC 6507 §5.2.1) -----------------------------------------------------------------
def sign(message: bytes, identifier: bytes, ssk: bytes, pvt: bytes, kpak: bytes,
         j: int | None = None) -> bytes:
    """The 129-octet signature r || s || PVT of ``message``."""
    hs = hash_hs(kpak, identifier, pvt)
    ssk_i = int.from_bytes(ssk, "big")
    while True:
        jj = j or (secrets.randbelow(Q - 1) + 1)
        r = p256.base_mult(jj)[0]  # r = Jx
        he = int.from_bytes(hash_he(hs, r, message), "big")
        t = (he + r * ssk_i) % Q
        if t == 0 or r == 0:
            if j is not None:
                raise ValueError("this j gives an invalid signature; choose another")
            continue
        s = (pow(t, -1, Q) * jj) % Q
        return r.to_bytes(N, "big") + s.to_bytes(N, "big") + pvt


# -- verification (RFC 6507 §5.2.2) ------------------------------------------------------------
@lru_cache(maxsize=4096)
def _verifying_key(kpak: bytes, identifier: bytes, pvt: bytes):
    """(HS, ECDSA public key Y = [HS]PVT + KPAK) for one signer and key period."""
    try:
        pvt_point = decode_point(pvt)
    except ValueError as e:
        raise ValueError(f"PVT: {e}") from None
    try:
        kpak_point = decode_point(kpak)
    except ValueError as e:
        raise ValueError(f"KPAK: {e}") from None
    hs = hash_hs(kpak, identifier, pvt)
    y = point_add(scalar_mult(hs, pvt_point), kpak_point)
    if y is None:
        raise ValueError("Y = [HS]PVT + KPAK is the point at infinity")
    return hs, ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), encode_point(y))


_PREHASHED = ec.ECDSA(utils.Prehashed(hashes.SHA256()))


def verify(message: bytes, signature: bytes, identifier: bytes, kpak: bytes) -> Verdict:
    """Check an ECCSI signature (r || s || PVT) over ``message`` for ``identifier``."""
    if len(signature) != SIGNATURE_LEN:
        return Verdict(False, f"signature is {len(signature)} octets, not {SIGNATURE_LEN}")
    r = int.from_bytes(signature[:N], "big")
    s = int.from_bytes(signature[N:2 * N], "big")
    pvt = bytes(signature[2 * N:])
    if not 0 < r < Q:
        return Verdict(False, "r outside [1, q-1]")
    if not 0 < s < Q:
        return Verdict(False, "s outside [1, q-1]")
    try:
        hs, y_key = _verifying_key(bytes(kpak), bytes(identifier), pvt)
    except ValueError as e:
        return Verdict(False, str(e))
    he = hash_he(hs, r, message)
    der = utils.encode_dss_signature(r, int(gmpy2.invert(s, Q)))
    try:
        y_key.verify(der, he, _PREHASHED)  # J at infinity or Jx != r both fail here
    except InvalidSignature:
        return Verdict(False, "Jx != r (signature does not match)")
    return Verdict(True)


def verify_reference(message: bytes, signature: bytes, identifier: bytes, kpak: bytes) -> Verdict:
    """RFC 6507 §5.2.2 step by step in Python (second method for tests; slow)."""
    if len(signature) != SIGNATURE_LEN:
        return Verdict(False, "length")
    r = int.from_bytes(signature[:N], "big")
    s = int.from_bytes(signature[N:2 * N], "big")
    try:
        pvt_point = decode_point(signature[2 * N:])
    except ValueError as e:
        return Verdict(False, str(e))
    if not (0 < r < Q and 0 < s < Q):
        return Verdict(False, "range")
    try:
        kpak_point = decode_point(kpak)
    except ValueError as e:
        return Verdict(False, f"KPAK: {e}")
    hs = hash_hs(kpak, identifier, signature[2 * N:])
    he = int.from_bytes(hash_he(hs, r, message), "big")
    y = point_add(scalar_mult(hs, pvt_point), kpak_point)
    j = scalar_mult(s, point_add(p256.base_mult(he), scalar_mult(r, y)))
    if j is None:
        return Verdict(False, "J is the point at infinity")
    return Verdict(j[0] % p256.P == r, "" if j[0] % p256.P == r else "Jx != r")
