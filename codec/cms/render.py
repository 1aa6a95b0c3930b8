"""CMS layers and open results -> JSON records and text trees (Wireshark ``cms.*`` names).

Keys are derived from the ASN.1 component names of the pyasn1-modules specs the way Wireshark's
asn2wrs names them: ``cms.<component>``, with ``_element`` when the value is a SEQUENCE (e.g.
``cms.encapContentInfo_element``), a JSON list for SET OF / SEQUENCE OF (tshark prints repeated
subtrees; mcsec uses lists), and for a CHOICE an object holding the chosen alternative
(``"cms.rid": {"cms.issuerAndSerialNumber_element": …}``).  AlgorithmIdentifiers use tshark's
``x509af.algorithm.id`` / ``x509af.parameters``.  Integers are numbers (serial numbers are hex,
as tshark shows them), octets lowercase hex, OIDs dotted strings with a ``_name`` sibling,
Names RFC 4514 text, times ISO 8601.  Decrypted keys are ``<hidden>`` unless show_secrets.
"""

from __future__ import annotations

from typing import Any

from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import char, univ, useful
from pyasn1_modules import rfc5084, rfc5280, rfc5652

from codec.cms import oids
from codec.cms.unprotect import name_text
from codec.cms.decode import Layer

HIDDEN = "<hidden>"
# component names whose Wireshark field differs from the ASN.1 name
RENAME = {"aes-nonce": "cms.aes_nonce", "aes-ICVlen": "cms.aes_ICVlen"}
CONTENT_ELEMENT = {k: f"cms.{v}_element" for k, v in oids.CONTENT_KINDS.items()}


def _hex(b) -> str:
    return bytes(b).hex()


def int_octets(n: int) -> str:
    """Hex of an INTEGER's content octets (minimal two's complement), as tshark shows serials."""
    return n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True).hex()


def _key(name: str, value) -> str:
    if name in RENAME:
        return RENAME[name]
    if isinstance(value, univ.SequenceAndSetBase) and not isinstance(value, univ.Choice):
        return f"cms.{name}_element"
    return f"cms.{name}"


def _is_alg_id(value) -> bool:
    return isinstance(value, univ.Sequence) and \
        [nt.name for nt in value.componentType.namedTypes] == ["algorithm", "parameters"]


def _decode_quiet(octets: bytes, spec):
    try:
        v, rest = ber_decoder.decode(octets, asn1Spec=spec)
        return None if rest else v
    except (PyAsn1Error, ValueError, TypeError):
        return None


def _oid(out: dict, key: str, oid) -> None:
    out[key] = str(oid)
    name = oids.name(oid)
    if name:
        out[f"{key}_name"] = name


def _alg_json(alg) -> dict:
    out: dict = {}
    oid = str(alg["algorithm"])
    _oid(out, "x509af.algorithm.id", oid)
    if not alg["parameters"].isValue:
        return out
    params = bytes(alg["parameters"])
    out["x509af.parameters"] = params.hex()
    if oid in oids.AES_CBC:
        iv = _decode_quiet(params, univ.OctetString())
        if iv is not None:
            out["nist-csor.AES_IV"] = _hex(iv)
    elif oid in oids.AES_GCM or oid in oids.AES_CCM:
        p = _decode_quiet(params, rfc5084.GCMParameters() if oid in oids.AES_GCM
                          else rfc5084.CCMParameters())
        if p is not None:
            out["cms.aes_nonce"] = _hex(p["aes-nonce"])
            out["cms.aes_ICVlen"] = int(p["aes-ICVlen"])
    elif oid in oids.ECDH_STD or oid in oids.ECDH_COFACTOR:
        wrap = _decode_quiet(params, rfc5280.AlgorithmIdentifier())
        if wrap is not None:
            out["cms.KeyWrapAlgorithm_element"] = _alg_json(wrap)
    elif oid == oids.EC_PUBLIC_KEY:
        curve = _decode_quiet(params, univ.ObjectIdentifier())
        if curve is not None:
            _oid(out, "pkcs1.namedCurve", curve)
    return out


def _time(value) -> str:
    try:
        return value.asDateTime.strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, AttributeError, PyAsn1Error):
        return str(value)


