"""Decrypt, authenticate, verify and decompress CMS layers with keys from the keyring.

Every primitive is pyca/cryptography's (AES, key wrap, GCM/CCM, ECDH, X9.63 KDF, RSA, ECDSA).
A cryptographic check that fails is a *verdict* (``ok=False`` with ``error`` saying which check),
never an exception; ``CmsError`` is raised when an operation cannot even start (no key for any
recipient, detached content not supplied, an algorithm mcsec does not implement).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, padding as sympad, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import (InvalidUnwrap, aes_key_unwrap,
                                                    aes_key_unwrap_with_padding)
from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pyasn1_modules import rfc4055, rfc5084, rfc5280, rfc5753

from codec.cms import oids
from codec.errors import McsecError
from codec.cms.decode import Layer

DEFAULT_MAX_SIZE = 16 * 1024 * 1024  # decompressed / decrypted output bound (octets)
HASHES = {oids.SHA1: hashes.SHA1, oids.SHA224: hashes.SHA224, oids.SHA256: hashes.SHA256,
          oids.SHA384: hashes.SHA384, oids.SHA512: hashes.SHA512}


class CmsError(McsecError, ValueError):
    """A CMS operation that cannot proceed: says what is missing (a key, the detached content,
    support for an algorithm)."""


class Verdict(McsecError):
    """Internal: a cryptographic check failed at ``path`` (becomes ok=False, never escapes)."""

    def __init__(self, reason: str, path: str = "", offset: int = 0):
        super().__init__(reason)
        self.reason, self.path, self.offset = reason, path, offset


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class SignerResult:
    index: int
    path: str
    ok: bool = False
    error: str | None = None
    error_path: str = ""
    error_offset: int = 0
    checks: list = field(default_factory=list)
    certificate: Any = None
    certificate_source: str = ""
    trusted: bool | None = None
    digest_algorithm: str = ""
    signature_algorithm: str = ""


@dataclass
class VerifyResult:
    ok: bool
    error: str | None
    signers: list
    content: bytes | None  # the signed content, released only when ok
    content_type: str
    detached: bool
    error_path: str = ""
    error_offset: int = 0


@dataclass
class DecryptResult:
    ok: bool
    error: str | None
    content: bytes | None  # released only when ok (and, for AEAD, the tag checked)
    content_type: str
    algorithm: str
    recipient_index: int | None = None
    recipient_kind: str | None = None
    recipient_key: str = ""  # which keyring key was used (identifier, never the key)
    cek: bytes | None = field(default=None, repr=False)  # secret
    error_path: str = ""
    error_offset: int = 0
    checks: list = field(default_factory=list)


# -- helpers -----------------------------------------------------------------------------------
def _der(value) -> bytes:
    return der_encoder.encode(value)


def _decode_param(spec, octets: bytes, what: str):
    try:
        value, rest = ber_decoder.decode(octets, asn1Spec=spec)
    except (PyAsn1Error, ValueError, TypeError) as e:
        raise Verdict(f"{what} parameters do not decode: {(str(e).splitlines() or [type(e).__name__])[0][:100]}")
    if rest:
        raise Verdict(f"{what} parameters: trailing octets")
    return value


def _params(alg) -> bytes | None:
    p = alg["parameters"]
    return bytes(p) if p.isValue else None


def _hash(oid: str, what: str):
    cls = HASHES.get(str(oid))
    if cls is None:
        raise CmsError(f"{what}: unsupported digest algorithm {oid} ({oids.name(oid) or 'unknown'})")
    return cls()


# What cryptography raises for certificates it accepted to load but cannot fully parse later
CERTIFICATE_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion)


def subject_text(cert) -> str:
    """The certificate's subject as RFC 4514 text, or a note when it does not parse."""
    try:
        return cert.subject.rfc4514_string()
    except CERTIFICATE_ERRORS as e:
        return f"<subject does not parse: {type(e).__name__}>"


def certificate_from_choice(layer: Layer, suffix: str):
    """cryptography certificate of CertificateChoices ``suffix`` (the ``certificate`` choice)."""
    return x509.load_der_x509_certificate(layer.raw(suffix))


def embedded_certificates(layer: Layer) -> list:
    certs = []
    if layer.kind == "SignedData" and layer.has("certificates"):
        for i, choice in enumerate(layer.value["certificates"]):
            if choice.getName() == "certificate":
                try:
                    certs.append(certificate_from_choice(layer, f"certificates[{i}].certificate"))
                except (ValueError, TypeError, x509.InvalidVersion, UnsupportedAlgorithm):
                    layer.findings.append(_finding(layer, f"certificates[{i}]",
                                                   "certificate cryptography cannot load"))
    return certs


