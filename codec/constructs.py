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

from codec.errors import McsecError

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


# ============================================================================================
# Struct fast paths: a Struct compiled into one generated parse and one generated build function
# ============================================================================================
class Unsupported(McsecError):
    """A schema the fast-path generator does not handle (callers keep construct's own code)."""


_MEMBER_REF = re.compile(r"this\['(\w+)'\]\['(\w+)'\]")
_FIELD_REF = re.compile(r"this\['(\w+)'\]")


class _FastGen:
    """Code generation state for :func:`struct_parser` / :func:`struct_builder`."""

    def __init__(self, schema, what):
        self.what = what
        self.ns = {"StreamError": StreamError, "ExplicitError": ExplicitError,
                   "ListContainer": c.ListContainer, "_from_bytes": int.from_bytes}
        self.uid = 0
        self.lines = []
        self.known = set()  # fields (bit members flattened) whose value a later expression may use
        self.unsigned = set()  # fields known to hold a non-negative integer once parsed
        self.groups = {}  # bit group name -> member names
        self.fields = []  # named fields, bit members flattened, in wire order
        for sc in schema.subcons:
            if not sc.name:
                continue
            if isinstance(sc, c.Renamed) and isinstance(sc.subcon, BitFields):
                self.groups[sc.name] = [m for m, _w, _meta in sc.subcon.members]
                self.fields += self.groups[sc.name]
            else:
                self.fields.append(sc.name)

    def const(self, prefix, value):
        self.uid += 1
        name = f"_{prefix}{self.uid}"
        self.ns[name] = value
        return name

    def temp(self, prefix):
        self.uid += 1
        return f"_{prefix}{self.uid}"

    def expr(self, e) -> str:
        """Python source of a construct ``this`` expression, a field name or a constant."""
        if isinstance(e, bool) or e is None:
            raise Unsupported(f"{self.what}: expression {e!r}")
        if isinstance(e, int):
            return repr(e)
        if isinstance(e, str):
            src = f"this[{e!r}]"
        elif isinstance(e, c.ExprMixin):
            src = repr(e)
        else:
            raise Unsupported(f"{self.what}: callable expression {e!r}")

        def member(m):
            if m.group(2) not in self.groups.get(m.group(1), ()) or m.group(2) not in self.known:
                raise Unsupported(f"{self.what}: {m.group(0)}")
            return f"f_{m.group(2)}"

        def fld(m):
            if m.group(1) not in self.known:
                raise Unsupported(f"{self.what}: {m.group(0)}")
            return f"f_{m.group(1)}"

        src = _FIELD_REF.sub(fld, _MEMBER_REF.sub(member, src))
        if "this" in src:
            raise Unsupported(f"{self.what}: expression {src}")
        return src

    def source(self):
        return "\n".join(self.lines) + "\n"

    def compile(self, fname):
        exec(compile(self.source(), f"<fast {self.what}>", "exec"), self.ns)  # noqa: S102
        return self.ns[fname]


def _unwrap_renamed(sc):
    while isinstance(sc, c.Renamed):
        sc = sc.subcon
    return sc


def _fixed_item(sc):
    """(struct format character(s), order or None) of a top-level member a fixed run can read."""
    sub = _unwrap_renamed(sc)
    if isinstance(sub, c.FormatField):
        if sub.fmtstr[0] not in "<>!":  # native order/size: read alone, as construct does
            return None
        return ">" + sub.fmtstr[1:] if sub.fmtstr[0] == "!" else sub.fmtstr
    if isinstance(sub, BitFields):
        return sub.fmtstr or f">{sub.nbytes}s"
    if isinstance(sub, VarBytes) and isinstance(sub.length, int) and sub.length >= 0:
        return f">{sub.length}s"
    return None


def _same_order(order, fmtstr):
    """(the run's byte order, whether ``fmtstr`` can join a run of that order)."""
    o = fmtstr[0]
    if (len(fmtstr) == 2 and fmtstr[1] in "bB") or fmtstr.endswith("s"):
        return order or o, True  # octets have no byte order
    if order is not None and order != o:
        return order, False
    return o, True


