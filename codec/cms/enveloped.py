"""Open EnvelopedData (RFC 5652 §6) and AuthEnvelopedData (RFC 5083) with keys from the keyring.

- recipients (RFC 5652 §6.2): KEKRecipientInfo with AES key wrap (RFC 3394 §2.2.3, RFC 5649 §3),
  KeyTransRecipientInfo with RSA PKCS#1 v1.5 or RSAES-OAEP (RFC 4055 §4.1), KeyAgreeRecipientInfo
  with ECDH and the X9.63 KDF over ECC-CMS-SharedInfo (RFC 5753 §3.1.1, §7.2);
- content encryption: AES-CBC (RFC 3565 §4, PKCS#7 padding RFC 5652 §6.3), AES-GCM / AES-CCM
  (RFC 5084 §3) with the authAttrs as AAD (RFC 5083 §2.2).

A wrong key, tag or padding is a verdict (``DecryptResult.ok=False``), not an exception.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding as sympad
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import (InvalidUnwrap, aes_key_unwrap,
                                                    aes_key_unwrap_with_padding)
from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.type import univ
from pyasn1_modules import rfc4055, rfc5084, rfc5280, rfc5753

from codec.cms import oids
from codec.cms.decode import Layer
from codec.cms.unprotect import (
    HASHES, Check, CmsError, DecryptResult, Verdict, alg_params, decode_param, der_of,
    describe_ias, finding, hash_for, key_pairs, matches_ias, subject_key_id, subject_text)


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
        iv = bytes(decode_param(univ.OctetString(), params, oids.name(alg_oid)))
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
        p = decode_param(spec, params, oids.name(alg_oid))
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
        params = alg_params(alg)
        h, mgf_h, label = hashes.SHA1(), hashes.SHA1(), None  # RFC 4055 §4.1 defaults
        if params is not None:
            p = decode_param(rfc4055.RSAES_OAEP_params(), params, "RSAES-OAEP")
            if p["hashFunc"].isValue:
                h = hash_for(p["hashFunc"]["algorithm"], where)
            if p["maskGenFunc"].isValue:
                mgf = p["maskGenFunc"]
                if str(mgf["algorithm"]) != oids.MGF1:
                    raise CmsError(f"{where}: unsupported mask generation function "
                                   f"{mgf['algorithm']}")
                inner = decode_param(rfc5280.AlgorithmIdentifier(), bytes(mgf["parameters"]),
                                      "MGF1")
                mgf_h = hash_for(inner["algorithm"], where)
            if p["pSourceFunc"].isValue:
                src = p["pSourceFunc"]
                if src["parameters"].isValue:
                    label = bytes(decode_param(univ.OctetString(), bytes(src["parameters"]),
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
    for key, certs in key_pairs(keyring):
        if not isinstance(key, rsa.RSAPrivateKey):
            continue
        for cert in certs:
            if rid.getName() == "issuerAndSerialNumber" and matches_ias(
                    layer, f"{suffix}.rid.issuerAndSerialNumber", rid["issuerAndSerialNumber"],
                    cert):
                candidates.append((key, cert))
            elif rid.getName() == "subjectKeyIdentifier" and \
                    bytes(rid["subjectKeyIdentifier"]) == subject_key_id(cert):
                candidates.append((key, cert))
    desc = (describe_ias(rid["issuerAndSerialNumber"]) if rid.getName() ==
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
    return X963KDF(HASHES[hash_oid](), kek_len, der_of(info)).derive(shared_secret)


def _kari(layer, i, ri, keyring, missing):
    suffix = f"recipientInfos[{i}].kari"
    where = f"{layer.path}.{suffix}"
    kea = ri["keyEncryptionAlgorithm"]
    scheme = str(kea["algorithm"])
    hash_oid = oids.ECDH_STD.get(scheme) or oids.ECDH_COFACTOR.get(scheme)
    if hash_oid is None:
        raise CmsError(f"{where}: unsupported key agreement algorithm {scheme} "
                       f"({oids.name(scheme) or 'unknown'})")
    params = alg_params(kea)
    if params is None:
        raise Verdict("key agreement algorithm without KeyWrapAlgorithm parameter (RFC 5753 "
                      "§7.1.4)", f"{where}.keyEncryptionAlgorithm",
                      layer.offset_of(f"{suffix}.keyEncryptionAlgorithm"))
    wrap = decode_param(rfc5280.AlgorithmIdentifier(), params, "KeyWrapAlgorithm")
    wrap_oid = str(wrap["algorithm"])
    kek_len = oids.AES_WRAP.get(wrap_oid) or oids.AES_WRAP_PAD.get(wrap_oid)
    if kek_len is None:
        raise CmsError(f"{where}: unsupported key wrap algorithm {wrap_oid} "
                       f"({oids.name(wrap_oid) or 'unknown'})")
    ukm = bytes(ri["ukm"]) if ri["ukm"].isValue else None
    for j, rek in enumerate(ri["recipientEncryptedKeys"]):
        rid = rek["rid"]
        rsuffix = f"{suffix}.recipientEncryptedKeys[{j}]"
        for key, certs in key_pairs(keyring):
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                continue
            for cert in certs:
                if rid.getName() == "issuerAndSerialNumber":
                    hit = matches_ias(layer, f"{rsuffix}.rid.issuerAndSerialNumber",
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
        desc = (describe_ias(rid["issuerAndSerialNumber"]) if rid.getName() ==
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
            plain = decrypt_content(alg_oid, alg_params(alg), cek, ciphertext, tag, aad)
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
            value = decode_param(univ.ObjectIdentifier(), bytes(a["attrValues"][0]),
                                  "content-type attribute")
            if str(value) != content_type:
                raise Verdict("content-type authenticated attribute does not match "
                              "the content type", f"{layer.path}.authAttrs",
                              layer.offset_of("authAttrs"))
            return
    layer.findings.append(finding(layer, "authAttrs", "content type is not id-data but no "
                                                       "content-type attribute (RFC 5083 §2.1)"))
