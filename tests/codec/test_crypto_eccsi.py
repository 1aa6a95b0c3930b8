"""ECCSI (RFC 6507) against the RFC 6507 Appendix A vector and a step-by-step second method.

Oracles: the Appendix A values (reference/mcptt-security.md §4.1, all hex — KSAK = 0x12345,
v = 0x23456, j = 0x34567), and :func:`eccsi.verify_reference`, which runs RFC 6507 §5.2.2 in plain
Python, for the ECDSA-mapped fast path of :func:`eccsi.verify`.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec.crypto import eccsi, p256

# -- RFC 6507 Appendix A (reference/mcptt-security.md §4.1) -------------------------------------
KSAK = 0x12345
V = 0x23456
J = 0x34567
ID = bytes.fromhex("323031312D30320074656C3A2B34343737303039303031323300")
M = bytes.fromhex("6D65737361676500")
KPAK = bytes.fromhex(
    "04" "50D4670BDE75244F28D2838A0D25558A7A72686D4522D4C8273FB6442AEBFA93"
    "DBDD37551AFD263B5DFD617F3960C65A8C298850FF99F20366DCE7D4367217F4")
PVT = bytes.fromhex(
    "04" "758A142779BE89E829E71984CB40EF758CC4AD775FC5B9A3E1C8ED52F6FA36D9"
    "A79D247692F4EDA3A6BDAB77D6AA6474A464AE4934663C5265BA7018BA091F79")
HS = 0x490F3FEBBC1C902F6289723D7F8CBF79DB88930849D19F38F0295B5C276C14D1
SSK = bytes.fromhex("23F374AE1F4033F3E9DBDDAAEF20F4CF0B86BBD5A138A5AE9E7E006B34489A0D")
R = bytes.fromhex("269D4C8FDEB66A74E4EF8C0D5DCC597DDFE6029C2AFFC4936008CD2CC1045D81")
HE = bytes.fromhex("111F90EAE8271C96DF9B3D6726768D9EE9B18145D7EC152CFA9C23D1C4F02285")
S = bytes.fromhex("E09B528D0EF8D6DF1AA3ECBF80110CFCEC9FC68252CEBB679F4134846940CCFD")
SIG = R + S + PVT
# NIST P-256 order (FIPS 186-4 D.1.2.3), written out here rather than taken from the code
Q = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


# -- the vector, bit for bit -------------------------------------------------------------------
def test_kpak_from_ksak():
    ksak, kpak = eccsi.kms_keypair(KSAK)
    assert ksak == KSAK
    assert kpak == KPAK


def test_pvt_and_ssk_from_v():
    ssk, pvt = eccsi.issue_user_keys(KSAK, KPAK, ID, v=V)
    assert pvt == PVT
    assert ssk == SSK


def test_hs():
    assert eccsi.hash_hs(KPAK, ID, PVT) == HS
    # and HS is SHA-256(G || KPAK || ID || PVT) with G the P-256 base point (RFC 6507 §5.1.1)
    g = bytes.fromhex("04" "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"
                      "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5")
    assert int.from_bytes(hashlib.sha256(g + KPAK + ID + PVT).digest(), "big") == HS


def test_he():
    assert eccsi.hash_he(HS, int.from_bytes(R, "big"), M) == HE


def test_signature_with_j_is_the_vector():
    sig = eccsi.sign(M, ID, SSK, PVT, KPAK, j=J)
    assert len(sig) == 129 == eccsi.SIGNATURE_LEN
    assert sig[:32] == R
    assert sig[32:64] == S
    assert sig[64:] == PVT
    assert sig == SIG


def test_vector_verifies_both_ways():
    assert eccsi.verify(M, SIG, ID, KPAK) == eccsi.Verdict(True)
    assert eccsi.verify_reference(M, SIG, ID, KPAK).ok


def test_validate_user_keys_vector():
    assert eccsi.validate_user_keys(KPAK, ID, SSK, PVT).ok


@pytest.mark.parametrize("what", ["ssk", "pvt", "id", "kpak"])
def test_validate_user_keys_rejects(what):
    ssk, pvt, ident, kpak = SSK, PVT, ID, KPAK
    if what == "ssk":
        ssk = ((int.from_bytes(SSK, "big") + 1) % Q).to_bytes(32, "big")
    elif what == "pvt":  # another point on the curve
        pvt = p256.encode_point(p256.base_mult(V + 1))
    elif what == "id":
        ident = ID.replace(b"2011-02", b"2011-03")
    else:
        kpak = p256.encode_point(p256.base_mult(KSAK + 1))
    v = eccsi.validate_user_keys(kpak, ident, ssk, pvt)
    assert not v.ok
    assert "KPAK + [HS]PVT" in v.reason


def test_validate_user_keys_bad_inputs_are_verdicts():
    assert not eccsi.validate_user_keys(KPAK, ID, bytes(32), PVT).ok  # SSK = 0
    assert not eccsi.validate_user_keys(KPAK, ID, Q.to_bytes(32, "big"), PVT).ok  # SSK = q
    off = bytearray(PVT)
    off[40] ^= 1
    v = eccsi.validate_user_keys(KPAK, ID, SSK, bytes(off))
    assert not v.ok and "curve" in v.reason


def test_issue_and_sign_random_keys_roundtrip():
    ksak, kpak = eccsi.kms_keypair()
    ident = b"sip:alice@example.org"
    ssk, pvt = eccsi.issue_user_keys(ksak, kpak, ident)
    assert eccsi.validate_user_keys(kpak, ident, ssk, pvt).ok
    sig = eccsi.sign(b"hello", ident, ssk, pvt, kpak)
    assert eccsi.verify(b"hello", sig, ident, kpak).ok
    assert eccsi.verify_reference(b"hello", sig, ident, kpak).ok
    # a second signature uses a fresh j: same PVT, different r
    sig2 = eccsi.sign(b"hello", ident, ssk, pvt, kpak)
    assert sig2[:32] != sig[:32] and sig2[64:] == pvt


# -- negatives: each a Verdict(ok=False) with a reason, never an exception ----------------------
def _with(r=None, s=None, pvt=None):
    r = R if r is None else r.to_bytes(32, "big")
    s = S if s is None else s.to_bytes(32, "big")
    return r + s + (PVT if pvt is None else pvt)


def _flip(data: bytes, index: int, bit: int = 0) -> bytes:
    b = bytearray(data)
    b[index] ^= 1 << bit
    return bytes(b)


@pytest.mark.parametrize("sig, reason", [
    (_with(r=0, s=0), "r outside"),
    (_with(r=0), "r outside"),
    (_with(s=0), "s outside"),
    (_with(r=Q), "r outside"),
    (_with(s=Q), "s outside"),
    (_with(r=Q + 1), "r outside"),
    (_with(s=Q + 5), "s outside"),
    (_with(r=(1 << 256) - 1), "r outside"),
    (_with(s=(1 << 256) - 1), "s outside"),
], ids=["r=s=0", "r=0", "s=0", "r=q", "s=q", "r=q+1", "s>q", "r=2^256-1", "s=2^256-1"])
def test_scalar_range(sig, reason):
    v = eccsi.verify(M, sig, ID, KPAK)
    assert v == eccsi.Verdict(False, v.reason)
    assert reason in v.reason
    assert not eccsi.verify_reference(M, sig, ID, KPAK).ok


@pytest.mark.parametrize("index", [1, 16, 32, 33, 50, 64])
def test_pvt_off_curve(index):
    pvt = _flip(PVT, index)
    sig = R + S + pvt
    v = eccsi.verify(M, sig, ID, KPAK)
    assert not v.ok
    assert "PVT" in v.reason and "curve" in v.reason
    assert not eccsi.verify_reference(M, sig, ID, KPAK).ok


@pytest.mark.parametrize("prefix", [0x00, 0x02, 0x03, 0x05, 0xFF])
def test_pvt_not_uncompressed(prefix):
    v = eccsi.verify(M, R + S + bytes([prefix]) + PVT[1:], ID, KPAK)
    assert not v.ok
    assert "PVT" in v.reason and "uncompressed" in v.reason


def test_pvt_valid_point_but_not_the_issued_one():
    other = p256.encode_point(p256.base_mult(V + 1))
    v = eccsi.verify(M, R + S + other, ID, KPAK)
    assert not v.ok and "Jx != r" in v.reason


@pytest.mark.parametrize("length", [0, 1, 64, 128, 130, 131, 258])
def test_wrong_length(length):
    sig = (SIG * 3)[:length]
    v = eccsi.verify(M, sig, ID, KPAK)
    assert not v.ok
    assert str(length) in v.reason and "129" in v.reason
    assert not eccsi.verify_reference(M, sig, ID, KPAK).ok


def test_wrong_identifier():
    for ident in (ID[:-1], ID + b"\x00", ID.replace(b"2011-02", b"2011-03"), b""):
        v = eccsi.verify(M, SIG, ident, KPAK)
        assert not v.ok and "Jx != r" in v.reason


def test_wrong_kpak_on_curve():
    other = p256.encode_point(p256.base_mult(KSAK + 1))
    v = eccsi.verify(M, SIG, ID, other)
    assert not v.ok and "Jx != r" in v.reason


def test_kpak_off_curve_is_a_verdict_naming_the_kpak():
    bad = _flip(KPAK, 20)
    v = eccsi.verify(M, SIG, ID, bad)
    assert not v.ok
    # the reason must blame the KPAK (the KMS key), not the signer's PVT
    assert "KPAK" in v.reason, v.reason


def test_kpak_garbage_is_a_verdict():
    for bad in (b"", b"\x04", KPAK[:-1], b"\x02" + KPAK[1:33]):
        v = eccsi.verify(M, SIG, ID, bad)
        assert not v.ok and v.reason


@pytest.mark.parametrize("index", range(len(M)))
def test_message_byte_flip(index):
    v = eccsi.verify(_flip(M, index), SIG, ID, KPAK)
    assert not v.ok and "Jx != r" in v.reason


@pytest.mark.parametrize("index", [0, 15, 31, 32, 47, 63])
def test_signature_scalar_bit_flip(index):
    sig = _flip(SIG, index, 3)
    v = eccsi.verify(M, sig, ID, KPAK)
    assert not v.ok
    assert v.ok == eccsi.verify_reference(M, sig, ID, KPAK).ok


def test_message_truncated_or_extended():
    assert not eccsi.verify(M[:-1], SIG, ID, KPAK).ok
    assert not eccsi.verify(M + b"\x00", SIG, ID, KPAK).ok
    assert not eccsi.verify(b"", SIG, ID, KPAK).ok


def test_verify_accepts_bytearray_and_memoryview():
    assert eccsi.verify(bytearray(M), bytearray(SIG), bytearray(ID), bytearray(KPAK)).ok
    assert eccsi.verify(M, memoryview(SIG), ID, memoryview(KPAK)).ok


# -- fast path vs the RFC algorithm, valid and invalid -------------------------------------------
_KSAK2, _KPAK2 = eccsi.kms_keypair(0xC0FFEE)
_ID2 = b"sip:bob@example.org"
_SSK2, _PVT2 = eccsi.issue_user_keys(_KSAK2, _KPAK2, _ID2, v=0xBEEF)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=st.binary(max_size=200), flip=st.none() | st.integers(0, 10_000), bit=st.integers(0, 7))
def test_verify_agrees_with_reference(message, flip, bit):
    sig = eccsi.sign(message, _ID2, _SSK2, _PVT2, _KPAK2)
    msg = message
    if flip is not None:
        # flip one bit of the message or of the signature (r, s or PVT)
        total = len(message) + len(sig)
        pos = flip % total
        if pos < len(message):
            msg = _flip(message, pos, bit)
        else:
            sig = _flip(sig, pos - len(message), bit)
    fast = eccsi.verify(msg, sig, _ID2, _KPAK2)
    ref = eccsi.verify_reference(msg, sig, _ID2, _KPAK2)
    assert fast.ok == ref.ok
    assert fast.ok == (flip is None)


@settings(max_examples=8, deadline=None)
@given(r=st.integers(1, Q - 1), s=st.integers(1, Q - 1))
def test_random_scalars_rejected_by_both(r, s):
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big") + PVT
    assert not eccsi.verify(M, sig, ID, KPAK).ok
    assert not eccsi.verify_reference(M, sig, ID, KPAK).ok
