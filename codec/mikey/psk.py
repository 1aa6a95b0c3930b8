"""Pre-shared-key protection of MIKEY messages: KEMAC encryption and MACs (RFC 3830 §4.2, §5.2,
§6.2; RFC 6043 §5.1.2, §6.2).

- encr_key / auth_key / salt_key come from the PSK (or envelope key, MPK, TPK) with the PRF of
  :mod:`codec.crypto.prf` and a label that depends on the mode: RFC 3830 §4.1.4 uses
  ``const || 0xFF || CSB ID || RAND``; RFC 6043 §5.1.2 uses ``const || 0xFF || CSB ID || 0x01|0x02
  || len RANDRi || RANDRi || len RANDRr || RANDRr`` and Appendix A.2.1 (ticket protection key)
  ``const || 0xFF || 0xFFFFFFFF || 0x05 || len RAND || RAND``.
- AES-CM (RFC 3830 §4.2.3): IV = (S XOR (0x0000 || CSB ID || T)) || 0x0000, S the 112-bit salt
  key, T the 64-bit timestamp (NTP-UTC-32 padded with a zero fraction, RFC 6043 §6.3).
- AES-KW-128: RFC 3394 key wrap of the key data with encr_key.
- MACs are HMAC-SHA-1-160 or HMAC-SHA-256-256 and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import keywrap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from codec.crypto import prf
from codec.errors import McsecError

ENCR_NULL, ENCR_AES_CM_128, ENCR_AES_KW_128, ENCR_AES_CM_256 = 0, 1, 2, 3
MAC_NULL, MAC_HMAC_SHA1, MAC_HMAC_SHA256 = 0, 1, 2
ENCR_KEY_LEN = {ENCR_NULL: 0, ENCR_AES_CM_128: 16, ENCR_AES_KW_128: 16, ENCR_AES_CM_256: 32}
AUTH_KEY_LEN = {MAC_NULL: 0, MAC_HMAC_SHA1: 20, MAC_HMAC_SHA256: 32}
SALT_KEY_LEN = 14  # 112 bits (RFC 3830 §4.2.3)


class PskError(McsecError, ValueError):
    """Protection that cannot be removed (unknown algorithm, wrong key length, bad wrap)."""


@dataclass(frozen=True)
class TransportKeys:
    encr_key: bytes
    auth_key: bytes
    salt_key: bytes


def label_rfc3830(csb_id: int, rand: bytes) -> bytes:
    """0xFF || CSB ID || RAND (after the constant; RFC 3830 §4.1.4)."""
    return b"\xff" + csb_id.to_bytes(4, "big") + rand


def label_rfc6043(csb_id: int, direction: int, rand_i: bytes | None,
                  rand_r: bytes | None) -> bytes:
    """0xFF || CSB ID || 0x01 (initial) / 0x02 (response) || len RANDRi || RANDRi || len RANDRr
    || RANDRr (RFC 6043 §5.1.2)."""
    rand_i, rand_r = rand_i or b"", rand_r or b""
    return (b"\xff" + csb_id.to_bytes(4, "big") + bytes([direction, len(rand_i)]) + rand_i
            + bytes([len(rand_r)]) + rand_r)


def label_tpk(rand: bytes) -> bytes:
    """0xFF || 0xFFFFFFFF || 0x05 || len RAND || RAND (RFC 6043 Appendix A.2.1)."""
    return b"\xff\xff\xff\xff\xff\x05" + bytes([len(rand)]) + rand


def transport_keys(inkey: bytes, label_tail: bytes, prf_func: int, encr_alg: int,
                   mac_alg: int) -> TransportKeys:
    """encr_key, auth_key and salt_key for the given algorithms (RFC 3830 §4.1.4)."""
    try:
        elen, alen = ENCR_KEY_LEN[encr_alg], AUTH_KEY_LEN[mac_alg]
    except KeyError:
        raise PskError(f"unknown KEMAC algorithm (encr {encr_alg}, MAC {mac_alg})") from None

    def derive(const, n):
        return prf.prf(inkey, const.to_bytes(4, "big") + label_tail, n, prf_func) if n else b""

    return TransportKeys(derive(prf.TRANSPORT_ENCR, elen), derive(prf.TRANSPORT_AUTH, alen),
                         derive(prf.TRANSPORT_SALT, SALT_KEY_LEN))


def ts64(t_payload) -> int:
    """The 64-bit T value the IV uses (RFC 3830 §4.2.3; RFC 6043 §6.3 pads NTP-UTC-32)."""
    if t_payload is None:
        return 0
    if t_payload.ts_type in (0, 1):
        return t_payload.ts_value
    if t_payload.ts_type == 3:
        return t_payload.ts_value << 32
    return t_payload.ts_value  # COUNTER: 32 bits, right-aligned


def aes_cm_iv(salt_key: bytes, csb_id: int, t: int) -> bytes:
    """(S XOR (0x0000 || CSB ID || T)) || 0x0000 (RFC 3830 §4.2.3)."""
    x = (csb_id << 64) | (t & 0xFFFFFFFFFFFFFFFF)
    s = int.from_bytes(salt_key[:SALT_KEY_LEN], "big")
    return (s ^ x).to_bytes(SALT_KEY_LEN, "big") + b"\x00\x00"


def _aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    c = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return c.update(data) + c.finalize()


def decrypt_encr_data(encr_alg: int, data: bytes, keys: TransportKeys, csb_id: int,
                      t: int) -> bytes:
    """The plaintext key data chain of a KEMAC (RFC 3830 §4.2.3, §6.2)."""
    if encr_alg == ENCR_NULL:
        return bytes(data)
    if encr_alg in (ENCR_AES_CM_128, ENCR_AES_CM_256):
        return _aes_ctr(keys.encr_key, aes_cm_iv(keys.salt_key, csb_id, t), data)
    if encr_alg == ENCR_AES_KW_128:
        try:
            return keywrap.aes_key_unwrap(keys.encr_key, bytes(data))
        except (keywrap.InvalidUnwrap, ValueError):
            raise PskError("AES key wrap integrity check failed (wrong key)") from None
    raise PskError(f"KEMAC encryption algorithm {encr_alg} is not supported")


def encrypt_encr_data(encr_alg: int, plain: bytes, keys: TransportKeys, csb_id: int,
                      t: int) -> bytes:
    if encr_alg == ENCR_AES_KW_128:
        if len(plain) % 8 or len(plain) < 16:
            raise PskError("AES-KW needs key data of a multiple of 8 octets, at least 16")
        return keywrap.aes_key_wrap(keys.encr_key, bytes(plain))
    return decrypt_encr_data(encr_alg, plain, keys, csb_id, t)  # CTR and NULL are symmetric


def mac(mac_alg: int, auth_key: bytes, data: bytes) -> bytes:
    if mac_alg == MAC_NULL:
        return b""
    if mac_alg == MAC_HMAC_SHA1:
        return hmac.new(auth_key, data, hashlib.sha1).digest()
    if mac_alg == MAC_HMAC_SHA256:
        return hmac.new(auth_key, data, hashlib.sha256).digest()
    raise PskError(f"MAC algorithm {mac_alg} is not supported")


def mac_ok(mac_alg: int, auth_key: bytes, data: bytes, received: bytes) -> bool:
    return hmac.compare_digest(mac(mac_alg, auth_key, data), bytes(received))
