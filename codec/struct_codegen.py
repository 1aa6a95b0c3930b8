"""Struct fast paths: a construct ``Struct`` of codec/ turned into one generated parse function and
one generated build function (:func:`struct_parser`, :func:`struct_builder`).

The schemas stay the one source of truth: the generator reads the same ``Struct`` (the pieces of
:mod:`codec.constructs`) and emits plain Python for it.  When the generated code meets anything it
does not expect, or a read or build fails, the caller falls back to construct's own compiled code,
which decides the error — so error paths, field paths and byte offsets are construct's.  Schemas
beyond the generator raise :class:`Unsupported` (callers keep construct's code for them).
"""

from __future__ import annotations

import re
import struct

from typing import Any, Callable

import construct as c
from construct import ExplicitError, StreamError

from codec.constructs import BitFields, Reject, Rest, UpTo, VarBytes
from codec.errors import McsecError

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
