"""Verify SignedData (RFC 5652 §5.4–5.6) with the embedded and keyring certificates.

Every SignerInfo: its certificate found by IssuerAndSerialNumber or SubjectKeyIdentifier
(§5.3, §10.2.4), the message-digest and content-type signed attributes (§11.1, §11.2), the
signature over the DER SET OF signedAttrs or the content (§5.4): ECDSA (RFC 5753 §2.1.1 / RFC 5758),
RSA PKCS#1 v1.5 and RSASSA-PSS (RFC 4056); trust: in the keyring or issued by a keyring
certificate.  A failed check is a verdict (``VerifyResult.ok=False``), not an exception.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyasn1.type import univ
from pyasn1_modules import rfc4055, rfc5280

from codec.cms import oids
from codec.cms.decode import Layer
from codec.cms.unprotect import (
    CERTIFICATE_ERRORS, Check, CmsError, SignerResult, Verdict, VerifyResult, alg_params,
    decode_param, describe_ias, embedded_certificates, finding, hash_for, matches_ias,
    subject_key_id, subject_text)


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
        h = hash_for(oids.ECDSA_WITH.get(oid, digest_oid), where)
        public_key.verify(signature, signed, ec.ECDSA(h))
        return f"ECDSA {h.name}"
    if oid in oids.RSA_WITH or oid == oids.RSA_ENCRYPTION:
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise Verdict(f"signature algorithm {oids.name(oid)} but the certificate key is not RSA")
        h = hash_for(oids.RSA_WITH.get(oid, digest_oid), where)
        public_key.verify(signature, signed, padding.PKCS1v15(), h)
        return f"RSA PKCS#1 v1.5 {h.name}"
    if oid == oids.RSASSA_PSS:
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise Verdict("RSASSA-PSS signature but the certificate key is not RSA")
        params = alg_params(sig_alg)
        h, mgf_h, salt = hashes.SHA1(), hashes.SHA1(), 20  # RFC 4055 §3.1 defaults
        if params is not None:
            p = decode_param(rfc4055.RSASSA_PSS_params(), params, "RSASSA-PSS")
            if p["hashAlgorithm"].isValue:
                h = hash_for(p["hashAlgorithm"]["algorithm"], where)
            if p["maskGenAlgorithm"].isValue:
                mgf = p["maskGenAlgorithm"]
                inner = decode_param(rfc5280.AlgorithmIdentifier(), bytes(mgf["parameters"]),
                                      "MGF1")
                mgf_h = hash_for(inner["algorithm"], where)
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
        value = decode_param(spec, bytes(a["attrValues"][0]), label)
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
        layer.findings.append(finding(layer, "encapContentInfo.eContent",
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
                        hit = matches_ias(layer, f"{suffix}.sid.issuerAndSerialNumber",
                                           sid["issuerAndSerialNumber"], c)
                    else:
                        hit = bytes(sid["subjectKeyIdentifier"]) == subject_key_id(c)
                    if hit:
                        cert, r.certificate_source = c, source
                        break
                if cert is not None:
                    break
            if cert is None:
                desc = (describe_ias(sid["issuerAndSerialNumber"]) if sid.getName() ==
                        "issuerAndSerialNumber" else "subjectKeyIdentifier " +
                        bytes(sid["subjectKeyIdentifier"]).hex())
                raise Verdict(f"signer certificate not found ({desc}) in the SignedData or "
                              "the keyring", f"{r.path}.sid", layer.offset_of(f"{suffix}.sid"))
            r.certificate = cert
            r.checks.append(Check("certificate", True, f"{subject_text(cert)} "
                                                       f"(from the {r.certificate_source})"))
            digest_oid = str(si["digestAlgorithm"]["algorithm"])
            h = hashes.Hash(hash_for(digest_oid, r.path))
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
                    layer.findings.append(finding(layer, suffix, "no signedAttrs although "
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