def _finding(layer: Layer, suffix: str, message: str):
    from codec.errors import Finding
    return Finding(f"{layer.path}.{suffix}", layer.offset_of(suffix), message)


def _public_der(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def subject_key_id(cert) -> bytes:
    """The certificate's SubjectKeyIdentifier (RFC 5280 §4.2.1.2; computed when absent)."""
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    except ValueError:  # a malformed certificate (cryptography parses lazily): matches nothing
        return b""


def _matches_ias(layer: Layer, suffix: str, ias, cert) -> bool:
    """IssuerAndSerialNumber (RFC 5652 §10.2.4) equal to the certificate's issuer and serial."""
    try:
        if int(ias["serialNumber"]) != cert.serial_number:
            return False
        issuer = cert.issuer.public_bytes()
    except ValueError:  # a malformed certificate (cryptography parses lazily): matches nothing
        return False
    try:
        return layer.raw(f"{suffix}.issuer") == issuer
    except KeyError:
        return _der(ias["issuer"]) == issuer


def _describe_ias(ias) -> str:
    return f"issuer {name_text(ias['issuer'])}, serial {int(ias['serialNumber']):x}"


def name_text(name) -> str:
    """RFC 4514-style text of a pyasn1 rfc5280.Name (most specific RDN first, as RFC 4514 §2.1)."""
    parts = []
    try:
        for rdn in reversed(list(name["rdnSequence"])):
            items = []
            for atv in rdn:
                oid = str(atv["type"])
                raw = bytes(atv["value"])
                try:
                    v, _ = ber_decoder.decode(raw)
                    if isinstance(v, univ.Choice):
                        v = v.getComponent()
                    text = str(v)
                except (PyAsn1Error, ValueError, TypeError):
                    text = "#" + raw.hex()
                items.append(f"{oids.DN_SHORT.get(oid, oid)}={text}")
            parts.append("+".join(items))
    except (PyAsn1Error, KeyError, TypeError):
        return "?"
    return ",".join(parts)


def _key_pairs(keyring) -> list:
    """(private key, its certificates) for every private key of the keyring."""
    pairs = []
    for key in getattr(keyring, "private_keys", []) or []:
        pub = _public_der(key.public_key())
        certs = [c for c in getattr(keyring, "certificates", []) or []
                 if _public_der(c.public_key()) == pub]
        pairs.append((key, certs))
    return pairs


# -- content encryption (RFC 3565 §4, RFC 5084 §3) ---------------------------------------------
def decrypt_content(alg_oid: str, params: bytes | None, cek: bytes, ciphertext: bytes,
                    tag: bytes | None = None, aad: bytes = b"") -> bytes:
    alg_oid = str(alg_oid)
    if alg_oid in oids.AES_CBC:
        if tag is not None:
            raise Verdict(f"{oids.name(alg_oid)} is not an authenticated cipher (RFC 5083 §2.1)")
        if len(cek) != oids.AES_CBC[alg_oid]:
            raise Verdict(f"content-encryption key is {len(cek)} octets, {oids.name(alg_oid)} "
                          f"needs {oids.AES_CBC[alg_oid]}")
        if params is None:
            raise Verdict(f"{oids.name(alg_oid)}: IV parameter missing (RFC 3565 §4.1)")
        iv = bytes(_decode_param(univ.OctetString(), params, oids.name(alg_oid)))
        if len(iv) != 16:
            raise Verdict(f"IV is {len(iv)} octets, AES-CBC needs 16")
        if not ciphertext or len(ciphertext) % 16:
            raise Verdict(f"ciphertext length {len(ciphertext)} is not a positive multiple of 16")
        dec = Cipher(algorithms.AES(cek), modes.CBC(iv)).decryptor()
        padded = dec.update(ciphertext) + dec.finalize()
        unpadder = sympad.PKCS7(128).unpadder()  # RFC 5652 §6.3
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise Verdict("bad padding after AES-CBC decryption (wrong key or tampered "
                          "ciphertext)") from None
    if alg_oid in oids.AES_GCM or alg_oid in oids.AES_CCM:
        size = (oids.AES_GCM | oids.AES_CCM)[alg_oid]
        if tag is None:
            raise Verdict(f"{oids.name(alg_oid)} in EnvelopedData: no place for the tag "
                          "(use AuthEnvelopedData, RFC 5083)")
        if len(cek) != size:
            raise Verdict(f"content-encryption key is {len(cek)} octets, {oids.name(alg_oid)} "
                          f"needs {size}")
        if params is None:
            raise Verdict(f"{oids.name(alg_oid)}: parameters missing (RFC 5084 §3.2)")
        spec = rfc5084.GCMParameters() if alg_oid in oids.AES_GCM else rfc5084.CCMParameters()
        p = _decode_param(spec, params, oids.name(alg_oid))
        nonce, icv_len = bytes(p["aes-nonce"]), int(p["aes-ICVlen"])
        if icv_len not in (range(12, 17) if alg_oid in oids.AES_GCM else (4, 6, 8, 10, 12, 14, 16)):
            raise Verdict(f"aes-ICVlen {icv_len} not allowed (RFC 5084 §3.1/§3.2)")
        if len(tag) != icv_len:
            raise Verdict(f"mac is {len(tag)} octets, aes-ICVlen says {icv_len}")
        try:
            if alg_oid in oids.AES_GCM:
                if len(nonce) < 8:
                    raise Verdict(f"GCM nonce of {len(nonce)} octets is too short")
                dec = Cipher(algorithms.AES(cek), modes.GCM(nonce, tag, min_tag_length=len(tag))
                             ).decryptor()
                if aad:
                    dec.authenticate_additional_data(aad)
                out = dec.update(ciphertext)
                dec.finalize()
                return out
            return AESCCM(cek, tag_length=icv_len).decrypt(nonce, ciphertext + tag, aad or None)
        except InvalidTag:
            raise Verdict("authentication tag mismatch (wrong key, or tampered ciphertext, "
                          "tag or authenticated attributes)") from None
    raise CmsError(f"unsupported content-encryption algorithm {alg_oid} "
                   f"({oids.name(alg_oid) or 'unknown'})")


# -- recipients (RFC 5652 §6.2) ----------------------------------------------------------------
def _unwrap(alg_oid: str, kek: bytes, wrapped: bytes, where: str) -> bytes:
    alg_oid = str(alg_oid)
    table = oids.AES_WRAP if alg_oid in oids.AES_WRAP else oids.AES_WRAP_PAD if alg_oid in \
        oids.AES_WRAP_PAD else None
    if table is None:
        raise CmsError(f"{where}: unsupported key-encryption algorithm {alg_oid} "
                       f"({oids.name(alg_oid) or 'unknown'})")
    if len(kek) != table[alg_oid]:
        raise Verdict(f"KEK is {len(kek)} octets, {oids.name(alg_oid)} needs {table[alg_oid]}")
    try:
        if table is oids.AES_WRAP:
            return aes_key_unwrap(kek, wrapped)  # RFC 3394 §2.2.3 integrity check
        return aes_key_unwrap_with_padding(kek, wrapped)  # RFC 5649 §3
    except (InvalidUnwrap, ValueError):
        raise Verdict("key unwrap failed: integrity check value mismatch (wrong KEK or "
                      "tampered encryptedKey)") from None


def _kekri(layer, i, ri, keyring, missing):
    suffix = f"recipientInfos[{i}].kekri"
    key_id = bytes(ri["kekid"]["keyIdentifier"])
    kek = keyring.kek(key_id) if keyring is not None else None
    if kek is None:
        missing.append(f"recipient {i} (kekri): no KEK with key identifier {key_id.hex()} "
                       "in the keyring")
        return None
    try:
        cek = _unwrap(ri["keyEncryptionAlgorithm"]["algorithm"], kek.key,
                      bytes(ri["encryptedKey"]), f"{layer.path}.{suffix}")
    except Verdict as v:
        v.path, v.offset = f"{layer.path}.{suffix}.encryptedKey", layer.offset_of(
            f"{suffix}.encryptedKey")
        raise
    return cek, f"KEK {key_id.hex()}"


def _rsa_padding(alg, where: str):
    oid = str(alg["algorithm"])
    if oid == oids.RSA_ENCRYPTION:
        return padding.PKCS1v15(), "RSA PKCS#1 v1.5"
    if oid == oids.RSAES_OAEP:
        params = _params(alg)
        h, mgf_h, label = hashes.SHA1(), hashes.SHA1(), None  # RFC 4055 §4.1 defaults
        if params is not None:
            p = _decode_param(rfc4055.RSAES_OAEP_params(), params, "RSAES-OAEP")
            if p["hashFunc"].isValue:
                h = _hash(p["hashFunc"]["algorithm"], where)
            if p["maskGenFunc"].isValue:
                mgf = p["maskGenFunc"]
                if str(mgf["algorithm"]) != oids.MGF1:
                    raise CmsError(f"{where}: unsupported mask generation function "
                                   f"{mgf['algorithm']}")
                inner = _decode_param(rfc5280.AlgorithmIdentifier(), bytes(mgf["parameters"]),
                                      "MGF1")
                mgf_h = _hash(inner["algorithm"], where)
            if p["pSourceFunc"].isValue:
                src = p["pSourceFunc"]
                if src["parameters"].isValue:
                    label = bytes(_decode_param(univ.OctetString(), bytes(src["parameters"]),
                                                "pSourceFunc")) or None
        return (padding.OAEP(mgf=padding.MGF1(mgf_h), algorithm=h, label=label),
                f"RSAES-OAEP {h.name}")
    raise CmsError(f"{where}: unsupported key transport algorithm {oid} "
                   f"({oids.name(oid) or 'unknown'})")


def _ktri(layer, i, ri, keyring, missing, findings):
    suffix = f"recipientInfos[{i}].ktri"
    where = f"{layer.path}.{suffix}"
    rid = ri["rid"]
    candidates = []
    for key, certs in _key_pairs(keyring):
        if not isinstance(key, rsa.RSAPrivateKey):
            continue
        for cert in certs:
            if rid.getName() == "issuerAndSerialNumber" and _matches_ias(
                    layer, f"{suffix}.rid.issuerAndSerialNumber", rid["issuerAndSerialNumber"],
                    cert):
                candidates.append((key, cert))
            elif rid.getName() == "subjectKeyIdentifier" and \
                    bytes(rid["subjectKeyIdentifier"]) == subject_key_id(cert):
                candidates.append((key, cert))
    desc = (_describe_ias(rid["issuerAndSerialNumber"]) if rid.getName() ==
            "issuerAndSerialNumber" else f"subjectKeyIdentifier "
                                         f"{bytes(rid['subjectKeyIdentifier']).hex()}")
    if not candidates:
        missing.append(f"recipient {i} (ktri): no RSA private key with a certificate for "
                       f"{desc} in the keyring")
        return None
    pad, pad_name = _rsa_padding(ri["keyEncryptionAlgorithm"], where)
    key, cert = candidates[0]
    try:
        cek = key.decrypt(bytes(ri["encryptedKey"]), pad)
    except ValueError:
        raise Verdict(f"key transport decryption failed ({pad_name}): wrong key or tampered "
                      "encryptedKey", f"{where}.encryptedKey",
                      layer.offset_of(f"{suffix}.encryptedKey")) from None
    return cek, f"RSA key of {subject_text(cert)} ({pad_name})"


def _originator_public(layer, suffix, kari, curve):
    orig = kari["originator"]
    name = orig.getName()
    if name == "originatorKey":
        ok = orig["originatorKey"]
        if str(ok["algorithm"]["algorithm"]) != oids.EC_PUBLIC_KEY:
            raise CmsError(f"{layer.path}.{suffix}.originator: unsupported originator key "
                           f"algorithm {ok['algorithm']['algorithm']}")
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, ok["publicKey"].asOctets())
        except ValueError:
            raise Verdict("originator public key is not a point of the recipient's curve",
                          f"{layer.path}.{suffix}.originator.originatorKey.publicKey",
                          layer.offset_of(f"{suffix}.originator.originatorKey.publicKey")) \
                from None
    raise CmsError(f"{layer.path}.{suffix}.originator: static-static ECDH ({name}) needs the "
                   "originator's certificate, not supported")


