"""Reading pcapng files (draft-ietf-opsawg-pcapng), mixed into
:class:`dissectors.pcap.capture.CaptureReader`.

The block frame (§3.1) is checked before a block is read: total length at least 12, a multiple
of 4, within ``max_block`` and the file, the trailing length equal.  SHB (§4.1, byte order per
section), IDB (§4.2, options ``if_tsresol``, ``if_tsoffset``, ``if_name``, ``if_description``,
§3.5), EPB (§4.3), SPB (§4.4), the obsolete PB (Appendix A) and DSB (§4.7) are read; NRB, ISB and
unknown blocks are counted and skipped by their length.  After a bad frame the reader scans for a
known block type whose two lengths agree, or a new SHB.
"""

from __future__ import annotations

import io
from typing import Iterator

from codec import pcapfile
from codec.constructs import StreamError
from dissectors.pcap.capture_records import BoundedSource, Frame, Interface, Secret


class PcapngReading:
    """The pcapng half of :class:`~dissectors.pcap.capture.CaptureReader` (needs its limits,
    ``_error``, ``_remaining``, ``_number``, ``stats``, ``secrets`` and ``interfaces``)."""

    def _read_pcapng(self, src: BoundedSource) -> Iterator:
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

    def _after_bad_block(self, src: BoundedSource, at: int, bad: str, order: str) -> Iterator:
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

    def _resync_pcapng(self, src: BoundedSource, order: str) -> int | None:
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