def _attr_value(attr_type: str, raw: bytes) -> dict:
    if attr_type == oids.CONTENT_TYPE_ATTR:
        v = _decode_quiet(raw, univ.ObjectIdentifier())
        if v is not None:
            out: dict = {}
            _oid(out, "cms.ContentType", v)
            return out
    elif attr_type == oids.MESSAGE_DIGEST_ATTR:
        v = _decode_quiet(raw, univ.OctetString())
        if v is not None:
            return {"cms.MessageDigest": _hex(v)}
    elif attr_type == oids.SIGNING_TIME_ATTR:
        v = _decode_quiet(raw, rfc5652.Time())
        if v is not None:
            return {"cms.SigningTime": _time(v.getComponent())}
    elif attr_type == oids.SMIME_CAPABILITIES_ATTR:
        from pyasn1_modules import rfc5751
        v = _decode_quiet(raw, rfc5751.SMIMECapabilities())
        if v is not None:
            caps = []
            for cap in v:
                c: dict = {}
                _oid(c, "cms.attrType", cap["capabilityID"])  # the name tshark 4.0 prints
                if cap["parameters"].isValue:
                    c["cms.parameters"] = _hex(cap["parameters"])
                caps.append(c)
            return {"cms.SMIMECapabilities": caps}
    return {"cms.AttributeValue": raw.hex()}


