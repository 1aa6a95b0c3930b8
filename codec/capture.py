"""Construct schemas for capture files and the packet headers the dissector walks.

One declarative schema per wire structure, I/O-free (the dissectors hand in byte streams):

- pcap (the tcpdump format, draft-ietf-opsawg-pcap): file header and record header, both byte
  orders, microsecond (``a1b2c3d4``), nanosecond (``a1b23c4d``) and Kuznetzov's modified
  (``a1b2cd34``) magics;
- pcapng (draft-ietf-opsawg-pcapng): the generic block frame, SHB (byte-order magic), IDB (options
  ``if_tsresol``, ``if_tsoffset``, ...), EPB, SPB, the obsolete PB, DSB (Decryption Secrets Block,
  type 0x0000000A) and the option TLV; every other block is skipped by its length;
- link layers: Ethernet with 802.1Q/802.1ad tags, Linux cooked v1 (SLL, LINKTYPE 113) and v2
  (SLL2, 276), BSD null/loopback (0, 108), raw IP (12, 14, 101, 228, 229: just the IP header);
- IPv4 (RFC 791, options kept as octets, :func:`decode_options` splits them), IPv6 (RFC 8200) and
  its extension headers incl. the Fragment header (§4.5), UDP (RFC 768), TCP (RFC 9293, options).

The hot-path schemas are :class:`Layout` constructs: a named sequence of fixed-width fields
(consecutive ones are read by a single ``struct`` call), bit-field groups (:class:`Bits`) and byte
strings whose length is a ``this`` expression over earlier fields (:class:`Var` exact and checked,
:class:`UpTo` at most — for data a capture may have cut short —, :class:`Rest`, :class:`Pad`).
A Layout compiles (``_emitparse``) into one generated function that returns a named tuple, so a
header costs about half a microsecond; ``Layout.reader()`` hands that function out.  Reads are
always checked: a length that is negative or larger than what the stream holds raises
``construct.StreamError`` naming the structure and field, and nothing is allocated from an
untrusted length (reads come from bounded in-memory streams).
"""

from __future__ import annotations

import collections
import io
import re
import socket
import struct

import construct as c
from construct import StreamError, this

__all__ = [
    "Layout", "Bits", "Var", "UpTo", "Rest", "Pad", "StreamError",
    "PCAP_MAGICS", "PCAP_HEADER", "PCAP_RECORD", "PCAP_RECORD_HEADER", "PCAP_MODIFIED_RECORD",
    "PCAP_MODIFIED_RECORD_HEADER",
    "SHB_START", "BLOCK", "BLOCK_HEADER", "EPB_BLOCK", "SHB_BODY", "IDB_BODY", "EPB_BODY", "SPB_BODY", "PB_BODY",
    "DSB_BODY", "OPTION", "TSOFFSET", "U8",
    "ETHERNET", "VLAN_TAG", "SLL", "SLL2", "NULL_LE", "NULL_BE", "IP_VERSION",
    "IPV4", "IPV6", "IPV6_EXT", "IPV6_AH", "IPV6_FRAGMENT", "UDP", "TCP", "TLV_OPTION",
    "decode_options", "decode_pcapng_options", "ip_text",
]


# ============================================================================================
# Layout: a compile-friendly fixed+variable header schema
# ============================================================================================
_PATH = re.compile(r"this\[['\"](\w+)['\"]\]")
_RECORDS: dict[int, type] = {}  # id(layout) -> its named tuple class (used by generated code)


class Bits:
    """An integer field split MSB first into bit fields: ``Bits(c.Int8ub, ("version", 4), ("ihl", 4))``."""

    def __init__(self, subcon: c.FormatField, *fields: tuple[str, int]):
        if not isinstance(subcon, c.FormatField):
            raise TypeError("Bits needs a FormatField (Int8ub, Int16ub, Int32ub, ...)")
        total = subcon.length * 8
        if sum(w for _, w in fields) != total:
            raise ValueError(f"bit widths {fields} do not add up to {total}")
        self.subcon = subcon
        self.fields = fields
        self.layout = []  # (name, shift, mask)
        shift = total
        for name, width in fields:
            shift -= width
            self.layout.append((name, shift, (1 << width) - 1))


