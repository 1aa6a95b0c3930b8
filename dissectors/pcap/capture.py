"""Streaming pcap / pcapng reader.

    reader = read_frames("capture.pcapng")        # a path or a binary file object
    for rec in reader:
        if isinstance(rec, CaptureFault):          # bad input is a record, never an exception
            print(rec)                             # offset, what is wrong, fatal or resynced
            continue
        rec.number, rec.ts_ns, rec.timestamp, rec.interface_id, rec.linktype, rec.orig_len, rec.data
    reader.secrets      # [(secrets_type, bytes)] from pcapng Decryption Secrets Blocks
    reader.interfaces   # [Interface] (pcap: one), indexed by Frame.interface_id
    reader.errors       # every CaptureFault yielded

Frames are numbered from 1 in file order, as Wireshark numbers them (every pcap record, every
pcapng EPB, SPB and obsolete PB).  ``ts_ns`` is the exact time in integer nanoseconds since the
epoch (pcapng ``if_tsresol`` and ``if_tsoffset`` applied; resolutions finer than 1 ns are
floored; ``None`` for a Simple Packet Block, which has no time), ``timestamp`` the same as a
float.  ``interface_id`` indexes ``reader.interfaces``, counting IDBs across all sections of a
pcapng file; ``Interface.local_id`` is the index inside its section, which is what tshark 4.0
prints as ``frame.interface_id``.

Every byte layout comes from :mod:`codec.pcapfile`; this module only moves bytes from the file
into bounded in-memory buffers and checks lengths *before* it reads what they announce: a pcap
record larger than the file's snaplen or ``max_record`` (256 KiB, Wireshark's limit), or a
pcapng block whose length is below 12, not a multiple of 4, above ``max_block`` or beyond the end
of the file, or whose trailing length disagrees, is an error.  After an error in the framing the
reader resynchronises by scanning up to ``resync_window`` octets for a plausible record/block
(the error says how many octets were skipped), else it stops.  A cut-off last record is a fatal
error record with the offset of the cut.  A block whose framing is sound but whose content is not
(e.g. an EPB whose captured length overruns the block, an unknown interface) is reported and
skipped by its length.  Memory is bounded by ``chunk + max(max_record, max_block)``.

Decryption secrets are kept in ``reader.secrets`` for handing to tshark (``tls_keylog()`` joins
the TLS key log ones); they are never printed: a :class:`Secret`'s repr hides the data.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from codec import pcapfile
from codec.constructs import StreamError

MAX_RECORD = 256 * 1024  # Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD
MAX_BLOCK = 16 * 1024 * 1024  # Wireshark's pcapng MAX_BLOCK_SIZE
CHUNK = 1 << 20
RESYNC_WINDOW = 1 << 20


class Frame:
    """One captured packet."""

    __slots__ = ("number", "ts_ns", "interface_id", "linktype", "orig_len", "data", "offset")

    def __init__(self, number, ts_ns, interface_id, linktype, orig_len, data, offset):
        self.number = number
        self.ts_ns = ts_ns
        self.interface_id = interface_id
        self.linktype = linktype
        self.orig_len = orig_len
        self.data = data
        self.offset = offset  # file offset of the record / block

    @property
    def timestamp(self) -> float | None:
        return None if self.ts_ns is None else self.ts_ns / 1e9

    @property
    def caplen(self) -> int:
        return len(self.data)

    def __repr__(self):
        return (f"Frame(number={self.number}, ts_ns={self.ts_ns}, interface_id={self.interface_id}, "
                f"linktype={self.linktype}, orig_len={self.orig_len}, caplen={len(self.data)})")


@dataclass(frozen=True)
class CaptureFault:
    """A record or block that could not be read.

    ``offset`` is the file offset where the bad record/block starts; ``after_frame`` the number of
    the last good frame before it; ``fatal`` means reading stopped here; ``skipped`` is how many
    octets were passed over to resynchronise (0 when the block was skipped by its own length).
    """

    offset: int
    what: str
    after_frame: int
    fatal: bool = False
    skipped: int = 0

    def __str__(self):
        tail = " (reading stopped)" if self.fatal else (
            f" ({self.skipped} octet(s) skipped to resynchronise)" if self.skipped else "")
        return f"capture error at offset {self.offset} after frame {self.after_frame}: {self.what}{tail}"


class Secret(tuple):
    """``(secrets_type, data)`` from a Decryption Secrets Block; the repr hides the data."""

    __slots__ = ()

    def __new__(cls, secrets_type: int, data: bytes):
        return super().__new__(cls, (secrets_type, data))

    @property
    def type(self) -> int:
        return self[0]

    @property
    def data(self) -> bytes:
        return self[1]

    @property
    def type_name(self) -> str:
        return pcapfile.SECRETS_TYPES.get(self[0], f"0x{self[0]:08x}")

    def __repr__(self):
        return f"Secret({self.type_name}, <hidden {len(self[1])} octet(s)>)"

    __str__ = __repr__


@dataclass
class Interface:
    """A capture interface (the pcap file itself, or a pcapng IDB)."""

    linktype: int
    snaplen: int
    units_per_second: int = 1_000_000
    tsoffset: int = 0  # seconds (if_tsoffset)
    name: str | None = None
    description: str | None = None
    section: int = 0
    local_id: int = 0  # the IDB's index inside its section (what tshark 4.0 shows)
    option_error: str | None = None

    def __post_init__(self):
        self.set_clock(self.units_per_second, self.tsoffset)

    def set_clock(self, units_per_second: int, tsoffset: int) -> None:
        """if_tsresol / if_tsoffset: ns = units * ns_mul // ns_div + ns_offset (exact integers)."""
        self.units_per_second, self.tsoffset = units_per_second, tsoffset
        ups = units_per_second
        if ups <= 1_000_000_000 and 1_000_000_000 % ups == 0:
            self.ns_mul, self.ns_div = 1_000_000_000 // ups, 1
        else:
            self.ns_mul, self.ns_div = 1_000_000_000, ups
        self.ns_offset = tsoffset * 1_000_000_000

    def ts_ns(self, units: int) -> int:
        return units * self.ns_mul // self.ns_div + self.ns_offset