def kari_kek(shared_secret: bytes, wrap_alg_der: bytes, kek_len: int, hash_oid: str,
             ukm: bytes | None) -> bytes:
    """RFC 5753 §7.2 KEK: ANSI X9.63 KDF over ECC-CMS-SharedInfo."""
    info = rfc5753.ECC_CMS_SharedInfo()
    info["keyInfo"] = ber_decoder.decode(wrap_alg_der, asn1Spec=rfc5280.AlgorithmIdentifier())[0]
    if ukm is not None:
        info["entityUInfo"] = info["entityUInfo"].clone(ukm)
    info["suppPubInfo"] = info["suppPubInfo"].clone((kek_len * 8).to_bytes(4, "big"))
    return X963KDF(HASHES[hash_oid](), kek_len, _der(info)).derive(shared_secret)


def _kari(layer, i, ri, keyring, missing):
    suffix = f"recipientInfos[{i}].kari"
    where = f"{layer.path}.{suffix}"
    kea = ri["keyEncryptionAlgorithm"]
    scheme = str(kea["algorithm"])
    hash_oid = oids.ECDH_STD.get(scheme) or oids.ECDH_COFACTOR.get(scheme)
    if hash_oid is None:
        raise CmsError(f"{where}: unsupported key agreement algorithm {scheme} "
                       f"({oids.name(scheme) or 'unknown'})")
    params = _params(kea)
    if params is None:
        raise Verdict("key agreement algorithm without KeyWrapAlgorithm parameter (RFC 5753 "
                      "§7.1.4)", f"{where}.keyEncryptionAlgorithm",
                      layer.offset_of(f"{suffix}.keyEncryptionAlgorithm"))
    wrap = _decode_param(rfc5280.AlgorithmIdentifier(), params, "KeyWrapAlgorithm")
    wrap_oid = str(wrap["algorithm"])
    kek_len = oids.AES_WRAP.get(wrap_oid) or oids.AES_WRAP_PAD.get(wrap_oid)
    if kek_len is None:
        raise CmsError(f"{where}: unsupported key wrap algorithm {wrap_oid} "
                       f"({oids.name(wrap_oid) or 'unknown'})")
    ukm = bytes(ri["ukm"]) if ri["ukm"].isValue else None
    for j, rek in enumerate(ri["recipientEncryptedKeys"]):
        rid = rek["rid"]
        rsuffix = f"{suffix}.recipientEncryptedKeys[{j}]"
        for key, certs in _key_pairs(keyring):
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                continue
            for cert in certs:
                if rid.getName() == "issuerAndSerialNumber":
                    hit = _matches_ias(layer, f"{rsuffix}.rid.issuerAndSerialNumber",
                                       rid["issuerAndSerialNumber"], cert)
                else:
                    hit = bytes(rid["rKeyId"]["subjectKeyIdentifier"]) == subject_key_id(cert)
                if not hit:
                    continue
                peer = _originator_public(layer, suffix, ri, key.curve)
                shared = key.exchange(ec.ECDH(), peer)  # cofactor 1 on the NIST curves
                kek = kari_kek(shared, params, kek_len, hash_oid, ukm)
                try:
                    cek = _unwrap(wrap_oid, kek, bytes(rek["encryptedKey"]), where)
                except Verdict as v:
                    v.path = f"{layer.path}.{rsuffix}.encryptedKey"
                    v.offset = layer.offset_of(f"{rsuffix}.encryptedKey")
                    raise
                return cek, (f"EC key of {subject_text(cert)} "
                             f"({oids.name(scheme)}, {oids.name(wrap_oid)})")
        desc = (_describe_ias(rid["issuerAndSerialNumber"]) if rid.getName() ==
                "issuerAndSerialNumber" else "subjectKeyIdentifier " +
                bytes(rid["rKeyId"]["subjectKeyIdentifier"]).hex())
        missing.append(f"recipient {i}.{j} (kari): no EC private key with a certificate for "
                       f"{desc} in the keyring")
    return None


