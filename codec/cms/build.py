"""Build CMS objects: SignedData, EnvelopedData, AuthEnvelopedData, CompressedData, nestings.

pyasn1-modules specs encoded with pyasn1's DER encoder; cryptography for every primitive.  Each
function returns the DER of a ContentInfo (or, with ``content_info=False``, of the bare content,
as it goes into an eContent or an encrypted content).
"""

from __future__ import annotations

import datetime as _dt
import os
import zlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, padding as sympad, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_wrap
from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.type import univ, useful
from pyasn1_modules import rfc3274, rfc4055, rfc5083, rfc5084, rfc5280, rfc5652

from codec.cms import oids
from codec.cms.enveloped import kari_kek
from codec.cms.unprotect import HASHES, CmsError, subject_key_id

_NULL = der_encoder.encode(univ.Null(""))


@dataclass
class KekRecipient:
    """KEKRecipientInfo (RFC 5652 §6.2.3): a pre-shared key (seed 004 PSK, seed 002 KMS key)."""

    key_id: bytes
    kek: bytes  # 16, 24 or 32 octets: AES key wrap of that size (RFC 3565 §2.3.2)

    def __repr__(self):
        return f"KekRecipient(key_id={self.key_id.hex()}, kek=<hidden>)"


@dataclass
class KeyTransRecipient:
    """KeyTransRecipientInfo (RFC 5652 §6.2.1) to an RSA certificate."""

    certificate: object
    oaep: bool = False
    oaep_hash: str = "sha256"
    use_ski: bool = False


@dataclass
class KeyAgreeRecipient:
    """KeyAgreeRecipientInfo (RFC 5652 §6.2.2, RFC 5753 ephemeral-static ECDH)."""

    certificate: object
    kdf_hash: str = "sha256"  # dhSinglePass-stdDH-<hash>kdf-scheme
    use_ski: bool = False


def _dec(spec, der: bytes):
    return ber_decoder.decode(der, asn1Spec=spec)[0]


def _alg(target, oid: str, params: bytes | None = None):
    target["algorithm"] = univ.ObjectIdentifier(oid)
    if params is not None:
        target["parameters"] = params
    return target


def content_info(content_type: str, content_der: bytes) -> bytes:
    """ContentInfo (RFC 5652 §3) around the DER of a content."""
    ci = rfc5652.ContentInfo()
    ci["contentType"] = univ.ObjectIdentifier(content_type)
    ci["content"] = content_der
    return der_encoder.encode(ci)


def _cert_der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _fill_ias(target, cert):
    target["issuer"] = _dec(rfc5280.Name(), cert.issuer.public_bytes())
    target["serialNumber"] = cert.serial_number


def _random_cek(size: int) -> bytes:
    return os.urandom(size)


# -- SignedData (RFC 5652 §5) ------------------------------------------------------------------
def _attribute(oid: str, value_der: bytes):
    a = rfc5652.Attribute()
    a["attrType"] = univ.ObjectIdentifier(oid)
    a["attrValues"].append(value_der)
    return a


