"""The records a capture reader yields and keeps, and the bounded buffer it reads through.

:class:`Frame` (one packet, numbered as Wireshark numbers them), :class:`CaptureFault` (bad input
as a record, never an exception), :class:`Secret` (a pcapng Decryption Secrets Block,
draft-ietf-opsawg-pcapng §4.7, whose repr hides the data), :class:`Interface` (a pcap file header
or pcapng IDB with its clock, §4.2 ``if_tsresol``/``if_tsoffset``), :class:`Stats`, and
:class:`BoundedSource`, the sliding in-memory window over the file.  The readers are
:mod:`dissectors.pcap.capture` (the entry point), :mod:`~dissectors.pcap.capture_pcap` and
:mod:`~dissectors.pcap.capture_pcapng`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import BinaryIO

from codec import pcapfile

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


class BoundedSource:
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