def recover_cek(layer: Layer, keyring) -> tuple[bytes, int, str, str]:
    """(CEK, recipient index, recipient kind, key description) from the first recipient the
    keyring can open.  CmsError when none can; Verdict when the matching key fails."""
    missing: list[str] = []
    first_failure: Verdict | None = None
    for i, ri in enumerate(layer.value["recipientInfos"]):
        kind = ri.getName()
        value = ri.getComponent()
        try:
            if kind == "kekri":
                got = _kekri(layer, i, value, keyring, missing)
            elif kind == "ktri":
                got = _ktri(layer, i, value, keyring, missing, layer.findings)
            elif kind == "kari":
                got = _kari(layer, i, value, keyring, missing)
            else:
                missing.append(f"recipient {i} ({kind}): recipient type not supported")
                got = None
        except Verdict as v:
            first_failure = first_failure or v
            continue
        except CmsError as e:  # this recipient uses something unsupported: try the others
            missing.append(f"recipient {i} ({kind}): {e}")
            continue
        if got is not None:
            return got[0], i, kind, got[1]
    if first_failure is not None:
        raise first_failure
    raise CmsError("no recipient can be opened with the keyring: " + "; ".join(missing)
                   if missing else "no recipientInfos")


def decrypt(layer: Layer, keyring) -> DecryptResult:
    """Open an EnvelopedData (RFC 5652 §6) or AuthEnvelopedData (RFC 5083 §2)."""
    if layer.kind not in ("EnvelopedData", "AuthEnvelopedData"):
        raise CmsError(f"{layer.path}: a {layer.kind} is not encrypted")
    eci_name = "encryptedContentInfo" if layer.kind == "EnvelopedData" else \
        "authEncryptedContentInfo"
    eci = layer.value[eci_name]
    alg = eci["contentEncryptionAlgorithm"]
    alg_oid = str(alg["algorithm"])
    result = DecryptResult(False, None, None, str(eci["contentType"]),
                           oids.name(alg_oid) or alg_oid)
    if not layer.has(f"{eci_name}.encryptedContent"):
        raise CmsError(f"{layer.path}.{eci_name}: encryptedContent is absent (detached "
                       "ciphertext is not supported)")
    try:
        cek, idx, kind, key_desc = recover_cek(layer, keyring)
        result.cek, result.recipient_index, result.recipient_kind = cek, idx, kind
        result.recipient_key = key_desc
        result.checks.append(Check("recipient", True, key_desc))
        ciphertext = eci["encryptedContent"].asOctets()
        tag, aad = None, b""
        if layer.kind == "AuthEnvelopedData":
            tag = bytes(layer.value["mac"])
            if layer.has("authAttrs"):  # RFC 5083 §2.2: AAD = DER of authAttrs, SET OF tag
                raw = layer.raw("authAttrs")
                aad = b"\x31" + raw[1:]
        try:
            plain = decrypt_content(alg_oid, _params(alg), cek, ciphertext, tag, aad)
        except Verdict as v:
            v.path = v.path or (f"{layer.path}.mac" if tag is not None
                                else f"{layer.path}.{eci_name}.encryptedContent")
            v.offset = layer.offset_of(v.path[len(layer.path) + 1:])
            raise
        result.checks.append(Check("tag" if tag is not None else "padding", True,
                                   result.algorithm))
        if layer.kind == "AuthEnvelopedData" and result.content_type != oids.DATA:
            _check_auth_content_type(layer, result.content_type)
    except Verdict as v:
        result.error, result.error_path, result.error_offset = v.reason, v.path, v.offset
        result.checks.append(Check("decrypt", False, v.reason))
        return result
    result.ok, result.content = True, plain
    return result


