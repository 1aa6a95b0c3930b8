"""MIKEY PRF (RFC 3830 §4.1.2, RFC 6043 §6.1), the TS 33.220 KDF, UIDs and key identifiers.

The PRF oracle below is written from RFC 3830 §4.1.2 independently of codec.crypto.prf: the
P_hash blocks are built one by one with ``hmac.new`` and the slices are XOR-ed as big integers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from codec.crypto import mcx, prf


# -- an independent PRF ---------------------------------------------------------------------------
def ref_prf(inkey: bytes, label: bytes, out_len: int, hash_name: str) -> bytes:
    """RFC 3830 §4.1.2: n = ceil(|inkey| / 256 bit), m = ceil(outkey_len / hash bits);
    PRF = first outkey_len bits of P(s_1, label, m) XOR ... XOR P(s_n, label, m)."""
    digest_len = hashlib.new(hash_name).digest_size
    m = (out_len + digest_len - 1) // digest_len
    slices = [inkey[i:i + 32] for i in range(0, len(inkey), 32)] or [b""]
    acc = 0
    for s in slices:
        blocks = []
        a = label  # A_0
        for _ in range(m):
            a = hmac.new(s, a, hash_name).digest()  # A_i = HMAC(s, A_{i-1})
            blocks.append(hmac.new(s, a + label, hash_name).digest())
        acc ^= int.from_bytes(b"".join(blocks), "big")
    full = acc.to_bytes(m * digest_len, "big")
    return full[:out_len]


def _key(n: int) -> bytes:
    return bytes((7 * i + 3) & 0xFF for i in range(n))


LABEL = prf.tgk_label(prf.TEK, 4, 0x0ABCDEF1, bytes(range(16)))


@pytest.mark.parametrize("prf_func, hash_name", [(prf.PRF_MIKEY_1, "sha1"),
                                                 (prf.PRF_HMAC_SHA_256, "sha256")])
@pytest.mark.parametrize("inkey_len", [16, 32, 33, 64, 100])
def test_prf_against_reference(prf_func, hash_name, inkey_len):
    inkey = _key(inkey_len)
    for out_len in range(1, 101):
        assert prf.prf(inkey, LABEL, out_len, prf_func) == ref_prf(inkey, LABEL, out_len,
                                                                   hash_name), out_len


def test_prf_slices_matter():
    # a 64-octet inkey is two 256-bit slices: the PRF differs from the PRF of either slice alone
    inkey = _key(64)
    out = prf.prf(inkey, LABEL, 48, prf.PRF_HMAC_SHA_256)
    a = prf.prf(inkey[:32], LABEL, 48, prf.PRF_HMAC_SHA_256)
    b = prf.prf(inkey[32:], LABEL, 48, prf.PRF_HMAC_SHA_256)
    assert out == bytes(x ^ y for x, y in zip(a, b))
    assert out not in (a, b)


def test_prf_prefix_property():
    # out_len only truncates: a shorter output is a prefix of a longer one
    inkey = _key(33)
    long = prf.prf(inkey, LABEL, 100, prf.PRF_MIKEY_1)
    for n in (1, 19, 20, 21, 40, 41):
        assert long[:n] == prf.prf(inkey, LABEL, n, prf.PRF_MIKEY_1)


def test_prf_unknown_function():
    with pytest.raises(prf.PrfError):
        prf.prf(_key(16), LABEL, 16, 2)


# -- reference values of mikey.md §7.3 -----------------------------------------------------------
TGK = bytes(range(16))
RAND = bytes(range(0x10, 0x20))


@pytest.mark.parametrize("prf_func, tek, salt", [
    (prf.PRF_MIKEY_1, "838f7dea3e6c733fb7755a665bfab763", "c8512869cd0d1abaa797c728327b"),
    (prf.PRF_HMAC_SHA_256, "79fd124ed776e92942191513db132ac0", "88c029c1fea5ab1696c62ff5"),
])
def test_mikey_md_reference_values(prf_func, tek, salt):
    tek, salt = bytes.fromhex(tek), bytes.fromhex(salt)
    key, s = prf.srtp_master(TGK, 1, 0x12345678, RAND, 16, len(salt), prf_func)
    assert key == tek
    assert s == salt
    # and the same from the independent PRF with a hand-built label
    label_tek = bytes.fromhex("2AD01C64" "01" "12345678") + RAND
    label_salt = bytes.fromhex("39A2C14B" "01" "12345678") + RAND
    h = "sha1" if prf_func == prf.PRF_MIKEY_1 else "sha256"
    assert ref_prf(TGK, label_tek, 16, h) == tek
    assert ref_prf(TGK, label_salt, len(salt), h) == salt


# External interop vectors: the unit tests of Streamwide's MIKEY-SAKKE library
# (test_key_deriv: keyDeriv2 with PRF-HMAC-SHA-256, 16-octet SSV as TGK, 12-octet salt).
_SW_SSV = bytes.fromhex("A27B7D578EEB9B1EE7705E385996D300")
_SW_RAND = bytes.fromhex("4339F62F55AAC86348846A482C893802")


@pytest.mark.parametrize("constant, cs_id, csb_id, key, salt", [
    (prf.TEK, 4, 0x0633F457, "59aaa49ebb54813602b7cc165961b4e8", "745eb4df7d155c473114a799"),
    (prf.ENCR, 4, 0x05A85C16, "3924935940c154ccbc3c2ad05c8f5181", "1725869b80f370cc9f24e13b"),
    (prf.ENCR, 0, 0x05A85C16, "f17c80a8d2f9befa47cf712603d7229a", "c3b7b561a291a1d3abef482b"),
])
def test_streamwide_key_derivation_vectors(constant, cs_id, csb_id, key, salt):
    f = prf.PRF_HMAC_SHA_256
    assert prf.derive_from_tgk(_SW_SSV, constant, cs_id, csb_id, _SW_RAND, 16, f).hex() == key
    assert prf.derive_from_tgk(_SW_SSV, prf.SALT, cs_id, csb_id, _SW_RAND, 12, f).hex() == salt
    if constant == prf.TEK:
        assert prf.srtp_master(_SW_SSV, cs_id, csb_id, _SW_RAND, 16, 12, f) == (
            bytes.fromhex(key), bytes.fromhex(salt))


def test_single_slice_shortcut():
    # mikey.md §7.3: for a 16-octet TGK, PRF = HMAC(TGK, HMAC(TGK, label) || label)[:L]
    label = prf.tgk_label(prf.SALT, 6, 0x2000_0001, RAND)
    a1 = hmac.new(TGK, label, hashlib.sha256).digest()
    assert prf.prf(TGK, label, 12, prf.PRF_HMAC_SHA_256) == hmac.new(
        TGK, a1 + label, hashlib.sha256).digest()[:12]


def test_labels_and_constants():
    assert prf.tgk_label(0x2AD01C64, 4, 0x01020304, b"\xaa\xbb") == bytes.fromhex(
        "2AD01C64" "04" "01020304" "AABB")
    # the constants are consecutive 9-digit groups of e (RFC 3830 §4.1.3/§4.1.4)
    assert (prf.TEK, prf.AUTH, prf.ENCR, prf.TRANSPORT_ENCR, prf.TRANSPORT_AUTH,
            prf.TRANSPORT_SALT, prf.SALT) == (718281828, 459045235, 360287471, 352662497,
                                              757247093, 699959574, 966967627)
    # transport keys put 0xFF in the CS ID position
    assert prf.derive_transport(TGK, prf.TRANSPORT_AUTH, 7, RAND, 20) == ref_prf(
        TGK, bytes.fromhex("2D22AC75" "FF" "00000007") + RAND, 20, "sha1")


# -- TS 33.220 Annex B KDF ------------------------------------------------------------------------
def test_kdf_input_encoding():
    s = mcx.kdf_input(0x51, "sip:a@b", 0x2000ABCD, b"\x00\x01")
    assert s == (b"\x51" + b"sip:a@b" + b"\x00\x07" + bytes.fromhex("2000ABCD") + b"\x00\x04"
                 + b"\x00\x01" + b"\x00\x02")
    assert mcx.kdf_input(0x00) == b"\x00"
    assert mcx.kdf_input(0x50, "é") == b"\x50\xc3\xa9\x00\x02"  # UTF-8, length in octets
    assert mcx.kdf_input(0x53, 0) == b"\x53\x00\x00\x01"  # zero is one 0x00 octet


def test_kdf_is_hmac_sha256_of_s():
    key = bytes(range(32))
    s = b"\x52" + b"id" + b"\x00\x02"
    assert mcx.kdf(key, 0x52, "id") == hmac.new(key, s, hashlib.sha256).digest()
    assert mcx.kdf128(key, 0x52, "id") == hmac.new(key, s, hashlib.sha256).digest()[16:]


def test_kdf_parameter_too_long():
    with pytest.raises(ValueError):
        mcx.kdf_input(0x50, b"x" * 0x10000)
    assert len(mcx.kdf_input(0x50, b"x" * 0xFFFF)) == 1 + 0xFFFF + 2


@pytest.mark.parametrize("value, octets", [(0, "00"), (1, "01"), (255, "ff"), (256, "0100"),
                                           (1388, "056c"), (2592000, "278d00"),
                                           (0xFFFFFFFF, "ffffffff"), (1 << 32, "0100000000")])
def test_minimal_integer_encoding(value, octets):
    assert mcx.encode_int(value) == bytes.fromhex(octets)


def test_negative_integer_refused():
    with pytest.raises(ValueError):
        mcx.encode_int(-1)


# -- UID (TS 33.180 §F.2.1.2 worked example, reference/mcptt-security.md §2.3) --------------------
UID_HEX = "3a81fb14c3b1d0fe43c9c577104d55a6d81788bfd2f09743c4557746a5a0353b"
UID_B64 = "OoH7FMOx0P5DycV3EE1VptgXiL/S8JdDxFV3RqWgNTs="
S_HEX = ("00" "4d494b45592d53414b4b452d554944" "000f"
         "7369703a75736572406578616d706c652e6f7267" "0014"
         "6b6d732e6578616d706c652e6f7267" "000f"
         "278d00" "0003" "00" "0001" "056c" "0002")


def test_uid_example():
    assert mcx.key_period_number(3599719634, 2592000, 0) == 1388
    s = mcx.kdf_input(0x00, "MIKEY-SAKKE-UID", "sip:user@example.org", "kms.example.org",
                      2592000, 0, 1388)
    assert s == bytes.fromhex(S_HEX)
    uid = mcx.uid("sip:user@example.org", "kms.example.org", 2592000, 0, 1388)
    assert uid.hex() == UID_HEX
    assert base64.b64encode(uid).decode() == UID_B64
    assert uid == hashlib.sha256(bytes.fromhex(S_HEX)).digest()


def test_uid_depends_on_every_input():
    base = ("sip:user@example.org", "kms.example.org", 2592000, 0, 1388)
    ref = mcx.uid(*base)
    for i, other in enumerate(("sip:user2@example.org", "kms2.example.org", 2592001, 1, 1389)):
        args = list(base)
        args[i] = other
        assert mcx.uid(*args) != ref


def test_key_period_number_with_offset():
    assert mcx.key_period_number(2592000 * 10 + 5, 2592000, 10) == 9
    assert mcx.key_period_number(2592000 * 10 + 10, 2592000, 10) == 10
    with pytest.raises(ValueError):
        mcx.key_period_number(1, 0)


def test_rfc6509_identifier():
    # the ID of the RFC 6507/6508 vectors (RFC 6509 §3.2 form)
    assert mcx.rfc6509_identifier("tel:+447700900123", 2011, 2) == bytes.fromhex(
        "323031312D30320074656C3A2B34343737303039303031323300")


# -- GUK-ID, DPCK, key IDs ----------------------------------------------------------------------
GMK = bytes.fromhex("00112233445566778899aabbccddeeff")
URI = "sip:alice@example.org"


def _salt(gmk, uri):
    s = b"\x50" + uri.encode() + len(uri.encode()).to_bytes(2, "big")
    return int.from_bytes(hmac.new(gmk, s, hashlib.sha256).digest()[-4:], "big") & 0x0FFFFFFF


def test_guk_salt_independent():
    assert mcx.guk_salt(GMK, URI) == _salt(GMK, URI)


@pytest.mark.parametrize("gmk_id", [0x0000_0000, 0x0123_4567, 0x0FFF_FFFF, 0xF123_4567,
                                    0x3ABC_DEF0])
def test_guk_id_roundtrip_and_tag(gmk_id):
    guk = mcx.guk_id(gmk_id, GMK, URI)
    assert guk >> 28 == gmk_id >> 28  # purpose tag kept
    assert guk & 0x0FFFFFFF == (gmk_id & 0x0FFFFFFF) ^ _salt(GMK, URI)
    assert mcx.gmk_id_from_guk_id(guk, GMK, URI) == gmk_id
    # another member gets another GUK-ID for the same GMK
    assert mcx.guk_id(gmk_id, GMK, "sip:bob@example.org") != guk


def test_dpck_independent():
    dppk_id = 0x1234_5678
    s = b"\x53" + dppk_id.to_bytes(4, "big") + b"\x00\x04"
    assert mcx.dpck(GMK, dppk_id) == hmac.new(GMK, s, hashlib.sha256).digest()[16:]
    # the DPPK-ID is always 4 octets, also when it has leading zero octets
    s0 = b"\x53" + b"\x00\x00\x00\x05" + b"\x00\x04"
    assert mcx.dpck(GMK, 5) == hmac.new(GMK, s0, hashlib.sha256).digest()[16:]


@pytest.mark.parametrize("value, key_type, tag", [
    (0x0123_4567, "GMK", 0), (0x1234_5678, "PCK", 1), (0x2FFF_FFFF, "CSK", 2),
    (0x6000_0001, "MuSiK", 6), (0xF000_0000, None, 15)])
def test_key_id_purpose_tags(value, key_type, tag):
    k = mcx.KeyId(value)
    assert k.purpose_tag == tag
    if key_type is None:
        assert "unknown" in k.key_type
    else:
        assert k.key_type == key_type
    assert str(k) == f"0x{value:08x}"


def test_make_key_id():
    assert mcx.make_key_id("GMK", 0xFFFF_FFFF) == 0x0FFF_FFFF
    assert mcx.make_key_id("PCK", 0x0ABC_DEF0) == 0x1ABC_DEF0
    assert mcx.make_key_id("CSK", 0x1234_5678) == 0x2234_5678
    assert mcx.KeyId(mcx.make_key_id("CSK", 5)).key_type == "CSK"
    assert not mcx.KeyId(0x2000_0000).unconfirmed and mcx.KeyId(0x6000_0000).unconfirmed
