"""scapy fields for the construct types of :mod:`codec.mikey.schemas` that scapy has no direct
equivalent of, and the evaluation of the schemas' construct expressions on a packet.

- :func:`evaluate` reads what a schema expression (``this._flags.kv == 1``, ``this.n_cs``,
  ``"spi_len"``) means on a scapy packet's values; :func:`referenced_name` which field it reads;
- :func:`computed_kind`: a length / count / Next Payload field (RFC 3830 §6) whose ``None`` is
  computed at build time;
- :class:`FuzzStrLenField` (``fuzz()`` draws no more than the length field can say),
  :class:`SwitchStrField` / :class:`SwitchIntField` (``LengthSwitch`` / ``IntSwitch``: size by
  a selector such as the KEY_DATA type, RFC 3830 §6.13) and :class:`SwitchPacketListField` (the
  CS ID map, whose entries the map type selects, RFC 3830 §6.1, RFC 6043 §6.1.1).

:mod:`dissectors.fuzz.scapy_mikey` builds the layers from these.
"""

from __future__ import annotations

import re

import construct as c
from scapy.fields import Field, PacketListField, StrField, StrLenField
from scapy.packet import Raw
from scapy.volatile import RandBin, RandNum

from codec.constructs import Meta


# ----------------------------------------------------------------------------------------------
# Evaluating construct expressions (this._flags.kv == 1, this.n_cs, "spi_len") on a packet
def construct_context(pkt) -> c.Container:
    """The construct context the schema's expressions expect, made from the packet's values."""
    cls = type(pkt)
    ctx = c.Container()
    for codec, sname in cls.CODEC_NAMES.items():
        ctx[codec] = pkt.getfieldval(sname)
    for group, members in cls.CODEC_GROUPS.items():
        ctx[group] = c.Container({m: pkt.getfieldval(s) for m, s in members})
    return ctx


def evaluate(expr, pkt):
    if isinstance(expr, str):
        return pkt.getfieldval(type(pkt).CODEC_NAMES[expr])
    if callable(expr):
        return expr(construct_context(pkt))
    return expr


def referenced_name(expr) -> str | None:
    """The (last) field name an expression reads: ``"spi_len"``, ``this._flags.data_len``."""
    if isinstance(expr, str):
        return expr
    if callable(expr):
        names = re.findall(r"\['(\w+)'\]", repr(expr))
        return names[-1] if names else None
    return None


def as_int(v, default=0):
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


# ----------------------------------------------------------------------------------------------
# Field classes for the construct types scapy has no direct equivalent of
class ComputedMixin:
    """A length / count / next-payload field: ``None`` means "compute on build"."""

    compute = None  # function(pkt) -> int, set per field instance

    def i2m(self, pkt, x):
        if x is None and pkt is not None and self.compute is not None:
            x = self.compute(pkt)
        return super().i2m(pkt, x)


_COMPUTED_CLASSES: dict[type, type] = {}


def computed_kind(base: type, meta: Meta) -> type:
    """``base``, or its computed variant when encode computes the field."""
    if not meta.computed:
        return base
    cls = _COMPUTED_CLASSES.get(base)
    if cls is None:
        cls = _COMPUTED_CLASSES[base] = type(f"Computed{base.__name__}", (ComputedMixin, base), {})
    return cls


class RandOctets(RandBin):
    """scapy's RandBin, drawn with ``random.randbytes`` (seedable, and not byte by byte)."""

    def _fix(self):
        import random

        return random.randbytes(int(self.size))


class FuzzStrLenField(StrLenField):
    """StrLenField whose fuzz values are at most what its length field can say."""

    def randval(self):
        return RandOctets(RandNum(0, self.max_length or 1200))


class _SelectorSized:
    """A field whose octet count is looked up, by the value of a selector field, in ``lengths``."""

    __slots__ = ()

    def _size(self, pkt):
        return self.lengths.get(evaluate(self.selector, pkt))


class SwitchStrField(_SelectorSized, StrField):
    """Octets whose length is implied by a selector field (``LengthSwitch``): MAC by MAC alg,
    DH value by group, hash by hash function.  An unknown selector value takes all the octets
    left (the codec rejects the message at the selector)."""

    __slots__ = ["selector", "lengths"]

    def __init__(self, name, default, selector, lengths):
        super().__init__(name, default)
        self.selector, self.lengths = selector, lengths

    def getfield(self, pkt, s):
        n = self._size(pkt)
        if n is None:
            return b"", self.m2i(pkt, s)
        return s[n:], self.m2i(pkt, s[:n])

    def randval(self):
        return RandOctets(RandNum(0, max(self.lengths.values(), default=0) + 8))


class SwitchIntField(_SelectorSized, Field):
    """An integer whose width is implied by a selector field (``IntSwitch``: TS value by TS type).
    An unknown selector value takes all the octets left, as bytes."""

    __slots__ = ["selector", "lengths"]

    def __init__(self, name, default, selector, lengths):
        Field.__init__(self, name, default, "B")
        self.selector, self.lengths = selector, lengths

    def getfield(self, pkt, s):
        n = self._size(pkt)
        if n is None:
            return b"", bytes(s)
        return s[n:], int.from_bytes(s[:n], "big")

    def addfield(self, pkt, s, val):
        if val is None:
            val = 0
        if isinstance(val, (bytes, bytearray)):
            return s + bytes(val)
        n = self._size(pkt) or max(1, (int(val).bit_length() + 7) // 8)
        return s + (int(val) % (1 << (8 * n))).to_bytes(n, "big")

    def i2len(self, pkt, x):
        return len(self.addfield(pkt, b"", x))

    def i2repr(self, pkt, x):
        return x.hex() if isinstance(x, (bytes, bytearray)) else f"0x{as_int(x):x}"

    def randval(self):
        return RandNum(0, 2 ** 64 - 1)


class SwitchPacketListField(PacketListField):
    """Entries whose structure and count are selected by another field (the HDR CS ID map:
    ``Switch(cs_id_map_type, {type: Array(count, entry)})``).  An unknown selector value takes
    the rest as one ``Raw`` entry."""

    __slots__ = ["selector", "cases"]

    def __init__(self, name, selector, cases):
        self.selector, self.cases = selector, cases  # value -> (count expr, packet class)
        super().__init__(name, [], Raw, count_from=self._count)

    def _case(self, pkt):
        return self.cases.get(evaluate(self.selector, pkt))

    def _count(self, pkt):
        case = self._case(pkt)
        return None if case is None else as_int(evaluate(case[0], pkt))

    def m2i(self, pkt, m):
        case = self._case(pkt)
        return case[1](m) if case is not None else Raw(m)

    def getfield(self, pkt, s):
        if self._case(pkt) is None:
            return b"", ([Raw(s)] if s else [])
        return super().getfield(pkt, s)

    def randval(self):
        return None