def struct_parser(schema: c.Struct, make: Callable[[dict], Any] | type, nested=None, *,
                  order=None, extra: dict | None = None, what: str = "struct"):
    """One generated function ``parse(data, offset) -> (make(values), end)`` for ``schema``.

    ``values`` maps every named field to what construct's parse gives it, bit-group members
    flattened (in ``order`` when given, else wire order), then the constant ``extra`` entries; an
    array of structures becomes a plain list of ``nested(schema)(data, offset)`` results.  When
    ``make`` is a class, ``values`` becomes the ``__dict__`` of a new instance (``__init__`` is not
    called).  Consecutive fixed-size fields are read by one
    ``struct.unpack_from``; variable fields are sliced from ``data`` (``bytes``).  Any failure
    raises (an exception of any kind): the caller then runs construct's own parse, which decides
    the error, so this function only has to be right about what parses.  Raises
    :class:`Unsupported` for schemas it cannot express (``this._`` references, lambdas, ...).
    """
    g = _FastGen(schema, what)
    L = g.lines
    L.append("def parse(data, pos):")
    run = []  # (fmtstr, subcon)
    run_order = None

    def flush():
        nonlocal run_order
        if not run:
            return
        fmt = (run_order or ">") + "".join(f[1:] for f, _sc in run)
        st = struct.Struct(fmt)
        sname = g.const("st", st)
        targets = []
        for _f, sc in run:
            targets.append(g.temp("b") if isinstance(_unwrap_renamed(sc), BitFields)
                           else f"f_{sc.name}")
        L.append(f"    {', '.join(targets)}, = {sname}.unpack_from(data, pos)")
        L.append(f"    pos += {st.size}")
        for t, (f, sc) in zip(targets, run):
            sub = _unwrap_renamed(sc)
            if isinstance(sub, BitFields):
                if sub.fmtstr is None:
                    L.append(f"    {t} = _from_bytes({t}, {sub.byteorder!r})")
                for name, expr in sub.unpack_code(t):
                    L.append(f"    f_{name} = {expr}")
                    g.known.add(name)
                    g.unsigned.add(name)
            else:
                g.known.add(sc.name)
                if f[-1] in "BHILQ":
                    g.unsigned.add(sc.name)
        run.clear()
        run_order = None

    for sc in schema.subcons:
        if sc.name and (fmt := _fixed_item(sc)) is not None:
            new_order, ok = _same_order(run_order, fmt)
            if not ok:
                flush()
                new_order, _ok = _same_order(None, fmt)
            run_order = new_order
            run.append((fmt, sc))
            continue
        flush()
        if isinstance(_unwrap_renamed(sc), BitFields):
            raise Unsupported(f"{what}: unnamed bit group")
        target = f"f_{sc.name}" if sc.name else g.temp("x")
        _emit_parse(g, _unwrap_renamed(sc), target, "    ", nested)
        if sc.name:
            g.known.add(sc.name)
    flush()
    names = list(order) if order is not None else g.fields
    if sorted(names) != sorted(g.fields):
        raise Unsupported(f"{what}: field order {names} does not match {g.fields}")
    items = [f"{n!r}: f_{n}" for n in names]
    for key, value in (extra or {}).items():
        items.append(f"{key!r}: {g.const('extra', value)}")
    values = "{" + ", ".join(items) + "}"
    if isinstance(make, type):
        g.ns.update(_cls=make, _new=object.__new__, _setattr=object.__setattr__)
        L.append("    _obj = _new(_cls)")
        L.append(f"    _setattr(_obj, '__dict__', {values})")
        L.append("    return _obj, pos")
    else:
        g.ns["_make"] = make
        L.append(f"    return _make({values}), pos")
    return g.compile("parse")


