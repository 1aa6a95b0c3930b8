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