def sign(content: bytes, signer_cert, signer_key, *, digest: str = "sha256",
         detached: bool = False, econtent_type: str = oids.DATA, pss: bool = False,
         signed_attributes: bool = True, include_certificate: bool = True,
         signing_time: _dt.datetime | None = None, extra_certificates=(),
         content_info_wrap: bool = True) -> bytes:
    """A SignedData with one signer (ECDSA, RSA PKCS#1 v1.5 or RSASSA-PSS)."""
    digest_oid = oids.DIGEST_BY_NAME.get(digest)
    if digest_oid is None:
        raise CmsError(f"unsupported digest {digest!r} (sha1, sha224, sha256, sha384, sha512)")
    h = HASHES[digest_oid]
    sd = rfc5652.SignedData()
    # RFC 5652 §5.1: version 3 when eContentType is not id-data, else 1
    sd["version"] = 1 if econtent_type == oids.DATA else 3
    sd["digestAlgorithms"].append(_alg(rfc5652.DigestAlgorithmIdentifier(), digest_oid))
    eci = sd["encapContentInfo"]
    eci["eContentType"] = univ.ObjectIdentifier(econtent_type)
    if not detached:
        eci["eContent"] = content
    if include_certificate:
        for cert in (signer_cert, *extra_certificates):
            choice = rfc5652.CertificateChoices()
            choice["certificate"] = _dec(rfc5280.Certificate(), _cert_der(cert))
            sd["certificates"].append(choice)
    si = rfc5652.SignerInfo()
    si["version"] = 1  # issuerAndSerialNumber (RFC 5652 §5.3)
    _fill_ias(si["sid"]["issuerAndSerialNumber"], signer_cert)
    _alg(si["digestAlgorithm"], digest_oid)
    if signed_attributes:
        d = hashes.Hash(h())
        d.update(content)
        when = signing_time or _dt.datetime.now(_dt.timezone.utc)
        attrs = si["signedAttrs"]
        attrs.append(_attribute(oids.CONTENT_TYPE_ATTR,
                                der_encoder.encode(univ.ObjectIdentifier(econtent_type))))
        attrs.append(_attribute(oids.SIGNING_TIME_ATTR, der_encoder.encode(
            useful.UTCTime(when.strftime("%y%m%d%H%M%SZ")))))
        attrs.append(_attribute(oids.MESSAGE_DIGEST_ATTR,
                                der_encoder.encode(univ.OctetString(d.finalize()))))
        to_sign = b"\x31" + der_encoder.encode(attrs)[1:]  # RFC 5652 §5.4: SET OF tag
    else:
        to_sign = content
    if isinstance(signer_key, ec.EllipticCurvePrivateKey):
        sig_oid = {v: k for k, v in oids.ECDSA_WITH.items()}[digest_oid]
        _alg(si["signatureAlgorithm"], sig_oid)  # RFC 5758 §3.2: parameters absent
        signature = signer_key.sign(to_sign, ec.ECDSA(h()))
    elif isinstance(signer_key, rsa.RSAPrivateKey) and pss:
        params = rfc4055.RSASSA_PSS_params()
        _alg(params["hashAlgorithm"], digest_oid)
        mgf_hash = rfc5280.AlgorithmIdentifier()
        _alg(mgf_hash, digest_oid)
        _alg(params["maskGenAlgorithm"], oids.MGF1, der_encoder.encode(mgf_hash))
        params["saltLength"] = h.digest_size
        _alg(si["signatureAlgorithm"], oids.RSASSA_PSS, der_encoder.encode(params))
        signature = signer_key.sign(to_sign, padding.PSS(mgf=padding.MGF1(h()),
                                                         salt_length=h.digest_size), h())
    elif isinstance(signer_key, rsa.RSAPrivateKey):
        sig_oid = {v: k for k, v in oids.RSA_WITH.items()}[digest_oid]
        _alg(si["signatureAlgorithm"], sig_oid, _NULL)
        signature = signer_key.sign(to_sign, padding.PKCS1v15(), h())
    else:
        raise CmsError(f"unsupported signer key type {type(signer_key).__name__}")
    si["signature"] = signature
    sd["signerInfos"].append(si)
    der = der_encoder.encode(sd)
    return content_info(oids.SIGNED_DATA, der) if content_info_wrap else der


