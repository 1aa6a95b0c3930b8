"""Interoperability with `openssl cms` (the oracle), both directions.

openssl -> mcsec: every recipient type, AuthEnvelopedData with KEK and with RSA, SignedData with
ECDSA / RSA / RSA-PSS, attached / detached / without attributes / SKI signer, both seed 003
nestings, S/MIME entities; mcsec must recover the same plaintext and verify every signature.
mcsec -> openssl: everything mcsec builds is decrypted and verified by `openssl cms`.
CompressedData: Debian's OpenSSL 3.0 is built without zlib (`cms -compress` fails), so that
direction is checked with Python's zlib and `openssl asn1parse` instead.
"""

from __future__ import annotations

import zlib

import pytest
from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1_modules import rfc5652

from codec import cms, mime
from codec.cms import build as cms_build
from codec.cms import oids
from tests.support.cms_pki import KEK_IDS, KEKS, PLAIN, openssl, pki  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _ossl_encrypt(pki, tmp_path, *opts, content=PLAIN, certs=(), outform="DER"):
    src = tmp_path / "in.txt"
    src.write_bytes(content)
    out = tmp_path / "out.bin"
    openssl("cms", "-encrypt", "-binary", "-in", src, "-outform", outform, "-out", out, *opts,
            *certs)
    return out.read_bytes()


def _open(der, ring, **kw):
    result = cms.open_layers(der, ring, **kw)
    assert result.ok, result.error
    return result


# -- openssl builds, mcsec opens ---------------------------------------------------------------
@pytest.mark.parametrize("size,cipher", [(16, "-aes-128-cbc"), (24, "-aes-192-cbc"),
                                         (32, "-aes-256-cbc")])
def test_openssl_kek_enveloped(pki, tmp_path, size, cipher):
    der = _ossl_encrypt(pki, tmp_path, cipher, "-secretkey", KEKS[size], "-secretkeyid",
                        KEK_IDS[size])
    layer = cms.decode(der)
    assert layer.kind == "EnvelopedData"
    assert layer.value["recipientInfos"][0].getName() == "kekri"
    result = _open(der, pki.ring("ring_toml"))
    assert result.content == PLAIN
    d = result.layers[0].decrypt
    assert d.recipient_kind == "kekri" and KEK_IDS[size] in d.recipient_key


@pytest.mark.parametrize("size,cipher", [(16, "-aes-128-gcm"), (32, "-aes-256-gcm")])
def test_openssl_kek_auth_enveloped_seed004_psk(pki, tmp_path, size, cipher):
    """Seed 004's PSK S/MIME: AuthEnvelopedData, AES-GCM, the key named by its identifier."""
    der = _ossl_encrypt(pki, tmp_path, cipher, "-secretkey", KEKS[size], "-secretkeyid",
                        KEK_IDS[size])
    layer = cms.decode(der)
    assert layer.kind == "AuthEnvelopedData" and layer.content_type == oids.AUTH_ENVELOPED_DATA
    result = _open(der, pki.ring("ring_toml"))
    assert result.content == PLAIN
    assert [c.name for c in result.layers[0].decrypt.checks] == ["recipient", "tag"]


def test_openssl_rsa_auth_enveloped(pki, tmp_path):
    der = _ossl_encrypt(pki, tmp_path, "-aes-256-gcm", certs=[pki.rsa_crt])
    assert cms.decode(der).kind == "AuthEnvelopedData"
    assert _open(der, pki.ring("rsa_key", "rsa_crt")).content == PLAIN