@dataclass
class Stats:
    frames: int = 0
    errors: int = 0
    skipped_blocks: dict = field(default_factory=dict)  # block name -> count (NRB, ISB, unknown)
    secrets: int = 0


class _Source:
    """A bounded sliding buffer over a binary file: ``stream`` is a BytesIO of the current chunk."""

    def __init__(self, f: BinaryIO, chunk: int):
        self.f = f
        self.chunk = chunk
        self.base = 0  # file offset of stream position 0
        self.buf = b""
        self.stream = io.BytesIO(self.buf)
        self.eof = False
        self.read = f.read  # a pipe: read1 (what has arrived) once _read knows it is not a file

    def offset(self) -> int:
        return self.base + self.stream.tell()

    def ensure(self, n: int) -> bool:
        """At least ``n`` octets available from the current position (False at end of file)."""
        pos = self.stream.tell()
        avail = len(self.buf) - pos
        if avail >= n:
            return True
        parts = [self.stream.read()]
        while avail < n and not self.eof:
            more = self.read(max(self.chunk, n - avail))
            if not more:
                self.eof = True
                break
            parts.append(more)
            avail += len(more)
        self.buf = b"".join(parts)
        self.base += pos
        self.stream = io.BytesIO(self.buf)
        return avail >= n

    def available(self) -> int:
        return len(self.buf) - self.stream.tell()

    def skip(self, n: int) -> None:
        """Move forward ``n`` octets (bounded by what the file holds)."""
        while n > 0:
            avail = self.available()
            if avail >= n:
                self.stream.seek(n, io.SEEK_CUR)
                return
            self.stream.seek(0, io.SEEK_END)
            n -= avail
            if not self.ensure(min(n, self.chunk)):
                self.stream.seek(0, io.SEEK_END)
                return