def _certificate_json(layer: Layer, path: str) -> dict:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from codec.cms.unprotect import CERTIFICATE_ERRORS

    try:
        cert = x509.load_der_x509_certificate(layer.source[layer.spans[path].inner:
                                                           layer.spans[path].end])
        out = {"x509af.serialNumber": int_octets(cert.serial_number),
               "x509af.issuer": cert.issuer.rfc4514_string(),
               "x509af.subject": cert.subject.rfc4514_string(),
               "x509af.notBefore": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "x509af.notAfter": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")}
        _oid(out, "x509af.algorithm.id", cert.signature_algorithm_oid.dotted_string)
        out["cms.certificate.sha256"] = cert.fingerprint(hashes.SHA256()).hex()
    except KeyError:
        return {"cms.certificate.error": "certificate does not load"}
    except CERTIFICATE_ERRORS as e:  # cryptography parses lazily: any field may fail here
        return {"cms.certificate.error": f"certificate does not parse: {type(e).__name__}"}
    return out


def _value(value, layer: Layer, path: str, name: str = "") -> Any:
    """JSON of one pyasn1 value (components absent from the encoding are left out)."""
    if isinstance(value, univ.Choice):
        alt = value.getName()
        comp = value.getComponent()
        if isinstance(value, rfc5280.Name):
            return name_text(value)
        sub = f"{path}.{alt}"
        if alt == "certificate":
            return {"cms.certificate_element": _certificate_json(layer, sub)}
        return {_key(alt, comp): _value(comp, layer, sub, alt)}
    if isinstance(value, univ.SequenceAndSetBase):  # (a Choice was handled above)
        if _is_alg_id(value):
            return _alg_json(value)
        if isinstance(value, rfc5652.Attribute):
            out: dict = {}
            attr_type = str(value["attrType"])
            _oid(out, "cms.attrType", attr_type)
            out["cms.attrValues"] = [_attr_value(attr_type, bytes(v))
                                     for v in value["attrValues"]]
            return out
        out = {}
        for comp_name in [nt.name for nt in value.componentType.namedTypes]:
            sub = f"{path}.{comp_name}"
            if sub not in layer.spans:
                continue  # absent in the encoding
            comp = value[comp_name]
            out[_key(comp_name, comp)] = _value(comp, layer, sub, comp_name)
        return out
    if isinstance(value, univ.SequenceOfAndSetOfBase):
        return [_value(item, layer, f"{path}[{i}]", name) for i, item in enumerate(value)]
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    if isinstance(value, univ.Integer):
        if name == "serialNumber":
            return int_octets(int(value))
        return int(value)
    if isinstance(value, univ.BitString):
        return value.asOctets().hex()
    if isinstance(value, (useful.UTCTime, useful.GeneralizedTime)):
        return _time(value)
    if isinstance(value, char.AbstractCharacterString):
        return str(value)
    if isinstance(value, univ.OctetString):
        return value.asOctets().hex()
    if isinstance(value, univ.Any):
        return bytes(value).hex()
    if isinstance(value, univ.Null):
        return None
    if isinstance(value, univ.Boolean):
        return bool(value)
    return str(value)


def _add_oid_names(obj):
    """Add ``_name`` siblings to OID-valued keys of a rendered structure."""
    if isinstance(obj, list):
        for item in obj:
            _add_oid_names(item)
    elif isinstance(obj, dict):
        for key in list(obj):
            v = obj[key]
            if key in ("cms.contentType", "cms.eContentType", "cms.attrType") and \
                    isinstance(v, str) and f"{key}_name" not in obj and oids.name(v):
                obj[f"{key}_name"] = oids.name(v)
            else:
                _add_oid_names(v)


def layer_json(layer: Layer, nested: bool = True) -> dict:
    """The structure of one layer; structurally nested content (SignedData eContent of a CMS
    type) appears inside ``cms.encapContentInfo_element`` under its element name (derived:
    tshark 4.0 shows only the eContent octets)."""
    if layer.kind == "Data":
        body: Any = layer.value.hex()
    else:
        body = _value(layer.value, layer, layer.path)
        if nested and layer.inner is not None and isinstance(body, dict):
            eci = body.get("cms.encapContentInfo_element")
            if isinstance(eci, dict):
                eci.update(layer_json(layer.inner))
    _add_oid_names(body)
    element = {CONTENT_ELEMENT.get(layer.content_type, "cms.content"): body}
    if layer.kind == "Data":
        element = {"cms.data": body}
    if not layer.in_content_info:
        return element
    ci = {"cms.contentType": layer.content_type}
    if oids.name(layer.content_type):
        ci["cms.contentType_name"] = oids.name(layer.content_type)
    ci.update(element)
    return {"cms.ContentInfo_element": ci}


def findings_json(findings) -> list:
    return [{"path": f.path, "offset": f.offset, "message": f.message} for f in findings]


def to_json(layer: Layer) -> dict:
    """``mcsec cms show`` of a decoded object without keys."""
    out = {"cms": [layer_json(layer)]}
    found = [f for x in layer.layers() for f in x.findings]
    if found:
        out["cms.findings"] = findings_json(unique_findings(found))
    return out


def unique_findings(findings):
    seen, out = set(), []
    for f in findings:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out


def _checks(checks) -> list:
    return [{"check": c.name, "ok": c.ok, **({"detail": c.detail} if c.detail else {})}
            for c in checks]


def result_json(result, show_secrets: bool = False) -> dict:
    """The report of open_layers: every layer's structure and verdict."""
    layers = []
    structures = []
    shown: set = set()
    decrypted = False  # layers reached by decryption hold a user's message: hidden
    for r in result.layers:
        decrypted = decrypted or r.via == "decrypted"
        item: dict = {"cms.layer": r.index, "cms.layer.type": r.kind, "cms.layer.path": r.path,
                      "cms.layer.via": r.via, "cms.layer.ok": r.ok}
        if r.error:
            item["cms.layer.error"] = r.error
            item["cms.layer.error_path"] = r.error_path
            item["cms.layer.error_offset"] = r.error_offset
        if r.smime_type:
            item["cms.layer.smime_type"] = r.smime_type
        if r.content_type:
            item["cms.layer.content_type"] = r.content_type
            if oids.name(r.content_type):
                item["cms.layer.content_type_name"] = oids.name(r.content_type)
        if r.content_length is not None:
            item["cms.layer.content_length"] = r.content_length
        if r.verify is not None:
            item["cms.signers"] = [_signer_json(s) for s in r.verify.signers]
            item["cms.layer.detached"] = r.verify.detached
        if r.decrypt is not None:
            d = r.decrypt
            item["cms.recipient"] = {"cms.recipient.index": d.recipient_index,
                                     "cms.recipient.type": d.recipient_kind,
                                     "cms.recipient.key": d.recipient_key}
            item["cms.contentEncryptionAlgorithm"] = d.algorithm
            if d.cek is not None:
                item["cms.cek"] = d.cek.hex() if show_secrets else HIDDEN
            item["cms.checks"] = _checks(d.checks)
        if r.findings:
            item["cms.findings"] = findings_json(unique_findings(r.findings))
        layers.append(item)
        if r.layer is not None and id(r.layer) not in shown and r.via != "eContent":
            shown.update(id(x) for x in r.layer.layers())
            structure = layer_json(r.layer)
            structures.append(structure if show_secrets or not decrypted
                              else _hide_content(structure))
    out = {"cms": structures, "cms.layers": layers, "cms.ok": result.ok}
    if result.error:
        out["cms.error"] = result.error
    if result.ok and result.content is not None:
        out["cms.content_length"] = len(result.content)
    return out


CONTENT_KEYS = ("cms.eContent", "cms.data", "cms.content")


def _hide_content(obj):
    """A copy of a rendered structure with its content octets (eContent, id-data) replaced by
    a note: what decryption revealed is a user's message, shown only with show_secrets."""
    if isinstance(obj, list):
        return [_hide_content(x) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for key, v in obj.items():
        if key in CONTENT_KEYS and isinstance(v, str):
            out[key] = f"<{len(v) // 2} octets decrypted; --show-secrets>"
        else:
            out[key] = _hide_content(v)
    return out


def _signer_json(s) -> dict:
    out = {"cms.signer.index": s.index, "cms.signer.ok": s.ok,
           "cms.signer.digest_algorithm": s.digest_algorithm,
           "cms.signer.signature_algorithm": s.signature_algorithm,
           "cms.checks": _checks(s.checks)}
    if s.certificate is not None:
        from codec.cms.unprotect import CERTIFICATE_ERRORS

        try:
            out["cms.signer.certificate"] = s.certificate.subject.rfc4514_string()
        except CERTIFICATE_ERRORS as e:
            out["cms.signer.certificate"] = f"<subject does not parse: {type(e).__name__}>"
        out["cms.signer.certificate_source"] = s.certificate_source
        out["cms.signer.trusted"] = bool(s.trusted)
    if s.error:
        out["cms.signer.error"] = s.error
        out["cms.signer.error_path"] = s.error_path
        out["cms.signer.error_offset"] = s.error_offset
    return out


# -- text --------------------------------------------------------------------------------------
def _label(key: str) -> str:
    for prefix in ("cms.", "x509af.", "nist-csor.", "pkcs1."):
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    return key[:-8] if key.endswith("_element") else key


def _text(obj, indent: int, out: list) -> None:
    pad = "    " * indent
    if isinstance(obj, dict):
        for key, v in obj.items():
            if key.endswith("_name"):
                continue
            name = obj.get(f"{key}_name")
            if isinstance(v, (dict, list)):
                count = f": {len(v)} item{'s' if len(v) != 1 else ''}" if isinstance(v, list) \
                    else ""
                out.append(f"{pad}{_label(key)}{count}")
                _text(v, indent + 1, out)
            else:
                shown = "true" if v is True else "false" if v is False else v
                out.append(f"{pad}{_label(key)}: {shown}" + (f" ({name})" if name else ""))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            if isinstance(item, (dict, list)):
                out.append(f"{pad}[{i}]")
                _text(item, indent + 1, out)
            else:
                out.append(f"{pad}[{i}] {item}")


def to_text(doc: dict) -> str:
    """Indented tree like ``tshark -V`` of a JSON document made by to_json / result_json."""
    out = ["Cryptographic Message Syntax"]
    for s in doc.get("cms", []):
        _text(s, 1, out)
    if "cms.layers" in doc:
        out.append("Layers")
        for item in doc["cms.layers"]:
            status = "OK" if item["cms.layer.ok"] else f"FAILED: {item.get('cms.layer.error')}"
            out.append(f"    [{item['cms.layer']}] {item['cms.layer.type']} "
                       f"(via {item['cms.layer.via']}): {status}")
            rest = {k: v for k, v in item.items() if k not in (
                "cms.layer", "cms.layer.type", "cms.layer.via", "cms.layer.ok",
                "cms.layer.error")}
            _text(rest, 2, out)
    for f in doc.get("cms.findings", []):
        out.append(f"Finding: {f['path']} at offset {f['offset']}: {f['message']}")
    return "\n".join(out) + "\n"


__all__ = ["layer_json", "to_json", "result_json", "to_text", "HIDDEN"]