@pytest.mark.parametrize("opts,expect", [
    (["-aes-128-cbc"], "RSA PKCS#1 v1.5"),
    (["-aes-192-cbc", "-keyid"], "RSA PKCS#1 v1.5"),  # rid = subjectKeyIdentifier (ktri v2)
    (["-aes-256-cbc", "-keyopt", "rsa_padding_mode:oaep"], "RSAES-OAEP sha1"),
    (["-aes-128-cbc", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"],
     "RSAES-OAEP sha256"),
])
def test_openssl_ktri(pki, tmp_path, opts, expect):
    der = _ossl_encrypt(pki, tmp_path, *opts[:1], "-recip", pki.rsa_crt, *opts[1:])
    result = _open(der, pki.ring("rsa_key", "rsa_crt"))
    assert result.content == PLAIN
    assert expect in result.layers[0].decrypt.recipient_key


@pytest.mark.parametrize("opts,scheme", [
    ([], "dhSinglePass-stdDH-sha1kdf-scheme"),  # OpenSSL's default KDF
    (["-keyopt", "ecdh_kdf_md:sha256"], "dhSinglePass-stdDH-sha256kdf-scheme"),
    (["-keyopt", "ecdh_kdf_md:sha384", "-keyid"], "dhSinglePass-stdDH-sha384kdf-scheme"),
    (["-keyopt", "ecdh_cofactor_mode:1"], "dhSinglePass-cofactorDH-sha1kdf-scheme"),
])
def test_openssl_kari_ecdh_p256(pki, tmp_path, opts, scheme):
    der = _ossl_encrypt(pki, tmp_path, "-aes-128-cbc", "-recip", pki.ec_crt, *opts)
    assert cms.decode(der).value["recipientInfos"][0].getName() == "kari"
    result = _open(der, pki.ring("ec_key", "ec_crt"))
    assert result.content == PLAIN
    assert scheme in result.layers[0].decrypt.recipient_key


def test_openssl_three_recipient_types_each_key_alone(pki, tmp_path):
    der = _ossl_encrypt(pki, tmp_path, "-aes-256-cbc", "-secretkey", KEKS[32], "-secretkeyid",
                        KEK_IDS[32], "-recip", pki.rsa_crt, "-recip", pki.ec_crt)
    kinds = sorted(ri.getName() for ri in cms.decode(der).value["recipientInfos"])
    assert kinds == ["kari", "kekri", "ktri"]
    for names, kind in ((["ring_toml"], "kekri"), (["rsa_key", "rsa_crt"], "ktri"),
                        (["ec_key", "ec_crt"], "kari")):
        result = _open(der, pki.ring(*names))
        assert result.content == PLAIN and result.layers[0].decrypt.recipient_kind == kind


def _ossl_sign(pki, tmp_path, key, crt, *opts, content=PLAIN, outform="DER"):
    src = tmp_path / "in.txt"
    src.write_bytes(content)
    out = tmp_path / "signed.bin"
    openssl("cms", "-sign", "-binary", "-in", src, "-outform", outform, "-out", out,
            "-signer", crt, "-inkey", key, *opts)
    return out.read_bytes()


@pytest.mark.parametrize("who,opts,sig", [
    ("ec", ["-md", "sha256"], "ECDSA sha256"),
    ("ec", ["-md", "sha384"], "ECDSA sha384"),
    ("ec", ["-md", "sha512", "-keyid"], "ECDSA sha512"),
    ("rsa", ["-md", "sha256"], "RSA PKCS#1 v1.5 sha256"),
    ("rsa", ["-md", "sha512", "-keyopt", "rsa_padding_mode:pss"], "RSASSA-PSS sha512"),
    ("rsa", ["-md", "sha256", "-keyopt", "rsa_padding_mode:pss", "-keyopt",
             "rsa_pss_saltlen:20"], "RSASSA-PSS sha256"),
])
@pytest.mark.parametrize("detached", [False, True])
def test_openssl_signed(pki, tmp_path, who, opts, sig, detached):
    key, crt = (pki.ec_key, pki.ec_crt) if who == "ec" else (pki.rsa_key, pki.rsa_crt)
    der = _ossl_sign(pki, tmp_path, key, crt, *opts, *([] if detached else ["-nodetach"]))
    layer = cms.decode(der)
    assert (layer.econtent is None) == detached
    ring = pki.ring(crt)
    if detached:
        with pytest.raises(cms.CmsError, match="detached"):
            cms.verify(layer, ring)
    v = cms.verify(layer, ring, PLAIN if detached else None, require_trust=True)
    assert v.ok, v.error
    assert v.content == PLAIN
    checks = [c.name for c in v.signers[0].checks]
    assert checks == ["certificate", "content-type", "message-digest", "signature", "trust"]
    assert v.signers[0].checks[3].detail == sig


def test_openssl_signed_without_attributes_and_without_certificates(pki, tmp_path):
    der = _ossl_sign(pki, tmp_path, pki.ec_key, pki.ec_crt, "-noattr", "-nocerts", "-nodetach")
    layer = cms.decode(der)
    assert not layer.has("signerInfos[0].signedAttrs") and not layer.has("certificates")
    no_cert = cms.verify(layer, pki.ring("rsa_crt"))
    assert not no_cert.ok and "signer certificate not found" in no_cert.error
    v = cms.verify(layer, pki.ring("ec_crt"), require_trust=True)  # certificate from keyring
    assert v.ok and v.signers[0].certificate_source == "keyring"
    assert [c.name for c in v.signers[0].checks] == ["certificate", "signature", "trust"]


def test_openssl_signed_by_ca_issued_leaf_trusts_the_ca(pki, tmp_path):
    der = _ossl_sign(pki, tmp_path, pki.leaf_key, pki.leaf_crt, "-nodetach")
    assert cms.verify(cms.decode(der), pki.ring("ca_crt"), require_trust=True).ok
    untrusted = cms.verify(cms.decode(der), pki.ring("ec_crt"), require_trust=True)
    assert not untrusted.ok and "not trusted" in untrusted.error
    relaxed = cms.verify(cms.decode(der), None, require_trust=False)
    assert relaxed.ok and relaxed.signers[0].trusted is False


def test_openssl_encrypt_then_sign_seed003(pki, tmp_path):
    """Seed 003 §7.x.3 numbered procedure: SignedData(eContentType id-envelopedData)."""
    env = _ossl_encrypt(pki, tmp_path, "-aes-128-cbc", certs=[pki.rsa_crt])
    inner = cms.decode(env).raw()  # the EnvelopedData itself, without its ContentInfo
    src = tmp_path / "env.der"
    src.write_bytes(inner)
    out = tmp_path / "ets.der"
    openssl("cms", "-sign", "-binary", "-nodetach", "-in", src, "-econtent_type",
            oids.ENVELOPED_DATA, "-signer", pki.ec_crt, "-inkey", pki.ec_key, "-outform", "DER",
            "-out", out)
    der = out.read_bytes()
    layer = cms.decode(der)
    assert [x.kind for x in layer.layers()] == ["SignedData", "EnvelopedData"]
    result = _open(der, pki.ring("rsa_key", "rsa_crt", "ec_crt"))
    assert result.content == PLAIN
    assert [(r.kind, r.via) for r in result.layers] == [("SignedData", "input"),
                                                        ("EnvelopedData", "eContent")]


def test_openssl_sign_then_encrypt_smime(pki, tmp_path):
    """The alternative nesting as S/MIME clients make it: an application/pkcs7-mime signed-data
    entity, encrypted (openssl's SMIME format both times)."""
    signed = _ossl_sign(pki, tmp_path, pki.ec_key, pki.ec_crt, "-nodetach", outform="SMIME")
    der = _ossl_encrypt(pki, tmp_path, "-aes-128-gcm", "-secretkey", KEKS[16], "-secretkeyid",
                        KEK_IDS[16], content=signed)
    result = _open(der, pki.ring("ring_toml", "ec_crt"))
    assert [r.kind for r in result.layers] == ["AuthEnvelopedData", "MIME", "SignedData"]
    assert result.layers[1].smime_type == "signed-data"
    assert result.content == PLAIN


def test_openssl_sign_then_encrypt_der_in_data(pki, tmp_path):
    signed = _ossl_sign(pki, tmp_path, pki.rsa_key, pki.rsa_crt, "-nodetach")
    der = _ossl_encrypt(pki, tmp_path, "-aes-256-cbc", content=signed,
                        certs=[pki.rsa_crt])
    result = _open(der, pki.ring("rsa_key", "rsa_crt"))
    assert [r.kind for r in result.layers] == ["EnvelopedData", "SignedData"]
    assert any("itself a CMS ContentInfo" in f.message for f in result.findings)
    assert result.content == PLAIN


def test_openssl_smime_entities_multipart_signed_and_pkcs7_mime(pki, tmp_path):
    clear = _ossl_sign(pki, tmp_path, pki.ec_key, pki.ec_crt, outform="SMIME")  # detached
    parts = mime.find_smime(mime.parse(clear))
    assert parts[0].kind == "multipart/signed" and parts[0].signed_content
    result = _open(cms.decode(parts[0].der), pki.ring("ec_crt"), content=parts[0].signed_content)
    assert result.content == parts[0].signed_content
    enveloped = _ossl_encrypt(pki, tmp_path, "-aes-128-cbc", certs=[pki.rsa_crt],
                              outform="SMIME")
    parts = mime.find_smime(mime.parse(enveloped))
    assert parts[0].smime_type == "enveloped-data"
    assert _open(parts[0].der, pki.ring("rsa_key", "rsa_crt")).content == PLAIN


# -- mcsec builds, openssl opens ---------------------------------------------------------------
def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _ossl_decrypt(tmp_path, der, *opts, inform="DER"):
    f = _write(tmp_path, "obj.bin", der)
    return openssl("cms", "-decrypt", "-binary", "-inform", inform, "-in", f, *opts).stdout


def _ossl_verify(tmp_path, der, ca, *opts, inform="DER"):
    f = _write(tmp_path, "obj.bin", der)
    # -binary only for DER: with it, OpenSSL's multipart parser keeps the CR of the CRLF that
    # RFC 2046 §5.1.1 assigns to the boundary, and no conforming multipart/signed verifies
    binary = ["-binary"] if inform == "DER" else []
    return openssl("cms", "-verify", *binary, "-inform", inform, "-in", f, "-CAfile", ca,
                   "-purpose", "any", *opts).stdout


@pytest.mark.parametrize("size", [16, 24, 32])
@pytest.mark.parametrize("cipher", ["aes-128-cbc", "aes-256-cbc"])
def test_mcsec_kek_enveloped_to_openssl(tmp_path, size, cipher):
    der = cms_build.envelope(PLAIN, [cms_build.KekRecipient(bytes.fromhex(KEK_IDS[size]),
                                                            bytes.fromhex(KEKS[size]))], cipher=cipher)
    assert _ossl_decrypt(tmp_path, der, "-secretkey", KEKS[size], "-secretkeyid",
                         KEK_IDS[size]) == PLAIN


@pytest.mark.parametrize("cipher", ["aes-128-gcm", "aes-192-gcm", "aes-256-gcm"])
def test_mcsec_auth_enveloped_psk_to_openssl(tmp_path, cipher):
    der = cms_build.auth_envelope(PLAIN, [cms_build.KekRecipient(bytes.fromhex(KEK_IDS[16]),
                                                                 bytes.fromhex(KEKS[16]))], cipher=cipher)
    assert _ossl_decrypt(tmp_path, der, "-secretkey", KEKS[16], "-secretkeyid",
                         KEK_IDS[16]) == PLAIN


def test_mcsec_auth_enveloped_rsa_to_openssl(pki, tmp_path):
    ring = pki.ring("rsa_crt")
    der = cms_build.auth_envelope(PLAIN, [cms_build.KeyTransRecipient(ring.certificates[0])],
                                  cipher="aes-256-gcm")
    assert _ossl_decrypt(tmp_path, der, "-inkey", pki.rsa_key, "-recip", pki.rsa_crt) == PLAIN


@pytest.mark.parametrize("recipient", [
    dict(kind="ktri"), dict(kind="ktri", oaep=True), dict(kind="ktri", use_ski=True),
    dict(kind="kari"), dict(kind="kari", kdf_hash="sha1"), dict(kind="kari", use_ski=True)])
def test_mcsec_public_key_recipients_to_openssl(pki, tmp_path, recipient):
    kind = recipient.pop("kind")
    if kind == "ktri":
        cert, key, crt = pki.ring("rsa_crt").certificates[0], pki.rsa_key, pki.rsa_crt
        r = cms_build.KeyTransRecipient(cert, **recipient)
    else:
        cert, key, crt = pki.ring("ec_crt").certificates[0], pki.ec_key, pki.ec_crt
        r = cms_build.KeyAgreeRecipient(cert, **recipient)
    der = cms_build.envelope(PLAIN, [r], cipher="aes-192-cbc")
    assert _ossl_decrypt(tmp_path, der, "-inkey", key, "-recip", crt) == PLAIN


def test_mcsec_multiple_recipients_to_openssl(pki, tmp_path):
    ring = pki.ring("rsa_crt", "ec_crt")
    der = cms_build.envelope(PLAIN, [cms_build.KekRecipient(bytes.fromhex(KEK_IDS[32]), bytes.fromhex(KEKS[32])),
                                     cms_build.KeyTransRecipient(ring.certificates[0]),
                                     cms_build.KeyAgreeRecipient(ring.certificates[1])])
    assert _ossl_decrypt(tmp_path, der, "-inkey", pki.rsa_key, "-recip", pki.rsa_crt) == PLAIN
    assert _ossl_decrypt(tmp_path, der, "-inkey", pki.ec_key, "-recip", pki.ec_crt) == PLAIN
    assert _ossl_decrypt(tmp_path, der, "-secretkey", KEKS[32], "-secretkeyid",
                         KEK_IDS[32]) == PLAIN


@pytest.mark.parametrize("who,digest,pss", [("ec", "sha256", False), ("ec", "sha384", False),
                                            ("ec", "sha512", False), ("rsa", "sha256", False),
                                            ("rsa", "sha384", True)])
@pytest.mark.parametrize("detached", [False, True])
def test_mcsec_signed_to_openssl(pki, tmp_path, who, digest, pss, detached):
    ring = pki.ring(f"{who}_key", f"{who}_crt")
    crt = pki.ec_crt if who == "ec" else pki.rsa_crt
    der = cms_build.sign(PLAIN, ring.certificates[0], ring.private_keys[0], digest=digest, pss=pss,
                         detached=detached)
    extra = ["-content", _write(tmp_path, "content.txt", PLAIN)] if detached else []
    assert _ossl_verify(tmp_path, der, crt, *extra) == PLAIN
    tampered = PLAIN.replace(b"base", b"BASE")
    if detached:  # the oracle must also refuse: the test is able to fail
        f = _write(tmp_path, "obj2.bin", der)
        bad = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", f, "-CAfile", crt,
                      "-content", _write(tmp_path, "bad.txt", tampered), check=False)
        assert bad.returncode != 0


