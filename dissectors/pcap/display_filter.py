"""Wireshark display filters (``mcsec dissect -Y EXPR``) over the per-packet JSON of mcsec.

    flt = compile_filter('mikey.3gpp.key_type == "GMK" and mikey.sign.verified == 1')
    flt(packet)                      # True / False for one ``--format json`` packet object

The syntax is tshark 4.0's (``wireshark-filter(4)``), parsed by a lark LALR grammar compiled once
per process (:data:`GRAMMAR`): field presence (``sip``, ``mikey.sakke.ssv``), ``==``/``eq``,
``!=``/``ne``, ``===`` (all equal), ``!==``/``~=`` (any not equal), ``<``/``lt``, ``<=``/``le``,
``>``/``gt``, ``>=``/``ge``, ``contains``, ``matches``/``~`` (case-insensitive, as tshark), ``in
{a, b, lo..hi}`` and ``not in``, ``and``/``&&``, ``or``/``||`` (``and`` binds tighter), ``not``/``!``,
parentheses, slices (``field[0:2]``, ``[i-j]``, ``[i]``, ``[i:]``), the functions ``len``,
``count``, ``lower``, ``upper`` and ``string`` (:data:`FUNCTIONS`), and literals: integers (decimal,
``0x`` hex, ``0`` octal, ``0b`` binary), character constants (``'a'``), quoted strings (with ``\\xhh``,
``\\ooo`` and the C escapes), byte strings (``aa:bb:cc``, ``aa-bb``, ``aa.bb``) and bare words.

Field names are the JSON keys of a packet: every dotted key anywhere in its ``layers`` (``sip.*``,
``sdp.*``, ``mikey.*`` including the decrypted ``mikey.sakke.ssv``, ``mikey.sign.verified``,
``mikey.3gpp.*``; ``cms.*``; ``rtcp.*`` floor control; ``msrp.*``), each layer name as a
protocol (``sip``, ``sdp``, ``mikey``, ``cms``, ``srtp``, ``srtcp``, ``psk-smime``, ``kms-xml``, …),
and mcsec's own undotted keys qualified by the enclosing name (``srtp.ok``, ``srtcp.floor``,
``cms.smime_type``).  The packet's envelope is reached under Wireshark's names: ``frame.number``,
``frame.time_epoch``, ``ip.src``/``ip.dst``/``ip.addr`` (``ipv6.*`` for IPv6), ``udp.srcport``,
``udp.dstport``, ``udp.port`` (``tcp.*`` likewise) and the protocols ``frame``, ``ip``, ``ipv6``,
``udp``, ``tcp``.  Values are typed as the JSON holds them: numbers compare as numbers, strings
as strings (a bare word or a number also compares with a string field as its text, as tshark
does for ``sdp.version == 0``); hex-string fields (``mikey.rand.data``, ``srtp.mki``) compare
with byte-string literals as octets.  A field occurring several times (a list, or repeated
in nested payloads) matches ``==`` if ANY occurrence does; ``!=`` needs the field present and ALL
occurrences different (tshark 4.0's ``!=``), ``!==`` any different, ``===`` all equal.  A field
that is absent never satisfies a comparison.  Names not in a packet simply do not match (there
is no registry of field names to reject a typo against: ``mcsec fields`` lists the MIKEY ones).

An expression is compiled once into a tree of Python closures; per packet the JSON is walked
once collecting only the fields the expression names.  Syntax errors raise
:class:`DisplayFilterError` with the position, for a caret under the expression.  This module
holds the grammar and the compiler; literals and comparisons are :mod:`~dissectors.pcap.filter_values`,
the field occurrences of a packet :mod:`~dissectors.pcap.filter_fields`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (UnexpectedCharacters, UnexpectedEOF, UnexpectedInput,
                             UnexpectedToken, VisitError)

from dissectors.pcap.filter_fields import FIELD_NAME, PRESENT, PROTOCOLS, fields_of
from dissectors.pcap.filter_values import FUNCTIONS, Literal, field_test, hexbytes, literal_test

GRAMMAR = r"""
?start: or_test
?or_test: and_test (OR and_test)*
?and_test: not_test (AND not_test)*
?not_test: NOT not_test -> not_
         | atom
