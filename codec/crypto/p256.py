"""NIST P-256 points for ECCSI (RFC 6507 uses P-256 in the MIKEY-SAKKE profile, RFC 6509 §3).

Affine arithmetic on gmpy2 for the few operations ``cryptography`` does not expose (adding
arbitrary points, multiplying arbitrary points); [k]G goes through ``cryptography`` in C.
Points are (x, y) tuples of ints; ``None`` is the point at infinity.
"""

from __future__ import annotations

import gmpy2
from cryptography.hazmat.primitives.asymmetric import ec

# FIPS 186-4 D.1.2.3
P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
Q = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
G = (GX, GY)
G_BYTES = b"\x04" + GX.to_bytes(32, "big") + GY.to_bytes(32, "big")

_P = gmpy2.mpz(P)


def on_curve(pt) -> bool:
    x, y = pt
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def decode_point(data: bytes):
    """An uncompressed point 0x04 || x || y, checked to be on P-256."""
    data = bytes(data)
    if len(data) != 65 or data[0] != 4:
        raise ValueError("not an uncompressed P-256 point (0x04 || x || y, 65 octets)")
    pt = (int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:], "big"))
    if not on_curve(pt):
        raise ValueError("point is not on the curve")
    return pt


def encode_point(pt) -> bytes:
    if pt is None:
        raise ValueError("cannot encode the point at infinity")
    return b"\x04" + int(pt[0]).to_bytes(32, "big") + int(pt[1]).to_bytes(32, "big")


def point_add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    x1, y1 = gmpy2.mpz(p1[0]), gmpy2.mpz(p1[1])
    x2, y2 = gmpy2.mpz(p2[0]), gmpy2.mpz(p2[1])
    if x1 == x2:
        if (y1 + y2) % _P == 0:
            return None
        lam = (3 * x1 * x1 + A) * gmpy2.invert(2 * y1, _P) % _P
    else:
        lam = (y2 - y1) * gmpy2.invert(x2 - x1, _P) % _P
    x3 = (lam * lam - x1 - x2) % _P
    return (int(x3), int((lam * (x1 - x3) - y1) % _P))


def scalar_mult(k: int, pt):
    """[k]pt by double-and-add (used for [HS]PVT, cached by callers)."""
    k %= Q
    result, addend = None, pt
    while k:
        if k & 1:
            result = point_add(result, addend)
        addend = point_add(addend, addend)
        k >>= 1
    return result


def base_mult(k: int):
    """[k]G in C through ``cryptography``."""
    k %= Q
    if k == 0:
        return None
    nums = ec.derive_private_key(k, ec.SECP256R1()).public_key().public_numbers()
    return (nums.x, nums.y)
