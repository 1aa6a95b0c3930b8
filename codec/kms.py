"""KMS provisioning documents (TS 33.180 §5.3, Annex D) and a KMS for tests and captures.

:func:`parse` reads KmsInit / KmsKeyProv / KmsCertCache documents (plain or inside a
KmsResponse) with defusedxml: DTDs, entity declarations and external references are refused with
a :class:`KmsXmlError`.  Wrapped keys (``EncKeyContentType``, xenc EncryptedKey under the transport
key TrK) are unwrapped when the TrK is supplied; the 257-/65-octet RSK/PVT do not fit RFC 3394, so
the readings of reference/mcptt-security.md §5.3 are tried in order and the one that worked is
reported.  :class:`Kms` issues real key material and writes those documents.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from cryptography.hazmat.primitives import keywrap
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from codec.crypto import eccsi, mcx, sakke
from codec.keyring import MAX_KDF_PARAM, MAX_KEY_OCTETS, MAX_UINT64, Keyring, KmsKeys, UserKeys
from codec.errors import McsecError

NS = "urn:3gpp:ns:mcsecKMSInterface:1.0"
XENC = "http://www.w3.org/2001/04/xmlenc#"
DS = "http://www.w3.org/2000/09/xmldsig#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
KW_AES256 = XENC + "kw-aes256"
# Real KMS documents are a few KB; a bound of 64 KiB keeps parsing any input under ~100 ms
# (expat + ElementTree cost ~0.5 µs per octet of element-dense XML, docs/FUZZING.md F4).
# Files the user hands in may be larger: callers pass max_size.
MAX_DOCUMENT = 64 * 1024


class KmsXmlError(McsecError, ValueError):
    """A KMS document that is unsafe, malformed or cannot be unwrapped."""


@dataclass
class KmsDocument:
    certificates: list[KmsKeys] = field(default_factory=list)
    key_sets: list[UserKeys] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. which key-wrap reading worked
    error: tuple | None = None  # (ErrorCode, ErrorMsg) of a KmsError response
    request: dict | None = None  # a KmsRequest: what was asked for


def _q(tag):
    return f"{{{NS}}}{tag}"


def _child_text(el, tag, required=False, where=""):
    c = el.find(_q(tag))
    if c is None:
        c = el.find(tag)  # tolerate documents without the namespace
    if c is None or c.text is None:
        if required:
            raise KmsXmlError(f"{where}: <{tag}> is missing")
        return None
    return c.text.strip()


def _int(text, tag, where, low=0):
    """A 64-bit count of seconds or periods, ``low`` or more (a period length is at least 1)."""
    if text is None:
        return None
    try:
        value = int(text) if len(text) <= 40 else None
    except ValueError:
        raise KmsXmlError(f"{where}: <{tag}> is not an integer") from None
    if value is None or not low <= value <= MAX_UINT64:
        kind = "positive" if low == 1 else "non-negative"
        raise KmsXmlError(f"{where}: <{tag}> must be a {kind} integer (at most 2^64 - 1)")
    return value


def _uri(el, tag, where, required=False):
    """A URI: TS 33.180 §F.2.1 hashes it as a KDF parameter (at most 65,535 octets)."""
    text = _child_text(el, tag, required, where)
    if text is not None and len(text.encode("utf-8", "surrogatepass")) > MAX_KDF_PARAM:
        raise KmsXmlError(f"{where}: <{tag}> is longer than {MAX_KDF_PARAM} octets "
                          f"(TS 33.220 Annex B.2)")
    return text


def _key(el, tag, where, transport_key, notes, expected_len=None, required=False):
    c = el.find(_q(tag))
    if c is None:
        c = el.find(tag)
    if c is None:
        if required:
            raise KmsXmlError(f"{where}: <{tag}> is missing")
        return None
    enc = c.find(f"{{{XENC}}}EncryptedKey")
    if enc is None and len(c.text or "") > 3 * MAX_KEY_OCTETS:  # refused before any work
        raise KmsXmlError(f"{where}: <{tag}> is longer than {MAX_KEY_OCTETS} octets")
    if enc is None:  # KeyContentType: hexBinary
        try:
            return bytes.fromhex("".join((c.text or "").split()))
        except ValueError:
            raise KmsXmlError(f"{where}: <{tag}> is not hexBinary") from None
    method = enc.find(f"{{{XENC}}}EncryptionMethod")
    algo = method.get("Algorithm") if method is not None else None
    if algo != KW_AES256:
        raise KmsXmlError(f"{where}: <{tag}> is wrapped with {algo!r}, only kw-aes256 is supported")
    cv = enc.find(f"{{{XENC}}}CipherData/{{{XENC}}}CipherValue")
    if cv is None or not cv.text:
        raise KmsXmlError(f"{where}: <{tag}> has no CipherValue")
    if len(cv.text) > 3 * MAX_KEY_OCTETS:
        raise KmsXmlError(f"{where}: <{tag}> CipherValue is longer than {MAX_KEY_OCTETS} octets")
    try:
        wrapped = base64.b64decode("".join(cv.text.split()), validate=True)
    except binascii.Error:
        raise KmsXmlError(f"{where}: <{tag}> CipherValue is not base64") from None
    if transport_key is None:
        notes.append(f"{where}: <{tag}> is wrapped; no transport key (TrK) given")
        return None
    value, reading = unwrap_key(wrapped, transport_key, expected_len)
    notes.append(f"{where}: <{tag}> unwrapped ({reading})")
    return value


def unwrap_key(wrapped: bytes, trk: bytes, expected_len: int | None = None):
    """(key, reading): RFC 3394 (re-prefixing 0x04 to a bare x || y), else RFC 5649."""
    try:
        value = keywrap.aes_key_unwrap(trk, wrapped)
        if expected_len is not None and len(value) == expected_len - 1:
            return b"\x04" + value, "RFC 3394 key wrap of x || y, 0x04 restored"
        return value, "RFC 3394 key wrap"
    except (keywrap.InvalidUnwrap, ValueError):
        pass
    try:
        return keywrap.aes_key_unwrap_with_padding(trk, wrapped), "RFC 5649 key wrap with padding"
    except (keywrap.InvalidUnwrap, ValueError):
        raise KmsXmlError("wrapped key does not unwrap with the transport key (wrong TrK?)") from None


def wrap_key(value: bytes, trk: bytes) -> bytes:
    """The writer side of :func:`unwrap_key`: RFC 3394 when it fits, else RFC 5649."""
    if len(value) % 8 == 1 and value[0] == 4:
        return keywrap.aes_key_wrap(trk, value[1:])  # x || y
    if len(value) % 8 == 0 and len(value) >= 16:
        return keywrap.aes_key_wrap(trk, value)
    return keywrap.aes_key_wrap_with_padding(trk, value)


def parse(data: bytes, transport_key: bytes | None = None, source: str = "",
          max_size: int = MAX_DOCUMENT) -> KmsDocument:
    """Key material from a KMS document (Annex D)."""
    if len(data) > max_size:
        raise KmsXmlError(f"{source}: document larger than {max_size} octets")
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise KmsXmlError(f"{source}: refused: {type(e).__name__} (DTDs, entities and external "
                          f"references are not allowed in KMS documents)") from None
    except ET.ParseError as e:
        raise KmsXmlError(f"{source}: not well-formed XML: {e}") from None
    except (LookupError, ValueError) as e:  # e.g. an unknown encoding in the XML declaration
        raise KmsXmlError(f"{source}: XML cannot be read: {e}") from None
    doc = KmsDocument()
    if root.tag in (_q("KmsRequest"), _q("SignedKmsRequest")):  # Annex D.2: no key material
        req = root if root.tag == _q("KmsRequest") else root.find(_q("KmsRequest"))
        doc.request = {t: _child_text(req, t) for t in ("UserUri", "KmsUri", "Time",
                                                         "ClientReqUrl")} if req is not None else {}
        return doc
    err = root.find(f".//{_q('KmsError')}")
    if err is not None:
        doc.error = (_child_text(err, "ErrorCode"), _child_text(err, "ErrorMsg"))
    for i, cert in enumerate(root.iter(_q("KmsCertificate"))):
        w = f"{source} KmsCertificate[{i}]"
        doc.certificates.append(KmsKeys(
            uri=_uri(cert, "KmsUri", w, True),
            kpak=_key(cert, "PubAuthKey", w, None, doc.notes, required=True),
            z=_key(cert, "PubEncKey", w, None, doc.notes, required=True),
            user_key_period=_int(_child_text(cert, "UserKeyPeriod"), "UserKeyPeriod", w, low=1),
            user_key_offset=_int(_child_text(cert, "UserKeyOffset"), "UserKeyOffset", w),
            source=source))
        ps = _child_text(cert, "ParameterSet")
        if ps not in (None, "1"):
            doc.notes.append(f"{w}: SAKKE parameter set {ps} (only 1 is supported)")
    for i, ks in enumerate(root.iter(_q("KmsKeySet"))):
        w = f"{source} KmsKeySet[{i}]"
        uid = _user_id(_child_text(ks, "UserID", True, w), w, doc.notes)
        doc.key_sets.append(UserKeys(
            uri=_uri(ks, "UserUri", w, True), uid=uid,
            kms=_uri(ks, "KmsUri", w, True),
            period=_int(_child_text(ks, "KeyPeriodNo", True, w), "KeyPeriodNo", w),
            rsk=_key(ks, "UserDecryptKey", w, transport_key, doc.notes, sakke.POINT_LEN),
            ssk=_key(ks, "UserSigningKeySSK", w, transport_key, doc.notes, 32),
            pvt=_key(ks, "UserPubTokenPVT", w, transport_key, doc.notes, 65),
            source=source))
    if not doc.certificates and not doc.key_sets and doc.error is None:
        raise KmsXmlError(f"{source}: no KmsCertificate or KmsKeySet in the document")
    return doc


def _user_id(text: str, where: str, notes: list) -> bytes:
    """The UserID of a key set: base64 as Annex D writes it, or the 32-octet UID (TS 33.180
    §F.2.1, SHA-256) as 64 hex digits, as some KMSs write it (as base64 those would be 48
    octets, never a UID)."""
    compact = "".join(text.split())
    if len(compact) > 2 * MAX_KEY_OCTETS:  # a UID is 32 octets: refused before any work
        raise KmsXmlError(f"{where}: <UserID> is longer than {MAX_KEY_OCTETS} octets")
    if re.fullmatch(r"[0-9A-Fa-f]{64}", compact):
        notes.append(f"{where}: <UserID> written as 64 hex digits: read as hex")
        return bytes.fromhex(compact)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        raise KmsXmlError(f"{where}: <UserID> is neither base64 nor 64 hex digits") from None


def keyring_from_xml(data: bytes, source: str = "", transport_key: bytes | None = None,
                     max_size: int = MAX_DOCUMENT) -> Keyring:
    doc = parse(data, transport_key, source, max_size)
    return Keyring(kms=doc.certificates, users=doc.key_sets, sources=[source] if source else [])


def check_key_set(user: UserKeys, kms: KmsKeys) -> list[str]:
    """TS 33.180 §5.3 client checks: UID, SSK/PVT (RFC 6507 §5.1.2), RSK (RFC 6508 §6.1.2).

    Returns the failures (empty when everything checks out)."""
    problems = []
    if user.uri is not None and user.period is not None and kms.user_key_period:
        expected = mcx.uid(user.uri, kms.uri, kms.user_key_period, kms.user_key_offset or 0,
                           user.period)
        if user.uid is not None and user.uid != expected:
            problems.append("UserID is not the TS 33.180 §F.2.1 UID of UserUri, KmsUri and period")
    ident = user.uid
    if ident is None:
        return problems + ["no UID to check the keys against"]
    if user.ssk is not None and user.pvt is not None and kms.kpak is not None:
        v = eccsi.validate_user_keys(kms.kpak, ident, user.ssk, user.pvt)
        if not v.ok:
            problems.append(f"SSK/PVT do not validate: {v.reason}")
    if user.rsk is not None and kms.z is not None and not sakke.validate_rsk(ident, kms.z, user.rsk):
        problems.append("RSK does not validate: <[b]P + Z, RSK> != g")
    return problems


# ----------------------------------------------------------------------------------------------
class Kms:
    """A KMS that issues real ECCSI/SAKKE key material (tests, fuzzers, `mcsec synth`)."""

    def __init__(self, uri: str, ksak: int | None = None, z_s: int | None = None,
                 user_key_period: int = 2592000, user_key_offset: int = 0):
        self.uri = uri
        self.ksak, self.kpak = eccsi.kms_keypair(ksak)
        self.z_s, self.z = sakke.kms_keypair(z_s)
        self.user_key_period = user_key_period
        self.user_key_offset = user_key_offset

    def public(self) -> KmsKeys:
        return KmsKeys(uri=self.uri, kpak=self.kpak, z=self.z,
                       user_key_period=self.user_key_period, user_key_offset=self.user_key_offset)

    def period_no(self, ntp_seconds: int) -> int:
        return mcx.key_period_number(ntp_seconds, self.user_key_period, self.user_key_offset)

    def uid(self, user_uri: str, period_no: int) -> bytes:
        return mcx.uid(user_uri, self.uri, self.user_key_period, self.user_key_offset, period_no)

    def issue(self, user_uri: str, period_no: int) -> UserKeys:
        ident = self.uid(user_uri, period_no)
        ssk, pvt = eccsi.issue_user_keys(self.ksak, self.kpak, ident)
        return UserKeys(uri=user_uri, uid=ident, kms=self.uri, rsk=sakke.issue_rsk(self.z_s, ident),
                        ssk=ssk, pvt=pvt, period=period_no)

    # -- Annex D documents ---------------------------------------------------------------------
    def _response(self, user_uri: str, message: ET.Element, time: str) -> bytes:
        ET.register_namespace("", NS)
        ET.register_namespace("xenc", XENC)
        ET.register_namespace("xsi", XSI)
        resp = ET.Element(_q("KmsResponse"), {"Version": "1.1.0"})
        for tag, text in (("UserUri", user_uri), ("KmsUri", self.uri), ("Time", time),
                          ("KmsId", self.uri),
                          ("ClientReqUrl", f"https://{self.uri}/keymanagement/identity/v1/")):
            ET.SubElement(resp, _q(tag)).text = text
        km = ET.SubElement(resp, _q("KmsMessage"))
        km.append(message)
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(resp)

    def certificate_element(self) -> ET.Element:
        cert = ET.Element(_q("KmsCertificate"), {"Version": "1.1.0", "Role": "Root"})
        for tag, text in (("CertUri", f"{self.uri}.cert"), ("KmsUri", self.uri),
                          ("Issuer", self.uri), ("UserIdFormat", "2"),
                          ("UserKeyPeriod", str(self.user_key_period)),
                          ("UserKeyOffset", str(self.user_key_offset)),
                          ("PubEncKey", self.z.hex().upper()),
                          ("PubAuthKey", self.kpak.hex().upper()), ("ParameterSet", "1")):
            el = ET.SubElement(cert, _q(tag))
            el.text = text
            if tag in ("PubEncKey", "PubAuthKey"):
                el.set(f"{{{XSI}}}type", "KeyContentType")
        return cert

    def init_document(self, user_uri: str, time: str = "2025-01-01T00:00:00Z") -> bytes:
        """KmsResponse/KmsMessage/KmsInit with the KMS certificate (Annex D.3.2)."""
        init = ET.Element(_q("KmsInit"), {"Version": "1.1.0"})
        init.append(self.certificate_element())
        return self._response(user_uri, init, time)

    def key_prov_document(self, key_sets: list[UserKeys], transport_key: bytes | None = None,
                          trk_id: str = "trk.1", time: str = "2025-01-01T00:00:00Z") -> bytes:
        """KmsResponse/KmsMessage/KmsKeyProv with one KmsKeySet per entry (Annex D.3.3)."""
        prov = ET.Element(_q("KmsKeyProv"), {"Version": "1.1.0"})
        for u in key_sets:
            ks = ET.SubElement(prov, _q("KmsKeySet"), {"Version": "1.1.0"})
            for tag, text in (("KmsUri", self.uri), ("CertUri", f"{self.uri}.cert"),
                              ("Issuer", self.uri), ("UserUri", u.uri),
                              ("UserID", base64.b64encode(u.uid).decode()),
                              ("KeyPeriodNo", str(u.period))):
                ET.SubElement(ks, _q(tag)).text = text
            for tag, value in (("UserDecryptKey", u.rsk), ("UserSigningKeySSK", u.ssk),
                               ("UserPubTokenPVT", u.pvt)):
                el = ET.SubElement(ks, _q(tag))
                if transport_key is None:
                    el.set(f"{{{XSI}}}type", "KeyContentType")
                    el.text = value.hex().upper()
                else:
                    el.set(f"{{{XSI}}}type", "EncKeyContentType")
                    enc = ET.SubElement(el, f"{{{XENC}}}EncryptedKey")
                    ET.SubElement(enc, f"{{{XENC}}}EncryptionMethod", {"Algorithm": KW_AES256})
                    ki = ET.SubElement(enc, f"{{{DS}}}KeyInfo")
                    ET.SubElement(ki, f"{{{DS}}}KeyName").text = trk_id
                    cd = ET.SubElement(enc, f"{{{XENC}}}CipherData")
                    ET.SubElement(cd, f"{{{XENC}}}CipherValue").text = base64.b64encode(
                        wrap_key(value, transport_key)).decode()
        user = key_sets[0].uri if key_sets else ""
        return self._response(user, prov, time)
