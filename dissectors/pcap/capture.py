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

The records are in :mod:`~dissectors.pcap.capture_records`, the two formats in
:mod:`~dissectors.pcap.capture_pcap` and :mod:`~dissectors.pcap.capture_pcapng`.  Every byte
layout comes from :mod:`codec.pcapfile`; this module only moves bytes from the file
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
from typing import Iterator

from codec import pcapfile
from dissectors.pcap.capture_pcap import PcapReading
from dissectors.pcap.capture_pcapng import PcapngReading
from dissectors.pcap.capture_records import (CHUNK, MAX_BLOCK, MAX_RECORD, RESYNC_WINDOW,
                                             BoundedSource, CaptureFault, Frame, Interface, Secret,
                                             Stats)


class CaptureReader(PcapReading, PcapngReading):
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

    def _remaining(self, src: BoundedSource) -> int | None:
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
        src = BoundedSource(f, self.chunk)
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


def read_frames(source, **limits) -> CaptureReader:
    """A streaming reader over a capture file path or binary file object (see module docs);
    over a :class:`dissectors.pcap.captureset.CaptureSet`, its files chained as one capture."""
    opener = getattr(source, "open_reader", None)
    if callable(opener):
        return opener(**limits)
    return CaptureReader(source, **limits)
