"""CMS ContentInfo and content structures -> ``Layer`` objects (pyasn1-modules specs).

A ``Layer`` is one CMS content (Data, SignedData, EnvelopedData, AuthEnvelopedData,
CompressedData, …) with its pyasn1 value, where it sits in its source octets and the spans of
every element, so any field can be named by path and offset.  ``decode`` never returns a partial
answer and raises nothing but ``DecodeError`` for any input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from pyasn1.type import univ
from pyasn1_modules import rfc3274, rfc5083, rfc5652

from codec.cms import oids
from codec.cms.der import Span, decode_spec, primitive_value
from codec.errors import DecodeError, Finding

MAX_NESTING = 16  # CMS layers inside one another (decode, decrypt, decompress all count)


class NestingError(DecodeError):
    """More CMS layers inside one another than the bound allows."""

SPECS = {
    oids.DATA: univ.OctetString,
    oids.SIGNED_DATA: rfc5652.SignedData,
    oids.ENVELOPED_DATA: rfc5652.EnvelopedData,
    oids.DIGESTED_DATA: rfc5652.DigestedData,
    oids.ENCRYPTED_DATA: rfc5652.EncryptedData,
    oids.AUTH_DATA: rfc5652.AuthenticatedData,
    oids.COMPRESSED_DATA: rfc3274.CompressedData,
    oids.AUTH_ENVELOPED_DATA: rfc5083.AuthEnvelopedData,
}


@dataclass(eq=False)
class Layer:
    """One CMS content.  ``path`` is the field path of the structure (``ContentInfo.content.
    SignedData``), ``offset`` its first octet in ``source``; ``spans`` maps every element path to
    its ``Span``.  ``inner`` is a content nested without protection (RFC 5652 §5.2: a SignedData
    whose eContentType is not id-data carries that content's encoding as eContent)."""

    kind: str
    content_type: str
    value: Any  # pyasn1 object; for Data, the octets
    path: str
    offset: int
    source: bytes = field(repr=False)
    spans: dict = field(repr=False, default_factory=dict)
    in_content_info: bool = True
    depth: int = 1
    inner: "Layer | None" = None
    findings: list = field(default_factory=list)

    def span(self, suffix: str = "") -> Span:
        return self.spans[f"{self.path}.{suffix}" if suffix else self.path]

    def has(self, suffix: str) -> bool:
        return f"{self.path}.{suffix}" in self.spans

    def offset_of(self, suffix: str = "") -> int:
        key = f"{self.path}.{suffix}" if suffix else self.path
        # the nearest recorded ancestor (a component that is absent has no span)
        while key not in self.spans and "." in key:
            key = key.rsplit(".", 1)[0]
        return self.spans[key].inner if key in self.spans else self.offset

    def raw(self, suffix: str = "") -> bytes:
        """The original encoding of an element (its own tag, not an explicit wrapper)."""
        s = self.span(suffix)
        return self.source[s.inner:s.end]

    def layers(self) -> Iterator["Layer"]:
        layer: Layer | None = self
        while layer is not None:
            yield layer
            layer = layer.inner

    def find(self, kind: str) -> "Layer | None":
        return next((x for x in self.layers() if x.kind == kind), None)

    @property
    def econtent(self) -> bytes | None:
        """Encapsulated content octets (SignedData, CompressedData, DigestedData), if attached."""
        if not self.has("encapContentInfo.eContent"):
            return None
        return primitive_value(self.source, self.span("encapContentInfo.eContent"))[1]

    @property
    def econtent_type(self) -> str | None:
        if self.kind not in ("SignedData", "CompressedData", "DigestedData", "AuthenticatedData"):
            return None
        return str(self.value["encapContentInfo"]["eContentType"])


def decode(data: bytes, *, max_depth: int = MAX_NESTING, allow_trailing: bool = False) -> Layer:
    """Decode a ContentInfo (RFC 5652 §3).  Octets after it are an error unless
    ``allow_trailing`` (then a finding)."""
    data = bytes(data)
    spans: dict = {}
    findings: list = []
    ci, end = decode_spec(rfc5652.ContentInfo, data, 0, len(data), "ContentInfo", spans,
                          findings, allow_trailing=True)
    if end != len(data):
        if not allow_trailing:
            raise DecodeError("ContentInfo", end, f"{len(data) - end} octet(s) after the "
                                                  "ContentInfo")
        findings.append(Finding("ContentInfo", end, f"{len(data) - end} octet(s) after the "
                                                    "ContentInfo ignored"))
    s = spans["ContentInfo.content"]
    return decode_content(str(ci["contentType"]), data, s.inner, s.end, "ContentInfo.content",
                          depth=1, max_depth=max_depth, spans=spans, findings=findings)


def decode_content(content_type: str, data: bytes, start: int | None = None,
                   end: int | None = None, path: str = "", *, depth: int = 1,
                   max_depth: int = MAX_NESTING, spans: dict | None = None,
                   findings: list | None = None, in_content_info: bool | None = None) -> Layer:
    """Decode the encoding of one content of type ``content_type`` (no ContentInfo around it),
    e.g. an eContent or a decrypted EnvelopedData content."""
    data = bytes(data)
    start = 0 if start is None else start
    end = len(data) if end is None else end
    spans = {} if spans is None else spans
    findings = [] if findings is None else findings
    wrapped = path.endswith("ContentInfo.content") if in_content_info is None else in_content_info
    if depth > max_depth:
        raise NestingError(path or "content", start, f"CMS nesting deeper than {max_depth} layers")
    kind = oids.CONTENT_KINDS.get(content_type)
    if kind is None:
        raise DecodeError(path or "content", start,
                          f"unsupported content type {content_type}")
    here = f"{path}.{kind}" if path else kind
    value, _ = decode_spec(SPECS[content_type], data, start, end, here, spans, findings)
    if kind == "Data":
        value = primitive_value(data, spans[here])[1]
    layer = Layer(kind, content_type, value, here, start, data, spans, wrapped, depth,
                  findings=findings)
    _check_versions(layer)
    if kind in ("SignedData", "DigestedData", "AuthenticatedData"):
        ect = layer.econtent_type
        if ect != oids.DATA and ect in SPECS and layer.has("encapContentInfo.eContent"):
            sp = layer.span("encapContentInfo.eContent")
            off, octets = primitive_value(data, sp)
            contiguous = data[off:off + len(octets)] == octets
            ec_path = f"{here}.encapContentInfo.eContent"
            try:
                if contiguous:
                    layer.inner = decode_content(ect, data, off, off + len(octets), ec_path,
                                                 depth=depth + 1, max_depth=max_depth,
                                                 spans=spans, findings=findings,
                                                 in_content_info=False)
                else:  # BER segmented eContent: offsets are within the joined octets
                    layer.inner = decode_content(ect, octets, 0, len(octets), ec_path,
                                                 depth=depth + 1, max_depth=max_depth,
                                                 in_content_info=False)
            except NestingError:
                raise
            except DecodeError as e:  # the signed octets are not what eContentType says
                findings.append(Finding(e.path, e.offset, f"eContent does not decode as "
                                                          f"{oids.CONTENT_KINDS[ect]}: {e.reason}"))
    return layer


def _check_versions(layer: Layer) -> None:
    """Version numbers that contradict RFC 5652 §5.1/§6.1 / RFC 5083 §2.1 are findings."""
    v = layer.value
    if layer.kind == "EnvelopedData":
        kinds = [ri.getName() for ri in v["recipientInfos"]]
        only_v0 = all(k == "ktri" and int(ri["ktri"]["version"]) == 0
                      for k, ri in zip(kinds, v["recipientInfos"]))
        expected = 0 if (only_v0 and not layer.has("originatorInfo")
                         and not layer.has("unprotectedAttrs")) else 2
        if any(k in ("pwri", "ori") for k in kinds):
            expected = 3
        if int(v["version"]) != expected and not layer.has("originatorInfo"):
            layer.findings.append(Finding(f"{layer.path}.version", layer.offset_of("version"),
                                          f"version {int(v['version'])}, RFC 5652 §6.1 "
                                          f"gives {expected}"))
    elif layer.kind == "AuthEnvelopedData" and int(v["version"]) != 0:
        layer.findings.append(Finding(f"{layer.path}.version", layer.offset_of("version"),
                                      "version is not 0 (RFC 5083 §2.1)"))
    elif layer.kind == "CompressedData" and int(v["version"]) != 0:
        layer.findings.append(Finding(f"{layer.path}.version", layer.offset_of("version"),
                                      "version is not 0 (RFC 3274 §1.1)"))


__all__ = ["Layer", "decode", "decode_content", "MAX_NESTING", "SPECS"]
