"""SRTP and SRTCP with the AES-GCM default profile of TS 33.180 (AEAD_AES_128_GCM, RFC 7714).

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

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from codec import rtp

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
