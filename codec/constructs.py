"""The project's construct extensions: one module for every schema in codec/.

The wire structures of codec/ are ordinary construct schemas, built from these pieces:

- :func:`F` / :class:`Meta`: a named field with what the rest of the project derives from it (its
  JSON / Wireshark name, label, value table, whether encode computes it), so JSON names, text
  output, the scapy layer and the Wireshark plugin come from the one schema;
- :class:`BitFields`: integer fields packed MSB first into one integer (MIKEY HDR V | PRF func,
  IPv4 version | IHL, the pcap LinkType word in the writer's byte order);
- byte strings whose length is another field, a constant or a ``this`` expression over earlier
  fields: :class:`VarBytes` (exactly that many, checked), :class:`UpTo` (at most — for data a
  capture may have cut short), :class:`Rest` (all that is left), :class:`Pad` (padding, skipped);
- :class:`Reject`, :func:`LengthSwitch`, :func:`IntSwitch`: sizes implied by a selector field, an
  unknown selector value reported *at the selector*;
- :class:`Layout`: a flat named header (fixed fields, bit groups, length-driven byte strings) that
  compiles into one generated function returning a named tuple — the capture reader's hot path
  (pcap/pcapng blocks in :mod:`codec.pcapfile`, network headers in :mod:`codec.netheaders`).

Everything here compiles (``_emitparse``) on construct's own code generator, so hot paths stay on
compiled code; :class:`BitFields` and the byte strings emit the same code inside a ``Struct`` and
inside a :class:`Layout`.  Reads are always checked: a length that is negative or larger than what
the stream holds raises ``construct.StreamError``, and nothing is allocated from an untrusted
length (reads come from bounded in-memory streams).
"""

from __future__ import annotations

import collections
import io
import re
import struct

from dataclasses import dataclass, field
from typing import Any, Callable

import construct as c
from construct import Container, Construct, ExplicitError, StreamError


__all__ = ["Meta", "F", "VarBytes", "UpTo", "Rest", "Pad", "BitFields", "Reject", "LengthSwitch",
           "IntSwitch", "Layout", "StreamError"]


# ============================================================================================
# Field metadata
# ============================================================================================
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


# ============================================================================================
# Lengths: a field name, a constant or a ``this`` expression (one resolver, one code emitter)
# ============================================================================================
_PATH = re.compile(r"this\[['\"](\w+)['\"]\]")


def resolve_length(length, context) -> int:
    """The value of a length: ``context[name]``, a constant, or a ``this`` expression."""
    if isinstance(length, str):
        return context[length]
    return length(context) if callable(length) else length


def length_code(length, local: bool = False) -> str:
    """Python source of a length for generated code: over ``this`` (inside a compiled ``Struct``)
    or, with ``local``, over a :class:`Layout`'s ``_name`` locals."""
    if isinstance(length, int):
        return repr(length)
    src = f"this[{length!r}]" if isinstance(length, str) else repr(length)
    return _PATH.sub(lambda m: "_" + m.group(1), src) if local else src


# ============================================================================================
# Byte strings
# ============================================================================================
class LengthBytes(Construct):
    """Base of the byte strings whose length is a field name, a constant or a ``this`` expression.

    Building writes the given bytes as they are, even when they disagree with the length field:
    fuzzers need to lie.
    """

    def __init__(self, length=None):
        super().__init__()
        self.length = length  # str: a previous field of the same struct; int; this-expression

    def _length(self, context):
        return resolve_length(self.length, context)

    def _build(self, obj, stream, context, path):
        data = b"" if obj is None else bytes(obj)
        c.stream_write(stream, data, len(data), path)
        return data

    def _sizeof(self, context, path):
        raise c.SizeofError(path=path)