def _check_auth_content_type(layer: Layer, content_type: str):
    # RFC 5083 §2.1: a content-type authAttr is required when the content is not id-data
    attrs = layer.value["authAttrs"] if layer.has("authAttrs") else []
    for a in attrs:
        if str(a["attrType"]) == oids.CONTENT_TYPE_ATTR:
            value = _decode_param(univ.ObjectIdentifier(), bytes(a["attrValues"][0]),
                                  "content-type attribute")
            if str(value) != content_type:
                raise Verdict("content-type authenticated attribute does not match "
                              "the content type", f"{layer.path}.authAttrs",
                              layer.offset_of("authAttrs"))
            return
    layer.findings.append(_finding(layer, "authAttrs", "content type is not id-data but no "
                                                       "content-type attribute (RFC 5083 §2.1)"))


# -- SignedData (RFC 5652 §5.4–5.6) ------------------------------------------------------------
def _trusted(cert, keyring) -> bool:
    anchors = getattr(keyring, "certificates", []) or []
    fp = cert.fingerprint(hashes.SHA256())
    for anchor in anchors:
        if anchor.fingerprint(hashes.SHA256()) == fp:
            return True
    for anchor in anchors:
        if anchor.subject == cert.issuer:
            try:
                cert.verify_directly_issued_by(anchor)
                return True
            except (ValueError, TypeError, InvalidSignature):
                continue
    return False