class CaptureReader:
    """Iterable over :class:`Frame` and :class:`CaptureFault` records of one capture file."""

    def __init__(self, source, *, max_record: int = MAX_RECORD, max_block: int = MAX_BLOCK,
                 chunk: int = CHUNK, resync: bool = True, resync_window: int = RESYNC_WINDOW):
        self.source = source
        self.max_record = max_record
        self.max_block = max_block
        self.chunk = chunk
        self.resync = resync
        self.resync_window = resync_window
        self.secrets: list[Secret] = []
        self.errors: list[CaptureFault] = []
        self.interfaces: list[Interface] = []
        self.format: str | None = None
        self.stats = Stats()
        self.file_size: int | None = None
        self._number = 0
        self._started = False

    def tls_keylog(self) -> bytes:
        """The TLS key log lines of every DSB, joined (for ``tshark -o tls.keylog_file``)."""
        parts = [s.data if s.data.endswith(b"\n") else s.data + b"\n"
                 for s in self.secrets if s.type == pcapfile.SECRETS_TLS_KEYLOG]
        return b"".join(parts)

    # -- iteration -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame | CaptureFault]:
        if self._started:
            raise RuntimeError("a CaptureReader streams its file once; open a new one")
        self._started = True
        if isinstance(self.source, (str, bytes, os.PathLike)):
            with open(self.source, "rb") as f:
                yield from self._read(f)
        elif not hasattr(self.source, "read") and callable(getattr(self.source, "open", None)):
            with self.source.open() as f:  # a stream spooled by dissectors.pcap.live: a new follower
                f.owner = self  # its idle callback learns how many frames were read
                yield from self._read(f)
        else:
            yield from self._read(self.source)

    def _error(self, offset, what, fatal=False, skipped=0) -> CaptureFault:
        err = CaptureFault(offset, what, self._number, fatal, skipped)
        self.errors.append(err)
        self.stats.errors += 1
        return err

    def _remaining(self, src: _Source) -> int | None:
        """Octets left in the file from the current position, when the size is known."""
        if self.file_size is None:
            return None
        return self.file_size - src.offset()

    def _read(self, f) -> Iterator:
        try:  # regular files only: a pipe's size says nothing
            st = os.fstat(f.fileno())
            self.file_size = st.st_size - f.tell() if stat.S_ISREG(st.st_mode) else None
        except (OSError, AttributeError, io.UnsupportedOperation, ValueError):
            self.file_size = None
        src = _Source(f, self.chunk)
        if self.file_size is None and callable(getattr(f, "read1", None)):
            src.read = f.read1  # a pipe: hand on each frame as it arrives, not per full chunk
        if not src.ensure(4):
            yield self._error(0, "not a capture file: shorter than a magic number", fatal=True)
            return
        magic = pcapfile.MAGIC.reader()(src.stream).magic
        src.stream.seek(0)
        kind = pcapfile.PCAP_MAGICS.get(magic)
        if kind is None:
            yield self._error(0, f"not a pcap or pcapng file: magic {magic.hex()}", fatal=True)
            return
        self.format = kind[0]
        if kind[0] == "pcapng":
            yield from self._read_pcapng(src)
        else:
            yield from self._read_pcap(src, kind[0] == "pcap-modified", kind[1], kind[2])

    # -- pcap ----------------------------------------------------------------------------------
    def _read_pcap(self, src: _Source, modified: bool, order: str, units: int) -> Iterator:
        if not src.ensure(24):
            yield self._error(0, f"pcap file header cut short: {src.available()} of 24 octets",
                              fatal=True)
            return
        hdr = pcapfile.PCAP_HEADER[order].reader()(src.stream)
        snaplen = hdr.snaplen
        self.interfaces.append(Interface(linktype=hdr.linktype, snaplen=snaplen,
                                         units_per_second=units))
        limit = min(snaplen, self.max_record) if snaplen else self.max_record
        read_rec = (pcapfile.PCAP_MODIFIED_RECORD if modified else pcapfile.PCAP_RECORD)[order].reader()
        read_hdr = (pcapfile.PCAP_MODIFIED_RECORD_HEADER if modified else pcapfile.PCAP_RECORD_HEADER)[order].reader()
        hsize = 24 if modified else 16
        linktype = hdr.linktype
        to_ns = 1_000_000_000 // units
        last_sec = None
        stats = self.stats
        while True:
            stream = src.stream
            pos = stream.tell()
            try:
                rec = read_rec(stream)
            except StreamError:
                stream.seek(pos)
                rec = None
            if rec is None or rec.incl_len > limit:
                # slow path: refill, check the announced length before reading it
                stream.seek(pos)
                if not src.ensure(hsize):
                    if src.available():
                        yield self._error(src.offset(), f"record header cut short: "
                                          f"{src.available()} of {hsize} octets", fatal=True)
                    return
                stream = src.stream
                pos = stream.tell()
                h = read_hdr(stream)
                stream.seek(pos)
                bad = self._bad_pcap_record(h, limit, snaplen, units)
                if bad is None and not src.ensure(hsize + h.incl_len):
                    yield self._error(src.offset(), f"record cut short: needs {hsize + h.incl_len} "
                                      f"octet(s), {src.available()} left", fatal=True)
                    return
                if bad is not None:
                    at = src.offset()
                    if not self.resync:
                        yield self._error(at, bad, fatal=True)
                        return
                    skipped = self._resync_pcap(src, read_hdr, hsize, limit, snaplen, units, last_sec)
                    if skipped is None:
                        yield self._error(at, f"{bad}; no plausible record in the next "
                                          f"{self.resync_window} octets", fatal=True)
                        return
                    yield self._error(at, bad, skipped=skipped)
                    continue
                stream = src.stream
                pos = stream.tell()
                rec = read_rec(stream)
            self._number += 1
            stats.frames += 1
            last_sec = rec.ts_sec
            yield Frame(self._number, rec.ts_sec * 1_000_000_000 + rec.ts_frac * to_ns, 0,
                        linktype, rec.orig_len, rec.data, src.base + pos)

    def _bad_pcap_record(self, h, limit, snaplen, units) -> str | None:
        if h.incl_len > self.max_record:
            return f"record length {h.incl_len} exceeds the {self.max_record}-octet limit"
        if snaplen and h.incl_len > snaplen:
            return f"record length {h.incl_len} exceeds the snaplen {snaplen}"
        return None

    def _plausible_pcap(self, h, limit, units, last_sec) -> bool:
        return (h.incl_len <= limit and h.incl_len <= h.orig_len <= 0x3FFFFFFF
                and h.ts_frac < units
                and (last_sec is None or abs(h.ts_sec - last_sec) <= 86400))

    def _resync_pcap(self, src, read_hdr, hsize, limit, snaplen, units, last_sec) -> int | None:
        """Scan for a record header whose successor is also plausible; octets skipped or None."""
        start = src.offset()
        src.ensure(self.resync_window + hsize + limit + hsize)
        stream = src.stream
        origin = stream.tell()
        avail = src.available()
        for delta in range(1, min(self.resync_window, avail) + 1):
            if avail - delta < hsize:
                break
            stream.seek(origin + delta)
            h = read_hdr(stream)
            if not self._plausible_pcap(h, limit, units, last_sec):
                continue
            nxt = delta + hsize + h.incl_len
            if nxt == avail and src.eof:
                ok = True
            elif avail - nxt >= hsize:
                stream.seek(origin + nxt)
                ok = self._plausible_pcap(read_hdr(stream), limit, units, h.ts_sec)
            else:
                ok = False
            if ok:
                stream.seek(origin + delta)
                return src.offset() - start
        stream.seek(origin)
        return None

    # -- pcapng --------------------------------------------------------------------------------
    def _read_pcapng(self, src: _Source) -> Iterator:
        order = None
        section = -1
        local_ifaces: list[int] = []  # section-local interface id -> global index
        read_shb_start = pcapfile.SHB_START.reader()
        readers = {o: (pcapfile.BLOCK_HEADER[o].reader(), pcapfile.BLOCK[o].reader(),
                       pcapfile.EPB_BODY[o].reader())
                   for o in "<>"}
        stats = self.stats
        fast = {o: pcapfile.EPB_BLOCK[o].reader() for o in "<>"}
        max_block = self.max_block
        while True:
            if order is not None:  # fast path: a whole, sound EPB in the buffer
                stream = src.stream
                pos = stream.tell()
                try:
                    epb = fast[order](stream)
                except StreamError:
                    epb = None
                if (epb is not None and epb.block_type == pcapfile.BT_EPB
                        and epb.trailing_length == epb.block_total_length <= max_block
                        and not epb.block_total_length & 3
                        and epb.interface_id < len(local_ifaces)):
                    g = local_ifaces[epb.interface_id]
                    iface = self.interfaces[g]
                    self._number += 1
                    stats.frames += 1
                    yield Frame(self._number,
                                ((epb.ts_high << 32 | epb.ts_low) * iface.ns_mul) // iface.ns_div
                                + iface.ns_offset, g, iface.linktype, epb.original_len, epb.data,
                                src.base + pos)
                    continue
                stream.seek(pos)
            if not src.ensure(8):
                if src.available():
                    yield self._error(src.offset(), f"block header cut short: {src.available()} "
                                      f"of 8 octets", fatal=True)
                return
            stream = src.stream
            pos = stream.tell()
            at = src.base + pos
            # A Section Header Block sets the byte order of everything up to the next one.
            if src.ensure(12):
                stream = src.stream
                pos = stream.tell()
                start = read_shb_start(stream)
                stream.seek(pos)
                if start.block_type == pcapfile.BT_SHB:
                    if start.byte_order_magic == pcapfile.BYTE_ORDER_MAGIC:
                        order = "<"
                    elif start.byte_order_magic == 0x4D3C2B1A:
                        order = ">"
                    else:
                        bad = f"SHB with a bad byte-order magic 0x{start.byte_order_magic:08x}"
                        if order is None or not self.resync:
                            yield self._error(at, bad, fatal=True)
                            return
                        yield from self._after_bad_block(src, at, bad, order)
                        if src.eof and not src.available():
                            return
                        continue
            if order is None:
                yield self._error(at, "pcapng file does not start with a Section Header Block",
                                  fatal=True)
                return
            read_bh, read_block, read_epb = readers[order]
            stream = src.stream  # ensure() may have moved the buffer
            pos = stream.tell()
            h = read_bh(stream)
            stream.seek(pos)
            length = h.block_total_length
            bad = None
            remaining = self._remaining(src)
            if length < 12 or length % 4:
                bad = f"block length {length} is not a multiple of 4 of at least 12"
            elif length > self.max_block:
                bad = f"block length {length} exceeds the {self.max_block}-octet limit"
            elif remaining is not None and length > remaining:
                bad = (f"the file appears to be cut short: block length {length} runs past its "
                       f"end ({remaining} octet(s) left)")
            elif not src.ensure(length):
                yield self._error(at, f"block cut short: needs {length} octet(s), "
                                  f"{src.available()} left", fatal=True)
                return
            if bad is None:
                stream = src.stream
                pos = stream.tell()
                block = read_block(stream)
                if block.trailing_length != length:
                    stream.seek(pos)
                    bad = (f"block trailing length {block.trailing_length} differs from its "
                           f"leading length {length}")
            if bad is not None:
                if not self.resync:
                    yield self._error(at, bad, fatal=True)
                    return
                yield from self._after_bad_block(src, at, bad, order)
                continue
            btype = block.block_type
            body = io.BytesIO(block.body)
            try:
                if btype == pcapfile.BT_EPB:
                    epb = read_epb(body)
                    iface = self._iface(local_ifaces, epb.interface_id)
                    if iface is None:
                        yield self._error(at, f"EPB for interface {epb.interface_id}, which no "
                                          f"IDB of this section defines")
                        continue
                    self._number += 1
                    stats.frames += 1
                    g = local_ifaces[epb.interface_id]
                    yield Frame(self._number, iface.ts_ns((epb.ts_high << 32) | epb.ts_low), g,
                                iface.linktype, epb.original_len, epb.data, at)
                elif btype == pcapfile.BT_SPB:
                    spb = pcapfile.SPB_BODY[order].reader()(body)
                    iface = self._iface(local_ifaces, 0)
                    if iface is None:
                        yield self._error(at, "SPB before any IDB of this section")
                        continue
                    self._number += 1
                    stats.frames += 1
                    # §4.4: an SPB carries no timestamp (tshark shows none either)
                    yield Frame(self._number, None, local_ifaces[0], iface.linktype,
                                spb.original_len, spb.data, at)
                elif btype == pcapfile.BT_PB:
                    pb = pcapfile.PB_BODY[order].reader()(body)
                    iface = self._iface(local_ifaces, pb.interface_id)
                    if iface is None:
                        yield self._error(at, f"PB for interface {pb.interface_id}, which no "
                                          f"IDB of this section defines")
                        continue
                    self._number += 1
                    stats.frames += 1
                    yield Frame(self._number, iface.ts_ns((pb.ts_high << 32) | pb.ts_low),
                                local_ifaces[pb.interface_id], iface.linktype, pb.original_len,
                                pb.data, at)
                elif btype == pcapfile.BT_IDB:
                    idb = pcapfile.IDB_BODY[order].reader()(body)
                    iface = self._interface(order, idb, section)
                    iface.local_id = len(local_ifaces)
                    local_ifaces.append(len(self.interfaces))
                    self.interfaces.append(iface)
                elif btype == pcapfile.BT_SHB:
                    shb = pcapfile.SHB_BODY[order].reader()(body)
                    if shb.major_version != 1:
                        yield self._error(at, f"SHB version {shb.major_version}."
                                          f"{shb.minor_version} is not supported", fatal=True)
                        return
                    section += 1
                    local_ifaces = []
                elif btype == pcapfile.BT_DSB:
                    dsb = pcapfile.DSB_BODY[order].reader()(body)
                    self.secrets.append(Secret(dsb.secrets_type, dsb.secrets_data))
                    stats.secrets += 1
                else:
                    name = pcapfile.BLOCK_NAMES.get(btype, f"unknown block type 0x{btype:08x}")
                    stats.skipped_blocks[name] = stats.skipped_blocks.get(name, 0) + 1
            except StreamError as e:
                name = pcapfile.BLOCK_NAMES.get(btype, f"0x{btype:08x}")
                yield self._error(at, f"{name} block content does not decode: {e}")

    def _iface(self, local_ifaces, local_id) -> Interface | None:
        return self.interfaces[local_ifaces[local_id]] if local_id < len(local_ifaces) else None

    def _interface(self, order, idb, section) -> Interface:
        iface = Interface(linktype=idb.linktype, snaplen=idb.snaplen, section=section)
        opts, err = pcapfile.decode_pcapng_options(order, idb.options)
        iface.option_error = err
        for code, value in opts:
            try:
                if code == pcapfile.IF_TSRESOL and len(value) >= 1:
                    v = pcapfile.U8.parse_bytes(value).value
                    if (v & 0x7F) > 64:
                        iface.option_error = f"if_tsresol {v:#x} is out of range; ignored"
                        continue
                    iface.set_clock(2 ** (v & 0x7F) if v & 0x80 else 10 ** v, iface.tsoffset)
                elif code == pcapfile.IF_TSOFFSET and len(value) >= 8:
                    iface.set_clock(iface.units_per_second,
                                    pcapfile.TSOFFSET[order].parse_bytes(value).seconds)
                elif code == pcapfile.IF_NAME:
                    iface.name = value.decode("utf-8", "replace")
                elif code == pcapfile.IF_DESCRIPTION:
                    iface.description = value.decode("utf-8", "replace")
            except StreamError as e:  # pragma: no cover - lengths checked above
                iface.option_error = str(e)
        return iface

    def _after_bad_block(self, src: _Source, at: int, bad: str, order: str) -> Iterator:
        remaining = self._remaining(src)
        skipped = self._resync_pcapng(src, order)
        if skipped is None:
            window = (self.resync_window if remaining is None
                      else min(self.resync_window, remaining))
            yield self._error(at, f"{bad}; no plausible block in the next {window} "
                              f"octets", fatal=True)
            src.stream.seek(0, io.SEEK_END)
            src.eof = True
            src.buf = b""
            src.stream = io.BytesIO(b"")
            return
        yield self._error(at, bad, skipped=skipped)

    _KNOWN_BLOCKS = frozenset({pcapfile.BT_SHB, pcapfile.BT_IDB, pcapfile.BT_PB, pcapfile.BT_SPB,
                               pcapfile.BT_NRB, pcapfile.BT_ISB,
                               pcapfile.BT_EPB, pcapfile.BT_DSB, 0x00000BAD, 0x40000BAD, 0x00000009})

    def _resync_pcapng(self, src: _Source, order: str) -> int | None:
        """Scan 4-octet steps for a known block type whose two lengths agree."""
        start = src.offset()
        src.ensure(self.resync_window + 12)
        stream = src.stream
        origin = stream.tell()
        avail = src.available()
        read_bh = pcapfile.BLOCK_HEADER[order].reader()
        read_shb = pcapfile.SHB_START.reader()
        for delta in range(4, min(self.resync_window, avail), 4):
            if avail - delta < 12:
                break
            stream.seek(origin + delta)
            h = read_bh(stream)
            if h.block_type not in self._KNOWN_BLOCKS:
                continue
            length = h.block_total_length
            if h.block_type == pcapfile.BT_SHB:
                stream.seek(origin + delta)
                if read_shb(stream).byte_order_magic not in (pcapfile.BYTE_ORDER_MAGIC, 0x4D3C2B1A):
                    continue
                stream.seek(origin + delta)
                return src.offset() - start  # the SHB sets its own byte order
            if length < 12 or length % 4 or length > self.max_block:
                continue
            if delta + length > avail:
                continue  # cannot check the trailing length within the window
            stream.seek(origin + delta)
            try:
                block = pcapfile.BLOCK[order].reader()(stream)
            except StreamError:
                continue
            if block.trailing_length == length:
                stream.seek(origin + delta)
                return src.offset() - start
        stream.seek(origin)
        return None


def read_frames(source, **limits) -> CaptureReader:
    """A streaming reader over a capture file path or binary file object (see module docs);
    over a :class:`dissectors.pcap.captureset.CaptureSet`, its files chained as one capture."""
    opener = getattr(source, "open_reader", None)
    if callable(opener):
        return opener(**limits)
    return CaptureReader(source, **limits)
