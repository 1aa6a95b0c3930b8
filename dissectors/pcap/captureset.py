"""Capture sets: several capture files read as one capture (`mcsec dissect a.pcapng b.pcapng`,
`mcsec dissect ring/`, `mcsec dissect 'ring/probe_*.pcapng'`).

    cs = resolve(["ring/", "extra.pcap"])     # a path (one file), "-", or a CaptureSet
    for rec in read_frames(cs): ...            # one frame source: Frames and CaptureFaults
    cs.files                                   # [CaptureFile] in reading order
    cs.file_of(frame_number)                   # the file name of a frame (once read)

A ring buffer (`dumpcap -b filesize:…`) writes one capture in pieces: keys arrive in one file and
protect media in the next.  The pieces are therefore read as *one* capture, by one chained
reader, so that every stateful layer above it (TCP reassembly, dialogs, the keyring additions of
KMS XML, MIKEY-derived SRTP keys, the replay caches, TLS secrets) carries on across files exactly
as in the merged file (`mergecap -w merged.pcapng parts…`) — frame for frame, the output is the
merged file's:

* the files are ordered by the time of their first packet (ties, and files without a packet:
  in the order given, globs and directories sorted by name); they are *concatenated*, as a ring
  buffer's files do not overlap (`mergecap` would interleave overlapping files by time);
* frames are numbered on across files; interfaces get one numbering too — a file's interface
  identical (link type, snaplen, time resolution and offset, name, description) to the one at
  the same index of an earlier file is the same interface, as `mergecap` merges identical IDBs;
* Decryption Secrets Blocks of every file join ``reader.secrets`` as they are read;
* a file that cannot be opened or is not a capture is one capture-error record (at the start,
  ``after_frame`` 0) and the others are read; a capture error inside a file names the file.

Tools that read the capture themselves (tshark for SIP over TLS and TLS-PSK sessions) get
``os.fspath(capture_set)``: a merged pcapng written, on first use, from this very frame source
into a private temporary directory (0700), removed by :meth:`CaptureSet.close` (or at exit).

Arguments: files; directories (their ``*.pcap``, ``*.pcapng``, ``*.cap`` and ``*.ntar`` files,
not recursive); glob patterns (``*``, ``?``, ``[…]``), expanded here too so that a quoted pattern
works (and one too long for the shell's command line).  A path that does not exist and a
pattern that matches nothing are usage errors (:class:`CaptureSetError`).

A per-file engine can reuse the pieces: :attr:`CaptureSet.files` (ordered, with first times)
and :func:`dissectors.pcap.capture.read_frames` on each ``CaptureFile.path``.
"""

from __future__ import annotations

import glob
import os
import shutil
import stat
import tempfile
import weakref
from dataclasses import dataclass, replace
from bisect import bisect_right
from typing import Iterator

from codec import pcapfile
from dissectors.pcap.capture import CaptureFault, CaptureReader, Interface, Stats

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".ntar")
SCAN_FRAMES = 64  # frames read at most to find a file's first time (SPBs have none)


class CaptureSetError(ValueError):
    """A CAPTURE argument names nothing (no such file, a pattern that matches nothing)."""


@dataclass
class CaptureFile:
    """One file of a set: its path, the name shown for it, its first packet's time (ns since
    the epoch; None: no timed packet) and why it cannot be read (None: it can)."""

    path: str
    name: str
    first_ns: int | None = None
    error: str | None = None
    size: int = 0


def _has_magic(text: str) -> bool:
    return glob.has_magic(text)


def expand(arguments) -> list[str]:
    """The files named by CAPTURE arguments (files, directories, globs), in the order given;
    a directory's or a pattern's files sorted by name.  Raises :class:`CaptureSetError`."""
    out: list[str] = []
    for arg in arguments:
        if os.path.isdir(arg):
            names = sorted(n for n in os.listdir(arg)
                           if n.lower().endswith(CAPTURE_SUFFIXES) and not n.startswith("."))
            paths = [os.path.join(arg, n) for n in names]
            paths = [p for p in paths if not os.path.isdir(p)]
            if not paths:
                raise CaptureSetError(f"{arg}: a directory without capture files "
                                      f"({', '.join('*' + s for s in CAPTURE_SUFFIXES)})")
            out += paths
        elif os.path.lexists(arg):
            out.append(arg)
        elif _has_magic(arg):
            paths = sorted(p for p in glob.glob(arg) if not os.path.isdir(p))
            if not paths:
                raise CaptureSetError(f"{arg}: no file matches this pattern")
            out += paths
        else:
            raise CaptureSetError(f"{arg}: no such file or directory")
    seen: set = set()
    unique = []
    for p in out:  # a file named twice (a glob and a directory) is read once
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _scan(path: str, name: str) -> CaptureFile:
    """A file's first packet time, or why it cannot be read."""
    cf = CaptureFile(path, name)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a pipe would be consumed by this scan
            cf.error = ("not a regular file (a capture set reads each file twice: to order "
                        "them, then to dissect; give a pipe alone, or as -)")
            return cf
        cf.size = st.st_size
        reader = CaptureReader(path, chunk=1 << 16)
        seen = 0
        for rec in reader:
            if isinstance(rec, CaptureFault):
                if rec.fatal and rec.after_frame == 0:
                    cf.error = rec.what
                    break
                continue
            seen += 1
            if rec.ts_ns is not None:
                cf.first_ns = rec.ts_ns
                break
            if seen >= SCAN_FRAMES:
                break
    except OSError as e:
        cf.error = f"cannot read: {e.strerror or e}"
    return cf