def _signature_check(public_key, sig_alg, digest_oid: str, signature: bytes, signed: bytes,
                     where: str) -> str:
    oid = str(sig_alg["algorithm"])
    if oid in oids.ECDSA_WITH or oid == oids.EC_PUBLIC_KEY:
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise Verdict(f"signature algorithm {oids.name(oid)} but the certificate key is not EC")
        h = _hash(oids.ECDSA_WITH.get(oid, digest_oid), where)
        public_key.verify(signature, signed, ec.ECDSA(h))
        return f"ECDSA {h.name}"
    if oid in oids.RSA_WITH or oid == oids.RSA_ENCRYPTION:
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise Verdict(f"signature algorithm {oids.name(oid)} but the certificate key is not RSA")
        h = _hash(oids.RSA_WITH.get(oid, digest_oid), where)
        public_key.verify(signature, signed, padding.PKCS1v15(), h)
        return f"RSA PKCS#1 v1.5 {h.name}"
    if oid == oids.RSASSA_PSS:
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise Verdict("RSASSA-PSS signature but the certificate key is not RSA")
        params = _params(sig_alg)
        h, mgf_h, salt = hashes.SHA1(), hashes.SHA1(), 20  # RFC 4055 §3.1 defaults
        if params is not None:
            p = _decode_param(rfc4055.RSASSA_PSS_params(), params, "RSASSA-PSS")
            if p["hashAlgorithm"].isValue:
                h = _hash(p["hashAlgorithm"]["algorithm"], where)
            if p["maskGenAlgorithm"].isValue:
                mgf = p["maskGenAlgorithm"]
                inner = _decode_param(rfc5280.AlgorithmIdentifier(), bytes(mgf["parameters"]),
                                      "MGF1")
                mgf_h = _hash(inner["algorithm"], where)
            salt = int(p["saltLength"])
            if int(p["trailerField"]) != 1:
                raise Verdict("RSASSA-PSS trailerField is not 1 (RFC 4055 §3.1)")
        public_key.verify(signature, signed, padding.PSS(mgf=padding.MGF1(mgf_h),
                                                         salt_length=salt), h)
        return f"RSASSA-PSS {h.name}"
    raise CmsError(f"{where}: unsupported signature algorithm {oid} "
                   f"({oids.name(oid) or 'unknown'})")