class _LengthBytes(c.Construct):
    """Byte string whose length is a constant or a ``this`` expression over earlier fields."""

    def __init__(self, length=None):
        super().__init__()
        self.length = length

    def _n(self, context):
        return self.length(context) if callable(self.length) else self.length

    def _sizeof(self, context, path):
        raise c.SizeofError(path=path)


class Var(_LengthBytes):
    """Exactly ``length`` octets; fewer left, or a negative length, is a ``StreamError``."""

    def _parse(self, stream, context, path):
        n = self._n(context)
        if n < 0:
            raise StreamError(f"negative length {n}", path=path)
        return c.stream_read(stream, n, path)

    def _build(self, obj, stream, context, path):
        data = bytes(obj or b"")
        c.stream_write(stream, data, len(data), path)
        return data


class UpTo(_LengthBytes):
    """At most ``length`` octets (a capture may cut data short: the caller compares lengths)."""

    def _parse(self, stream, context, path):
        n = self._n(context)
        if n < 0:
            raise StreamError(f"negative length {n}", path=path)
        return stream.read(n)

    _build = Var._build


class Rest(_LengthBytes):
    """Every octet left in the stream."""

    def _parse(self, stream, context, path):
        return stream.read()

    _build = Var._build


class Pad(_LengthBytes):
    """Up to ``length`` padding octets, skipped (a missing final pad is tolerated)."""

    def _parse(self, stream, context, path):
        n = self._n(context)
        if n > 0:
            stream.read(n)
        return None

    def _build(self, obj, stream, context, path):
        n = self._n(context)
        c.stream_write(stream, bytes(n), n, path)
        return None


def _expr_code(length) -> str:
    """Python source of a length: an int or a ``this`` expression over the layout's locals."""
    if isinstance(length, int):
        return repr(length)
    return _PATH.sub(lambda m: "_" + m.group(1), repr(length))


