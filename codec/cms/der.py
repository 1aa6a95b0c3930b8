"""Bounded BER/DER walking against pyasn1 specs: element offsets, and the failing field on error.

pyasn1 decodes CMS but reports neither where an element sits in the input nor which field broke.
``decode_spec`` first walks the TLVs alongside the pyasn1-modules spec (X.690 §8.1: identifier,
length, contents), checking every length against what is left *before* anything is sliced, and
records ``path -> Span`` for every element.  A tag, length or leaf value that does not fit
raises ``DecodeError(path, offset, reason)`` naming the component (``…signerInfos[0].signature``).
Then pyasn1 decodes the same octets into its objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import tag, univ

from codec.errors import DecodeError, Finding

MAX_TLV_DEPTH = 48  # deeper than any CMS structure needs; bounds recursion on hostile input
MAX_LENGTH_OCTETS = 8

UNIVERSAL_NAMES = {1: "BOOLEAN", 2: "INTEGER", 3: "BIT STRING", 4: "OCTET STRING", 5: "NULL",
                   6: "OBJECT IDENTIFIER", 10: "ENUMERATED", 12: "UTF8String", 16: "SEQUENCE",
                   17: "SET", 19: "PrintableString", 20: "T61String", 22: "IA5String",
                   23: "UTCTime", 24: "GeneralizedTime", 30: "BMPString"}
CLASS_NAMES = {0x40: "APPLICATION", 0x80: "", 0xC0: "PRIVATE"}


@dataclass(slots=True)
class Header:
    tag_class: int  # 0x00 universal, 0x40 application, 0x80 context, 0xC0 private (pyasn1 values)
    constructed: bool
    number: int
    offset: int
    content_start: int
    length: int | None  # None: BER indefinite length

    def describe(self) -> str:
        return describe_tag(self.tag_class, self.number)


@dataclass(slots=True)
class Span:
    """Where one element is: ``start`` of its outermost (explicit) tag, ``inner`` of the element
    itself, ``end`` one past its last octet."""

    start: int
    inner: int
    end: int


def describe_tag(tag_class: int, number: int) -> str:
    if tag_class == 0:
        return UNIVERSAL_NAMES.get(number, f"UNIVERSAL {number}")
    return f"[{CLASS_NAMES[tag_class]}{' ' if tag_class != 0x80 else ''}{number}]".replace("[ ", "[")


def read_header(data: bytes, pos: int, end: int, path: str) -> Header:
    """One identifier + length (X.690 §8.1.2–8.1.3), with the length checked against ``end``."""
    if pos >= end:
        raise DecodeError(path, pos, "truncated: an element is needed, no octets left")
    first = data[pos]
    tag_class, constructed, number = first & 0xC0, bool(first & 0x20), first & 0x1F
    p = pos + 1
    if number == 0x1F:  # X.690 §8.1.2.4 high tag number form
        number = 0
        while True:
            if p >= end:
                raise DecodeError(path, pos, "truncated tag number")
            octet = data[p]
            p += 1
            number = (number << 7) | (octet & 0x7F)
            if number > 0xFFFFFF:
                raise DecodeError(path, pos, "tag number is absurdly large")
            if not octet & 0x80:
                break
    if p >= end:
        raise DecodeError(path, pos, f"truncated: {describe_tag(tag_class, number)} has no length")
    first_len = data[p]
    p += 1
    if first_len == 0x80:  # X.690 §8.1.3.6 indefinite form (BER only)
        if not constructed:
            raise DecodeError(path, pos, "indefinite length on a primitive element")
        length = None
    elif first_len & 0x80:
        count = first_len & 0x7F
        if count > MAX_LENGTH_OCTETS:
            raise DecodeError(path, pos, f"absurd length: {count} length octets")
        if p + count > end:
            raise DecodeError(path, pos, "truncated length octets")
        length = int.from_bytes(data[p:p + count], "big")
        p += count
    else:
        length = first_len
    if length is not None and length > end - p:
        raise DecodeError(path, pos, f"length {length} exceeds the {end - p} octet(s) left")
    return Header(tag_class, constructed, number, pos, p, length)


def skip_element(data: bytes, pos: int, end: int, path: str, depth: int = 0) -> int:
    """End offset of the element at ``pos`` (walks indefinite-length encodings to their EOC)."""
    if depth > MAX_TLV_DEPTH:
        raise DecodeError(path, pos, f"nesting deeper than {MAX_TLV_DEPTH} levels")
    h = read_header(data, pos, end, path)
    if h.length is not None:
        return h.content_start + h.length
    p = h.content_start
    while True:
        if data[p:p + 2] == b"\x00\x00":
            return p + 2
        p = skip_element(data, p, end, path, depth + 1)


def _tags(spec):
    """(explicit wrapper tags outermost first, own tag or None)."""
    tags = spec.tagSet.superTags
    if isinstance(spec, (univ.Any, univ.Choice)):
        return tuple(reversed(tags)), None
    return tuple(reversed(tags[1:])), (tags[0] if tags else None)


def _first_tags(spec) -> set | None:
    """The (class, number) pairs an encoding of ``spec`` can start with; None = anything."""
    tags = spec.tagSet.superTags
    if tags:
        t = tags[-1]
        return {(t.tagClass, t.tagId)}
    if isinstance(spec, univ.Choice):
        out: set = set()
        for nt in spec.componentType.namedTypes:
            first = _first_tags(nt.asn1Object)
            if first is None:
                return None
            out |= first
        return out
    return None  # untagged ANY


def _expected(spec) -> str:
    first = _first_tags(spec)
    if first is None:
        return "any element"
    return " or ".join(sorted(describe_tag(c, n) for c, n in first))


class _Walker:
    def __init__(self, data: bytes, spans: dict, findings: list):
        self.data = data
        self.spans = spans
        self.findings = findings
        self.ber_noted = False

    def _note_ber(self, path: str, pos: int):
        if not self.ber_noted:
            self.ber_noted = True
            self.findings.append(Finding(path, pos, "BER indefinite-length encoding (not DER)"))

    def _content_end(self, h: Header, end: int) -> int:
        return end if h.length is None else h.content_start + h.length

    def _at_end(self, h: Header, p: int, limit: int) -> bool:
        if h.length is None:
            return self.data[p:p + 2] == b"\x00\x00" or p >= limit
        return p >= limit

    def _close(self, h: Header, p: int, limit: int, path: str) -> int:
        """End of a constructed element whose contents were walked up to ``p``."""
        if h.length is None:
            if self.data[p:p + 2] != b"\x00\x00":
                raise DecodeError(path, p, "indefinite length without end-of-contents octets")
            return p + 2
        if p != limit:
            raise DecodeError(path, p, f"{limit - p} unexpected octet(s) inside "
                                       f"{h.describe()}")
        return p

    def walk(self, spec, pos: int, end: int, path: str, depth: int) -> int:
        if depth > MAX_TLV_DEPTH:
            raise DecodeError(path, pos, f"nesting deeper than {MAX_TLV_DEPTH} levels")
        wrappers, own = _tags(spec)
        return self._unwrap(spec, list(wrappers), own, pos, end, path, depth, pos)

    def _unwrap(self, spec, wrappers, own, pos, end, path, depth, start):
        if not wrappers:
            return self._element(spec, own, pos, end, path, depth, start)
        w = wrappers[0]
        h = read_header(self.data, pos, end, path)
        if (h.tag_class, h.number) != (w.tagClass, w.tagId):
            raise DecodeError(path, pos, f"expected {describe_tag(w.tagClass, w.tagId)}, "
                                         f"found {h.describe()}")
        if not h.constructed:
            raise DecodeError(path, pos, f"explicit tag {h.describe()} must be constructed")
        if h.length is None:
            self._note_ber(path, pos)
        limit = self._content_end(h, end)
        inner_end = self._unwrap(spec, wrappers[1:], own, h.content_start, limit, path,
                                 depth + 1, start)
        return self._close(h, inner_end, limit, path)

    def _element(self, spec, own, pos, end, path, depth, start):
        data = self.data
        if isinstance(spec, univ.Any):
            stop = skip_element(data, pos, end, path, depth)
            self.spans[path] = Span(start, pos, stop)
            return stop
        if isinstance(spec, univ.Choice) and own is None:
            h = read_header(data, pos, end, path)
            for nt in spec.componentType.namedTypes:
                first = _first_tags(nt.asn1Object)
                if first is None or (h.tag_class, h.number) in first:
                    stop = self.walk(nt.asn1Object, pos, end, f"{path}.{nt.name}", depth + 1)
                    self.spans[path] = Span(start, pos, stop)
                    return stop
            raise DecodeError(path, pos, f"expected {_expected(spec)}, found {h.describe()}")
        h = read_header(data, pos, end, path)
        if own is not None and (h.tag_class, h.number) != (own.tagClass, own.tagId):
            raise DecodeError(path, pos, f"expected {describe_tag(own.tagClass, own.tagId)}, "
                                         f"found {h.describe()}")
        if h.length is None:
            self._note_ber(path, pos)
        limit = self._content_end(h, end)
        if isinstance(spec, univ.SequenceAndSetBase):
            if not h.constructed:
                raise DecodeError(path, pos, f"{h.describe()} must be constructed")
            p = h.content_start
            for nt in spec.componentType.namedTypes:
                child = f"{path}.{nt.name}"
                optional = nt.isOptional or nt.isDefaulted
                if self._at_end(h, p, limit):
                    if optional:
                        continue
                    raise DecodeError(child, p, f"missing: {_expected(nt.asn1Object)} needed")
                ch = read_header(data, p, limit, child)
                first = _first_tags(nt.asn1Object)
                if first is None or (ch.tag_class, ch.number) in first:
                    p = self.walk(nt.asn1Object, p, limit, child, depth + 1)
                elif not optional:
                    raise DecodeError(child, p, f"expected {_expected(nt.asn1Object)}, "
                                                f"found {ch.describe()}")
            if not self._at_end(h, p, limit):
                ch = read_header(data, p, limit, path)
                raise DecodeError(path, p, f"unexpected {ch.describe()} after the last component")
            stop = self._close(h, p, limit, path)
        elif isinstance(spec, univ.SequenceOfAndSetOfBase):
            if not h.constructed:
                raise DecodeError(path, pos, f"{h.describe()} must be constructed")
            p, i = h.content_start, 0
            while not self._at_end(h, p, limit):
                p = self.walk(spec.componentType, p, limit, f"{path}[{i}]", depth + 1)
                i += 1
            stop = self._close(h, p, limit, path)
        elif h.constructed:
            if not isinstance(spec, (univ.OctetString, univ.BitString)) or \
                    isinstance(spec, univ.ObjectIdentifier):
                raise DecodeError(path, pos, f"{h.describe()} must be primitive")
            # X.690 §8.7.3: BER constructed string, made of segments of the same universal type
            p = h.content_start
            while not self._at_end(h, p, limit):
                seg = read_header(data, p, limit, path)
                if seg.tag_class != 0 or seg.number not in (3, 4):
                    raise DecodeError(path, p, f"segment of a constructed string is "
                                               f"{seg.describe()}")
                p = skip_element(data, p, limit, path, depth + 1)
            stop = self._close(h, p, limit, path)
            self.findings.append(Finding(path, pos, "BER constructed string (not DER)"))
        else:
            stop = limit
            try:  # leaf value checks (OID arcs, INTEGER length, constraints) by pyasn1 itself
                leaf = spec.clone(tagSet=tag.TagSet(spec.tagSet.baseTag, own)) if own else spec
                ber_decoder.decode(data[pos:stop], asn1Spec=leaf)
            except (PyAsn1Error, ValueError, TypeError, OverflowError) as e:
                raise DecodeError(path, pos, f"invalid value: {_short(e)}") from None
        self.spans[path] = Span(start, pos, stop)
        return stop


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:160]


def decode_spec(spec_cls, data: bytes, start: int, end: int, path: str,
                spans: dict | None = None, findings: list | None = None, *,
                allow_trailing: bool = False):
    """Decode ``data[start:end]`` as ``spec_cls``; returns (pyasn1 object, end of element).

    Raises DecodeError(path, offset, reason) for anything that is not a valid encoding.
    """
    spans = {} if spans is None else spans
    findings = [] if findings is None else findings
    spec = spec_cls()
    walker = _Walker(data, spans, findings)
    try:
        stop = walker.walk(spec, start, end, path, 0)
    except RecursionError:
        raise DecodeError(path, start, "nesting too deep") from None
    if stop != end and not allow_trailing:
        raise DecodeError(path, stop, f"{end - stop} octet(s) after the end of the element")
    try:
        obj, _rest = ber_decoder.decode(data[start:stop], asn1Spec=spec)
    except Exception as e:  # pyasn1 refused what the walker accepted: report it at the element
        raise DecodeError(path, start, f"invalid encoding: {_short(e)}") from None
    return obj, stop


def primitive_value(data: bytes, span: Span) -> tuple[int, bytes]:
    """(offset, contents) of a primitive element (contents of a BER constructed string joined)."""
    h = read_header(data, span.inner, span.end, "")
    if not h.constructed:
        return h.content_start, data[h.content_start:span.end]
    parts, p = [], h.content_start
    stop = span.end - (2 if h.length is None else 0)
    while p < stop:
        seg = Span(p, p, skip_element(data, p, stop, ""))
        parts.append(primitive_value(data, seg)[1])
        p = seg.end
    return h.content_start, b"".join(parts)


__all__ = ["Header", "Span", "read_header", "skip_element", "decode_spec", "primitive_value",
           "describe_tag", "MAX_TLV_DEPTH"]
