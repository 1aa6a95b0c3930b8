"""Peak memory of `mcsec dissect` on many TCP streams that never complete (issue 15).

Builds a capture of N TCP connections (SYN, then one data segment of S octets holding the start
of a SIP INVITE whose Content-Length announces more than ever comes; no FIN), interleaved so
that every stream stays open to the end of the capture, then runs ``mcsec dissect`` on it and
reports the child's peak RSS (``getrusage(RUSAGE_CHILDREN).ru_maxrss``), with tshark's peak RSS
on the same file for comparison when tshark is installed.

    python benchmarks/bench_stream_memory.py                       # 100,000 x 1 kB (target: <= 200 MB)
    python benchmarks/bench_stream_memory.py --streams 4000 --size 60000
    python benchmarks/bench_stream_memory.py --max-stream-memory 16M

Not a timed test: a measurement to re-run after changes to dissectors/pcap/flows.py or dissect.py.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MSS = 1460


def _ip_tcp(src: int, dst: int, sport: int, dport: int, seq: int, flags: int,
            payload: bytes) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                     src.to_bytes(4, "big"), dst.to_bytes(4, "big"))
    return ip + tcp


def sip_start(i: int, size: int) -> bytes:
    """``size`` octets of a SIP INVITE whose body never arrives in full."""
    head = (f"INVITE sip:bob{i}@example.org SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK{i:08x}\r\n"
            f"From: <sip:alice{i}@example.org>;tag={i}\r\nTo: <sip:bob{i}@example.org>\r\n"
            f"Call-ID: {i}@bench\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {size * 2}\r\n\r\n").encode()
    return (head + b"v=0\r\n" + b"a=x\r\n" * size)[:size]


def make_capture(path: Path, streams: int, size: int) -> int:
    """Raw-IP pcap (LINKTYPE_RAW 101): all SYNs, then the data segments round-robin."""
    frames = 0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 101))

        def put(pkt: bytes) -> None:
            nonlocal frames
            frames += 1
            f.write(struct.pack("<IIII", 1_700_000_000 + frames // 1_000_000,
                                frames % 1_000_000, len(pkt), len(pkt)))
            f.write(pkt)

        src = 0x0A000001

        def addr(i):
            return 0x0A010000 + (i >> 14), 1024 + (i & 0x3FFF)

        for i in range(streams):
            dst, sport = addr(i)
            put(_ip_tcp(src, dst, sport, 5060, 1000, 0x02, b""))
        for off in range(0, size, MSS):
            for i in range(streams):
                dst, sport = addr(i)
                put(_ip_tcp(src, dst, sport, 5060, 1001 + off, 0x18,
                            sip_start(i, size)[off:off + MSS]))
    return frames


def peak_rss_of(cmd: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, return code) of a command run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        print("  (peak RSS not above an earlier child's: run one measurement per process "
              "for exact figures)", file=sys.stderr)
    if r.returncode:
        sys.stderr.write(r.stderr.decode(errors="replace")[-2000:])
    return peak / 1024, dt, r.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=1000, help="octets buffered per stream")
    ap.add_argument("--max-stream-memory", default=None,
                    help="passed to mcsec dissect (default: mcsec's default)")
    ap.add_argument("--tshark", action="store_true", help="also measure tshark")
    ap.add_argument("--keep", metavar="DIR", help="write the capture here and keep it")
    args = ap.parse_args()
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="mcsec-bench-mem-"))
    tmp.mkdir(parents=True, exist_ok=True)
    cap = tmp / f"streams-{args.streams}x{args.size}.pcap"
    t0 = time.perf_counter()
    frames = make_capture(cap, args.streams, args.size)
    print(f"capture: {args.streams} streams x {args.size} octets, {frames} frames, "
          f"{cap.stat().st_size / 1e6:.1f} MB (built in {time.perf_counter() - t0:.1f} s)")
    mcsec = str(Path(sys.executable).parent / "mcsec")
    if not os.path.exists(mcsec):
        mcsec = shutil.which("mcsec") or mcsec
    cmd = [mcsec, "dissect", str(cap), "--format", "jsonl-records", "--no-progress",
           "--workers", "1"]
    if args.max_stream_memory:
        cmd += ["--max-stream-memory", args.max_stream_memory]
    peak, dt, rc = peak_rss_of(cmd)
    print(f"mcsec dissect: peak RSS {peak:.0f} MB, {dt:.1f} s, exit {rc}")
    if args.tshark and shutil.which("tshark"):
        peak_t, dt_t, _ = peak_rss_of(["tshark", "-r", str(cap), "-o",
                                       "tcp.desegment_tcp_streams:TRUE", "-Y", "sip"])
        print(f"tshark -Y sip: peak RSS {peak_t:.0f} MB, {dt_t:.1f} s "
              f"(mcsec/tshark memory ratio {peak / peak_t:.2f})")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