class VarBytes(LengthBytes):
    """Exactly ``length`` octets; fewer left, or a negative length, is a ``StreamError``."""

    def _parse(self, stream, context, path):
        n = self._length(context)
        if n < 0:
            raise StreamError(f"negative length {n}", path=path)
        return c.stream_read(stream, n, path)

    def _sizeof(self, context, path):
        if isinstance(self.length, int):
            return self.length
        raise c.SizeofError(path=path)

    def _emitparse(self, code):
        # redefinition in the generated module is harmless
        code.append("""
            def read_exact(io, n):
                if n < 0:
                    raise StreamError("negative length %d" % n)
                data = io.read(n)
                if len(data) != n:
                    raise StreamError("stream read less than specified amount, expected %d, found %d" % (n, len(data)))
                return data
        """)
        return f"read_exact(io, {length_code(self.length)})"

    def _emitbuild(self, code):
        return "(io.write(b'' if obj is None else bytes(obj)), obj)[1]"


class UpTo(LengthBytes):
    """At most ``length`` octets (a capture may cut data short: the caller compares lengths)."""

    def _parse(self, stream, context, path):
        n = self._length(context)
        if n < 0:
            raise StreamError(f"negative length {n}", path=path)
        return stream.read(n)


class Rest(LengthBytes):
    """Every octet left in the stream."""

    def _parse(self, stream, context, path):
        return stream.read()


class Pad(LengthBytes):
    """Up to ``length`` padding octets, skipped (a missing final pad is tolerated)."""

    def _parse(self, stream, context, path):
        n = self._length(context)
        if n > 0:
            stream.read(n)
        return None

    def _build(self, obj, stream, context, path):
        n = self._length(context)
        c.stream_write(stream, bytes(n), n, path)
        return None


# ============================================================================================
# Bit fields
# ============================================================================================
_INT_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}


class BitFields(Construct):
    """Integer fields packed MSB first into one integer (e.g. MIKEY HDR V | PRF func).

    ``width`` is the integer's size in octets (network byte order) or a ``FormatField`` giving
    size and byte order (``c.Int32ul`` for a little-endian pcap header).  ``members`` are
    ``(name, width_in_bits)`` or ``(name, width_in_bits, Meta)``, most significant first.
    """

    def __init__(self, width, members):
        super().__init__()
        if isinstance(width, c.FormatField):
            self.nbytes = width.length
            self.fmtstr = width.fmtstr if width.fmtstr[0] in "<>" else ">" + width.fmtstr
        else:
            self.nbytes = width
            self.fmtstr = ">" + _INT_FORMATS[width] if width in _INT_FORMATS else None
        self.byteorder = "little" if self.fmtstr and self.fmtstr[0] == "<" else "big"
        self.members = [(m[0], m[1], m[2] if len(m) > 2 else None) for m in members]
        total = self.nbytes * 8
        if sum(w for _, w, _ in self.members) != total:
            raise ValueError(f"bit widths {[m[:2] for m in self.members]} do not add up to {total}")
        self.layout = []  # (name, shift, mask)
        shift = total
        for name, width_bits, _meta in self.members:
            shift -= width_bits
            self.layout.append((name, shift, (1 << width_bits) - 1))

    def unpack_code(self, var: str) -> list[tuple[str, str]]:
        """``(name, expression)`` for each member, extracted from the integer named ``var``."""
        return [(name, f"({var} >> {sh}) & {m}") for name, sh, m in self.layout]

    def unpack(self, v: int) -> dict:
        return {name: (v >> sh) & m for name, sh, m in self.layout}

    def pack(self, value_of, where: str = "", path=None) -> int:
        """The packed integer from ``value_of(name)``; a member that does not fit raises."""
        v = 0
        for name, sh, m in self.layout:
            x = value_of(name)
            if not isinstance(x, int) or x < 0 or x > m:
                raise c.IntegerError(f"{where}{name}={x!r} does not fit in {m.bit_length()} bits",
                                     path=path)
            v |= x << sh
        return v

    def _parse(self, stream, context, path):
        v = int.from_bytes(c.stream_read(stream, self.nbytes, path), self.byteorder)
        return Container(self.unpack(v))

    def _build(self, obj, stream, context, path):
        v = self.pack(obj.__getitem__, path=path)
        c.stream_write(stream, v.to_bytes(self.nbytes, self.byteorder), self.nbytes, path)
        return obj

    def _sizeof(self, context, path):
        return self.nbytes

    def _emitparse(self, code):
        fname = f"parse_bits_{code.allocateId()}"
        items = ", ".join(f"{name!r}: {expr}" for name, expr in self.unpack_code("v"))
        code.append(f"""
            def {fname}(io):
                b = io.read({self.nbytes})
                if len(b) != {self.nbytes}:
                    raise StreamError("stream read less than specified amount")
                v = int.from_bytes(b, {self.byteorder!r})
                return Container({{{items}}})
        """)
        return f"{fname}(io)"


