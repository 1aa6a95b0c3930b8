"""Display-filter values: literals and how one field occurrence compares with them.

tshark 4.0's rules (``wireshark-filter(4)``, "Comparison operators", "Functions" and the literal
forms): integers (decimal, ``0x`` hex, ``0`` octal, ``0b`` binary), character constants, quoted
strings with ``\\xhh``, ``\\ooo`` and the C escapes, byte strings (``aa:bb:cc``, ``aa-bb``,
``aa.bb``) and bare words; a :class:`Literal` keeps every reading and is typed against the JSON
value at comparison time (numbers as numbers, strings as strings, hex-string fields as octets).
Used by :mod:`dissectors.pcap.display_filter`, which compiles expressions.
"""

from __future__ import annotations

import re
from typing import Any, Callable

_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+$")
_BYTES_SEP = re.compile(r"^[0-9a-fA-F]{1,2}(?:([:.\-])[0-9a-fA-F]{1,2})(?:\1[0-9a-fA-F]{1,2})*$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
            "\\": "\\", '"': '"', "'": "'", "0": "\0"}


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\" or i + 1 >= len(body):
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n == "x" and re.match(r"[0-9a-fA-F]{1,2}", body[i + 2:i + 4]):
            h = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2:i + 4]).group()
            out.append(chr(int(h, 16)))
            i += 2 + len(h)
        elif n in "01234567" and re.match(r"[0-7]{3}", body[i + 1:i + 4]):
            out.append(chr(int(body[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(_ESCAPES.get(n, n))
            i += 2
    return "".join(out)


def _parse_int(text: str) -> int | None:
    t = text.lower()
    neg = t.startswith("-")
    t = t[1:] if neg else t
    try:
        if t.startswith("0x"):
            v = int(t[2:], 16)
        elif t.startswith("0b"):
            v = int(t[2:], 2)
        elif len(t) > 1 and t.startswith("0"):
            v = int(t[1:], 8)
        elif t.isdigit():
            v = int(t)
        elif t in ("true", "false"):
            v = int(t == "true")
        else:
            return None
    except ValueError:
        return None
    return -v if neg else v


class Literal:
    """A constant of the expression with every reading it allows (typed at comparison time,
    since our fields carry JSON types rather than a registry's)."""

    __slots__ = ("text", "str", "int", "float", "bytes", "quoted", "regex")

    def __init__(self, text: str, kind: str):
        self.quoted = kind == "STRING"
        self.regex = None
        self.int = self.float = self.bytes = None
        if kind == "STRING":
            self.text = self.str = _unescape(text[1:-1])
        elif kind == "CHAR":
            ch = _unescape(text[1:-1])
            self.text = self.str = ch
            self.int = ord(ch[0]) if len(ch) == 1 else None
        else:
            self.text = self.str = text
            self.int = _parse_int(text)
            if self.int is None:
                try:
                    self.float = float(text) if re.match(r"^-?[0-9.]+(e-?[0-9]+)?$", text) else None
                except ValueError:
                    self.float = None
            if _BYTES_SEP.match(text):
                self.bytes = bytes(int(x, 16) for x in re.split(r"[:.\-]", text))
            elif _HEX.match(text):
                self.bytes = bytes.fromhex(text)
        if self.quoted:
            try:
                self.bytes = self.str.encode("latin-1")
            except UnicodeEncodeError:
                self.bytes = self.str.encode()

    def number(self):
        return self.int if self.int is not None else self.float


def hexbytes(v: str) -> bytes | None:
    if _HEX.match(v):
        return bytes.fromhex(v)
    if _BYTES_SEP.match(v) and len(v) > 2:
        return bytes(int(x, 16) for x in re.split(r"[:.\-]", v))
    return None


def _coerce(v, lit: Literal):
    """(value, constant) made comparable, or None when the types do not meet."""
    if isinstance(v, (bool, int, float)):
        n = lit.number()
        return None if n is None or lit.quoted else (v, n)
    if isinstance(v, bytes):
        return None if lit.bytes is None else (v, lit.bytes)
    if isinstance(v, str):
        if lit.quoted or lit.bytes is None:
            return v, lit.str
        b = hexbytes(v)
        if b is not None:
            return b, lit.bytes
        return v, lit.text
    return None


def _cmp_values(op: str, a, b) -> bool:
    if op == "==":
        return a == b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    return a != b


def literal_test(op: str, lit: Literal) -> Callable[[Any], bool]:
    """One occurrence against a constant."""
    if op == "contains":
        def contains(v):
            if isinstance(v, str):
                b = hexbytes(v) if (lit.bytes is not None and not lit.quoted) else None
                return lit.bytes in b if b is not None else lit.str in v
            if isinstance(v, bytes):
                return lit.bytes is not None and lit.bytes in v
            return False
        return contains
    if op == "matches":
        rx = lit.regex

        def matches(v):
            if isinstance(v, bytes):
                v = v.decode("latin-1")
            return isinstance(v, str) and rx.search(v) is not None
        return matches

    def compare(v):
        pair = _coerce(v, lit)
        if pair is None:
            return False
        try:
            return _cmp_values(op, *pair)
        except TypeError:
            return False
    return compare


def field_test(op: str) -> Callable[[Any, Any], bool]:
    def compare(a, b):
        if isinstance(a, str) and isinstance(b, str) and op == "contains":
            return b in a
        if (isinstance(a, str) != isinstance(b, str)) or op in ("contains", "matches"):
            return False
        try:
            return _cmp_values(op, a, b)
        except TypeError:
            return False
    return compare


def _length(v):
    if isinstance(v, str):
        b = hexbytes(v)
        return len(b) if b is not None else len(v)
    return len(v) if isinstance(v, bytes) else None


# tshark 4.0's display-filter functions (wireshark-filter(4) "Functions"): name -> per occurrence
FUNCTIONS = {
    "len": _length,
    "lower": lambda v: v.lower() if isinstance(v, str) else None,
    "upper": lambda v: v.upper() if isinstance(v, str) else None,
    "string": lambda v: (str(int(v)) if isinstance(v, bool) else str(v))
    if isinstance(v, (str, int, float)) else None,
    "count": None,  # the number of occurrences: one value
}
