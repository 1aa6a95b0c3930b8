"""The MIKEY PRF and key derivation (RFC 3830 §4.1.2–§4.1.4, RFC 6043 §6.1).

MIKEY-1 (PRF func 0) is the P_hash construction on HMAC-SHA-1 applied to 256-bit slices of the
input key and XOR-ed; PRF-HMAC-SHA-256 (PRF func 1, RFC 6043 §6.1) is the same with HMAC-SHA-256
("the value 256 SHALL be used instead of 160").
"""

from __future__ import annotations

import hashlib
import hmac

from codec.errors import McsecError

PRF_MIKEY_1 = 0
PRF_HMAC_SHA_256 = 1
_HASHES = {PRF_MIKEY_1: hashlib.sha1, PRF_HMAC_SHA_256: hashlib.sha256}

# RFC 3830 §4.1.3 (keys from the TGK) and §4.1.4 (keys from the PSK / envelope key / DH key)
TEK = 0x2AD01C64
SALT = 0x39A2C14B
AUTH = 0x1B5C7973
ENCR = 0x15798CEF
TRANSPORT_ENCR = 0x150533E1
TRANSPORT_AUTH = 0x2D22AC75
TRANSPORT_SALT = 0x29B88916


class PrfError(McsecError, ValueError):
    pass


def _p_hash(hash_fn, secret: bytes, label: bytes, blocks: int) -> bytes:
    """P(s, label, m) of RFC 3830 §4.1.2: A_0 = label, A_i = HMAC(s, A_{i-1})."""
    out, a = [], label
    for _ in range(blocks):
        a = hmac.new(secret, a, hash_fn).digest()
        out.append(hmac.new(secret, a + label, hash_fn).digest())
    return b"".join(out)


def prf(inkey: bytes, label: bytes, out_len: int, prf_func: int = PRF_MIKEY_1) -> bytes:
    """PRF(inkey, label) truncated to ``out_len`` octets (RFC 3830 §4.1.2)."""
    try:
        hash_fn = _HASHES[prf_func]
    except KeyError:
        raise PrfError(f"PRF func {prf_func} is not defined (0 MIKEY-1, 1 PRF-HMAC-SHA-256)") from None
    blocks = -(-out_len // hash_fn().digest_size)
    out = bytearray(out_len)
    for i in range(max(1, -(-len(inkey) // 32))):
        p = _p_hash(hash_fn, inkey[32 * i:32 * i + 32], label, blocks)
        for j in range(out_len):
            out[j] ^= p[j]
    return bytes(out)


def tgk_label(constant: int, cs_id: int, csb_id: int, rand: bytes) -> bytes:
    """const || CS ID || CSB ID || RAND (RFC 3830 §4.1.3)."""
    return constant.to_bytes(4, "big") + bytes([cs_id]) + csb_id.to_bytes(4, "big") + rand


def derive_from_tgk(tgk: bytes, constant: int, cs_id: int, csb_id: int, rand: bytes,
                    out_len: int, prf_func: int = PRF_MIKEY_1) -> bytes:
    """A key derived from the TGK for crypto session ``cs_id`` (TEK, salt, ... RFC 3830 §4.1.3)."""
    return prf(tgk, tgk_label(constant, cs_id, csb_id, rand), out_len, prf_func)


def derive_transport(inkey: bytes, constant: int, csb_id: int, rand: bytes, out_len: int,
                     prf_func: int = PRF_MIKEY_1) -> bytes:
    """encr_key / auth_key / salt_key from the PSK, env_key or DH key (RFC 3830 §4.1.4)."""
    return prf(inkey, tgk_label(constant, 0xFF, csb_id, rand), out_len, prf_func)


def srtp_master(tgk: bytes, cs_id: int, csb_id: int, rand: bytes, key_len: int = 16,
                salt_len: int = 14, prf_func: int = PRF_MIKEY_1) -> tuple[bytes, bytes]:
    """(SRTP master key, master salt) for a crypto session (RFC 3830 §4.1.3, TS 33.180 §7.4)."""
    return (derive_from_tgk(tgk, TEK, cs_id, csb_id, rand, key_len, prf_func),
            derive_from_tgk(tgk, SALT, cs_id, csb_id, rand, salt_len, prf_func))