# ============================================================================================
# Selectors
# ============================================================================================
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
        return resolve_length(self.selector, context)

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


# ============================================================================================
# Layout: a compile-friendly flat header (the capture reader's hot path)
# ============================================================================================
_RECORDS: dict[int, type] = {}  # id(layout) -> its named tuple class (used by generated code)
_STEP_KINDS = {VarBytes: "var", UpTo: "upto", Rest: "rest"}


class Layout(Construct):
    """A named header: fixed fields, bit groups and length-driven byte strings, in wire order.

    Members are ``"name" / <FormatField | Bytes(int) | VarBytes | UpTo | Rest>``, unnamed
    :class:`BitFields` groups and unnamed :class:`Pad`.  Consecutive fixed fields are read by a
    single ``struct`` call.  Parsing returns ``layout.Record`` (a named tuple of every named field
    and bit, in order).  All fixed fields must share one byte order.  The compiled parse
    (``reader()``) is one generated function: a header costs about half a microsecond.
    """

    def __init__(self, name: str, *members):
        super().__init__()
        self.name = name
        self.members = members
        self.steps = []  # ("fixed", struct, [(local, bits|None)], size) | (kind, field, length)
        names = []
        run_fmt, run_items, order = [], [], None

        def flush():
            if run_items:
                st = struct.Struct((order or ">") + "".join(run_fmt))
                self.steps.append(("fixed", st, list(run_items), st.size))
                run_fmt.clear()
                run_items.clear()

        for m in members:
            if isinstance(m, BitFields):
                if m.fmtstr is None:
                    raise TypeError(f"{name}: a {m.nbytes}-octet bit group has no struct format")
                order = self._order(order, m.fmtstr)
                run_fmt.append(m.fmtstr[1:])
                run_items.append((None, m))
                names += [n for n, _w, _meta in m.members]
                continue
            if isinstance(m, Pad):
                flush()
                self.steps.append(("pad", None, m.length))
                continue
            if not isinstance(m, c.Renamed) or not m.name:
                raise TypeError(f"{name}: member {m!r} needs a name")
            sub = m.subcon
            if isinstance(sub, c.FormatField):
                order = self._order(order, sub.fmtstr)
                run_fmt.append(sub.fmtstr[1:])
                run_items.append((m.name, None))
            elif isinstance(sub, c.Bytes) and isinstance(sub.length, int):
                run_fmt.append(f"{sub.length}s")
                run_items.append((m.name, None))
            elif type(sub) in _STEP_KINDS:
                flush()
                self.steps.append((_STEP_KINDS[type(sub)], m.name, sub.length))
            else:
                raise TypeError(f"{name}.{m.name}: unsupported member {sub!r}")
            names.append(m.name)
        flush()
        self.field_names = tuple(names)
        self.Record = collections.namedtuple(name, names)
        self.Record.__module__ = __name__
        self.fixed_size = sum(s[3] for s in self.steps if s[0] == "fixed")
        _RECORDS[id(self)] = self.Record
        self._reader = None

    @staticmethod
    def _order(order, fmtstr):
        o = fmtstr[0] if fmtstr[0] in "<>" else ">"
        if len(fmtstr) > 1 and fmtstr[1] in "bB":
            return order  # single octets have no byte order
        if order is not None and order != o:
            raise ValueError("a Layout's fixed fields must share one byte order")
        return o

    def __repr__(self):
        return f"<Layout {self.name}: {', '.join(self.field_names)}>"

    # -- interpreted parse/build (the compiled reader is the hot path) --------------------------
    def _parse(self, stream, context, path):
        vals = {}
        for step in self.steps:
            kind = step[0]
            if kind == "fixed":
                _, st, items, size = step
                data = stream.read(size)
                if len(data) != size:
                    raise StreamError(f"{self.name}: needs {size} octet(s), {len(data)} left",
                                      path=path)
                for (fname, bits), v in zip(items, st.unpack(data)):
                    if bits is None:
                        vals[fname] = v
                    else:
                        vals.update(bits.unpack(v))
                continue
            _, fname, length = step
            n = resolve_length(length, vals)
            where = f"{self.name}.{fname or 'padding'}"
            if kind != "rest" and n < 0:
                raise StreamError(f"{where}: negative length {n}", path=path)
            if kind == "var":
                data = stream.read(n)
                if len(data) != n:
                    raise StreamError(f"{where}: needs {n} octet(s), {len(data)} left", path=path)
                vals[fname] = data
            elif kind == "upto":
                vals[fname] = stream.read(n)
            elif kind == "rest":
                vals[fname] = stream.read()
            elif n > 0:  # pad
                stream.read(n)
        return self.Record(**vals)

    def _build(self, obj, stream, context, path):
        vals = dict(obj._asdict() if hasattr(obj, "_asdict") else obj)
        for step in self.steps:
            kind = step[0]
            if kind == "fixed":
                _, st, items, _size = step
                raw = [vals[fname] if bits is None
                       else bits.pack(lambda n: vals.get(n, 0), f"{self.name}.", path)
                       for fname, bits in items]
                stream.write(st.pack(*raw))
            elif kind == "pad":
                n = resolve_length(step[2], vals)
                stream.write(bytes(max(n, 0)))
            else:
                stream.write(bytes(vals.get(step[1]) or b""))
        return obj

    def _sizeof(self, context, path):
        if all(s[0] == "fixed" for s in self.steps):
            return self.fixed_size
        raise c.SizeofError(path=path)

    # -- compiled parse -------------------------------------------------------------------------
    def _emitparse(self, code):
        uid = code.allocateId()
        fname = f"parse_layout_{uid}"
        lines = [f"def {fname}(io, this=None):"]
        for i, step in enumerate(self.steps):
            kind = step[0]
            if kind == "fixed":
                _, st, items, size = step
                sname = f"_st_{uid}_{i}"
                code.append(f"{sname} = struct.Struct({st.format!r})")
                targets = []
                for j, (name, bits) in enumerate(items):
                    targets.append(f"_{name}" if bits is None else f"_bits{j}")
                lines.append(f"    b = io.read({size})")
                lines.append(f"    if len(b) != {size}:")
                lines.append(f"        raise StreamError('{self.name}: needs {size} octet(s), %d left' % len(b))")
                lines.append(f"    {', '.join(targets)}, = {sname}.unpack(b)")
                for j, (name, bits) in enumerate(items):
                    if bits is not None:
                        for bname, expr in bits.unpack_code(f"_bits{j}"):
                            lines.append(f"    _{bname} = {expr}")
                continue
            _, name, length = step
            where = f"{self.name}.{name or 'padding'}"
            if kind == "rest":
                lines.append(f"    _{name} = io.read()")
                continue
            lines.append(f"    n = {length_code(length, local=True)}")
            if kind == "pad":
                lines.append("    if n > 0: io.read(n)")
                continue
            lines.append("    if n < 0:")
            lines.append(f"        raise StreamError('{where}: negative length %d' % n)")
            lines.append(f"    _{name} = io.read(n)")
            if kind == "var":
                lines.append(f"    if len(_{name}) != n:")
                lines.append(f"        raise StreamError('{where}: needs %d octet(s), %d left' % (n, len(_{name})))")
        args = ", ".join(f"_{n}" for n in self.field_names)
        code.append(f"from codec.constructs import _RECORDS as _records_{uid}")
        code.append(f"_nt_{uid} = _records_{uid}[{id(self)}]")
        lines.append(f"    return _nt_{uid}({args})")
        code.append("\n".join(lines))
        return f"{fname}(io, this)"

    def reader(self):
        """The compiled parse function ``read(stream) -> Record`` (compiled once, then cached)."""
        if self._reader is None:
            compiled = self.compile()
            self._reader = getattr(compiled.module, "parse_layout_1")
        return self._reader

    def parse_bytes(self, data: bytes):
        """Compiled parse of a whole byte string (the caller checks what is left, if it cares)."""
        return self.reader()(io.BytesIO(data))
