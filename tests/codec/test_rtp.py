"""RTP/RTCP header schemas (codec/rtp.py) against scapy's RTP layer and libsrtp."""

from __future__ import annotations

import pylibsrtp
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.rtp import RTP, RTPExtension

from codec import rtp, srtp
from codec.media import MediaKeys

KEY, SALT = bytes(range(16)), bytes(range(100, 112))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), max_size=15), st.booleans(),
       st.integers(0, 6), st.integers(0, 65535), st.integers(0, 2**32 - 1))
def test_header_length_ssrc_seq_as_scapy_builds_them(csrcs, ext, ext_words, seq, ssrc):
    pkt = RTP(version=2, sequence=seq, sourcesync=ssrc, sync=csrcs, numsync=len(csrcs),
              extension=int(ext), payload_type=96)
    if ext:
        pkt = pkt / RTPExtension(header_id=0xBEDE, header=[7] * ext_words)
    wire = bytes(pkt) + b"payload"
    h = rtp.RtpHeader(wire)
    assert (h.ssrc, h.seq) == (ssrc, seq)
    assert wire[h.length:] == b"payload"
    assert rtp.stream_ssrc(wire) == ssrc and not rtp.is_rtcp(wire)


def test_srtp_with_csrcs_and_extension_opens_what_libsrtp_protected():
    """The whole header — CSRC list and extension — is the GCM AAD (RFC 7714 §8.2): a wrong
    header length would fail the tag."""
    sender = pylibsrtp.Session(pylibsrtp.Policy(
        key=KEY + SALT, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM))
    plain = bytes(RTP(version=2, sequence=7, sourcesync=0xCAFE, sync=[1, 2], numsync=2,
                      extension=1, payload_type=96)
                  / RTPExtension(header_id=0xBEDE, header=[0x11223344])) + b"voice" * 8
    protected = sender.protect(plain)
    assert srtp.unprotect_rtp(srtp.SessionKeys(KEY, SALT), protected) == plain
    media = MediaKeys()
    media.add_session(b"", KEY, SALT, "test", ssrc=0xCAFE, roc=0)
    res = media.open(protected)
    assert res.ok and res.plaintext == plain


def test_malformed_rtp_header_is_a_media_error_not_an_exception():
    media = MediaKeys()
    media.add_session(b"", KEY, SALT, "test", ssrc=0xCAFE, roc=0)
    # CSRC count 15 in a 40-octet packet: the CSRC list runs past the end
    bad = bytes([0x8F, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0xCA, 0xFE]) + bytes(28)
    res = media.open(bad)
    assert res is not None and not res.ok and "malformed RTP header" in res.error


def test_srtcp_index_trailer_round_trip():
    b = rtp.SRTCP_INDEX.build({"encrypted": True, "index": 0x1234567})
    assert b == bytes.fromhex("81234567")
    assert rtp.SRTCP_INDEX.parse(b).index == 0x1234567


def test_gmk_sender_keys_derived_from_packets_are_bounded_and_derived_again():
    """Every packet naming a known GMK-ID makes a sender key from the GUK-ID in its MKI (TS
    33.180 §7.4.2) before its tag is checked: a flood of made-up GUK-IDs must not grow memory
    without bound, and a real sender's packet still opens afterwards (its key derived again).
    The packet is protected by libsrtp (pylibsrtp, AES-128-GCM) with the sender key of RFC 3830
    §4.1.3's PRF as re-implemented here, and the 8-octet MKI appended after the tag (RFC 7714
    §8: the MKI is not in the AAD)."""
    import hashlib
    import hmac
    import random

    from codec import media

    gmk, rand, gmk_id, guk_id, cs_id = bytes(range(16)), bytes(range(32, 48)), 0x12345678, \
        0x0ABCDEF0, 4

    def prf_sha256(inkey: bytes, label: bytes, out_len: int) -> bytes:  # RFC 6043 §6.1 P_256
        out, a = b"", label
        while len(out) < out_len:
            a = hmac.new(inkey, a, hashlib.sha256).digest()
            out += hmac.new(inkey, a + label, hashlib.sha256).digest()
        return out[:out_len]

    def derive(constant: int, out_len: int) -> bytes:  # RFC 3830 §4.1.3/§4.1.4 label
        label = (constant.to_bytes(4, "big") + cs_id.to_bytes(1, "big")
                 + guk_id.to_bytes(4, "big") + rand)
        return prf_sha256(gmk, label, out_len)

    key, salt = derive(0x2AD01C64, 16), derive(0x39A2C14B, 12)
    sender = pylibsrtp.Session(pylibsrtp.Policy(
        key=key + salt, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM))
    plain = bytes(RTP(version=2, sequence=9, sourcesync=0xBEEF, payload_type=96)) + b"v" * 40
    real = sender.protect(plain) + gmk_id.to_bytes(4, "big") + guk_id.to_bytes(4, "big")
    keys = MediaKeys()
    keys.add_group(gmk_id, gmk, rand, 1, cs_id, "GMK")
    res = keys.open(real)
    assert res.ok and res.plaintext == plain
    rng = random.Random(5)
    for i in range(media.MAX_DERIVED + 500):
        bogus = bytearray(real)
        bogus[-4:] = rng.getrandbits(32).to_bytes(4, "big")
        bogus[3] = i & 0xFF
        res = keys.open(bytes(bogus))
        assert res is not None and not res.ok  # the made-up sender's key fails the tag
    assert len(keys.derived) <= media.MAX_DERIVED
    assert real[-8:] not in keys.derived  # pushed out by the flood ...
    res = keys.open(real)  # ... and derived again
    assert res.ok and res.plaintext == plain