def _single_attr(layer, attrs, oid, spec, suffix, label):
    found = [(k, a) for k, a in enumerate(attrs) if str(a["attrType"]) == oid]
    if not found:
        raise Verdict(f"{label} attribute missing (RFC 5652 §5.3)", f"{layer.path}.{suffix}",
                      layer.offset_of(suffix))
    k, a = found[0]
    where = f"{suffix}[{k}].attrValues"
    if len(found) > 1 or len(a["attrValues"]) != 1:
        raise Verdict(f"{label} attribute must have exactly one value (RFC 5652 §11)",
                      f"{layer.path}.{where}", layer.offset_of(where))
    try:
        value = _decode_param(spec, bytes(a["attrValues"][0]), label)
    except Verdict as v:
        v.path, v.offset = f"{layer.path}.{where}[0]", layer.offset_of(f"{where}[0]")
        raise
    return value, f"{where}[0]"


def verify(layer: Layer, keyring=None, content: bytes | None = None, *,
           require_trust: bool = False) -> VerifyResult:
    """Verify every SignerInfo of a SignedData.  ``content`` is the detached content (used only
    when eContent is absent).  With ``require_trust`` a signer whose certificate is neither in
    the keyring nor issued by a keyring certificate fails."""
    if layer.kind != "SignedData":
        raise CmsError(f"{layer.path}: a {layer.kind} is not signed")
    sd = layer.value
    econtent_type = str(sd["encapContentInfo"]["eContentType"])
    attached = layer.econtent
    detached = attached is None
    if detached and content is None:
        raise CmsError(f"{layer.path}: detached signature: the signed content is needed "
                       "(--content FILE, or the first part of the multipart/signed)")
    data = attached if attached is not None else content
    if attached is not None and content is not None and content != attached:
        layer.findings.append(_finding(layer, "encapContentInfo.eContent",
                                       "content given, but the eContent is attached: the "
                                       "attached eContent is verified"))
    embedded = embedded_certificates(layer)
    ring_certs = list(getattr(keyring, "certificates", []) or [])
    signers = []
    if len(sd["signerInfos"]) == 0:
        return VerifyResult(False, "no signerInfos: nothing is signed", [], None,
                            econtent_type, detached, f"{layer.path}.signerInfos",
                            layer.offset_of("signerInfos"))
    for i, si in enumerate(sd["signerInfos"]):
        suffix = f"signerInfos[{i}]"
        r = SignerResult(i, f"{layer.path}.{suffix}")
        signers.append(r)
        try:
            r.digest_algorithm = oids.name(si["digestAlgorithm"]["algorithm"]) or str(
                si["digestAlgorithm"]["algorithm"])
            r.signature_algorithm = oids.name(si["signatureAlgorithm"]["algorithm"]) or str(
                si["signatureAlgorithm"]["algorithm"])
            sid = si["sid"]
            cert = None
            for source, pool in (("SignedData", embedded), ("keyring", ring_certs)):
                for c in pool:
                    if sid.getName() == "issuerAndSerialNumber":
                        hit = _matches_ias(layer, f"{suffix}.sid.issuerAndSerialNumber",
                                           sid["issuerAndSerialNumber"], c)
                    else:
                        hit = bytes(sid["subjectKeyIdentifier"]) == subject_key_id(c)
                    if hit:
                        cert, r.certificate_source = c, source
                        break
                if cert is not None:
                    break
            if cert is None:
                desc = (_describe_ias(sid["issuerAndSerialNumber"]) if sid.getName() ==
                        "issuerAndSerialNumber" else "subjectKeyIdentifier " +
                        bytes(sid["subjectKeyIdentifier"]).hex())
                raise Verdict(f"signer certificate not found ({desc}) in the SignedData or "
                              "the keyring", f"{r.path}.sid", layer.offset_of(f"{suffix}.sid"))
            r.certificate = cert
            r.checks.append(Check("certificate", True, f"{subject_text(cert)} "
                                                       f"(from the {r.certificate_source})"))
            digest_oid = str(si["digestAlgorithm"]["algorithm"])
            h = hashes.Hash(_hash(digest_oid, r.path))
            h.update(data)
            digest = h.finalize()
            if layer.has(f"{suffix}.signedAttrs"):
                attrs = si["signedAttrs"]
                ct, _ = _single_attr(layer, attrs, oids.CONTENT_TYPE_ATTR, univ.ObjectIdentifier(),
                                     f"{suffix}.signedAttrs", "content-type")
                if str(ct) != econtent_type:  # RFC 5652 §11.1
                    raise Verdict(f"content-type attribute mismatch: {ct} signed, eContentType "
                                  f"is {econtent_type}", f"{r.path}.signedAttrs",
                                  layer.offset_of(f"{suffix}.signedAttrs"))
                r.checks.append(Check("content-type", True, str(ct)))
                md, md_where = _single_attr(layer, attrs, oids.MESSAGE_DIGEST_ATTR,
                                            univ.OctetString(), f"{suffix}.signedAttrs",
                                            "message-digest")
                if bytes(md) != digest:  # RFC 5652 §11.2
                    raise Verdict("message-digest mismatch: the content is not what was signed",
                                  f"{layer.path}.{md_where}", layer.offset_of(md_where))
                r.checks.append(Check("message-digest", True, r.digest_algorithm))
                signed = b"\x31" + layer.raw(f"{suffix}.signedAttrs")[1:]  # RFC 5652 §5.4
            else:
                if econtent_type != oids.DATA:
                    layer.findings.append(_finding(layer, suffix, "no signedAttrs although "
                                                                  "eContentType is not id-data "
                                                                  "(RFC 5652 §5.3)"))
                signed = data
            try:
                how = _signature_check(cert.public_key(), si["signatureAlgorithm"], digest_oid,
                                       bytes(si["signature"]), signed, r.path)
            except InvalidSignature:
                raise Verdict("signature invalid", f"{r.path}.signature",
                              layer.offset_of(f"{suffix}.signature")) from None
            except Verdict as v:
                v.path, v.offset = f"{r.path}.signatureAlgorithm", layer.offset_of(
                    f"{suffix}.signatureAlgorithm")
                raise
            r.checks.append(Check("signature", True, how))
            r.trusted = _trusted(cert, keyring)
            if r.trusted:
                r.checks.append(Check("trust", True, "certificate in, or issued by, the keyring"))
            elif require_trust:
                raise Verdict(f"signer certificate {subject_text(cert)} is not "
                              "trusted (not in, nor issued by, a keyring certificate)",
                              f"{r.path}.sid", layer.offset_of(f"{suffix}.sid"))
            else:
                r.checks.append(Check("trust", False, "certificate not in the keyring "
                                                      "(accepted: --any-signer)"))
            r.ok = True
        except Verdict as v:
            r.error, r.error_path, r.error_offset = v.reason, v.path, v.offset
            r.checks.append(Check("verify", False, v.reason))
        except CERTIFICATE_ERRORS as e:  # cryptography parses certificates lazily
            r.error = f"a certificate does not parse: {type(e).__name__}: {e}"[:200]
            r.error_path, r.error_offset = r.path, layer.offset_of(suffix)
            r.checks.append(Check("certificate", False, r.error))
    bad = next((s for s in signers if not s.ok), None)
    if bad is not None:
        return VerifyResult(False, f"signer {bad.index}: {bad.error}", signers, None,
                            econtent_type, detached, bad.error_path, bad.error_offset)
    return VerifyResult(True, None, signers, data, econtent_type, detached)


