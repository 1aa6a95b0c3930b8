"""Helpers for the capture/flow tests: an independent pcapng writer and tshark field extraction.

The writer packs blocks with ``struct`` straight from draft-ietf-opsawg-pcapng, sharing no code
with ``codec/pcapfile.py``; tshark reads the same files as the oracle.
"""

from __future__ import annotations

import os
import struct
import subprocess


def pad4(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def option(o: str, code: int, value: bytes) -> bytes:
    return struct.pack(o + "HH", code, len(value)) + pad4(value)


def options(o: str, opts) -> bytes:
    if not opts:
        return b""
    return b"".join(option(o, c, v) for c, v in opts) + struct.pack(o + "HH", 0, 0)


def block(o: str, btype: int, body: bytes) -> bytes:
    body = pad4(body)
    n = len(body) + 12
    return struct.pack(o + "II", btype, n) + body + struct.pack(o + "I", n)


def shb(o: str, opts=()) -> bytes:
    return block(o, 0x0A0D0D0A, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1) + options(o, opts))


def idb(o: str, linktype: int, snaplen: int = 0, tsresol: int | None = None,
        tsoffset: int | None = None, name: str | None = None) -> bytes:
    opts = []
    if name is not None:
        opts.append((2, name.encode()))
    if tsresol is not None:
        opts.append((9, bytes([tsresol])))
    if tsoffset is not None:
        opts.append((14, struct.pack(o + "q", tsoffset)))
    return block(o, 1, struct.pack(o + "HHI", linktype, 0, snaplen) + options(o, opts))


def epb(o: str, ifid: int, ts: int, data: bytes, orig_len: int | None = None) -> bytes:
    orig = len(data) if orig_len is None else orig_len
    return block(o, 6, struct.pack(o + "IIIII", ifid, ts >> 32, ts & 0xFFFFFFFF, len(data), orig)
                 + pad4(data))


def spb(o: str, data: bytes) -> bytes:
    return block(o, 3, struct.pack(o + "I", len(data)) + pad4(data))


def pb(o: str, ifid: int, ts: int, data: bytes) -> bytes:
    return block(o, 2, struct.pack(o + "HHIIII", ifid, 0, ts >> 32, ts & 0xFFFFFFFF, len(data),
                                   len(data)) + pad4(data))


def dsb(o: str, secrets_type: int, data: bytes) -> bytes:
    return block(o, 0x0A, struct.pack(o + "II", secrets_type, len(data)) + pad4(data))


def pcap_file(o: str, linktype: int, records, nano: bool = False, snaplen: int = 65535) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(o + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for sec, frac, data in records:
        out.append(struct.pack(o + "IIII", sec, frac, len(data), len(data)) + data)
    return b"".join(out)


def tshark_fields(tshark: str, path, fields, extra=()) -> list[list[str]]:
    args = [tshark, "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
            "-E", "aggregator=,", *extra]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    return [line.split("\t") for line in out.stdout.splitlines()]


def ns_text(ns: int) -> str:
    """tshark's frame.time_epoch spelling of an integer nanosecond time."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 10**9}.{ns % 10**9:09d}"


def editcap_parts(capture, directory, every: int) -> list:
    """``editcap -c every`` (a real tool cuts the capture): the parts, in time order."""
    from pathlib import Path

    capture, directory = Path(capture), Path(directory)
    directory.mkdir(exist_ok=True)
    subprocess.run(["editcap", "-c", str(every), str(capture), str(directory / capture.name)],
                   check=True, capture_output=True)
    parts = sorted(directory.glob(f"{capture.stem}_*"))
    assert len(parts) >= 2
    return parts