def test_mcsec_encrypt_then_sign_to_openssl(pki, tmp_path):
    ring = pki.ring("ec_key", "ec_crt", "rsa_crt")
    der = cms_build.encrypt_then_sign(PLAIN, [cms_build.KeyTransRecipient(ring.certificates[1])],
                                      ring.certificates[0], ring.private_keys[0])
    enveloped = _ossl_verify(tmp_path, der, pki.ec_crt)  # eContent: the EnvelopedData
    wrapped = cms_build.content_info(oids.ENVELOPED_DATA, enveloped)
    assert _ossl_decrypt(tmp_path, wrapped, "-inkey", pki.rsa_key, "-recip", pki.rsa_crt) == PLAIN


def test_mcsec_sign_then_encrypt_to_openssl(pki, tmp_path):
    ring = pki.ring("ec_key", "ec_crt", "rsa_crt")
    kek = cms_build.KekRecipient(bytes.fromhex(KEK_IDS[16]), bytes.fromhex(KEKS[16]))
    # S/MIME style: decrypt, then the decrypted entity verifies in openssl's SMIME format
    der = cms_build.sign_then_encrypt(PLAIN, [kek], ring.certificates[0], ring.private_keys[0],
                                      inner="mime")
    entity = _ossl_decrypt(tmp_path, der, "-secretkey", KEKS[16], "-secretkeyid", KEK_IDS[16])
    assert b"smime-type=signed-data" in entity
    assert _ossl_verify(tmp_path, entity, pki.ec_crt, inform="SMIME") == PLAIN
    # CMS style: id-signedData encrypted content = the SignedData encoding
    der = cms_build.sign_then_encrypt(PLAIN, [kek], ring.certificates[0], ring.private_keys[0])
    signed = _ossl_decrypt(tmp_path, der, "-secretkey", KEKS[16], "-secretkeyid", KEK_IDS[16])
    assert _ossl_verify(tmp_path, cms_build.content_info(oids.SIGNED_DATA, signed), pki.ec_crt) == PLAIN
    assert cms.open_layers(der, pki.ring("ring_toml", "ec_crt")).content == PLAIN