def _emit_parse(g: _FastGen, sc, target: str, ind: str, nested) -> None:
    L = g.lines
    sc = _unwrap_renamed(sc)
    if isinstance(sc, c.FormatField):
        sname = g.const("st", struct.Struct(sc.fmtstr))
        L.append(f"{ind}{target}, = {sname}.unpack_from(data, pos)")
        L.append(f"{ind}pos += {sc.length}")
    elif type(sc) is VarBytes:
        n = g.expr(sc.length)
        if not (isinstance(sc.length, int) or n[2:] in g.unsigned and n.startswith("f_")):
            n = g.temp("len")
            L.append(f"{ind}{n} = {g.expr(sc.length)}")
            L.append(f"{ind}if {n} < 0: raise StreamError('negative length')")
        L.append(f"{ind}{target} = data[pos:pos + {n}]")
        L.append(f"{ind}if len({target}) != {n}: raise StreamError('truncated')")
        L.append(f"{ind}pos += {n}")
    elif sc is c.Pass:
        L.append(f"{ind}{target} = None")
    elif isinstance(sc, Reject):
        L.append(f"{ind}raise ExplicitError('unknown {sc.what}')")
    elif isinstance(sc, c.Switch):
        key = g.temp("key")
        L.append(f"{ind}{key} = {g.expr(sc.keyfunc)}")
        for i, (k, case) in enumerate(sc.cases.items()):
            if not isinstance(k, int) or isinstance(k, bool):
                raise Unsupported(f"{g.what}: switch key {k!r}")
            L.append(f"{ind}{'if' if i == 0 else 'elif'} {key} == {k!r}:")
            _emit_parse(g, case, target, ind + "    ", nested)
        if sc.cases:
            L.append(f"{ind}else:")
            _emit_parse(g, sc.default, target, ind + "    ", nested)
        else:
            _emit_parse(g, sc.default, target, ind, nested)
    elif isinstance(sc, c.IfThenElse):
        L.append(f"{ind}if {g.expr(sc.condfunc)}:")
        _emit_parse(g, sc.thensubcon, target, ind + "    ", nested)
        L.append(f"{ind}else:")
        _emit_parse(g, sc.elsesubcon, target, ind + "    ", nested)
    elif isinstance(sc, c.Array) and not sc.discard:
        count = g.temp("count")
        L.append(f"{ind}{count} = {g.expr(sc.count)}")
        elem = _unwrap_renamed(sc.subcon)
        if isinstance(elem, c.FormatField) and elem.fmtstr[-1] == "B":
            # octets: one slice (construct's compiled Array does not check the count's sign)
            L.append(f"{ind}if {count} < 0: {count} = 0")
            L.append(f"{ind}{target} = ListContainer(data[pos:pos + {count}])")
            L.append(f"{ind}if len({target}) != {count}: raise StreamError('truncated')")
            L.append(f"{ind}pos += {count}")
        elif isinstance(elem, c.Struct):
            if nested is None:
                raise Unsupported(f"{g.what}: array of structures without a nested parser")
            sub = g.const("sub", nested(elem))
            x = g.temp("x")
            L.append(f"{ind}{target} = []")
            L.append(f"{ind}for _i in range({count}):")
            L.append(f"{ind}    {x}, pos = {sub}(data, pos)")
            L.append(f"{ind}    {target}.append({x})")
        else:
            x = g.temp("x")
            L.append(f"{ind}{target} = ListContainer()")
            L.append(f"{ind}for _i in range({count}):")
            _emit_parse(g, elem, x, ind + "    ", nested)
            L.append(f"{ind}    {target}.append({x})")
    else:
        raise Unsupported(f"{g.what}: {type(sc).__name__} {sc!r}")


def struct_builder(schema: c.Struct, *, computed: dict | None = None, what: str = "struct"):
    """One generated function ``build(values) -> bytes`` for ``schema``, writing what construct's
    build writes for the same values.

    ``values`` maps every named field to the value to write, bit-group members flattened (a
    mapping holding extra keys is fine); an array of structures must hold their encoded octets.
    With ``computed`` (``{field: how}``) the function is ``build(obj, values, auto, arg)`` and a
    field named in the set ``auto`` is written as ``how(obj)`` instead — or ``len(obj.<name>)``
    when ``how`` is ``("len", name)``, or ``arg`` when ``how`` is ``"arg"``.
    Any failure raises (an exception of any kind): the caller then runs construct's own build,
    which decides the error.  Raises :class:`Unsupported` for schemas it cannot express.
    """
    g = _FastGen(schema, what)
    L = g.lines
    L.append("def build(values):" if computed is None else "def build(obj, values, auto, arg):")
    computed = computed or {}
    for name in g.fields:
        how = computed.get(name)
        if how is None:
            L.append(f"    f_{name} = values[{name!r}]")
            continue
        if how == "arg":
            expr = "arg"
        elif isinstance(how, tuple) and how[0] == "len" and how[1].isidentifier():
            expr = f"len(obj.{how[1]})"
        elif callable(how):
            expr = f"{g.const('computed', how)}(obj)"
        else:
            raise Unsupported(f"{what}: computed {name} {how!r}")
        L.append(f"    f_{name} = {expr} if {name!r} in auto else values[{name!r}]")
    g.known.update(g.fields)
    L.append("    _o = []")
    L.append("    _w = _o.append")
    run = []  # (fmtstr, subcon)
    run_order = None

    def flush():
        nonlocal run_order
        if not run:
            return
        fmt = (run_order or ">") + "".join(f[1:] for f, _sc in run)
        sname = g.const("st", struct.Struct(fmt))
        args = []
        for _f, sc in run:
            sub = _unwrap_renamed(sc)
            if not isinstance(sub, BitFields):
                args.append(f"f_{sc.name}")
                continue
            bits = g.temp("b")
            parts = []
            for name, shift, mask in sub.layout:
                L.append(f"    if not (isinstance(f_{name}, int) and 0 <= f_{name} <= {mask}):")
                L.append(f"        raise ExplicitError('{name} does not fit')")
                parts.append(f"(f_{name} << {shift})")
            L.append(f"    {bits} = {' | '.join(parts)}")
            if sub.fmtstr is None:
                L.append(f"    {bits} = {bits}.to_bytes({sub.nbytes}, {sub.byteorder!r})")
            args.append(bits)
        L.append(f"    _w({sname}.pack({', '.join(args)}))")
        run.clear()
        run_order = None

    for sc in schema.subcons:
        sub = _unwrap_renamed(sc)
        fmt = _fixed_item(sc) if sc.name else None
        if fmt is not None and not isinstance(sub, VarBytes):  # VarBytes writes what it is given
            new_order, ok = _same_order(run_order, fmt)
            if not ok:
                flush()
                new_order, _ok = _same_order(None, fmt)
            run_order = new_order
            run.append((fmt, sc))
            continue
        flush()
        if isinstance(sub, BitFields):
            raise Unsupported(f"{what}: unnamed bit group")
        _emit_build(g, sub, f"f_{sc.name}" if sc.name else "None", "    ")
    flush()
    _straight_line(L)
    return g.compile("build")