?atom: "(" or_test ")"
     | operand CMP operand        -> compare
     | operand IN set             -> in_
     | operand NOT IN set         -> not_in
     | operand                    -> exists
set: "{" set_item ("," set_item)* "}"
?set_item: literal
         | literal ".." literal   -> range_
operand: WORD slice?
       | WORD "(" WORD ")"          -> call
       | STRING
       | CHAR
slice: "[" SLICE "]"
literal: WORD | STRING | CHAR

OR.3: /or\b/ | "||"
AND.3: /and\b/ | "&&"
NOT.3: /not\b/ | /!(?!=)/
IN.3: /in\b/
CMP.3: /===|!==|==|!=|~=|<=|>=|<|>|~/
     | /(eq|ne|lt|le|gt|ge|contains|matches)\b/
SLICE: /-?[0-9]+(:-?[0-9]*|-[0-9]+)?|:-?[0-9]+/
WORD: /[A-Za-z0-9_\-:\/]+(\.[A-Za-z0-9_\-:\/]+)*/
STRING: /"(?:[^"\\]|\\.)*"/
CHAR: /'(?:[^'\\]|\\.[^']*)'/
%ignore /[ \t\r\n]+/
"""

_OPS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "~": "matches",
        "~=": "!=="}


class DisplayFilterError(ValueError):
    """A display filter that does not parse; ``pos``: offset of the fault in ``expression``."""

    def __init__(self, message: str, expression: str, pos: int, length: int = 1):
        super().__init__(message)
        self.message, self.expression, self.pos, self.length = message, expression, pos, length

    def caret(self) -> str:
        """The expression and a caret line under the fault (as tshark prints it)."""
        pos = max(0, min(self.pos, len(self.expression)))
        return (f"    {self.expression}\n    {' ' * pos}^"
                + "~" * max(0, min(self.length, len(self.expression) - pos) - 1))

    def __str__(self):
        return f"{self.message}\n{self.caret()}"


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=False)


def _slicer(spec: str, expr: str, pos: int) -> Callable:
    """Wireshark's ``[i:len]``, ``[i-j]`` (inclusive), ``[i]``, ``[i:]``, ``[:len]``."""
    try:
        if ":" in spec:
            a, b = spec.split(":", 1)
            start = int(a) if a else 0
            length = int(b) if b else None
            sl = (lambda s: s[start:] if length is None else
                  s[start:(start + length) or None])
        elif re.match(r"^-?\d+-\d+$", spec):
            a, b = re.match(r"^(-?\d+)-(\d+)$", spec).groups()
            start, end = int(a), int(b)
            sl = (lambda s: s[start:end + 1])
        else:
            i = int(spec)
            sl = (lambda s: s[i:(i + 1) or None])
    except ValueError:
        raise DisplayFilterError(f'"{spec}" is not a valid slice.', expr, pos, len(spec)) from None

    def apply(v):
        if isinstance(v, str):
            b = hexbytes(v)
            return sl(b) if b is not None else sl(v)
        if isinstance(v, bytes):
            return sl(v)
        return None
    return apply


# -- compilation ------------------------------------------------------------------------------------


# -- compilation ------------------------------------------------------------------------------------
class _Operand:
    __slots__ = ("field", "lit", "slice", "pos", "length", "func")

    def __init__(self, field=None, lit=None, slice_=None, pos=0, length=1, func=None):
        self.field, self.lit, self.slice, self.pos, self.length = field, lit, slice_, pos, length
        self.func = func


@v_args(meta=True)
class _Compile(Transformer):
    def __init__(self, expr: str):
        super().__init__()
        self.expr = expr
        self.fields: set = set()

    # operands ---------------------------------------------------------------------------------
    def operand(self, meta, children):
        tok = children[0]
        sl = None
        if len(children) > 1:
            stok = children[1].children[0]
            sl = _slicer(str(stok), self.expr, stok.start_pos)
        if tok.type == "WORD":  # a field on the left; on the right, a field if it looks like one
            return _Operand(field=str(tok), slice_=sl, pos=tok.start_pos, length=len(tok))
        if sl is not None:
            raise DisplayFilterError("A slice applies to a field only.", self.expr, tok.start_pos,
                                     len(tok))
        return _Operand(lit=Literal(str(tok), tok.type), pos=tok.start_pos, length=len(tok))

    def call(self, meta, children):
        fname, arg = children
        if str(fname) not in FUNCTIONS:
            raise DisplayFilterError(f'"{fname}" is not a valid function.', self.expr,
                                     fname.start_pos, len(fname))
        return _Operand(field=str(arg), pos=arg.start_pos, length=len(arg), func=str(fname))

    def _get(self, op: _Operand):
        """The getter of an operand: occurrences of a field, sliced or through a function."""
        name, sl = self._field(op)
        get = _getter(name, sl)
        if op.func is None:
            return get
        if op.func == "count":
            return lambda f: [len(f.get(name, ()))] if name in f else []
        fn = FUNCTIONS[op.func]
        return lambda f: [y for y in map(fn, get(f)) if y is not None]

    def literal(self, meta, children):
        tok = children[0]
        return Literal(str(tok), tok.type)

    def range_(self, meta, children):
        lo, hi = children
        if lo.number() is None or hi.number() is None:
            return ("range-text", lo, hi)
        return ("range", lo, hi)

    def set(self, meta, children):
        return children

    def _field(self, op: _Operand):
        if op.field is not None and not FIELD_NAME.match(op.field):
            raise DisplayFilterError(f"{op.field} is neither a field nor a protocol name.",
                                     self.expr, op.pos, op.length)
        if op.field is None:
            raise DisplayFilterError(f'"{self.expr[op.pos:op.pos + op.length]}" is not a field.',
                                     self.expr, op.pos, op.length)
        self.fields.add(op.field)
        return op.field, op.slice

    def _as_literal(self, op: _Operand) -> Literal:
        if op.lit is not None:
            return op.lit
        return Literal(op.field, "WORD")

    # tests ------------------------------------------------------------------------------------
    def exists(self, meta, children):
        if children[0].func is not None:  # a function alone: true when it gives a value
            get = self._get(children[0])
            return lambda f: bool(get(f))
        name, sl = self._field(children[0])
        if sl is None:
            return lambda f: name in f
        return lambda f: any(sl(v) for v in f.get(name, ()) if v is not PRESENT)

    def compare(self, meta, children):
        left, optok, right = children
        op = _OPS.get(str(optok), str(optok))
        if left.field is None and right.field is not None and op not in ("contains", "matches"):
            left, right = right, left  # "INVITE" == sip.Method
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        get = self._get(left)
        is_field = right.field is not None and op != "matches" and (
            right.func is not None or right.slice is None and "." in right.field
            and FIELD_NAME.match(right.field) and right.field.split(".", 1)[0] in PROTOCOLS)
        if is_field:
            return self._field_compare(get, op, self._get(right))
        lit = self._as_literal(right)
        if op == "matches":
            try:
                # tshark: case-insensitive unless the pattern starts with PCRE's "(?-i)"
                pattern = lit.str
                flags = re.IGNORECASE
                if pattern.startswith("(?-i)"):
                    pattern, flags = pattern[5:], 0
                lit.regex = re.compile(pattern, flags)
            except re.error as e:
                raise DisplayFilterError(f"Regex compilation error: {e}.", self.expr, right.pos,
                                         right.length) from None
        base = "==" if op == "===" else ("==" if op in ("!=", "!==") else op)
        test = literal_test(base, lit)
        if op == "!=":  # tshark 4.0: present, and no occurrence equal
            def all_ne(f):
                vals = get(f)
                return bool(vals) and not any(test(v) for v in vals)
            return all_ne
        if op == "!==":
            return lambda f: any(not test(v) for v in get(f))
        if op == "===":
            def all_eq(f):
                vals = get(f)
                return bool(vals) and all(test(v) for v in vals)
            return all_eq
        return lambda f: any(test(v) for v in get(f))

    def _field_compare(self, get, op, rget):
        test = field_test("==" if op in ("!=", "!==", "===") else op)
        if op == "!=":
            return lambda f: bool(get(f)) and bool(rget(f)) and not any(
                test(a, b) for a in get(f) for b in rget(f))
        if op == "!==":
            return lambda f: any(not test(a, b) for a in get(f) for b in rget(f))
        if op == "===":
            return lambda f: bool(get(f)) and all(test(a, b) for a in get(f) for b in rget(f))
        return lambda f: any(test(a, b) for a in get(f) for b in rget(f))

    def in_(self, meta, children):
        left, _, items = children
        get = self._get(left)
        tests = []
        for it in items:
            if isinstance(it, tuple):
                _, lo, hi = it
                t_lo, t_hi = literal_test(">=", lo), literal_test("<=", hi)
                tests.append(lambda v, a=t_lo, b=t_hi: a(v) and b(v))
            else:
                tests.append(literal_test("==", it))
        return lambda f: any(t(v) for v in get(f) for t in tests)

    def not_in(self, meta, children):
        left, n, i, items = children
        inner = self.in_(meta, [left, i, items])
        return lambda f: not inner(f)

    def not_(self, meta, children):
        inner = children[-1]
        return lambda f: not inner(f)

    def and_test(self, meta, children):
        tests = [c for c in children if callable(c)]
        return lambda f: all(t(f) for t in tests)

    def or_test(self, meta, children):
        tests = [c for c in children if callable(c)]
        return lambda f: any(t(f) for t in tests)


def _getter(name: str, sl):
    if sl is None:
        return lambda f: [v for v in f.get(name, ()) if v is not PRESENT]

    def get(f):
        out = []
        for v in f.get(name, ()):
            if v is not PRESENT:
                s = sl(v)
                if s is not None:
                    out.append(s)
        return out
    return get


class DisplayFilter:
    """A compiled expression: call it on a packet object (``--format json``)."""

    def __init__(self, expression: str, test: Callable, fields: frozenset):
        self.expression, self._test, self.fields = expression, test, fields

    def __call__(self, pkt: dict) -> bool:
        return bool(self._test(fields_of(pkt, self.fields)))

    def __repr__(self):
        return f"DisplayFilter({self.expression!r})"


def compile_filter(expression: str) -> DisplayFilter:
    """Parse and compile ``expression``; :class:`DisplayFilterError` on a syntax error."""
    expr = expression
    if not expr.strip():
        raise DisplayFilterError("Empty filter expression.", expr, 0)
    try:
        tree = _parser().parse(expr)
    except UnexpectedCharacters as e:
        pos = e.pos_in_stream
        if expr[pos] == '"':
            raise DisplayFilterError("The final quote was missing from a quoted string.", expr,
                                     pos) from None
        raise DisplayFilterError(f'"{expr[pos]}" was unexpected in this context.', expr,
                                 pos) from None
    except UnexpectedEOF:
        raise DisplayFilterError("Unexpected end of filter expression.", expr, len(expr)) from None
    except UnexpectedToken as e:
        tok = e.token
        if tok.type == "$END":
            raise DisplayFilterError("Unexpected end of filter expression.", expr,
                                     len(expr)) from None
        raise DisplayFilterError(f'"{tok}" was unexpected in this context.', expr,
                                 tok.start_pos, len(tok)) from None
    except UnexpectedInput as e:  # any other lark parse error
        raise DisplayFilterError(str(e).splitlines()[0], expr,
                                 getattr(e, "pos_in_stream", 0) or 0) from None
    comp = _Compile(expr)
    try:
        test = comp.transform(tree)
    except VisitError as e:  # lark wraps what the compiling callbacks raise
        if isinstance(e.orig_exc, DisplayFilterError):
            raise e.orig_exc from None
        raise
    if isinstance(test, Token) or not callable(test):
        raise DisplayFilterError("Not a test.", expr, 0, len(expr))
    return DisplayFilter(expr, test, frozenset(comp.fields))


def record_packet(rec: dict, session=None) -> dict:
    """The packet view of one ``--format jsonl-records`` record (its frame's envelope, its
    object under its layer, the frame's SIP/SDP fields when the session kept them), so that -Y
    means the same in every output mode."""
    from dissectors.pcap import render

    pkt = render.new_packet(rec.get("frame"), rec)
    render.add_layers(pkt["layers"], rec)
    fields = session.sip_fields.get(rec.get("frame")) if session is not None else None
    if fields:
        pkt["layers"] = {**fields, **pkt["layers"]}
    return pkt