def test_mcsec_smime_entities_to_openssl(pki, tmp_path):
    ring = pki.ring("ec_key", "ec_crt", "rsa_crt")
    env = cms_build.envelope(PLAIN, [cms_build.KeyTransRecipient(ring.certificates[1])])
    entity = mime.build_pkcs7_mime(env, "enveloped-data")
    assert _ossl_decrypt(tmp_path, entity, "-inkey", pki.rsa_key, "-recip", pki.rsa_crt,
                         inform="SMIME") == PLAIN
    sig = cms_build.sign(PLAIN, ring.certificates[0], ring.private_keys[0], detached=True)
    clear = mime.build_multipart_signed(PLAIN, sig)
    assert _ossl_verify(tmp_path, clear, pki.ec_crt, inform="SMIME") == PLAIN
    aed = cms_build.auth_envelope(PLAIN, [cms_build.KekRecipient(bytes.fromhex(KEK_IDS[16]),
                                                                 bytes.fromhex(KEKS[16]))])
    entity = mime.build_pkcs7_mime(aed, "auth-enveloped-data")  # seed 004 spelling accepted
    assert b"smime-type=authEnveloped-data;" in entity  # the registered token is emitted
    assert _ossl_decrypt(tmp_path, entity, "-secretkey", KEKS[16], "-secretkeyid", KEK_IDS[16],
                         inform="SMIME") == PLAIN


