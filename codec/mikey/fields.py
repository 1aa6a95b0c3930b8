"""Construct building blocks for the MIKEY schemas.

The schemas in :mod:`codec.mikey.schemas` are ordinary construct ``Struct`` definitions.  Each
named field carries a :class:`Meta` (its JSON / Wireshark name, label, value table, and whether
encode computes it), so JSON names, text output, the scapy layer and the Wireshark plugin can be
derived from the one schema.  The custom constructs here all compile (``_emitparse`` /
``_emitbuild``) so the hot path stays on construct's compiled code.
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field
from typing import Any, Callable

import construct as c
from construct import Container, Construct, ExplicitError, StreamError


@dataclass(frozen=True)
class Meta:
    """What the rest of the project needs to know about one field."""

    json: str  # JSON key: Wireshark display-filter name where tshark has one
    label: str  # human label (Wireshark's where it has one)
    vals: dict | None = None  # value -> name table
    computed: Callable[[Any], int] | None = None  # encode computes it from the payload
    display: str = "dec"  # dec | hex | bytes | text
    wireshark: bool = False  # True when tshark 4.x has this exact field
    bits: int = 0  # width in bits (integers), 0 for byte strings
    mask: int = 0  # bit mask inside its octet group (bit fields only)
    secret: bool = False
    nested: Any = None  # Structure class for nested entries (lists)
    extra: dict = field(default_factory=dict)


def F(name: str, subcon: Construct, json: str, label: str, **kw) -> Construct:
    """A named schema field with its metadata (``name / subcon`` plus ``.meta``)."""
    bits = kw.pop("bits", 0)
    if not bits and isinstance(subcon, c.FormatField):
        bits = subcon.length * 8
    sc = c.Renamed(subcon, newname=name)
    sc.meta = Meta(json=json, label=label, bits=bits, **kw)
    return sc


# --------------------------------------------------------------------------------------------
class VarBytes(Construct):
    """Byte string whose length is another field (or a constant).

    Parsing checks the stream holds the whole length.  Building writes the given bytes as they
    are, even when they disagree with the length field: fuzzers need to lie.
    """

    def __init__(self, length):
        super().__init__()
        self.length = length  # str: name of a previous field in the same struct; int: constant

    def _length(self, context):
        if isinstance(self.length, str):
            return context[self.length]
        return self.length(context) if callable(self.length) else self.length

    def _parse(self, stream, context, path):
        return c.stream_read(stream, self._length(context), path)

    def _build(self, obj, stream, context, path):
        data = b"" if obj is None else bytes(obj)
        c.stream_write(stream, data, len(data), path)
        return data

    def _sizeof(self, context, path):
        if isinstance(self.length, int):
            return self.length
        raise c.SizeofError(path=path)

    def _emitparse(self, code):
        # redefinition in the generated module is harmless
        code.append("""
            def read_exact(io, n):
                data = io.read(n)
                if len(data) != n:
                    raise StreamError("stream read less than specified amount, expected %d, found %d" % (n, len(data)))
                return data
        """)
        n = f"this[{self.length!r}]" if isinstance(self.length, str) else repr(self.length)
        return f"read_exact(io, {n})"

    def _emitbuild(self, code):
        return "(io.write(b'' if obj is None else bytes(obj)), obj)[1]"


class BitFields(Construct):
    """Integer fields packed MSB first into ``nbytes`` octets (e.g. HDR V | PRF func)."""

    def __init__(self, nbytes: int, members):
        super().__init__()
        self.nbytes = nbytes
        self.members = members  # list of (name, width, Meta)
        total = nbytes * 8
        assert sum(w for _, w, _ in members) == total
        self.layout = []  # (name, shift, mask)
        shift = total
        for name, width, _meta in members:
            shift -= width
            self.layout.append((name, shift, (1 << width) - 1))

    def _parse(self, stream, context, path):
        v = int.from_bytes(c.stream_read(stream, self.nbytes, path), "big")
        return Container({name: (v >> sh) & m for name, sh, m in self.layout})

    def _build(self, obj, stream, context, path):
        v = 0
        for name, sh, m in self.layout:
            x = obj[name]
            if not isinstance(x, int) or x < 0 or x > m:
                raise c.IntegerError(f"{name}={x!r} does not fit in {m.bit_length()} bits", path=path)
            v |= x << sh
        c.stream_write(stream, v.to_bytes(self.nbytes, "big"), self.nbytes, path)
        return obj

    def _sizeof(self, context, path):
        return self.nbytes

    def _emitparse(self, code):
        fname = f"parse_bits_{code.allocateId()}"
        items = ", ".join(f"{name!r}: (v >> {sh}) & {m}" for name, sh, m in self.layout)
        code.append(f"""
            def {fname}(io):
                b = io.read({self.nbytes})
                if len(b) != {self.nbytes}:
                    raise StreamError("stream read less than specified amount")
                v = int.from_bytes(b, 'big')
                return Container({{{items}}})
        """)
        return f"{fname}(io)"


class Reject(Construct):
    """Parsing reaches a selector value that makes the rest of the payload unparseable.

    ``selector`` is the name of the deciding field (or a ``this`` expression); the slow error path
    reports the failure at that field.
    """

    def __init__(self, selector, what: str):
        super().__init__()
        self.selector = selector
        self.what = what
        self.flagbuildnone = True

    def selector_value(self, context):
        return context[self.selector] if isinstance(self.selector, str) else self.selector(context)

    def selector_name(self) -> str:
        if isinstance(self.selector, str):
            return self.selector
        return re.findall(r"\['(\w+)'\]", repr(self.selector))[-1]

    def _parse(self, stream, context, path):
        raise ExplicitError(f"unknown {self.what} {self.selector_value(context)}: the rest of the "
                            f"payload cannot be parsed", path=path)

    def _build(self, obj, stream, context, path):
        # Building raw bytes for an unknown value: write what the caller gave us.
        if isinstance(obj, (bytes, bytearray)):
            c.stream_write(stream, bytes(obj), len(obj), path)
            return obj
        if obj is None or obj == []:
            return obj
        raise ExplicitError(f"unknown {self.what} {self.selector_value(context)}: cannot encode "
                            f"{type(obj).__name__} for it", path=path)


def LengthSwitch(selector: str, lengths: dict, what: str) -> Construct:
    """Byte string whose length is implied by another field (MAC alg, DH group, hash func)."""
    return c.Switch(c.this[selector], {k: VarBytes(n) for k, n in lengths.items()},
                    default=Reject(selector, what))


def IntSwitch(selector: str, lengths: dict, what: str) -> Construct:
    """Integer whose width is implied by another field (TS type)."""
    fmt = {4: c.Int32ub, 8: c.Int64ub, 2: c.Int16ub, 1: c.Int8ub}
    return c.Switch(c.this[selector], {k: fmt[n] for k, n in lengths.items()},
                    default=Reject(selector, what))


__all__ = ["Meta", "F", "VarBytes", "BitFields", "Reject", "LengthSwitch", "IntSwitch", "StreamError"]
