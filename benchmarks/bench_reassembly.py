"""Per-segment cost of TCP reassembly: an orderly stream against one full of gaps and overlaps.

Issue 15: a stream whose segments come out of order, overlapping one another and leaving holes
cost ~0.5 ms a segment, 20x an in-order one, because every new segment rescanned every
buffered one.  The out-of-order buffer is now a sorted list of non-overlapping segments
(``bisect``): a segment costs O(log n + the segments it overlaps).

Three streams of the same octets through ``FlowTable.feed`` (frames built beforehand, so only
reassembly and header decoding are timed), best of 3, microseconds per segment:

- ``in order``: MSS-sized segments in sequence;
- ``messy``: the same data cut into segments of random sizes, each overlapping its neighbours,
  delivered in a random order within a window of ``--window`` segments, with one segment in
  ``--hole-every`` held back to the end of the window (holes), and retransmissions;
- ``messy, large window``: the same with a window as large as the per-flow limit allows
  (1,024 buffered segments), the worst case for a rescanning buffer.

``--baseline REV`` also times ``dissectors/pcap/flows.py`` as it was at git revision REV (e.g. the
commit before the change) on the same frames, for the before/after ratio.

    python benchmarks/bench_reassembly.py [--segments 20000] [--baseline 7429639]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dissectors.pcap import flows as current  # noqa: E402

LINKTYPE_RAW = 101


class Frame:
    __slots__ = ("number", "linktype", "data")

    def __init__(self, number, data):
        self.number, self.linktype, self.data = number, LINKTYPE_RAW, data


def tcp_frame(seq: int, flags: int, payload: bytes) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", 40000, 5060, seq & 0xFFFFFFFF, 0, 5 << 4, flags, 65535, 0,
                      0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return ip + tcp


def in_order(data: bytes, isn: int, mss: int = 1000) -> list:
    out = [tcp_frame(isn, 0x02, b"")]
    for off in range(0, len(data), mss):
        out.append(tcp_frame(isn + 1 + off, 0x18, data[off:off + mss]))
    return out


def messy(data: bytes, isn: int, window: int, hole_every: int, rng: random.Random) -> list:
    """Overlapping segments of random sizes, shuffled within windows, some held back."""
    pieces = []
    off = 0
    while off < len(data):
        size = rng.randint(200, 1400)
        start = max(0, off - rng.randint(0, 150))  # overlap the previous segment
        pieces.append((start, data[start:off + size]))
        off += size
    frames = [tcp_frame(isn, 0x02, b"")]
    for w in range(0, len(pieces), window):
        chunk = pieces[w:w + window]
        rng.shuffle(chunk)
        late = [p for i, p in enumerate(chunk) if i % hole_every == 0]
        early = [p for i, p in enumerate(chunk) if i % hole_every]
        for start, seg in early + late:
            frames.append(tcp_frame(isn + 1 + start, 0x18, seg))
            if rng.random() < 0.05:  # a retransmission
                frames.append(tcp_frame(isn + 1 + start, 0x18, seg))
    return frames


def load_flows_at(rev: str):
    src = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:dissectors/pcap/flows.py"],
                         capture_output=True, check=True).stdout
    tmp = Path(tempfile.mkdtemp(prefix="mcsec-flows-")) / "flows_baseline.py"
    tmp.write_bytes(src)
    spec = importlib.util.spec_from_file_location("flows_baseline", tmp)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["flows_baseline"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def per_segment_us(mod, frames: list, repeat: int = 3) -> tuple[float, int]:
    """Best-of-``repeat`` microseconds per frame, and the octets delivered (a sanity check)."""
    best = float("inf")
    delivered = 0
    objs = [Frame(i + 1, f) for i, f in enumerate(frames)]
    for _ in range(repeat):
        table = mod.FlowTable()
        t0 = time.perf_counter()
        got = 0
        for fr in objs:
            for ev in table.feed(fr):
                if type(ev).__name__ == "StreamData":
                    got += len(ev.data)
        for ev in table.flush():
            if type(ev).__name__ == "StreamData":
                got += len(ev.data)
        best = min(best, time.perf_counter() - t0)
        delivered = got
    return best / len(frames) * 1e6, delivered


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--segments", type=int, default=20_000, help="in-order segments (1000 B)")
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--hole-every", type=int, default=4)
    ap.add_argument("--baseline", metavar="REV", help="also time flows.py at this git revision")
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    data = rng.randbytes(args.segments * 1000)
    isn = 0xFFFFFFFF - 5000  # the sequence numbers wrap around during the stream
    cases = {
        "in order": in_order(data, isn),
        f"messy (window {args.window})": messy(data, isn, args.window, args.hole_every, rng),
        "messy (window 1000)": messy(data, isn, 1000, args.hole_every, rng),
    }
    mods = {"now": current}
    if args.baseline:
        mods[args.baseline] = load_flows_at(args.baseline)
    base = {}
    print(f"{'stream':<24}{'segments':>10}" + "".join(f"{name + ' us/seg':>22}" for name in mods)
          + ("   before/now" if args.baseline else ""))
    for case, frames in cases.items():
        cols = []
        times = {}
        for name, mod in mods.items():
            us, got = per_segment_us(mod, frames)
            assert got == len(data), f"{name} {case}: delivered {got} of {len(data)} octets"
            times[name] = us
            cols.append(f"{us:>22.1f}")
        if case == "in order":
            base = dict(times)
        ratio = "".join(f"  x{times[n] / base[n]:.1f} of in-order" for n in ("now",))
        line = f"{case:<24}{len(frames):>10}" + "".join(cols)
        if args.baseline:
            line += f"   {times[args.baseline] / times['now']:.1f}x"
        print(line + "   " + ratio)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