class Layout(c.Construct):
    """A named header: fixed fields, bit groups and length-driven byte strings, in wire order.

    Members are ``"name" / <FormatField | Bytes(int) | Var | UpTo | Rest>``, :class:`Bits` groups
    and unnamed :class:`Pad`.  Parsing returns ``layout.Record`` (a named tuple of every named
    field and bit, in order).  All fixed fields must share one byte order.
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
            if isinstance(m, Bits):
                fmt = m.subcon.fmtstr
                order = self._order(order, fmt)
                run_fmt.append(fmt[1:])
                run_items.append((None, m))
                names += [n for n, _ in m.fields]
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
            elif isinstance(sub, (Var, UpTo, Rest)):
                flush()
                self.steps.append((type(sub).__name__.lower(), m.name, sub.length))
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
                        for bname, sh, mask in bits.layout:
                            vals[bname] = (v >> sh) & mask
                continue
            _, fname, length = step
            n = length(vals) if callable(length) else length
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
                raw = []
                for fname, bits in items:
                    if bits is None:
                        raw.append(vals[fname])
                    else:
                        v = 0
                        for bname, sh, mask in bits.layout:
                            x = vals.get(bname, 0)
                            if not 0 <= x <= mask:
                                raise c.IntegerError(f"{self.name}.{bname}={x} does not fit",
                                                     path=path)
                            v |= x << sh
                        raw.append(v)
                stream.write(st.pack(*raw))
            elif kind == "pad":
                length = step[2]
                n = length(vals) if callable(length) else length
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
                        for bname, sh, mask in bits.layout:
                            lines.append(f"    _{bname} = (_bits{j} >> {sh}) & {mask}")
                continue
            _, name, length = step
            where = f"{self.name}.{name or 'padding'}"
            if kind == "rest":
                lines.append(f"    _{name} = io.read()")
                continue
            lines.append(f"    n = {_expr_code(length)}")
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
        code.append(f"from codec.capture import _RECORDS as _records_{uid}")
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
# Integer helpers per byte order (pcap and pcapng are written in the writer's byte order)
# ============================================================================================
_INTS = {
    "<": dict(u16=c.Int16ul, u32=c.Int32ul, s32=c.Int32sl, u64=c.Int64ul, s64=c.Int64sl),
    ">": dict(u16=c.Int16ub, u32=c.Int32ub, s32=c.Int32sb, u64=c.Int64ub, s64=c.Int64sb),
}


def _per_order(build):
    return {order: build(**ints) for order, ints in _INTS.items()}


# ============================================================================================
# pcap (draft-ietf-opsawg-pcap §4, §5; modified pcap = Alexey Kuznetzov's patched libpcap)
# ============================================================================================
# First four octets of a file -> (format, byte order, timestamp units per second)
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("pcap", "<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": ("pcap", ">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("pcap", "<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": ("pcap", ">", 1_000_000_000),
    b"\x34\xcd\xb2\xa1": ("pcap-modified", "<", 1_000_000),
    b"\xa1\xb2\xcd\x34": ("pcap-modified", ">", 1_000_000),
    b"\x0a\x0d\x0d\x0a": ("pcapng", None, None),
}
MAGIC = Layout("Magic", "magic" / c.Bytes(4))

PCAP_HEADER = _per_order(lambda u16, u32, s32, **_: Layout(
    "PcapHeader", "magic" / u32, "version_major" / u16, "version_minor" / u16,
    "thiszone" / s32, "sigfigs" / u32, "snaplen" / u32,
    # §4: FCS length (3 bits), f (1), reserved (12), LinkType (16)
    Bits(u32, ("fcs_len", 3), ("fcs_present", 1), ("linktype_reserved", 12), ("linktype", 16))))

PCAP_RECORD_HEADER = _per_order(lambda u32, **_: Layout(
    "PcapRecordHeader", "ts_sec" / u32, "ts_frac" / u32, "incl_len" / u32, "orig_len" / u32))
PCAP_RECORD = _per_order(lambda u32, **_: Layout(
    "PcapRecord", "ts_sec" / u32, "ts_frac" / u32, "incl_len" / u32, "orig_len" / u32,
    "data" / Var(this.incl_len)))
PCAP_MODIFIED_RECORD_HEADER = _per_order(lambda u16, u32, **_: Layout(
    "PcapModifiedRecordHeader", "ts_sec" / u32, "ts_frac" / u32, "incl_len" / u32,
    "orig_len" / u32, "ifindex" / u32, "protocol" / u16, "pkt_type" / c.Int8ub, "pad" / c.Int8ub))
PCAP_MODIFIED_RECORD = _per_order(lambda u16, u32, **_: Layout(
    "PcapModifiedRecord", "ts_sec" / u32, "ts_frac" / u32, "incl_len" / u32, "orig_len" / u32,
    "ifindex" / u32, "protocol" / u16, "pkt_type" / c.Int8ub, "pad" / c.Int8ub,
    "data" / Var(this.incl_len)))

# ============================================================================================
# pcapng (draft-ietf-opsawg-pcapng §3.1 block frame, §4 blocks, §3.5 options)
# ============================================================================================
BT_SHB, BT_IDB, BT_PB, BT_SPB, BT_NRB, BT_ISB, BT_EPB, BT_DSB = (
    0x0A0D0D0A, 0x00000001, 0x00000002, 0x00000003, 0x00000004, 0x00000005, 0x00000006, 0x0000000A)
BLOCK_NAMES = {BT_SHB: "SHB", BT_IDB: "IDB", BT_PB: "PB", BT_SPB: "SPB", BT_NRB: "NRB",
               BT_ISB: "ISB", BT_EPB: "EPB", BT_DSB: "DSB", 0x00000009: "systemd journal export",
               0x00000BAD: "custom (copiable)", 0x40000BAD: "custom"}
BYTE_ORDER_MAGIC = 0x1A2B3C4D
SECRETS_TYPES = {0x544C534B: "TLS key log", 0x57474B4C: "WireGuard key log",
                 0x5A4E574B: "ZigBee NWK key", 0x5A415053: "ZigBee APS key",
                 0x6F73636B: "OPC UA key log"}
SECRETS_TLS_KEYLOG = 0x544C534B

# §4.1: the SHB's type reads the same in both orders; its byte-order magic tells them apart.
SHB_START = Layout("ShbStart", "block_type" / c.Int32ul, "block_total_length" / c.Bytes(4),
                   "byte_order_magic" / c.Int32ul)
BLOCK_HEADER = _per_order(lambda u32, **_: Layout(
    "BlockHeader", "block_type" / u32, "block_total_length" / u32))
BLOCK = _per_order(lambda u32, **_: Layout(
    "Block", "block_type" / u32, "block_total_length" / u32,
    "body" / Var(this.block_total_length - 12), "trailing_length" / u32))
SHB_BODY = _per_order(lambda u16, u32, s64, **_: Layout(
    "SHB", "byte_order_magic" / u32, "major_version" / u16, "minor_version" / u16,
    "section_length" / s64, "options" / Rest()))
IDB_BODY = _per_order(lambda u16, u32, **_: Layout(
    "IDB", "linktype" / u16, "reserved" / u16, "snaplen" / u32, "options" / Rest()))
EPB_BODY = _per_order(lambda u32, **_: Layout(
    "EPB", "interface_id" / u32, "ts_high" / u32, "ts_low" / u32, "captured_len" / u32,
    "original_len" / u32, "data" / Var(this.captured_len), Pad(-this.captured_len % 4),
    "options" / Rest()))
# §4.4: the captured length is min(original length, snaplen, what the block holds).
SPB_BODY = _per_order(lambda u32, **_: Layout(
    "SPB", "original_len" / u32, "data" / UpTo(this.original_len)))
# The whole EPB block in one schema: the reader's fast path for the commonest block.
EPB_BLOCK = _per_order(lambda u32, **_: Layout(
    "EPBBlock", "block_type" / u32, "block_total_length" / u32,
    "interface_id" / u32, "ts_high" / u32, "ts_low" / u32, "captured_len" / u32,
    "original_len" / u32, "data" / Var(this.captured_len), Pad(-this.captured_len % 4),
    "options" / Var(this.block_total_length - 32 - this.captured_len - (-this.captured_len % 4)),
    "trailing_length" / u32))
# Appendix (obsolete Packet Block, type 2)
PB_BODY = _per_order(lambda u16, u32, **_: Layout(
    "PB", "interface_id" / u16, "drops_count" / u16, "ts_high" / u32, "ts_low" / u32,
    "captured_len" / u32, "original_len" / u32, "data" / Var(this.captured_len),
    Pad(-this.captured_len % 4), "options" / Rest()))
# §4.7 Decryption Secrets Block
DSB_BODY = _per_order(lambda u32, **_: Layout(
    "DSB", "secrets_type" / u32, "secrets_length" / u32, "secrets_data" / Var(this.secrets_length),
    Pad(-this.secrets_length % 4), "options" / Rest()))
OPTION = _per_order(lambda u16, **_: Layout(
    "Option", "code" / u16, "length" / u16, "value" / Var(this.length), Pad(-this.length % 4)))
TSOFFSET = _per_order(lambda s64, **_: Layout("IfTsoffset", "seconds" / s64))
U8 = Layout("U8", "value" / c.Int8ub)

OPT_ENDOFOPT, OPT_COMMENT = 0, 1
IF_NAME, IF_DESCRIPTION, IF_TSRESOL, IF_FCSLEN, IF_TSOFFSET = 2, 3, 9, 13, 14
SHB_HARDWARE, SHB_OS, SHB_USERAPPL = 2, 3, 4


def pcapng_block(btype: int, body: bytes, order: str = "<") -> bytes:
    """One pcapng block (§3.1): type, total length, body padded to 32 bits, total length again
    (the pcapng writers of `mcsec synth` and `mcsec export`)."""
    body += bytes(-len(body) % 4)
    n = len(body) + 12
    return BLOCK[order].build(dict(block_type=btype, block_total_length=n, body=body,
                                   trailing_length=n))


def pcapng_option(code: int, value: bytes, order: str = "<") -> bytes:
    """One pcapng option (§3.5), its value padded to 32 bits."""
    return OPTION[order].build(dict(code=code, length=len(value), value=value))


# ============================================================================================
# Link layers
# ============================================================================================
LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_LOOP = 0, 1, 108
LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6 = 101, 228, 229
LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2 = 113, 276
LINKTYPE_DLT_RAW = (12, 14)  # DLT_RAW as written by some BSDs' libpcap (Wireshark maps both)
LINKTYPE_NAMES = {0: "BSD loopback (null)", 1: "Ethernet", 12: "Raw IP", 14: "Raw IP",
                  101: "Raw IP", 108: "OpenBSD loopback", 113: "Linux cooked (SLL)",
                  228: "Raw IPv4", 229: "Raw IPv6", 276: "Linux cooked v2 (SLL2)"}
ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)  # 802.1Q, 802.1ad, old QinQ

ETHERNET = Layout("Ethernet", "dst" / c.Bytes(6), "src" / c.Bytes(6), "ethertype" / c.Int16ub)
VLAN_TAG = Layout("Dot1Q", Bits(c.Int16ub, ("pcp", 3), ("dei", 1), ("vid", 12)),
                  "ethertype" / c.Int16ub)
SLL = Layout("SLL", "packet_type" / c.Int16ub, "arphrd_type" / c.Int16ub,
             "addr_len" / c.Int16ub, "addr" / c.Bytes(8), "protocol" / c.Int16ub)
SLL2 = Layout("SLL2", "protocol" / c.Int16ub, "reserved" / c.Int16ub,
              "interface_index" / c.Int32ub, "arphrd_type" / c.Int16ub,
              "packet_type" / c.Int8ub, "addr_len" / c.Int8ub, "addr" / c.Bytes(8))
# DLT_NULL: the address family in the capturing host's byte order; DLT_LOOP: always big endian.
NULL_LE = Layout("Null", "family" / c.Int32ul)
NULL_BE = Layout("Loop", "family" / c.Int32ub)
# BSD AF_ values for IP (Wireshark's packet-null.c): 2 = IPv4; 24, 28, 30 = IPv6 (NetBSD/OpenBSD,
# FreeBSD, Darwin).  Either byte order, since the writer's order is unknown for DLT_NULL.
NULL_FAMILIES = {2: 4, 24: 6, 28: 6, 30: 6,
                 0x02000000: 4, 0x18000000: 6, 0x1C000000: 6, 0x1E000000: 6}
IP_VERSION = Layout("IPVersion", Bits(c.Int8ub, ("version", 4), ("low", 4)))

# ============================================================================================
# IP, UDP, TCP
# ============================================================================================
IPPROTO_HOPOPTS, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ROUTING, IPPROTO_FRAGMENT = 0, 6, 17, 43, 44
IPPROTO_ESP, IPPROTO_AH, IPPROTO_NONE, IPPROTO_DSTOPTS = 50, 51, 59, 60
IPV6_EXT_HEADERS = (0, 43, 60, 135, 139, 140, 253, 254)  # RFC 8200 §4 + mobility, HIP, shim6

# RFC 791 §3.1
IPV4 = Layout("IPv4", Bits(c.Int8ub, ("version", 4), ("ihl", 4)),
              Bits(c.Int8ub, ("dscp", 6), ("ecn", 2)),
              "total_length" / c.Int16ub, "identification" / c.Int16ub,
              Bits(c.Int16ub, ("reserved", 1), ("df", 1), ("mf", 1), ("frag_offset", 13)),
              "ttl" / c.Int8ub, "protocol" / c.Int8ub, "checksum" / c.Int16ub,
              "src" / c.Bytes(4), "dst" / c.Bytes(4),
              "options" / Var(this.ihl * 4 - 20),
              "payload" / UpTo(this.total_length - this.ihl * 4))
# RFC 8200 §3
IPV6 = Layout("IPv6", Bits(c.Int32ub, ("version", 4), ("traffic_class", 8), ("flow_label", 20)),
              "payload_length" / c.Int16ub, "next_header" / c.Int8ub, "hop_limit" / c.Int8ub,
              "src" / c.Bytes(16), "dst" / c.Bytes(16),
              "payload" / UpTo(this.payload_length))
# RFC 8200 §4.3-4.6 (Hop-by-Hop, Routing, Destination Options: length in 8-octet units after 8)
IPV6_EXT = Layout("IPv6Extension", "next_header" / c.Int8ub, "hdr_ext_len" / c.Int8ub,
                  "data" / Var(this.hdr_ext_len * 8 + 6))
# RFC 4302 §2.2 (AH: length in 4-octet units minus 2)
IPV6_AH = Layout("AH", "next_header" / c.Int8ub, "payload_len" / c.Int8ub,
                 "data" / Var(this.payload_len * 4 + 2))
# RFC 8200 §4.5
IPV6_FRAGMENT = Layout("IPv6Fragment", "next_header" / c.Int8ub, "reserved" / c.Int8ub,
                       Bits(c.Int16ub, ("frag_offset", 13), ("res", 2), ("m", 1)),
                       "identification" / c.Int32ub, "payload" / Rest())
# RFC 768
UDP = Layout("UDP", "sport" / c.Int16ub, "dport" / c.Int16ub, "length" / c.Int16ub,
             "checksum" / c.Int16ub, "payload" / UpTo(this.length - 8))
# RFC 9293 §3.1 (flags: NS/AE, CWR, ECE, URG, ACK, PSH, RST, SYN, FIN)
TCP = Layout("TCP", "sport" / c.Int16ub, "dport" / c.Int16ub, "seq" / c.Int32ub,
             "ack" / c.Int32ub,
             Bits(c.Int16ub, ("data_offset", 4), ("reserved", 3), ("flags", 9)),
             "window" / c.Int16ub, "checksum" / c.Int16ub, "urgent_pointer" / c.Int16ub,
             "options" / Var(this.data_offset * 4 - 20), "payload" / Rest())
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

# Option TLVs of IPv4 (RFC 791 §3.1) and TCP (RFC 9293 §3.1): kinds 0 (end) and 1 (no-op) are
# one octet, every other kind has a length octet counting kind and length.
TLV_OPTION = c.Struct(
    "kind" / c.Int8ub,
    "length" / c.If(this.kind > 1, c.Int8ub),
    "data" / c.If(this.kind > 1, Var(this.length - 2)),
)
TCP_OPTION_NAMES = {0: "EOL", 1: "NOP", 2: "MSS", 3: "WS", 4: "SACK_PERM", 5: "SACK",
                    8: "TIMESTAMP", 28: "USER_TO", 29: "TCP-AO", 30: "MPTCP", 34: "TFO"}


def decode_options(data: bytes) -> tuple[list[tuple[int, bytes]], str | None]:
    """Split IPv4 or TCP options into ``[(kind, data)]``; the error (with offset) if malformed."""
    out = []
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        start = stream.tell()
        try:
            opt = TLV_OPTION.parse_stream(stream)
        except c.ConstructError as e:
            return out, f"option at offset {start}: {e}"
        if opt.kind > 1 and opt.length < 2:
            return out, f"option at offset {start}: length {opt.length} < 2"
        out.append((opt.kind, opt.data or b""))
        if opt.kind == 0:
            break
    return out, None


def decode_pcapng_options(order: str, data: bytes) -> tuple[list[tuple[int, bytes]], str | None]:
    """pcapng options (§3.5) up to opt_endofopt: ``[(code, value)]`` and the error, if any."""
    out = []
    read = OPTION[order].reader()
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        start = stream.tell()
        try:
            opt = read(stream)
        except StreamError as e:
            return out, f"option at offset {start}: {e}"
        if opt.code == OPT_ENDOFOPT:
            break
        out.append((opt.code, opt.value))
    return out, None


def ip_text(addr: bytes) -> str:
    """Presentation form of a 4- or 16-octet IP address (RFC 5952 for IPv6, as tshark prints)."""
    if len(addr) == 4:
        return socket.inet_ntoa(addr)
    return socket.inet_ntop(socket.AF_INET6, addr)