# -- CompressedData (RFC 3274 §1.1) ------------------------------------------------------------
def decompress(layer: Layer, max_size: int = DEFAULT_MAX_SIZE) -> bytes:
    """zlib-inflate the eContent, never producing more than ``max_size`` octets: a bomb is a
    Verdict, not a memory exhaustion."""
    if layer.kind != "CompressedData":
        raise CmsError(f"{layer.path}: a {layer.kind} is not compressed")
    alg = str(layer.value["compressionAlgorithm"]["algorithm"])
    if alg != oids.ZLIB_COMPRESS:
        raise CmsError(f"{layer.path}.compressionAlgorithm: unsupported compression algorithm "
                       f"{alg}")
    data = layer.econtent
    if data is None:
        raise CmsError(f"{layer.path}: eContent absent (detached compressed content)")
    where = f"{layer.path}.encapContentInfo.eContent"
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, max_size + 1)
    except zlib.error as e:
        raise Verdict(f"zlib stream is corrupt: {e}", where,
                      layer.offset_of("encapContentInfo.eContent")) from None
    if len(out) > max_size or inflater.unconsumed_tail:
        raise Verdict(f"decompressed content exceeds the limit of {max_size} octets "
                      "(decompression bomb?): refused", where,
                      layer.offset_of("encapContentInfo.eContent"))
    if not inflater.eof:
        raise Verdict("zlib stream is truncated", where,
                      layer.offset_of("encapContentInfo.eContent"))
    if inflater.unused_data:
        layer.findings.append(_finding(layer, "encapContentInfo.eContent",
                                       f"{len(inflater.unused_data)} octet(s) after the zlib "
                                       "stream ignored"))
    return out


__all__ = ["CmsError", "Verdict", "Check", "SignerResult", "VerifyResult", "DecryptResult",
           "decrypt", "verify", "decompress", "recover_cek", "decrypt_content", "kari_kek",
           "name_text", "embedded_certificates", "DEFAULT_MAX_SIZE", "HASHES"]