def test_mcsec_compressed_checked_with_zlib_and_asn1parse(tmp_path):
    """OpenSSL 3.0 here has no zlib: the structure is checked by `openssl asn1parse` and
    `openssl cms -cmsout -print`, the compressed octets by Python's zlib."""
    der = cms_build.compress(PLAIN * 50)
    printed = openssl("cms", "-cmsout", "-print", "-inform", "DER",
                      "-in", _write(tmp_path, "c.der", der)).stdout.decode()
    assert "id-smime-ct-compressedData" in printed and "zlib compression" in printed.lower()
    parsed = openssl("asn1parse", "-inform", "DER", "-in", tmp_path / "c.der").stdout.decode()
    assert ":id-smime-ct-compressedData" in parsed and ":pkcs7-data" in parsed
    ci, _ = ber_decoder.decode(der, asn1Spec=rfc5652.ContentInfo())
    from pyasn1_modules import rfc3274
    cd, _ = ber_decoder.decode(bytes(ci["content"]), asn1Spec=rfc3274.CompressedData())
    assert zlib.decompress(bytes(cd["encapContentInfo"]["eContent"])) == PLAIN * 50
    assert cms.open_layers(der).content == PLAIN * 50


def test_hand_made_compressed_data_decompresses():
    """A CompressedData put together byte by byte (RFC 3274 §1.1), not by mcsec's builder."""
    z = zlib.compress(PLAIN)

    def tlv(tag, body):
        n = len(body)
        length = bytes([n]) if n < 128 else bytes([0x81, n]) if n < 256 else \
            bytes([0x82, n >> 8, n & 255])
        return bytes([tag]) + length + body

    oid_cd = bytes.fromhex("060b2a864886f70d0109100109")
    oid_zlib = bytes.fromhex("060b2a864886f70d0109100308")
    oid_data = bytes.fromhex("06092a864886f70d010701")
    cd = tlv(0x30, b"\x02\x01\x00" + tlv(0x30, oid_zlib) +
             tlv(0x30, oid_data + tlv(0xA0, tlv(0x04, z))))
    der = tlv(0x30, oid_cd + tlv(0xA0, cd))
    result = cms.open_layers(der)
    assert result.ok and result.content == PLAIN
    assert [r.kind for r in result.layers] == ["CompressedData"]