def _straight_line(L: list) -> None:
    """When every write of a generated build is at the top level (no conditions or loops),
    concatenate the parts instead of collecting them in a list."""
    writes = [i for i, line in enumerate(L) if "_w(" in line]
    if any(not L[i].startswith("    _w(") or not L[i].endswith(")") for i in writes):
        L.append("    return b''.join(_o)")
        return
    for k, i in enumerate(writes):
        L[i] = f"    _p{k} = {L[i][len('    _w('):-1]}"
    L.remove("    _o = []")
    L.remove("    _w = _o.append")
    parts = [f"_p{k}" for k in range(len(writes))]
    if not parts:
        L.append("    return b''")
    elif len(parts) <= 3:
        L.append(f"    return {' + '.join(parts)}")
    else:
        L.append(f"    return b''.join(({', '.join(parts)},))")


def _emit_build(g: _FastGen, sc, value: str, ind: str) -> None:
    """Code writing ``value`` as construct's compiled build of ``sc`` does.  A named field whose
    built value construct keeps as None (an If whose condition fails) gets None too."""
    L = g.lines
    sc = _unwrap_renamed(sc)
    if isinstance(sc, c.FormatField):
        sname = g.const("st", struct.Struct(sc.fmtstr))
        L.append(f"{ind}_w({sname}.pack({value}))")
    elif isinstance(sc, (VarBytes, UpTo, Rest)):
        L.append(f"{ind}_w(b'' if {value} is None else bytes({value}))")
    elif sc is c.Pass:
        if value != "None":
            L.append(f"{ind}{value} = None")
    elif isinstance(sc, Reject):
        L.append(f"{ind}if isinstance({value}, (bytes, bytearray)): _w(bytes({value}))")
        L.append(f"{ind}elif not ({value} is None or {value} == []): "
                 f"raise ExplicitError('unknown {sc.what}')")
    elif isinstance(sc, c.Switch):
        key = g.temp("key")
        L.append(f"{ind}{key} = {g.expr(sc.keyfunc)}")
        for i, (k, case) in enumerate(sc.cases.items()):
            if not isinstance(k, int) or isinstance(k, bool):
                raise Unsupported(f"{g.what}: switch key {k!r}")
            L.append(f"{ind}{'if' if i == 0 else 'elif'} {key} == {k!r}:")
            L.append(f"{ind}    pass")
            _emit_build(g, case, value, ind + "    ")
        if sc.cases:
            L.append(f"{ind}else:")
            L.append(f"{ind}    pass")
            _emit_build(g, sc.default, value, ind + "    ")
        else:
            _emit_build(g, sc.default, value, ind)
        _unsafe(g, value)
    elif isinstance(sc, c.IfThenElse):
        L.append(f"{ind}if {g.expr(sc.condfunc)}:")
        L.append(f"{ind}    pass")
        _emit_build(g, sc.thensubcon, value, ind + "    ")
        L.append(f"{ind}else:")
        L.append(f"{ind}    pass")
        _emit_build(g, sc.elsesubcon, value, ind + "    ")
    elif isinstance(sc, c.Array) and not sc.discard:
        count = g.temp("count")
        L.append(f"{ind}{count} = {g.expr(sc.count)}")
        elem = _unwrap_renamed(sc.subcon)
        L.append(f"{ind}for _i in range({count}):")
        if isinstance(elem, c.Struct):  # the caller encoded the structures
            L.append(f"{ind}    _x = {value}[_i]")
            L.append(f"{ind}    if type(_x) is not bytes: raise TypeError('unencoded structure')")
            L.append(f"{ind}    _w(_x)")
        elif isinstance(elem, c.FormatField):
            sname = g.const("st", struct.Struct(elem.fmtstr))
            L.append(f"{ind}    _w({sname}.pack({value}[_i]))")
        else:
            raise Unsupported(f"{g.what}: array of {type(elem).__name__}")
        _unsafe(g, value)
    else:
        raise Unsupported(f"{g.what}: {type(sc).__name__} {sc!r}")


def _unsafe(g: _FastGen, value: str) -> None:
    """After a Switch or Array, construct's context holds the *built* value (a Pass case's None,
    an Array's truncated copy): later expressions must not read the field."""
    if value.startswith("f_"):
        g.known.discard(value[2:])
