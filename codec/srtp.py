"""SRTP and SRTCP: the AES-GCM default profile of TS 33.180 (AEAD_AES_128_GCM, RFC 7714), and
every transform key management can choose (:func:`select_transform`, :class:`Context`): AES-CM-128
and AES-256-CM (RFC 3711 §4.1.1, RFC 6188) or the NULL cipher, with HMAC-SHA1 of any tag length
or NULL auth, MKIs, and a nonzero key derivation rate (RFC 3711 §4.3).

Session keys come from the master key (16 octets) and master salt (12 octets) with the AES-CM
PRF of RFC 3711 §4.3.3 (key derivation rate 0, so r = 0); RFC 7714 §11 keeps that PRF for the
GCM transforms, the 96-bit master salt taking the place of the 112-bit one.  Packets are sealed
with ``cryptography``'s AESGCM: RTP header as AAD, IV = salt XOR (0 || SSRC || ROC || SEQ)
(RFC 7714 §8.1); SRTCP: AAD = the first 8 octets || E-flag+index, IV = salt XOR
(0 || SSRC || 0 || index) (§9.1).  The MKI, when used, follows the ciphertext (RFC 3711 §3.1,
§3.4; TS 33.180 §7.4 uses PCK-ID or GMK-ID || GUK-ID).

Pure functions used by the capture generator and, next, the dissector's media decryption.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from codec import rtp
from codec.errors import McsecError

# RFC 3711 §4.3.1 / §4.3.2 labels
LABEL_RTP_ENCR, LABEL_RTP_AUTH, LABEL_RTP_SALT = 0x00, 0x01, 0x02
LABEL_RTCP_ENCR, LABEL_RTCP_AUTH, LABEL_RTCP_SALT = 0x03, 0x04, 0x05
TAG_LEN = 16


def kdf(master_key: bytes, master_salt: bytes, label: int, n: int, r: int = 0) -> bytes:
    """RFC 3711 §4.3.1/§4.3.3: x = (label || r) XOR master_salt, aligned on the right of a
    112-bit field (the 96-bit salt of RFC 7714 §11 occupies its leftmost 96 bits, libsrtp's
    layout), then AES-CM(master_key, IV = x * 2^16) keystream truncated to n octets."""
    salt112 = int.from_bytes(master_salt.ljust(14, b"\0"), "big")
    key_id = (label << 48) | r  # label (8 bits) || r (48 bits)
    x = salt112 ^ key_id
    iv = (x << 16).to_bytes(16, "big")
    enc = Cipher(algorithms.AES(master_key), modes.CTR(iv)).encryptor()
    return enc.update(bytes(n)) + enc.finalize()


class SessionKeys:
    """SRTP and SRTCP session keys and salts of one master key/salt (GCM profile)."""

    def __init__(self, master_key: bytes, master_salt: bytes):
        if len(master_salt) != 12:
            raise ValueError("AEAD_AES_*_GCM needs a 12-octet master salt (RFC 7714 §12)")
        n = len(master_key)
        self.rtp_key = kdf(master_key, master_salt, LABEL_RTP_ENCR, n)
        self.rtp_salt = kdf(master_key, master_salt, LABEL_RTP_SALT, 12)
        self.rtcp_key = kdf(master_key, master_salt, LABEL_RTCP_ENCR, n)
        self.rtcp_salt = kdf(master_key, master_salt, LABEL_RTCP_SALT, 12)


def _rtp_iv(salt: bytes, ssrc: int, roc: int, seq: int) -> bytes:
    v = (ssrc << 48) | (roc << 16) | seq  # 0x0000 || SSRC || ROC || SEQ (RFC 7714 §8.1)
    return (int.from_bytes(salt, "big") ^ v).to_bytes(12, "big")


def protect_rtp(keys: SessionKeys, packet: bytes, roc: int = 0, mki: bytes = b"") -> bytes:
    hdr = rtp.RtpHeader(packet)
    h = hdr.length
    iv = _rtp_iv(keys.rtp_salt, hdr.ssrc, roc, hdr.seq)
    return packet[:h] + AESGCM(keys.rtp_key).encrypt(iv, packet[h:], packet[:h]) + mki


def unprotect_rtp(keys: SessionKeys, packet: bytes, roc: int = 0, mki_len: int = 0) -> bytes:
    """The RTP packet of an SRTP packet (raises cryptography's InvalidTag on a bad tag)."""
    if mki_len:
        packet = packet[:-mki_len]
    hdr = rtp.RtpHeader(packet)  # HeaderError (a ValueError) when cut short
    h = hdr.length
    if len(packet) < h + TAG_LEN:
        raise ValueError(f"SRTP packet too short for its {h}-octet header and the GCM tag")
    iv = _rtp_iv(keys.rtp_salt, hdr.ssrc, roc, hdr.seq)
    return packet[:h] + AESGCM(keys.rtp_key).decrypt(iv, packet[h:], packet[:h])


def _rtcp_iv(salt: bytes, ssrc: int, index: int) -> bytes:
    v = (ssrc << 48) | (index & 0x7FFFFFFF)  # 0x0000 || SSRC || 0x0000 || 0 || index (§9.1)
    return (int.from_bytes(salt, "big") ^ v).to_bytes(12, "big")


def protect_rtcp(keys: SessionKeys, packet: bytes, index: int, mki: bytes = b"") -> bytes:
    """SRTCP (encrypted, E = 1): header(8) || ciphertext+tag || E|index || MKI (RFC 7714 §9)."""
    ssrc = rtp.rtcp_ssrc(packet)
    e_index = rtp.SRTCP_INDEX.build({"encrypted": True, "index": index})
    iv = _rtcp_iv(keys.rtcp_salt, ssrc, index)
    ct = AESGCM(keys.rtcp_key).encrypt(iv, packet[8:], packet[:8] + e_index)
    return packet[:8] + ct + e_index + mki


def unprotect_rtcp(keys: SessionKeys, packet: bytes, mki_len: int = 0) -> bytes:
    if mki_len:
        packet = packet[:-mki_len]
    if len(packet) < 8 + TAG_LEN + 4:
        raise ValueError(f"SRTCP packet too short ({len(packet)} octets without the MKI)")
    e_index = packet[-4:]
    trailer = rtp.SRTCP_INDEX.parse(e_index)
    if not trailer.encrypted:
        raise ValueError("SRTCP packet not encrypted (E = 0)")
    index = trailer.index
    ssrc = rtp.rtcp_ssrc(packet)
    iv = _rtcp_iv(keys.rtcp_salt, ssrc, index)
    return packet[:8] + AESGCM(keys.rtcp_key).decrypt(iv, packet[8:-4], packet[:8] + e_index)


# -- RTP ----------------------------------------------------------------------------------------
def rtp_packet(ssrc: int, seq: int, timestamp: int, payload: bytes, pt: int = 96,
               marker: bool = False) -> bytes:
    return rtp.RTP_FIXED.build({
        "_b0": {"version": 2, "padding": False, "extension": False, "csrc_count": 0},
        "_b1": {"marker": marker, "payload_type": pt}, "sequence_number": seq,
        "timestamp": timestamp, "ssrc": ssrc}) + payload


# MCPTT floor control messages (RTCP APP "MCPT", TS 24.380): codec/floor.py


# -- RFC 3711 / RFC 6188 transforms chosen from key-management parameters ------------------------
# Implementation chosen by measurement (benchmarks/bench_srtp.py): cryptography's AES with one
# ECB context per session key making the counter-mode keystream, and pre-keyed hashlib HMAC-SHA1.
# libsrtp (pylibsrtp) unprotects AES-CM-128/HMAC-SHA1-80 faster per packet but its API has
# neither NULL cipher, AES-256-CM, MKI, KDR, 4-octet SRTCP tags nor a settable ROC, and its
# replay database refuses the duplicates captures hold; it stays the tests' oracle.

ENCR_NULL, ENCR_AES_CM, ENCR_AES_F8, ENCR_AES_GCM = 0, 1, 2, 6  # RFC 3830 §6.10.1, RFC 7714 §14.2
AUTH_NULL, AUTH_HMAC_SHA1 = 0, 1  # RFC 3830 §6.10.1
AES_CM_SALT_LEN = 14  # 112-bit master and session salts (RFC 3711 §4.1.1, §8.2; RFC 6188 §3)
_U128 = (1 << 128) - 1


class TransformError(McsecError, ValueError):
    """Parameters no supported SRTP transform takes (unknown algorithm, wrong key length …)."""


class AuthError(McsecError, ValueError):
    """The authentication tag of an SRTP/SRTCP packet does not match (RFC 3711 §3.3 step 5)."""


@dataclass(frozen=True)
class Transform:
    """An SRTP/SRTCP crypto suite (RFC 3711 §8.2 parameters; RFC 3830 §6.10.1 names).

    ``key_len``: master key = session encryption key length; ``salt_len``: master salt length;
    ``rtp_tag_len`` / ``rtcp_tag_len``: HMAC tag octets; ``mki_len``: octets of MKI after the
    encrypted portion (before the tag; after the GCM tag); ``kdr``: key derivation rate (0 or a
    power of 2 up to 2^24, RFC 3711 §4.3.1)."""

    encr: int = ENCR_AES_CM
    auth: int = AUTH_HMAC_SHA1
    key_len: int = 16
    salt_len: int = AES_CM_SALT_LEN
    auth_key_len: int = 20
    rtp_tag_len: int = 10
    rtcp_tag_len: int = 10
    mki_len: int = 0
    kdr: int = 0
    rtp_encrypted: bool = True  # SP type 7
    rtcp_encrypted: bool = True  # SP type 8
    rtp_authenticated: bool = True  # SP type 10

    @property
    def gcm(self) -> bool:
        return self.encr == ENCR_AES_GCM

    @property
    def name(self) -> str:
        if self.gcm:
            return f"AEAD_AES_{self.key_len * 8}_GCM"
        cipher = "NULL" if self.encr == ENCR_NULL else f"AES-CM-{self.key_len * 8}"
        auth = "NULL" if self.auth == AUTH_NULL else f"HMAC-SHA1-{self.rtp_tag_len * 8}"
        extra = "" if self.rtcp_tag_len == self.rtp_tag_len else f" (SRTCP tag {self.rtcp_tag_len})"
        return f"{cipher}/{auth}{extra}" + (f", KDR {self.kdr}" if self.kdr else "")


def select_transform(encr: int, auth: int, key_len: int, salt_len: int, tag_len: int,
                     mki_len: int = 0, *, rtcp_tag_len: int | None = None,
                     auth_key_len: int | None = None, kdr: int = 0, rtp_encrypted: bool = True,
                     rtcp_encrypted: bool = True, rtp_authenticated: bool = True) -> Transform:
    """The transform for (encryption alg, auth alg, key len, salt len, tag len, MKI len), values as
    in RFC 3830 §6.10.1 (encr 0 NULL, 1 AES-CM, 6 AES-GCM; auth 0 NULL, 1 HMAC-SHA1; octets).

    AES-128-ICM/AES-256-ICM are ``(1, …, 16|32, 14, …)`` (RFC 3711 §4.1.1, RFC 6188 §3);
    ``rtcp_tag_len`` defaults to ``tag_len`` (RFC 3711 §4.2: one n_tag; libsrtp's and RFC 4568's
    _32 suites use 10 on SRTCP: pass it).  Raises :class:`TransformError`."""
    if kdr < 0 or kdr > 1 << 24 or (kdr & (kdr - 1)):
        raise TransformError(f"key derivation rate {kdr} is not 0 or a power of 2 up to 2^24 "
                             "(RFC 3711 §4.3.1)")
    if not 0 <= mki_len <= 255:
        raise TransformError(f"MKI length {mki_len} out of range")
    if encr == ENCR_AES_GCM:
        if key_len not in (16, 32) or salt_len != 12:
            raise TransformError(f"AES-GCM needs a 16/32-octet key and 12-octet salt (RFC 7714 "
                                 f"§12), not {key_len}/{salt_len}")
        if tag_len not in (0, TAG_LEN):
            raise TransformError(f"AES-GCM tag of {tag_len} octets is not supported (16 only)")
        return Transform(ENCR_AES_GCM, AUTH_NULL, key_len, salt_len, 0, TAG_LEN, TAG_LEN,
                         mki_len, kdr)
    if encr not in (ENCR_NULL, ENCR_AES_CM):
        raise TransformError(f"SRTP encryption algorithm {encr} is not supported "
                             "(0 NULL, 1 AES-CM, 6 AES-GCM)")
    if key_len not in (16, 24, 32):  # the AES-CM key derivation needs an AES key (RFC 6188 §7)
        raise TransformError(f"SRTP master key of {key_len} octets (AES-CM: 16, 24 or 32)")
    if salt_len != AES_CM_SALT_LEN:
        raise TransformError(f"SRTP master salt of {salt_len} octets (AES-CM: 14)")
    if auth == AUTH_NULL:
        tag_len, rtcp_tag_len, auth_key_len = 0, 0, 0
    elif auth == AUTH_HMAC_SHA1:
        rtcp_tag_len = tag_len if rtcp_tag_len is None else rtcp_tag_len
        auth_key_len = 20 if auth_key_len is None else auth_key_len
        if not (1 <= tag_len <= 20 and 1 <= rtcp_tag_len <= 20):
            raise TransformError(f"HMAC-SHA1 tag of {tag_len}/{rtcp_tag_len} octets (1..20)")
        if not 1 <= auth_key_len <= 64:
            raise TransformError(f"HMAC-SHA1 session key of {auth_key_len} octets")
    else:
        raise TransformError(f"SRTP authentication algorithm {auth} is not supported "
                             "(0 NULL, 1 HMAC-SHA1)")
    return Transform(encr, auth, key_len, salt_len, auth_key_len, tag_len, rtcp_tag_len,
                     mki_len, kdr, rtp_encrypted, rtcp_encrypted, rtp_authenticated)


# RFC 3830 §6.10.1 SRTP policy parameter types and the RFC 3711 §8.2 defaults they fall back to
SP_ENCR, SP_ENCR_KEY_LEN, SP_AUTH, SP_AUTH_KEY_LEN, SP_SALT_LEN, SP_PRF, SP_KDR = range(7)
SP_SRTP_ENCR, SP_SRTCP_ENCR, SP_FEC, SP_SRTP_AUTH, SP_TAG_LEN, SP_PREFIX = range(7, 13)
SP_AEAD_TAG_LEN = 20  # RFC 7714 §14.2


def transform_from_sp(params: dict[int, bytes] | None, mki_len: int = 0) -> Transform:
    """The transform an SRTP SP payload's parameters ({type: value octets}) describe; absent
    parameters take RFC 3711 §8.2's defaults (AES-CM-128, HMAC-SHA1, 20-octet auth key, 14-octet
    salt, 80-bit tag, KDR 0) as RFC 3830 §6.10.1 says; GCM's salt defaults to 12 (RFC 7714)."""
    p = {t: int.from_bytes(v, "big") for t, v in (params or {}).items() if v}
    encr = p.get(SP_ENCR, ENCR_AES_CM)
    auth = p.get(SP_AUTH, AUTH_NULL if encr == ENCR_AES_GCM else AUTH_HMAC_SHA1)
    if p.get(SP_PRF, 0) != 0:
        raise TransformError(f"SRTP PRF {p[SP_PRF]} is not supported (0 AES-CM)")
    if p.get(SP_PREFIX, 0):
        raise TransformError("SRTP prefix length other than 0 is not supported")
    if encr == ENCR_AES_GCM:
        return select_transform(encr, AUTH_NULL, p.get(SP_ENCR_KEY_LEN, 16),
                                p.get(SP_SALT_LEN, 12), p.get(SP_AEAD_TAG_LEN, TAG_LEN), mki_len,
                                kdr=p.get(SP_KDR, 0))
    return select_transform(encr, auth, p.get(SP_ENCR_KEY_LEN, 16),
                            p.get(SP_SALT_LEN, AES_CM_SALT_LEN), p.get(SP_TAG_LEN, 10), mki_len,
                            auth_key_len=p.get(SP_AUTH_KEY_LEN), kdr=p.get(SP_KDR, 0),
                            rtp_encrypted=p.get(SP_SRTP_ENCR, 1) != 0,
                            rtcp_encrypted=p.get(SP_SRTCP_ENCR, 1) != 0,
                            rtp_authenticated=p.get(SP_SRTP_AUTH, 1) != 0)


GCM_DEFAULT = Transform(ENCR_AES_GCM, AUTH_NULL, 16, 12, 0, TAG_LEN, TAG_LEN)  # TS 33.180 §7.4


@dataclass
class _Keys:
    """Session keys for one direction (SRTP or SRTCP) and one r = index DIV KDR."""

    key: bytes
    salt: int  # session salt, as an integer
    auth: object  # pre-keyed hmac object (copied per packet) or None
    ecb: object = None  # AES-ECB context making the counter-mode keystream
    gcm: object = None


@dataclass
class Context:
    """An SRTP cryptographic context's keys (RFC 3711 §3.2): the master key and salt and the
    transform; session keys are derived on first use per r (RFC 3711 §4.3)."""

    transform: Transform
    master_key: bytes
    master_salt: bytes
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        t = self.transform
        if len(self.master_key) != t.key_len or len(self.master_salt) != t.salt_len:
            raise TransformError(f"{t.name} needs a {t.key_len}-octet master key and "
                                 f"{t.salt_len}-octet salt, not {len(self.master_key)}/"
                                 f"{len(self.master_salt)}")

    def session_keys(self, rtcp: bool, index: int) -> _Keys:
        """RFC 3711 §4.3.1: r = index DIV key_derivation_rate (0 when the rate is 0)."""
        t = self.transform
        r = index // t.kdr if t.kdr else 0
        keys = self._cache.get((rtcp, r))
        if keys is not None:
            return keys
        if len(self._cache) > 64:
            self._cache.clear()
        le, la, ls = ((LABEL_RTCP_ENCR, LABEL_RTCP_AUTH, LABEL_RTCP_SALT) if rtcp
                      else (LABEL_RTP_ENCR, LABEL_RTP_AUTH, LABEL_RTP_SALT))
        ek = kdf(self.master_key, self.master_salt, le, t.key_len, r)
        salt = kdf(self.master_key, self.master_salt, ls, t.salt_len, r)
        auth = None
        if t.auth == AUTH_HMAC_SHA1:
            auth = hmac.new(kdf(self.master_key, self.master_salt, la, t.auth_key_len, r),
                            digestmod=hashlib.sha1)
        keys = _Keys(ek, int.from_bytes(salt, "big"), auth)
        if t.gcm:
            keys.gcm = AESGCM(ek)
        elif t.encr == ENCR_AES_CM:
            keys.ecb = Cipher(algorithms.AES(ek), modes.ECB()).encryptor()
        self._cache[(rtcp, r)] = keys
        return keys

    # RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16), keystream AES(k_e, IV+j)
    @staticmethod
    def _ctr(keys: _Keys, ssrc: int, index: int, data: bytes) -> bytes:
        if not data:
            return b""
        iv = (keys.salt << 16) ^ (ssrc << 64) ^ (index << 16)
        n = (len(data) + 15) >> 4
        counters = b"".join(((iv + j) & _U128).to_bytes(16, "big") for j in range(n))
        stream = keys.ecb.update(counters)
        return (int.from_bytes(data, "big")
                ^ int.from_bytes(stream[:len(data)], "big")).to_bytes(len(data), "big")

    @staticmethod
    def _tag(keys: _Keys, data: bytes, n: int) -> bytes:
        h = keys.auth.copy()
        h.update(data)
        return h.digest()[:n]

    # -- SRTP (RFC 3711 §3.1, §3.3) ---------------------------------------------------------------
    def protect_rtp(self, packet: bytes, roc: int = 0, mki: bytes = b"") -> bytes:
        t = self.transform
        if len(mki) != t.mki_len:
            raise TransformError(f"MKI of {len(mki)} octets, the transform says {t.mki_len}")
        hdr = rtp.RtpHeader(packet)
        index = (roc << 16) | hdr.seq
        keys = self.session_keys(False, index)
        if t.gcm:
            return packet[:hdr.length] + keys.gcm.encrypt(
                _rtp_iv(keys.salt.to_bytes(12, "big"), hdr.ssrc, roc, hdr.seq),
                packet[hdr.length:], packet[:hdr.length]) + mki
        body = packet[hdr.length:]
        if t.encr == ENCR_AES_CM and t.rtp_encrypted:
            body = self._ctr(keys, hdr.ssrc, index, body)
        out = packet[:hdr.length] + body
        tag = (self._tag(keys, out + (roc & 0xFFFFFFFF).to_bytes(4, "big"), t.rtp_tag_len)
               if keys.auth is not None and t.rtp_authenticated else b"")
        return out + mki + tag

    def unprotect_rtp(self, packet: bytes, roc: int = 0, hdr: rtp.RtpHeader | None = None) -> bytes:
        """The RTP packet (raises AuthError on a bad tag, rtp.HeaderError/ValueError when cut
        short).  ``roc``: the rollover counter the receiver estimates (RFC 3711 §3.3.1);
        ``hdr``: the packet's header when the caller has parsed it already (the parse costs
        more than the crypto: benchmarks/bench_srtp.py)."""
        t = self.transform
        tag_len = t.rtp_tag_len if (t.auth == AUTH_HMAC_SHA1 and t.rtp_authenticated) else 0
        if t.gcm:
            tag_len = 0  # the GCM tag is part of the ciphertext; the MKI follows it
        hdr = hdr or rtp.RtpHeader(packet)
        end = len(packet) - tag_len - t.mki_len
        if end < hdr.length + (TAG_LEN if t.gcm else 0):
            raise ValueError(f"SRTP packet of {len(packet)} octets too short for its "
                             f"{hdr.length}-octet header, MKI and tag ({t.name})")
        index = (roc << 16) | hdr.seq
        keys = self.session_keys(False, index)
        if t.gcm:
            try:
                return packet[:hdr.length] + keys.gcm.decrypt(
                    _rtp_iv(keys.salt.to_bytes(12, "big"), hdr.ssrc, roc, hdr.seq),
                    packet[hdr.length:end], packet[:hdr.length])
            except InvalidTag:
                raise AuthError("authentication tag mismatch") from None
        if tag_len:
            tag = self._tag(keys, packet[:end] + (roc & 0xFFFFFFFF).to_bytes(4, "big"), tag_len)
            if not hmac.compare_digest(tag, packet[len(packet) - tag_len:]):
                raise AuthError("authentication tag mismatch")
        body = packet[hdr.length:end]
        if t.encr == ENCR_AES_CM and t.rtp_encrypted:
            body = self._ctr(keys, hdr.ssrc, index, body)
        return packet[:hdr.length] + body

    # -- SRTCP (RFC 3711 §3.4): header(8) || encrypted portion || E|index || MKI || tag --------
    def protect_rtcp(self, packet: bytes, index: int, mki: bytes = b"") -> bytes:
        t = self.transform
        if len(mki) != t.mki_len:
            raise TransformError(f"MKI of {len(mki)} octets, the transform says {t.mki_len}")
        keys = self.session_keys(True, index)
        ssrc = rtp.rtcp_ssrc(packet)
        if t.gcm:
            e_index = rtp.SRTCP_INDEX.build({"encrypted": True, "index": index})
            ct = keys.gcm.encrypt(_rtcp_iv(keys.salt.to_bytes(12, "big"), ssrc, index),
                                  packet[8:], packet[:8] + e_index)
            return packet[:8] + ct + e_index + mki
        encrypted = t.encr == ENCR_AES_CM and t.rtcp_encrypted
        body = self._ctr(keys, ssrc, index, packet[8:]) if encrypted else packet[8:]
        out = packet[:8] + body + rtp.SRTCP_INDEX.build({"encrypted": encrypted, "index": index})
        tag = self._tag(keys, out, t.rtcp_tag_len) if keys.auth is not None else b""
        return out + mki + tag

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        """The RTCP compound packet (AuthError on a bad tag; ValueError when cut short)."""
        t = self.transform
        tag_len = 0 if (t.gcm or t.auth == AUTH_NULL) else t.rtcp_tag_len
        end = len(packet) - tag_len - t.mki_len  # end of E|index
        if end < 8 + 4 + (TAG_LEN if t.gcm else 0):
            raise ValueError(f"SRTCP packet of {len(packet)} octets too short ({t.name})")
        trailer = rtp.SRTCP_INDEX.parse(packet[end - 4:end])
        index = trailer.index
        keys = self.session_keys(True, index)
        ssrc = rtp.rtcp_ssrc(packet)
        if t.gcm:
            if not trailer.encrypted:
                raise ValueError("SRTCP packet not encrypted (E = 0)")
            try:
                return packet[:8] + keys.gcm.decrypt(
                    _rtcp_iv(keys.salt.to_bytes(12, "big"), ssrc, index), packet[8:end - 4],
                    packet[:8] + packet[end - 4:end])
            except InvalidTag:
                raise AuthError("authentication tag mismatch") from None
        if tag_len:
            tag = self._tag(keys, packet[:end], tag_len)
            if not hmac.compare_digest(tag, packet[len(packet) - tag_len:]):
                raise AuthError("authentication tag mismatch")
        body = packet[8:end - 4]
        if trailer.encrypted:
            if t.encr == ENCR_NULL:
                raise ValueError("SRTCP E flag set but the transform's cipher is NULL")
            body = self._ctr(keys, ssrc, index, body)
        return packet[:8] + body

    @staticmethod
    def srtcp_index(packet: bytes, transform: Transform) -> int:
        """The SRTCP index of a packet under ``transform``'s layout."""
        tag_len = 0 if (transform.gcm or transform.auth == AUTH_NULL) else transform.rtcp_tag_len
        end = len(packet) - tag_len - transform.mki_len
        return rtp.SRTCP_INDEX.parse(packet[end - 4:end]).index


def mki_offset(transform: Transform, packet_len: int, rtcp: bool) -> int:
    """Where the MKI starts in a protected packet: before the HMAC tag (RFC 3711 §3.1, §3.4),
    after the GCM tag (RFC 7714 §8, §9)."""
    if transform.gcm or transform.auth == AUTH_NULL:
        tag = 0
    else:
        tag = transform.rtcp_tag_len if rtcp else (transform.rtp_tag_len
                                                  if transform.rtp_authenticated else 0)
    return packet_len - tag - transform.mki_len
