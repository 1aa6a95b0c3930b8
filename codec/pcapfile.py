"""Construct schemas of capture files: pcap and pcapng.

One declarative schema per record or block, I/O-free (:mod:`dissectors.pcap.capture` hands in byte
streams), built from :class:`codec.constructs.Layout`:

- pcap (the tcpdump format, draft-ietf-opsawg-pcap): file header and record header, both byte
  orders, microsecond (``a1b2c3d4``), nanosecond (``a1b23c4d``) and Kuznetzov's modified
  (``a1b2cd34``) magics;
- pcapng (draft-ietf-opsawg-pcapng): the generic block frame, SHB (byte-order magic), IDB (options
  ``if_tsresol``, ``if_tsoffset``, ...), EPB, SPB, the obsolete PB, DSB (Decryption Secrets Block,
  type 0x0000000A) and the option TLV; every other block is skipped by its length; the writers'
  :func:`pcapng_block` and :func:`pcapng_option`.

The packets' own headers (link layers, IP, UDP, TCP) are in :mod:`codec.netheaders`.
"""

from __future__ import annotations

import io

import construct as c
from construct import StreamError, this

from codec.constructs import BitFields, Layout, Pad, Rest, UpTo, VarBytes

__all__ = [
    "PCAP_MAGICS", "PCAP_HEADER", "PCAP_RECORD", "PCAP_RECORD_HEADER", "PCAP_MODIFIED_RECORD",
    "PCAP_MODIFIED_RECORD_HEADER",
    "SHB_START", "BLOCK", "BLOCK_HEADER", "EPB_BLOCK", "SHB_BODY", "IDB_BODY", "EPB_BODY",
    "SPB_BODY", "PB_BODY", "DSB_BODY", "OPTION", "TSOFFSET", "U8", "StreamError",
    "pcapng_block", "pcapng_option", "decode_pcapng_options",
]


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
    BitFields(u32, [("fcs_len", 3), ("fcs_present", 1), ("linktype_reserved", 12),
                    ("linktype", 16)])))

PCAP_RECORD_HEADER = _per_order(lambda u32, **_: Layout(
    "PcapRecordHeader", "ts_sec" / u32, "ts_frac" / u32, "incl_len" / u32, "orig_len" / u32))
PCAP_RECORD = _per_order(lambda u32, **_: Layout(
    "PcapRecord", "ts_sec" / u32, "ts_frac" / u32, "incl_len" / u32, "orig_len" / u32,
    "data" / VarBytes(this.incl_len)))
PCAP_MODIFIED_RECORD_HEADER = _per_order(lambda u16, u32, **_: Layout(
    "PcapModifiedRecordHeader", "ts_sec" / u32, "ts_frac" / u32, "incl_len" / u32,
    "orig_len" / u32, "ifindex" / u32, "protocol" / u16, "pkt_type" / c.Int8ub, "pad" / c.Int8ub))
PCAP_MODIFIED_RECORD = _per_order(lambda u16, u32, **_: Layout(
    "PcapModifiedRecord", "ts_sec" / u32, "ts_frac" / u32, "incl_len" / u32, "orig_len" / u32,
    "ifindex" / u32, "protocol" / u16, "pkt_type" / c.Int8ub, "pad" / c.Int8ub,
    "data" / VarBytes(this.incl_len)))

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
    "body" / VarBytes(this.block_total_length - 12), "trailing_length" / u32))
SHB_BODY = _per_order(lambda u16, u32, s64, **_: Layout(
    "SHB", "byte_order_magic" / u32, "major_version" / u16, "minor_version" / u16,
    "section_length" / s64, "options" / Rest()))
IDB_BODY = _per_order(lambda u16, u32, **_: Layout(
    "IDB", "linktype" / u16, "reserved" / u16, "snaplen" / u32, "options" / Rest()))
EPB_BODY = _per_order(lambda u32, **_: Layout(
    "EPB", "interface_id" / u32, "ts_high" / u32, "ts_low" / u32, "captured_len" / u32,
    "original_len" / u32, "data" / VarBytes(this.captured_len), Pad(-this.captured_len % 4),
    "options" / Rest()))
# §4.4: the captured length is min(original length, snaplen, what the block holds).
SPB_BODY = _per_order(lambda u32, **_: Layout(
    "SPB", "original_len" / u32, "data" / UpTo(this.original_len)))
# The whole EPB block in one schema: the reader's fast path for the commonest block.
EPB_BLOCK = _per_order(lambda u32, **_: Layout(
    "EPBBlock", "block_type" / u32, "block_total_length" / u32,
    "interface_id" / u32, "ts_high" / u32, "ts_low" / u32, "captured_len" / u32,
    "original_len" / u32, "data" / VarBytes(this.captured_len), Pad(-this.captured_len % 4),
    "options" / VarBytes(this.block_total_length - 32 - this.captured_len
                         - (-this.captured_len % 4)),
    "trailing_length" / u32))
# Appendix (obsolete Packet Block, type 2)
PB_BODY = _per_order(lambda u16, u32, **_: Layout(
    "PB", "interface_id" / u16, "drops_count" / u16, "ts_high" / u32, "ts_low" / u32,
    "captured_len" / u32, "original_len" / u32, "data" / VarBytes(this.captured_len),
    Pad(-this.captured_len % 4), "options" / Rest()))
# §4.7 Decryption Secrets Block
DSB_BODY = _per_order(lambda u32, **_: Layout(
    "DSB", "secrets_type" / u32, "secrets_length" / u32,
    "secrets_data" / VarBytes(this.secrets_length),
    Pad(-this.secrets_length % 4), "options" / Rest()))
OPTION = _per_order(lambda u16, **_: Layout(
    "Option", "code" / u16, "length" / u16, "value" / VarBytes(this.length), Pad(-this.length % 4)))
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