def resolve(arguments):
    """The capture source for CAPTURE arguments: ``"-"`` (standard input, alone), a path (one
    readable file), or a :class:`CaptureSet`.  Raises :class:`CaptureSetError`."""
    if isinstance(arguments, (str, os.PathLike)):
        arguments = [arguments]
    arguments = [os.fspath(a) for a in arguments]
    if "-" in arguments:
        if len(arguments) > 1:
            raise CaptureSetError("- (standard input) cannot be combined with other captures")
        return "-"
    paths = expand(arguments)
    if len(paths) == 1 and arguments == paths and not os.path.isdir(arguments[0]):
        return paths[0]  # one file named as such: read as before
    return CaptureSet(paths)


class CaptureSet:
    """Several capture files read as one capture (see module docstring).  ``os.fspath()`` of a
    set is a merged pcapng (written on first use), for tools that read the capture themselves."""

    def __init__(self, paths):
        names = _display_names(paths)
        scanned = [_scan(p, n) for p, n in zip(paths, names)]
        bad = [f for f in scanned if f.error is not None]
        good = [f for f in scanned if f.error is None]
        # by first packet time; stable: ties and untimed files keep the order given
        good.sort(key=lambda f: (f.first_ns is None, f.first_ns or 0))
        self.bad: list[CaptureFile] = bad
        self.files: list[CaptureFile] = good
        self.size = sum(f.size for f in good)
        # frame number ranges per file, recorded by the first reader to pass them
        self._starts: list[int] = []  # first frame number of each file (1-based)
        self._start_names: list[str] = []
        self._tmpdir: str | None = None
        self._merged: str | None = None
        self._finalizer = None

    # -- reading -----------------------------------------------------------------------------
    def open_reader(self, **limits) -> "ChainedReader":
        """A fresh reader over every file in order (what :func:`read_frames` returns)."""
        return ChainedReader(self, **limits)

    def file_of(self, frame_number: int) -> str | None:
        """The name of the file frame ``frame_number`` came from (once a reader has read it)."""
        i = bisect_right(self._starts, frame_number) - 1
        return self._start_names[i] if i >= 0 else None

    def _note_start(self, index: int, first_number: int) -> None:
        if index == len(self._starts):
            self._starts.append(first_number)
            self._start_names.append(self.files[index].name)

    # -- a merged file for tshark ------------------------------------------------------------
    def __fspath__(self) -> str:
        if self._merged is None:
            self._tmpdir = tempfile.mkdtemp(prefix="mcsec-set-")  # 0700
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._tmpdir, True)
            path = os.path.join(self._tmpdir, "merged.pcapng")
            with open(path, "wb") as f:
                write_pcapng(self.open_reader(), f)
            self._merged = path
        return self._merged

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._merged = self._tmpdir = None

    def __str__(self):
        n = len(self.files) + len(self.bad)
        first = (self.files or self.bad)[0].name if n else "nothing"
        return first if n == 1 else f"{n} capture files ({first}, …)"

    __repr__ = __str__


def _display_names(paths) -> list[str]:
    """Base names, or the paths given where two base names clash."""
    base = [os.path.basename(p) or p for p in paths]
    return [b if base.count(b) == 1 else p for b, p in zip(base, paths)]


