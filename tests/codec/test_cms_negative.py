"""Bad input and failed checks: every one a clear typed error or a failing verdict.

Tampered ciphertext / tag / signature / signed attribute, wrong key, unknown key identifier,
truncated DER, wrong tags, absurd lengths, deep nesting, decompression bombs, random bytes.
"""

from __future__ import annotations

import pytest
from hypothesis import example, HealthCheck, given, settings
from hypothesis import strategies as st

from codec import DecodeError, cms, mime
from codec.cms import build as cms_build
from codec.cms import oids
from codec.keyring import Kek, Keyring
from tests.support.cms_pki import KEK_IDS, KEKS, PLAIN, pki  # noqa: F401

KEY_ID = bytes.fromhex(KEK_IDS[16])
KEK = bytes.fromhex(KEKS[16])
RING = Keyring(keks=[Kek(KEY_ID, KEK)])


def _flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    return data[:offset] + bytes([data[offset] ^ mask]) + data[offset + 1:]


def _psk_object(content=PLAIN):
    return cms_build.auth_envelope(content, [cms_build.KekRecipient(KEY_ID, KEK)])


def _at(layer, suffix):
    """(offset of the contents, length) of a primitive element, from the decoder's spans."""
    from codec.cms.der import primitive_value
    off, octets = primitive_value(layer.source, layer.span(suffix))
    return off, len(octets)


