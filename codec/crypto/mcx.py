"""3GPP MCX key facts: the TS 33.220 Annex B KDF, MIKEY-SAKKE UIDs, key identifiers and GUK-IDs.

TS 33.180 §F.1 (KDF uses), §F.2.1 (UID), §5.2.2 / §E.6.11 (key identifiers, purpose tags).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

NTP_UNIX_OFFSET = 2208988800

# Purpose tag = top 4 bits of a 32-bit key ID (TS 33.180 §5.2.2); 3..6 from Streamwide's enum
# (reference/mcptt-security.md §1.1: UNCONFIRMED against spec text).
KEY_TYPES = {0: "GMK", 1: "PCK", 2: "CSK", 3: "SPK", 4: "MKFC", 5: "MSCCK", 6: "MuSiK"}
KEY_TYPE_UNCONFIRMED = {3, 4, 5, 6}
PURPOSE_TAG = {name: tag for tag, name in KEY_TYPES.items()}

# TS 33.180 Table E.1.3-1 crypto session identifiers
CS_IDS = {0: "MCPTT private call, initiator", 1: "MCPTT private call, receiver",
          2: "MCVideo private call, initiator", 3: "MCVideo private call, receiver",
          4: "MCPTT group call", 5: "MCVideo group call", 6: "CSK SRTCP MCPTT",
          7: "MuSiK SRTCP MCPTT", 8: "CSK SRTCP MCVideo", 9: "MuSiK SRTCP MCVideo"}

FC_GUK = 0x50  # §F.1.3 user salt for the GUK-ID
FC_XPK_CONF = 0x51  # §F.1.4 signalling confidentiality key
FC_XPK_INT = 0x52  # §F.1.4 signalling integrity key
FC_DPCK = 0x53  # §F.1.5 DPCK from a DPPK (UNCONFIRMED text; confirmed by interop, ref §9)


def encode_int(value: int) -> bytes:
    """Minimal big-endian octets; 0 is one 0x00 octet (TS 33.220 Annex B)."""
    if value < 0:
        raise ValueError("negative integer")
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _param(p) -> bytes:
    if isinstance(p, str):
        p = p.encode("utf-8")
    elif isinstance(p, int):
        p = encode_int(p)
    if len(p) > 0xFFFF:
        raise ValueError("KDF parameter longer than 65535 octets")
    return bytes(p) + len(p).to_bytes(2, "big")


def kdf_input(fc: int, *params) -> bytes:
    """S = FC || P0 || L0 || P1 || L1 || … (TS 33.220 Annex B.2)."""
    return bytes([fc]) + b"".join(_param(p) for p in params)


def kdf(key: bytes, fc: int, *params) -> bytes:
    """HMAC-SHA-256(key, S) (TS 33.220 Annex B.2), 32 octets."""
    return hmac.new(key, kdf_input(fc, *params), hashlib.sha256).digest()


def kdf128(key: bytes, fc: int, *params) -> bytes:
    """The 128 least significant bits of the KDF output."""
    return kdf(key, fc, *params)[16:]


# -- UID (TS 33.180 §F.2.1) --------------------------------------------------------------------
def key_period_number(ntp_seconds: int, period: int, offset: int = 0) -> int:
    if period <= 0:
        raise ValueError("the key period length must be positive")
    return (ntp_seconds - offset) // period


@lru_cache(maxsize=4096)  # a receiver forms the same few UIDs for every message of a key period
def uid(user_uri: str, kms_uri: str, key_period: int, key_period_offset: int,
        period_no: int) -> bytes:
    """UID = SHA-256(0x00 || "MIKEY-SAKKE-UID" || L || URI || L || KMS || L || P3 || L || P4 || L
    || P5 || L)."""
    return hashlib.sha256(kdf_input(0x00, "MIKEY-SAKKE-UID", user_uri, kms_uri, key_period,
                                    key_period_offset, period_no)).digest()


def rfc6509_identifier(tel_uri: str, year: int, month: int) -> bytes:
    """RFC 6509 §3.2 identifier "YYYY-MM" || 0x00 || tel URI || 0x00 (SAKKE ID scheme 1)."""
    return f"{year:04d}-{month:02d}".encode() + b"\x00" + tel_uri.encode() + b"\x00"


# -- key identifiers ---------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyId:
    value: int

    @property
    def purpose_tag(self) -> int:
        return self.value >> 28

    @property
    def key_type(self) -> str:
        name = KEY_TYPES.get(self.purpose_tag, f"unknown (purpose tag {self.purpose_tag})")
        return name

    @property
    def unconfirmed(self) -> bool:
        return self.purpose_tag in KEY_TYPE_UNCONFIRMED

    def __str__(self):
        return f"0x{self.value:08x}"


def make_key_id(key_type: str, random28: int) -> int:
    return (PURPOSE_TAG[key_type] << 28) | (random28 & 0x0FFFFFFF)


def guk_salt(gmk: bytes, user_uri: str) -> int:
    """User salt: 28 LSBs of KDF(GMK, FC 0x50, P0 = recipient's MC service user ID) (§F.1.3)."""
    return int.from_bytes(kdf(gmk, FC_GUK, user_uri)[28:32], "big") & 0x0FFFFFFF


def guk_id(gmk_id: int, gmk: bytes, user_uri: str) -> int:
    """GUK-ID = GMK-ID with its 28 random bits XOR-ed with the user salt (tag kept)."""
    return (gmk_id & 0xF0000000) | ((gmk_id & 0x0FFFFFFF) ^ guk_salt(gmk, user_uri))


gmk_id_from_guk_id = guk_id  # the XOR is its own inverse


def dpck(dppk: bytes, dppk_id: int) -> bytes:
    """DPCK = 128 LSBs of KDF(DPPK, FC 0x53, P0 = DPPK-ID) (TS 33.180 §F.1.5)."""
    return kdf128(dppk, FC_DPCK, dppk_id.to_bytes(4, "big"))