class ChainedReader:
    """The frames of a :class:`CaptureSet`'s files as one capture (the interface of
    :class:`dissectors.pcap.capture.CaptureReader`: iterate once; ``secrets``, ``interfaces``,
    ``errors``, ``stats``, ``tls_keylog()``).  Frame numbers, interface ids and offsets (for the
    progress bar: octets of the set before the frame) run on across files."""

    def __init__(self, capture_set: CaptureSet, **limits):
        self.set = capture_set
        self.limits = limits
        self.secrets: list = []
        self.errors: list[CaptureFault] = []
        self.interfaces: list[Interface] = []
        self.format = "pcapng"
        self.stats = Stats()
        self.file_size = capture_set.size
        self.current: CaptureFile | None = None
        self._number = 0
        self._started = False
        self._iface_ids: dict = {}  # (index in file, identity) -> global interface id

    def tls_keylog(self) -> bytes:
        parts = [s.data if s.data.endswith(b"\n") else s.data + b"\n"
                 for s in self.secrets if s.type == pcapfile.SECRETS_TLS_KEYLOG]
        return b"".join(parts)

    def _fault(self, fault: CaptureFault) -> CaptureFault:
        self.errors.append(fault)
        self.stats.errors += 1
        return fault

    def __iter__(self) -> Iterator:
        if self._started:
            raise RuntimeError("a reader streams its capture once; open a new one")
        self._started = True
        for bad in self.set.bad:  # one record per file that is not a capture
            yield self._fault(CaptureFault(0, f"{bad.name}: {bad.error}; the file is left out",
                                           0))
        base_offset = 0
        for index, cf in enumerate(self.set.files):
            self.current = cf
            yield from self._file(index, cf, base_offset)
            base_offset += cf.size
        self.current = None

    def _file(self, index: int, cf: CaptureFile, base_offset: int) -> Iterator:
        reader = CaptureReader(cf.path, **self.limits)
        local: list = []  # local interface id -> global id
        secrets_seen = 0
        base = self._number
        started = False
        try:
            for rec in reader:
                if len(reader.secrets) > secrets_seen:
                    self.secrets.extend(reader.secrets[secrets_seen:])
                    self.stats.secrets += len(reader.secrets) - secrets_seen
                    secrets_seen = len(reader.secrets)
                if isinstance(rec, CaptureFault):
                    yield self._fault(replace(rec, what=f"{cf.name}: {rec.what}",
                                              after_frame=rec.after_frame + base))
                    continue
                while len(local) < len(reader.interfaces):
                    local.append(self._global_interface(len(local),
                                                        reader.interfaces[len(local)]))
                if not started:
                    started = True
                    self.set._note_start(index, base + 1)
                self._number = rec.number = base + rec.number
                rec.interface_id = local[rec.interface_id]
                rec.offset += base_offset
                self.stats.frames += 1
                yield rec
        except OSError as e:  # removed or unreadable since the scan
            yield self._fault(CaptureFault(0, f"{cf.name}: cannot read: {e.strerror or e}",
                                           self._number, True))
        for name, n in reader.stats.skipped_blocks.items():
            self.stats.skipped_blocks[name] = self.stats.skipped_blocks.get(name, 0) + n

    def _global_interface(self, local_index: int, iface: Interface) -> int:
        key = (local_index, iface.linktype, iface.snaplen, iface.units_per_second,
               iface.tsoffset, iface.name, iface.description)
        gid = self._iface_ids.get(key)
        if gid is None:
            gid = self._iface_ids[key] = len(self.interfaces)
            self.interfaces.append(replace(iface, section=0, local_id=gid))
        return gid


def write_pcapng(reader, f) -> int:
    """Write the frames of ``reader`` as one pcapng section (nanosecond timestamps; IDBs and
    DSBs as they appear, before the packets that use them); returns the frames written."""
    opt = pcapfile.pcapng_option
    f.write(pcapfile.pcapng_block(pcapfile.BT_SHB, pcapfile.SHB_BODY["<"].build(dict(
        byte_order_magic=pcapfile.BYTE_ORDER_MAGIC, major_version=1, minor_version=0,
        section_length=-1, options=opt(pcapfile.SHB_USERAPPL, b"mcsec capture set")
        + opt(pcapfile.OPT_ENDOFOPT, b"")))))
    idbs = secrets = frames = 0
    for rec in reader:
        if isinstance(rec, CaptureFault):
            continue
        while secrets < len(reader.secrets):
            s = reader.secrets[secrets]
            secrets += 1
            f.write(pcapfile.pcapng_block(pcapfile.BT_DSB, pcapfile.DSB_BODY["<"].build(dict(
                secrets_type=s.type, secrets_length=len(s.data), secrets_data=s.data,
                options=b""))))
        while idbs < len(reader.interfaces):
            iface = reader.interfaces[idbs]
            idbs += 1
            f.write(pcapfile.pcapng_block(pcapfile.BT_IDB, pcapfile.IDB_BODY["<"].build(dict(
                linktype=iface.linktype, reserved=0, snaplen=iface.snaplen,
                options=opt(pcapfile.IF_TSRESOL, bytes([9])) + opt(pcapfile.OPT_ENDOFOPT, b"")))))
        units = rec.ts_ns or 0
        data = bytes(rec.data)
        f.write(pcapfile.pcapng_block(pcapfile.BT_EPB, pcapfile.EPB_BODY["<"].build(dict(
            interface_id=rec.interface_id, ts_high=(units >> 32) & 0xFFFFFFFF,
            ts_low=units & 0xFFFFFFFF, captured_len=len(data), original_len=rec.orig_len,
            data=data, options=b""))))
        frames += 1
    return frames


__all__ = ["CaptureSet", "CaptureSetError", "CaptureFile", "ChainedReader", "resolve", "expand",
           "write_pcapng"]
