"""MIME entities and SIP MESSAGE bodies carrying S/MIME (RFC 2045/2046, RFC 8551, RFC 3261 §7).

Pure and I/O-free.  Parsing keeps the exact octets of every entity (``Entity.raw``) because the
first part of a multipart/signed is verified as it was sent (RFC 1847 §2.1).  Malformed input
raises ``DecodeError(path, offset, reason)``; tolerated oddities are ``Finding``s.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field

from codec import sip
from codec.errors import DecodeError, Finding

# RFC 8551 §3.2.2 smime-type tokens, plus RFC 5083 §1's authEnveloped-data
SMIME_TYPES = ("enveloped-data", "signed-data", "certs-only", "compressed-data",
               "authEnveloped-data")
SMIME_TYPE_FOR_KIND = {"SignedData": "signed-data", "EnvelopedData": "enveloped-data",
                       "AuthEnvelopedData": "authEnveloped-data",
                       "CompressedData": "compressed-data"}
PKCS7_MIME = ("application/pkcs7-mime", "application/x-pkcs7-mime")
PKCS7_SIGNATURE = ("application/pkcs7-signature", "application/x-pkcs7-signature")
_SIP_COMPACT = {k: v.lower() for k, v in sip.COMPACT_FORMS.items()}  # RFC 3261 §7.3.3
MICALG = {"sha1": "sha-1", "sha224": "sha-224", "sha256": "sha-256", "sha384": "sha-384",
          "sha512": "sha-512"}  # RFC 8551 §3.5.3.2

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)  # RFC 7230 §3.2.6 token: a header field name
_PARAM = re.compile(r'\s*(;)?\s*(' + _TOKEN + r')\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')


@dataclass
class Entity:
    """One MIME entity (or SIP message: then ``start_line`` is set)."""

    headers: list  # [(name as written, unfolded value)]
    body: bytes  # as on the wire (still transfer-encoded)
    raw: bytes = field(repr=False)  # the whole entity, headers included, as on the wire
    offset: int = 0  # first octet of the entity in the parsed input
    body_offset: int = 0
    path: str = "MIME"
    start_line: str | None = None
    findings: list = field(default_factory=list)
    # (header count, _header_index()) once header() is asked: headers are not changed after
    # parsing (a changed count builds it again)
    _index: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def header(self, name: str) -> str | None:
        """The first header field of that name (case-insensitive; in a SIP message its compact
        form too, RFC 3261 §7.3.3), or None."""
        index = self._index
        if index is None or index[0] != len(self.headers):
            index = self._index = (len(self.headers), self._header_index())
        return index[1].get(name.lower())

    def _header_index(self) -> dict:
        """{lower-case name: first value}, compact forms under their long names in SIP."""
        out: dict = {}
        sip_message = self.start_line is not None
        for n, v in self.headers:
            n = n.lower()
            out.setdefault(n, v)
            if sip_message and n in _SIP_COMPACT:
                out.setdefault(_SIP_COMPACT[n], v)
        return out

    @property
    def content_type(self) -> tuple[str, dict]:
        value = self.header("content-type")
        if value is None:
            return "text/plain", {}  # RFC 2045 §5.2 default
        mtype, params, notes = parse_content_type(value)
        for n in notes:
            self.findings.append(Finding(f"{self.path}.Content-Type", self.offset, n))
        return mtype, params

    def decoded_body(self) -> bytes:
        """The body without its Content-Transfer-Encoding (RFC 2045 §6)."""
        cte = (self.header("content-transfer-encoding") or "").strip().lower()
        where = f"{self.path}.body"
        if cte == "base64":
            return _b64(self.body, where, self.body_offset)
        if cte == "quoted-printable":
            return binascii.a2b_qp(self.body)
        if cte not in ("", "7bit", "8bit", "binary"):
            raise DecodeError(f"{self.path}.Content-Transfer-Encoding", self.offset,
                              f"unknown transfer encoding {cte!r}")
        return self.body

    def parts(self) -> list["Entity"]:
        """Body parts of a multipart entity (RFC 2046 §5.1.1)."""
        mtype, params = self.content_type
        if not mtype.startswith("multipart/"):
            return []
        boundary = params.get("boundary")
        if not boundary:
            raise DecodeError(f"{self.path}.Content-Type", self.offset,
                              f"{mtype} without a boundary parameter")
        return _split_multipart(self, boundary.encode("latin-1", "replace"))


def _b64(data: bytes, path: str, offset: int) -> bytes:
    compact = re.sub(rb"\s+", b"", data)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as e:
        raise DecodeError(path, offset, f"invalid base64: {e}") from None


def parse_content_type(value: str) -> tuple[str, dict, list]:
    """(lower-case type/subtype, {lower-case name: value}, findings) of a Content-Type value
    (RFC 2045 §5.1).  Missing ';' between parameters is tolerated and noted."""
    m = re.match(r"\s*(" + _TOKEN + r")\s*/\s*(" + _TOKEN + r")", value)
    notes: list[str] = []
    if m is None:
        return "application/octet-stream", {}, [f"unparsable Content-Type {value.strip()!r}"]
    mtype = f"{m.group(1)}/{m.group(2)}".lower()
    params: dict = {}
    pos = m.end()
    while pos < len(value):
        pm = _PARAM.match(value, pos)
        if pm is None:
            rest = value[pos:].strip().strip(";").strip()
            if rest:
                notes.append(f"unparsable Content-Type parameters {rest!r}")
            break
        if pm.group(1) is None:
            notes.append(f"parameter {pm.group(2)!r} not preceded by ';'")
        v = pm.group(3)
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        params[pm.group(2).lower()] = v
        pos = pm.end()
    return mtype, params, notes


def _lines(data: bytes, start: int, end: int):
    """(line start, line end without EOL, next line start) for data[start:end]."""
    pos = start
    while pos < end:
        nl = data.find(b"\n", pos, end)
        if nl < 0:
            yield pos, end, end
            return
        yield pos, (nl - 1 if nl > pos and data[nl - 1] == 13 else nl), nl + 1
        pos = nl + 1


def parse_headers(data, start, end, path, findings, *, tolerant=False):
    """Header fields up to the empty line (RFC 5322 §2.2, folding §2.2.3; RFC 3261 §7.3.1).
    Returns (headers, body start).  A line that is not ``name: value`` raises DecodeError, or
    with ``tolerant`` is skipped with a finding."""
    fast = _plain_headers(data, start, end)
    if fast is not None:
        return fast
    return _general_headers(data, start, end, path, findings, tolerant)


def _general_headers(data, start, end, path, findings, tolerant):
    """:func:`parse_headers` line by line: folding, bare LF, non-ASCII, malformed lines."""
    headers: list = []
    for ls, le, nxt in _lines(data, start, end):
        line = data[ls:le]
        if not line:
            return headers, nxt
        text = line.decode("utf-8", "replace")
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {text.strip()}")
            continue
        if ":" not in text and not headers:  # no header fields at all: all body
            findings.append(Finding(path, ls, "entity without header fields (RFC 2046 §5.1 "
                                              "wants an empty line first)"))
            return headers, ls
        name, colon, value = text.partition(":")
        problem = (f"header line without ':' ({text[:40]!r})" if not colon
                   else None if _TOKEN_RE.fullmatch(name.strip())
                   else f"invalid header name {name!r}")
        if problem is not None:
            if not tolerant:
                raise DecodeError(f"{path}.headers[{len(headers)}]", ls, problem)
            findings.append(Finding(f"{path}.headers[{len(headers)}]", ls, problem + ": skipped"))
            continue
        headers.append((name.strip(), value.strip()))
    findings.append(Finding(path, end, "no empty line after the header fields: empty body"))
    return headers, end


def _plain_headers(data, start: int, end: int):
    """The common case of :func:`parse_headers` in one pass, or None for the general loop: an
    ASCII block of CRLF-ended ``token: value`` lines up to an empty line, none folded."""
    stop = data.find(b"\r\n\r\n", start, end)
    if stop <= start:
        return None
    block = data[start:stop]
    if not block.isascii() or b"\n " in block or b"\n\t" in block:
        return None
    lines = block.decode("ascii").split("\r\n")
    if len(lines) != block.count(b"\n") + 1:  # a bare LF inside: the general loop
        return None
    headers = []
    for line in lines:
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or "\r" in line or _TOKEN_RE.fullmatch(name) is None:
            return None
        headers.append((name, value.strip()))
    return headers, stop + 4


def parse_entity(data: bytes, start: int = 0, end: int | None = None,
                 path: str = "MIME") -> Entity:
    """A MIME entity: header fields, an empty line, the body."""
    end = len(data) if end is None else end
    findings: list = []
    headers, body_start = parse_headers(data, start, end, path, findings)
    return Entity(headers, data[body_start:end], data[start:end], start, body_start, path,
                  findings=findings)


def parse(data: bytes) -> Entity:
    """A SIP message (:func:`codec.sip.parse`) or a MIME entity, whichever ``data`` is."""
    return sip.parse(data) if sip.is_sip(data) else parse_entity(data)


def looks_like_mime(data: bytes) -> bool:
    head = data[:2048]
    return bool(re.match(rb"(?i)(content-[a-z-]+|mime-version)\s*:", head)) or sip.is_sip(data)


def _split_multipart(ent: Entity, boundary: bytes) -> list[Entity]:
    body, base = ent.body, ent.body_offset
    delim = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|$)")
    marks = list(delim.finditer(body))
    if not marks:
        raise DecodeError(f"{ent.path}.body", base, "multipart body without any boundary "
                                                    "delimiter")
    parts = []
    for k, m in enumerate(marks):
        if m.group(1):  # close delimiter
            break
        stop = marks[k + 1].start() if k + 1 < len(marks) else len(body)
        if k + 1 >= len(marks):
            ent.findings.append(Finding(f"{ent.path}.body", base + len(body),
                                        "multipart without close delimiter"))
        path = f"{ent.path}.parts[{len(parts)}]"
        part = parse_entity(body, m.end(), stop, path)
        part.offset += base
        part.body_offset += base
        parts.append(part)
    return parts


def normalize_smime_type(value: str | None) -> tuple[str | None, str | None]:
    """(registered token, note) of an smime-type parameter value."""
    if value is None:
        return None, None
    for token in SMIME_TYPES:
        if value.lower() == token.lower():
            return token, None
    if value.lower() == "auth-enveloped-data":
        return "authEnveloped-data", ("smime-type=auth-enveloped-data (seed 004 spelling); the "
                                      "registered token is authEnveloped-data (RFC 5083)")
    return value, f"unknown smime-type {value!r}"


@dataclass
class SmimePart:
    """A CMS object found in a MIME tree."""

    der: bytes
    kind: str  # "pkcs7-mime", "multipart/signed", "pkcs7-signature"
    smime_type: str | None  # normalised token
    path: str
    offset: int
    signed_content: bytes | None = None  # multipart/signed: the first part, as sent
    micalg: str | None = None
    findings: list = field(default_factory=list)


def find_smime(entity: Entity, depth: int = 0, max_depth: int = 16) -> list[SmimePart]:
    """Every application/pkcs7-mime entity and multipart/signed in ``entity`` (multiparts are
    searched recursively)."""
    if depth > max_depth:
        raise DecodeError(entity.path, entity.offset, f"MIME nesting deeper than {max_depth}")
    mtype, params = entity.content_type
    out: list[SmimePart] = []
    if mtype in PKCS7_MIME:
        token, note = normalize_smime_type(params.get("smime-type"))
        der = _cms_octets(entity)
        part = SmimePart(der, "pkcs7-mime", token, entity.path, entity.body_offset,
                         findings=list(entity.findings))
        if note:
            part.findings.append(Finding(f"{entity.path}.Content-Type", entity.offset, note))
        out.append(part)
    elif mtype == "multipart/signed":
        parts = entity.parts()
        if len(parts) != 2:
            raise DecodeError(f"{entity.path}.body", entity.body_offset,
                              f"multipart/signed has {len(parts)} part(s), RFC 1847 needs 2")
        sig_type, _ = parts[1].content_type
        if sig_type not in PKCS7_SIGNATURE:
            raise DecodeError(f"{parts[1].path}.Content-Type", parts[1].offset,
                              f"second part of multipart/signed is {sig_type}, not "
                              "application/pkcs7-signature")
        out.append(SmimePart(_cms_octets(parts[1]), "multipart/signed", "signed-data",
                             parts[1].path, parts[1].body_offset, signed_content=parts[0].raw,
                             micalg=params.get("micalg"),
                             findings=list(entity.findings) + list(parts[0].findings)))
    elif mtype in PKCS7_SIGNATURE:
        out.append(SmimePart(_cms_octets(entity), "pkcs7-signature", "signed-data",
                             entity.path, entity.body_offset, findings=list(entity.findings)))
    elif mtype.startswith("multipart/"):
        for part in entity.parts():
            out.extend(find_smime(part, depth + 1, max_depth))
    return out


# -- key material in a MIME tree ----------------------------------------------------------------
@dataclass(frozen=True)
class MikeyInSdp:
    """A MIKEY message in an SDP ``a=key-mgmt:mikey`` attribute (RFC 4567 §3)."""

    data: bytes
    media_index: int | None  # None: session level; else the 0-based m= block
    path: str  # the SDP entity (``SIP``, ``SIP.parts[0]``, …)
    offset: int  # of the attribute line, in the parsed input (approximate when transfer-encoded)

    @property
    def carrier(self) -> str:
        return "sdp session" if self.media_index is None else f"sdp media {self.media_index}"


@dataclass(frozen=True)
class MikeyBody:
    """An ``application/mikey`` entity (RFC 3830 §6 as a MIME body, e.g. seed 004 Annex W)."""

    data: bytes  # transfer-decoded
    path: str
    offset: int
    carrier: str = "application/mikey"


@dataclass(frozen=True)
class PskSmimeBody:
    """A seed 004 PSK S/MIME multipart: an application/mikey TRANSFER_INIT beside the
    application/pkcs7-mime it keys (opened by :func:`codec.psk_smime.open_body`)."""

    body: bytes  # the multipart body as sent
    content_type: str  # the Content-Type header value (boundary)
    path: str
    offset: int


@dataclass(frozen=True)
class KmsXmlBody:
    """A KMS XML document (3GPP TS 33.180 §D.3, ``mcsecKMSInterface``) carried as a body."""

    data: bytes  # transfer-decoded
    path: str
    offset: int


@dataclass(frozen=True)
class KeyMaterialError:
    """A part of the tree that could not be read; the walk carries on with its siblings."""

    error: DecodeError

    @property
    def path(self) -> str:
        return self.error.path

    @property
    def offset(self) -> int:
        return self.error.offset


# What find_key_material yields; SmimePart (above) is the CMS item.
KeyMaterial = MikeyInSdp | MikeyBody | SmimePart | PskSmimeBody | KmsXmlBody | KeyMaterialError
XML_TYPES = ("application/xml", "text/xml")


def find_key_material(entity: Entity, max_depth: int = 8, _depth: int = 0) -> list:
    """Every piece of key material in a MIME tree (a SIP message, an SDP body, a multipart …),
    in wire order, each typed and located (path, offset): MIKEY in SDP ``a=key-mgmt:mikey``
    lines (RFC 4567 §3) and in ``application/mikey`` bodies, CMS objects (``SmimePart``:
    application/pkcs7-mime, multipart/signed, RFC 8551), seed 004 PSK S/MIME multiparts and KMS
    XML.  Multiparts are walked down to ``max_depth`` levels.  Nothing raises: what cannot be
    read is a :class:`KeyMaterialError` in its place, and the walk goes on."""
    from codec.sdp import key_mgmt_attributes

    try:
        ctype, _params = entity.content_type
        if not entity.body:
            return []
        if ctype == "application/sdp":
            text = entity.decoded_body().decode("utf-8", "replace")
            return [MikeyInSdp(a.data, a.media_index, entity.path, entity.body_offset + a.offset)
                    for a in key_mgmt_attributes(text) if a.protocol == "mikey"]
        if ctype == "application/mikey":
            return [MikeyBody(entity.decoded_body(), entity.path, entity.body_offset)]
        if ctype in XML_TYPES or ctype.endswith("+xml"):
            try:
                body = entity.decoded_body()
            except DecodeError:  # an XML body in an unknown encoding: not known to be keys
                return []
            return ([KmsXmlBody(body, entity.path, entity.body_offset)]
                    if b"mcsecKMSInterface" in body else [])
        if ctype == "multipart/signed":  # RFC 1847: the signature covers the first part
            return list(find_smime(entity))
        if ctype.startswith("multipart/"):
            parts = entity.parts()
            kinds = {p.content_type[0] for p in parts}
            if "application/mikey" in kinds and kinds & set(PKCS7_MIME):  # seed 004 PSK S/MIME
                return [PskSmimeBody(entity.body, entity.header("content-type") or "",
                                     entity.path, entity.body_offset)]
            out: list = []
            if _depth < max_depth:
                for part in parts:
                    out.extend(find_key_material(part, max_depth, _depth + 1))
            return out
        if ctype in PKCS7_MIME or ctype in PKCS7_SIGNATURE:
            return list(find_smime(entity))
    except DecodeError as e:
        return [KeyMaterialError(e)]
    return []


def _cms_octets(entity: Entity) -> bytes:
    """The DER of a pkcs7 entity: transfer-decoded; a SIP body without
    Content-Transfer-Encoding that is base64 text rather than DER is decoded and noted."""
    body = entity.decoded_body()
    cte = entity.header("content-transfer-encoding")
    if cte is None and body[:1] != b"\x30" and re.fullmatch(rb"[A-Za-z0-9+/=\s]+", body or b"!"):
        entity.findings.append(Finding(f"{entity.path}.body", entity.body_offset,
                                       "base64 body without Content-Transfer-Encoding"))
        return _b64(body, f"{entity.path}.body", entity.body_offset)
    return body


# -- building ----------------------------------------------------------------------------------
def canonical(text: bytes) -> bytes:
    """CRLF line ends (RFC 8551 §3.1.1 canonical form)."""
    return re.sub(rb"\r?\n", b"\r\n", text)


def _b64_lines(der: bytes, width: int = 76) -> bytes:
    enc = base64.b64encode(der)
    return b"\r\n".join(enc[i:i + width] for i in range(0, len(enc), width)) + b"\r\n"


def build_pkcs7_mime(der: bytes, smime_type: str, *, name: str = "smime.p7m",
                     handling: str | None = "required", transfer_encoding: str = "base64") -> bytes:
    """An ``application/pkcs7-mime`` entity (RFC 8551 §3.2; seed 003 figure 7.x.3-2)."""
    token, note = normalize_smime_type(smime_type)
    if note and token not in SMIME_TYPES:
        raise ValueError(note)
    disposition = f"attachment; filename={name}" + (f"; handling={handling}" if handling else "")
    head = (f"Content-Type: application/pkcs7-mime; smime-type={token}; name={name}\r\n"
            f"Content-Disposition: {disposition}\r\n")
    if transfer_encoding == "base64":
        return (head + "Content-Transfer-Encoding: base64\r\n\r\n").encode() + _b64_lines(der)
    if transfer_encoding == "binary":
        return (head + "Content-Transfer-Encoding: binary\r\n\r\n").encode() + der
    raise ValueError("transfer_encoding must be base64 or binary")


def build_multipart_signed(content_entity: bytes, signature_der: bytes, digest: str = "sha256",
                           boundary: str | None = None) -> bytes:
    """``multipart/signed; protocol="application/pkcs7-signature"`` (RFC 8551 §3.5.3) around a
    MIME entity (canonicalised to CRLF) and the DER of its detached SignedData."""
    boundary = boundary or "----mcsec-" + os.urandom(12).hex()
    micalg = MICALG.get(digest, digest)
    content_entity = canonical(content_entity)
    head = (f'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; '
            f'micalg={micalg}; boundary="{boundary}"\r\n\r\n').encode()
    sig = (b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
           b"Content-Transfer-Encoding: base64\r\n"
           b"Content-Disposition: attachment; filename=smime.p7s\r\n\r\n" + _b64_lines(signature_der))
    b = boundary.encode()
    return (head + b"This is an S/MIME signed message\r\n\r\n--" + b + b"\r\n" + content_entity
            + b"\r\n--" + b + b"\r\n" + sig + b"\r\n--" + b + b"--\r\n")


def text_entity(content: bytes, content_type: str = "text/plain") -> bytes:
    """A minimal MIME entity around content (the inner entity that S/MIME protects)."""
    return f"Content-Type: {content_type}\r\n\r\n".encode() + content


__all__ = ["Entity", "SmimePart", "parse", "parse_entity", "parse_headers",
           "looks_like_mime", "parse_content_type", "normalize_smime_type", "find_smime",
           "find_key_material", "KeyMaterial", "MikeyInSdp", "MikeyBody", "PskSmimeBody",
           "KmsXmlBody", "KeyMaterialError",
           "build_pkcs7_mime", "build_multipart_signed", "canonical", "text_entity",
           "SMIME_TYPES", "SMIME_TYPE_FOR_KIND"]