# -- AuthEnvelopedData: ciphertext and tag -----------------------------------------------------
@pytest.mark.parametrize("what", ["authEncryptedContentInfo.encryptedContent", "mac"])
def test_tampered_gcm_ciphertext_or_tag_releases_nothing(what):
    der = _psk_object()
    off, n = _at(cms.decode(der), what)
    bad = _flip(der, off + n // 2)
    result = cms.open_layers(bad, RING)
    assert not result.ok and result.content is None
    assert "authentication tag mismatch" in result.error
    assert result.layers[0].error_path.endswith(".mac")
    assert cms.open_layers(der, RING).content == PLAIN  # the untampered object opens


def test_tampered_kek_encrypted_key_fails_unwrap():
    der = _psk_object()
    off, n = _at(cms.decode(der), "recipientInfos[0].kekri.encryptedKey")
    result = cms.open_layers(_flip(der, off + 3), RING)
    assert not result.ok and "key unwrap failed" in result.error
    layer = result.layers[0]
    assert layer.error_path.endswith("recipientInfos[0].kekri.encryptedKey")
    # offsets name the element's first octet (its tag), as DecodeError offsets do
    assert layer.error_offset == cms.decode(der).span("recipientInfos[0].kekri.encryptedKey").inner
    assert der[layer.error_offset] == 0x04 and layer.error_offset < off


def test_wrong_kek_under_the_right_identifier():
    wrong = Keyring(keks=[Kek(KEY_ID, bytes(16))])
    result = cms.open_layers(_psk_object(), wrong)
    assert not result.ok and "wrong KEK" in result.error and result.content is None


def test_unknown_key_identifier_is_a_cms_error_naming_it():
    other = Keyring(keks=[Kek(b"\x99\x99", KEK)])
    with pytest.raises(cms.CmsError, match=f"no KEK with key identifier {KEY_ID.hex()}"):
        cms.decrypt(cms.decode(_psk_object()), other)
    result = cms.open_layers(_psk_object(), other)
    assert not result.ok and KEY_ID.hex() in result.error


def test_no_private_key_for_the_rsa_recipient(pki):
    ring = pki.ring("rsa_crt")
    der = cms_build.envelope(PLAIN, [cms_build.KeyTransRecipient(ring.certificates[0])])
    with pytest.raises(cms.CmsError, match="no RSA private key with a certificate for issuer"):
        cms.decrypt(cms.decode(der), pki.ring("other_key", "other_crt"))


def test_kari_with_wrong_ec_key_has_no_match(pki):
    ring = pki.ring("ec_crt")
    der = cms_build.envelope(PLAIN, [cms_build.KeyAgreeRecipient(ring.certificates[0])])
    with pytest.raises(cms.CmsError, match=r"\(kari\): no EC private key"):
        cms.decrypt(cms.decode(der), pki.ring("rsa_key", "rsa_crt"))


def test_cbc_with_wrong_key_length_kek_is_refused():
    der = cms_build.envelope(PLAIN, [cms_build.KekRecipient(KEY_ID, KEK)])
    wrong = Keyring(keks=[Kek(KEY_ID, bytes(32))])
    result = cms.decrypt(cms.decode(der), wrong)
    assert not result.ok and "KEK is 32 octets" in result.error


# -- SignedData --------------------------------------------------------------------------------
def _signed(pki, **kw):
    ring = pki.ring("ec_key", "ec_crt")
    return cms_build.sign(PLAIN, ring.certificates[0], ring.private_keys[0], **kw), pki.ring("ec_crt")


def test_tampered_signature(pki):
    der, ring = _signed(pki)
    layer = cms.decode(der)
    off, n = _at(layer, "signerInfos[0].signature")
    v = cms.verify(cms.decode(_flip(der, off + n - 5)), ring)
    assert not v.ok and v.error == "signer 0: signature invalid"
    assert v.error_path.endswith("signerInfos[0].signature")
    assert v.error_offset == layer.span("signerInfos[0].signature").inner


def test_tampered_econtent_is_a_message_digest_mismatch(pki):
    der, ring = _signed(pki)
    off, _ = _at(cms.decode(der), "encapContentInfo.eContent")
    v = cms.verify(cms.decode(_flip(der, off + 2)), ring)
    assert not v.ok and "message-digest mismatch" in v.error
    assert "signedAttrs" in v.error_path


def test_tampered_signed_attribute_breaks_the_signature(pki):
    der, ring = _signed(pki)
    layer = cms.decode(der)
    # the signingTime attribute value: change one digit of the time
    off, _ = _at(layer, "signerInfos[0].signedAttrs[1].attrType")
    idx = der.index(b"Z", off) - 1
    v = cms.verify(cms.decode(der[:idx] + bytes([der[idx] ^ 1]) + der[idx + 1:]), ring)
    assert not v.ok and v.error.endswith("signature invalid")


def test_content_type_attribute_mismatch(pki):
    der, ring = _signed(pki)
    layer = cms.decode(der)
    off, n = _at(layer, "encapContentInfo.eContentType")
    assert der[off:off + n] == bytes.fromhex("2a864886f70d010701")  # id-data
    bad = der[:off + n - 1] + b"\x04" + der[off + n:]  # -> PKCS #7 signedAndEnvelopedData
    v = cms.verify(cms.decode(bad), ring)
    assert not v.ok and "content-type attribute mismatch" in v.error


def test_detached_content_other_than_signed(pki):
    der, ring = _signed(pki, detached=True)
    v = cms.verify(cms.decode(der), ring, PLAIN + b"x")
    assert not v.ok and "message-digest mismatch" in v.error
    assert cms.verify(cms.decode(der), ring, PLAIN).ok


def test_encrypt_then_sign_tampered_inner_ciphertext_caught_by_signature(pki):
    ring = pki.ring("ec_key", "ec_crt", "rsa_key", "rsa_crt")
    der = cms_build.encrypt_then_sign(PLAIN, [cms_build.KeyTransRecipient(ring.certificates[1])],
                                      ring.certificates[0], ring.private_keys[0])
    inner = cms.decode(der).inner
    off, n = _at(inner, "encryptedContentInfo.encryptedContent")
    result = cms.open_layers(_flip(der, off), ring)
    assert not result.ok and result.content is None
    assert [r.ok for r in result.layers] == [False]  # stopped at the signature layer
    assert "message-digest mismatch" in result.error


def test_inner_signature_failure_releases_no_plaintext(pki):
    ring = pki.ring("ec_key", "ec_crt")
    signed = cms_build.sign(PLAIN, ring.certificates[0], ring.private_keys[0], content_info_wrap=False)
    signed = signed[:-3] + bytes([signed[-3] ^ 0xFF]) + signed[-2:]  # inside the signature
    der = cms_build.envelope(signed, [cms_build.KekRecipient(KEY_ID, KEK)], content_type=oids.SIGNED_DATA)
    result = cms.open_layers(der, Keyring(keks=[Kek(KEY_ID, KEK)],
                                          certificates=ring.certificates))
    assert not result.ok and result.content is None
    assert [r.kind for r in result.layers] == ["EnvelopedData", "SignedData"]
    assert result.layers[0].ok and not result.layers[1].ok


# -- malformed DER -----------------------------------------------------------------------------
def test_every_truncation_is_a_decode_error():
    der = _psk_object()
    for n in range(len(der)):
        with pytest.raises(DecodeError) as e:
            cms.decode(der[:n])
        assert 0 <= e.value.offset <= n


def test_truncated_field_is_named():
    der = _psk_object()
    layer = cms.decode(der)
    off, _ = _at(layer, "mac")
    with pytest.raises(DecodeError) as e:
        cms.decode(der[:off + 4])
    assert e.value.path.startswith("ContentInfo")
    assert "exceeds" in e.value.reason or "truncated" in e.value.reason


def test_wrong_outer_tag():
    der = _psk_object()
    with pytest.raises(DecodeError) as e:
        cms.decode(b"\x31" + der[1:])
    assert (e.value.path, e.value.offset) == ("ContentInfo", 0)
    assert "expected SEQUENCE, found SET" in e.value.reason


def test_wrong_inner_tag_is_located():
    der = _psk_object()
    layer = cms.decode(der)
    span = layer.span("mac")
    bad = der[:span.inner] + b"\x02" + der[span.inner + 1:]  # OCTET STRING -> INTEGER
    with pytest.raises(DecodeError) as e:
        cms.decode(bad)
    assert e.value.path == "ContentInfo.content.AuthEnvelopedData.mac"
    assert e.value.offset == span.inner
    assert "expected OCTET STRING, found INTEGER" in e.value.reason


@pytest.mark.parametrize("data,reason", [
    (b"\x30\x88\xff\xff\xff\xff\xff\xff\xff\xff", "exceeds"),
    (b"\x30\x89" + b"\xff" * 9, "absurd length"),
    (b"\x30\x84\x7f\xff\xff\xff\x06\x00", "exceeds"),
    (b"\x04\x80\x00\x00", "indefinite length on a primitive"),
    (b"", "no octets left"),
])
def test_absurd_lengths(data, reason):
    with pytest.raises(DecodeError, match=reason):
        cms.decode(data)


def test_trailing_octets():
    der = _psk_object()
    with pytest.raises(DecodeError, match="after the ContentInfo"):
        cms.decode(der + b"\x00")
    layer = cms.decode(der + b"\x00", allow_trailing=True)
    assert any("ignored" in f.message for f in layer.findings)


def test_deep_tlv_nesting_is_bounded():
    deep = b"\x30\x80" * 5000
    with pytest.raises(DecodeError):
        cms.decode(deep)
    nested = b"\x05\x00"
    for _ in range(200):  # [0] EXPLICIT all the way down, as a ContentInfo's content
        nested = b"\xa0" + (bytes([len(nested)]) if len(nested) < 128 else
                            b"\x82" + len(nested).to_bytes(2, "big")) + nested
    with pytest.raises(DecodeError):
        cms.decode(b"\x30\x82" + (len(nested) + 11).to_bytes(2, "big") +
                   bytes.fromhex("06092a864886f70d010702") + nested)


def test_deep_cms_nesting_is_bounded(pki):
    ring = pki.ring("ec_key", "ec_crt")
    content, ctype = PLAIN, oids.DATA
    for _ in range(cms.MAX_NESTING + 2):
        content = cms_build.sign(content, ring.certificates[0], ring.private_keys[0],
                                 econtent_type=ctype, content_info_wrap=False, include_certificate=False)
        ctype = oids.SIGNED_DATA
    with pytest.raises(DecodeError, match="nesting deeper than 16"):
        cms.decode(cms_build.content_info(oids.SIGNED_DATA, content))


def test_deep_nesting_through_decryption_is_bounded():
    content, ctype = PLAIN, oids.DATA
    for _ in range(cms.MAX_NESTING + 3):
        content = cms_build.auth_envelope(content, [cms_build.KekRecipient(KEY_ID, KEK)], content_type=ctype,
                                          content_info_wrap=False)
        ctype = oids.AUTH_ENVELOPED_DATA
    result = cms.open_layers(cms_build.content_info(oids.AUTH_ENVELOPED_DATA, content), RING)
    assert not result.ok and result.content is None
    assert "nest" in result.error.lower()


# -- CompressedData bounds ---------------------------------------------------------------------
def test_decompression_bomb_is_refused():
    bomb = cms_build.compress(bytes(20 * 1024 * 1024))  # 20 MiB of zeros, ~20 KiB compressed
    assert len(bomb) < 64 * 1024
    result = cms.open_layers(bomb)  # default bound 16 MiB
    assert not result.ok and result.content is None
    assert "exceeds the limit of 16777216 octets" in result.error
    small = cms_build.compress(bytes(100_000))
    assert not cms.open_layers(small, max_size=50_000).ok
    assert cms.open_layers(small, max_size=100_000).content == bytes(100_000)


def test_corrupt_and_truncated_zlib():
    der = cms_build.compress(PLAIN * 20)
    layer = cms.decode(der)
    off, n = _at(layer, "encapContentInfo.eContent")
    assert not cms.open_layers(_flip(der, off + 5, 0xFF)).ok
    z = der[off:off + n]
    import zlib as _z
    assert _z.decompress(z) == PLAIN * 20
    from pyasn1.codec.der import encoder
    from pyasn1.type import univ
    from pyasn1_modules import rfc3274
    cd = rfc3274.CompressedData()
    cd["version"] = 0
    cd["compressionAlgorithm"]["algorithm"] = univ.ObjectIdentifier(oids.ZLIB_COMPRESS)
    cd["encapContentInfo"]["eContentType"] = univ.ObjectIdentifier(oids.DATA)
    cd["encapContentInfo"]["eContent"] = z[:len(z) // 2]
    result = cms.open_layers(cms_build.content_info(oids.COMPRESSED_DATA, encoder.encode(cd)))
    assert not result.ok and "truncated" in result.error


# -- any input: a result or a DecodeError, never another exception -----------------------------
_SAMPLES: list[bytes] = []


def _samples():
    if not _SAMPLES:
        _SAMPLES.extend([_psk_object(), cms_build.compress(PLAIN),
                         cms_build.envelope(PLAIN, [cms_build.KekRecipient(KEY_ID, KEK)])])
    return _SAMPLES


def _never_crashes(data: bytes):
    try:
        layer = cms.decode(data)
    except DecodeError:
        return
    try:
        cms.open_layers(layer, RING, max_size=1 << 16)
    except cms.CmsError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_decode_or_decode_error(data):
    _never_crashes(data)
    _never_crashes(b"\x30" + data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                   min_size=1, max_size=4))
@example(which=0, edits=[(121, 96)])  # regression: empty pyasn1 error text made an IndexError
def test_mutated_objects_decode_or_decode_error(which, edits):
    data = bytearray(_samples()[which])
    for pos, value in edits:
        data[pos % len(data)] = value
    _never_crashes(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_mime_parse_never_crashes(data):
    for blob in (data, b"Content-Type: multipart/mixed; boundary=x\r\n\r\n" + data,
                 b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 5\r\n\r\n" + data):
        try:
            mime.find_smime(mime.parse(blob))
        except DecodeError:
            pass


def test_auth_attrs_are_authenticated():
    """RFC 5083 §2.2: authAttrs (required when the content is not id-data) are GCM AAD.
    (OpenSSL 3.0 cannot be the oracle here: it declares authAttrs as [2], not RFC 5083's [1],
    and does not decrypt such objects.)"""
    inner = cms_build.compress(PLAIN, content_info_wrap=False)
    der = cms_build.auth_envelope(inner, [cms_build.KekRecipient(KEY_ID, KEK)], content_type=oids.COMPRESSED_DATA)
    layer = cms.decode(der)
    assert layer.has("authAttrs") and der[layer.span("authAttrs").inner] == 0xA1
    ok = cms.open_layers(der, RING)
    assert ok.ok and ok.content == PLAIN
    assert [r.kind for r in ok.layers] == ["AuthEnvelopedData", "CompressedData"]
    # the last octet of the content-type attribute's OID value
    bad = cms.open_layers(_flip(der, layer.span("authAttrs").end - 1), RING)
    assert not bad.ok and "authentication tag mismatch" in bad.error and bad.content is None