# -- recipients (RFC 5652 §6.2) ----------------------------------------------------------------
def _recipient_info(recipient, cek: bytes):
    ri = rfc5652.RecipientInfo()
    if isinstance(recipient, KekRecipient):
        wrap_oid = oids.WRAP_BY_LEN.get(len(recipient.kek))
        if wrap_oid is None:
            raise CmsError(f"KEK must be 16, 24 or 32 octets, not {len(recipient.kek)}")
        k = ri["kekri"]
        k["version"] = 4  # RFC 5652 §6.2.3: always 4
        k["kekid"]["keyIdentifier"] = recipient.key_id
        _alg(k["keyEncryptionAlgorithm"], wrap_oid)  # RFC 3565 §2.3.2: parameters absent
        k["encryptedKey"] = aes_key_wrap(recipient.kek, cek)
        return ri
    cert = recipient.certificate
    public = cert.public_key()
    if isinstance(recipient, KeyTransRecipient):
        if not isinstance(public, rsa.RSAPublicKey):
            raise CmsError("key transport needs an RSA certificate")
        k = ri["ktri"]
        if recipient.use_ski:
            k["version"] = 2
            k["rid"]["subjectKeyIdentifier"] = subject_key_id(cert)
        else:
            k["version"] = 0
            _fill_ias(k["rid"]["issuerAndSerialNumber"], cert)
        if recipient.oaep:
            h_oid = oids.DIGEST_BY_NAME[recipient.oaep_hash]
            h = HASHES[h_oid]()
            params = rfc4055.RSAES_OAEP_params()
            _alg(params["hashFunc"], h_oid)
            mgf_hash = rfc5280.AlgorithmIdentifier()
            _alg(mgf_hash, h_oid)
            _alg(params["maskGenFunc"], oids.MGF1, der_encoder.encode(mgf_hash))
            _alg(k["keyEncryptionAlgorithm"], oids.RSAES_OAEP, der_encoder.encode(params))
            k["encryptedKey"] = public.encrypt(cek, padding.OAEP(mgf=padding.MGF1(h),
                                                                 algorithm=h, label=None))
        else:
            _alg(k["keyEncryptionAlgorithm"], oids.RSA_ENCRYPTION, _NULL)
            k["encryptedKey"] = public.encrypt(cek, padding.PKCS1v15())
        return ri
    if isinstance(recipient, KeyAgreeRecipient):
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise CmsError("key agreement needs an EC certificate")
        hash_oid = oids.DIGEST_BY_NAME[recipient.kdf_hash]
        wrap_oid = oids.WRAP_BY_LEN[len(cek)]
        ephemeral = ec.generate_private_key(public.curve)
        k = ri["kari"]
        k["version"] = 3  # RFC 5652 §6.2.2: always 3
        ok = k["originator"]["originatorKey"]
        _alg(ok["algorithm"], oids.EC_PUBLIC_KEY)
        ok["publicKey"] = univ.BitString.fromOctetString(ephemeral.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
        wrap_alg = rfc5280.AlgorithmIdentifier()
        _alg(wrap_alg, wrap_oid)
        wrap_der = der_encoder.encode(wrap_alg)
        _alg(k["keyEncryptionAlgorithm"], oids.ECDH_STD_BY_HASH[hash_oid], wrap_der)
        kek = kari_kek(ephemeral.exchange(ec.ECDH(), public), wrap_der, len(cek), hash_oid, None)
        rek = rfc5652.RecipientEncryptedKey()
        if recipient.use_ski:
            rek["rid"]["rKeyId"]["subjectKeyIdentifier"] = subject_key_id(cert)
        else:
            _fill_ias(rek["rid"]["issuerAndSerialNumber"], cert)
        rek["encryptedKey"] = aes_key_wrap(kek, cek)
        k["recipientEncryptedKeys"].append(rek)
        return ri
    raise CmsError(f"unknown recipient {recipient!r}")


def _fill_recipients(target, recipients, cek):
    if not recipients:
        raise CmsError("at least one recipient is needed")
    for r in recipients:
        target.append(_recipient_info(r, cek))


# -- EnvelopedData (RFC 5652 §6) ---------------------------------------------------------------
def envelope(content: bytes, recipients, *, cipher: str = "aes-128-cbc",
             content_type: str = oids.DATA, content_info_wrap: bool = True,
             cek: bytes | None = None) -> bytes:
    alg_oid = oids.CBC_BY_NAME.get(cipher)
    if alg_oid is None:
        raise CmsError(f"EnvelopedData cipher must be one of {sorted(oids.CBC_BY_NAME)} "
                       "(GCM goes in AuthEnvelopedData)")
    cek = cek or _random_cek(oids.AES_CBC[alg_oid])
    iv = os.urandom(16)
    padder = sympad.PKCS7(128).padder()  # RFC 5652 §6.3
    padded = padder.update(content) + padder.finalize()
    enc = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
    ciphertext = enc.update(padded) + enc.finalize()
    ed = rfc5652.EnvelopedData()
    _fill_recipients(ed["recipientInfos"], recipients, cek)
    # RFC 5652 §6.1: 0 when every recipient is ktri v0 (no originatorInfo/unprotectedAttrs)
    ed["version"] = 0 if all(isinstance(r, KeyTransRecipient) and not r.use_ski
                             for r in recipients) else 2
    eci = ed["encryptedContentInfo"]
    eci["contentType"] = univ.ObjectIdentifier(content_type)
    _alg(eci["contentEncryptionAlgorithm"], alg_oid, der_encoder.encode(univ.OctetString(iv)))
    eci["encryptedContent"] = ciphertext
    der = der_encoder.encode(ed)
    return content_info(oids.ENVELOPED_DATA, der) if content_info_wrap else der


# -- AuthEnvelopedData (RFC 5083, RFC 5084) ----------------------------------------------------
def auth_envelope(content: bytes, recipients, *, cipher: str = "aes-128-gcm",
                  content_type: str = oids.DATA, content_info_wrap: bool = True,
                  tag_length: int = 16, cek: bytes | None = None) -> bytes:
    alg_oid = oids.GCM_BY_NAME.get(cipher)
    if alg_oid is None:
        raise CmsError(f"AuthEnvelopedData cipher must be one of {sorted(oids.GCM_BY_NAME)}")
    if tag_length not in range(12, 17):
        raise CmsError("GCM tag length must be 12..16 octets (RFC 5084 §3.2)")
    cek = cek or _random_cek(oids.AES_GCM[alg_oid])
    nonce = os.urandom(12)  # RFC 5084 §3.2: 12 octets recommended
    aed = rfc5083.AuthEnvelopedData()
    aed["version"] = 0
    _fill_recipients(aed["recipientInfos"], recipients, cek)
    auth_attrs = b""
    if content_type != oids.DATA:  # RFC 5083 §2.1: content-type attribute then required
        attrs = aed["authAttrs"]
        attrs.append(_attribute(oids.CONTENT_TYPE_ATTR,
                                der_encoder.encode(univ.ObjectIdentifier(content_type))))
        auth_attrs = b"\x31" + der_encoder.encode(attrs)[1:]  # RFC 5083 §2.2 AAD
    enc = Cipher(algorithms.AES(cek), modes.GCM(nonce)).encryptor()
    if auth_attrs:
        enc.authenticate_additional_data(auth_attrs)
    ciphertext = enc.update(content) + enc.finalize()
    eci = aed["authEncryptedContentInfo"]
    eci["contentType"] = univ.ObjectIdentifier(content_type)
    params = rfc5084.GCMParameters()
    params["aes-nonce"] = nonce
    params["aes-ICVlen"] = tag_length
    _alg(eci["contentEncryptionAlgorithm"], alg_oid, der_encoder.encode(params))
    eci["encryptedContent"] = ciphertext
    aed["mac"] = enc.tag[:tag_length]
    der = der_encoder.encode(aed)
    return content_info(oids.AUTH_ENVELOPED_DATA, der) if content_info_wrap else der


# -- CompressedData (RFC 3274) -----------------------------------------------------------------
def compress(content: bytes, *, content_type: str = oids.DATA, level: int = 9,
             content_info_wrap: bool = True) -> bytes:
    cd = rfc3274.CompressedData()
    cd["version"] = 0  # RFC 3274 §1.1
    _alg(cd["compressionAlgorithm"], oids.ZLIB_COMPRESS)  # RFC 3274 §2: parameters absent
    eci = cd["encapContentInfo"]
    eci["eContentType"] = univ.ObjectIdentifier(content_type)
    eci["eContent"] = zlib.compress(content, level)
    der = der_encoder.encode(cd)
    return content_info(oids.COMPRESSED_DATA, der) if content_info_wrap else der


# -- seed 003 nestings -------------------------------------------------------------------------
def encrypt_then_sign(content: bytes, recipients, signer_cert, signer_key, *,
                      cipher: str = "aes-128-cbc", digest: str = "sha256") -> bytes:
    """Seed 003 §7.x.3 numbered procedure: EnvelopedData, then a SignedData whose eContentType
    is id-envelopedData (eContent = the EnvelopedData encoding, RFC 5652 §5.2)."""
    inner = envelope(content, recipients, cipher=cipher, content_info_wrap=False)
    return sign(inner, signer_cert, signer_key, digest=digest, econtent_type=oids.ENVELOPED_DATA)


def sign_then_encrypt(content: bytes, recipients, signer_cert, signer_key, *,
                      cipher: str = "aes-128-cbc", digest: str = "sha256",
                      inner: str = "cms") -> bytes:
    """Seed 003's alternative: SignedData inside EnvelopedData.  ``inner="cms"``: the encrypted
    content type is id-signedData (the SignedData encoding); ``inner="mime"``: S/MIME style
    (RFC 8551 §3.7), id-data holding an application/pkcs7-mime signed-data entity."""
    if inner == "cms":
        signed = sign(content, signer_cert, signer_key, digest=digest, content_info_wrap=False)
        return envelope(signed, recipients, cipher=cipher, content_type=oids.SIGNED_DATA)
    if inner == "mime":
        from codec import mime
        signed = sign(content, signer_cert, signer_key, digest=digest)
        return envelope(mime.build_pkcs7_mime(signed, "signed-data"), recipients, cipher=cipher)
    raise CmsError(f"inner must be 'cms' or 'mime', not {inner!r}")


__all__ = ["KekRecipient", "KeyTransRecipient", "KeyAgreeRecipient", "content_info", "sign",
           "envelope", "auth_envelope", "compress", "encrypt_then_sign", "sign_then_encrypt"]
