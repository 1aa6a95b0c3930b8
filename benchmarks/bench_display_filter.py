"""`mcsec dissect -Y EXPR` against `tshark -Y EXPR`, and what -Y costs mcsec (issue 18).

Run with ``make bench`` (or ``python benchmarks/bench_display_filter.py [--packets N]``).

On the generated SIP+MIKEY capture of ``bench_dissect.py`` (one MIKEY-SAKKE INVITE every
``--every`` packets, RTP-sized UDP filler between), in the same run:

- ``mcsec dissect --filter all --format json`` without and with ``-Y`` (every frame considered
  both times): the cost of the filter in the whole run, as a ratio (target: ≤ 1.10);
- ``mcsec dissect -Y`` against ``tshark -Y … -T fields -e frame.number`` on the same expression
  (frames selected must be equal; the time ratio mcsec / tshark is reported);
- the evaluation cost per packet of the compiled closure alone (µs/packet), on the packet
  objects of that run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_dissect import make_capture  # noqa: E402

from dissectors.pcap.display_filter import compile_filter  # noqa: E402

MCSEC = [sys.executable, "-m", "dissectors.cli"]
EXPR = 'sip.Method == "INVITE" and sdp.media contains "SAVP" and udp.port == 5060'


def timed(cmd) -> tuple[float, bytes]:
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, check=True, cwd=ROOT).stdout
    return time.perf_counter() - t, out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=20_000)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--expr", default=EXPR)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cap = Path(tmp) / "bench.pcap"
        calls = make_capture(cap, args.packets, args.every)
        print(f"capture: {args.packets} packets, {calls} INVITEs; expression: {args.expr}")
        base = MCSEC + ["dissect", str(cap), "--filter", "all", "--format", "json",
                        "--no-progress", "--workers", "1"]
        t_all, out_all = timed(base)
        t_y, out_y = timed(base + ["-Y", args.expr])
        t_t, out_t = timed(["tshark", "-r", str(cap), "-n", "-o",
                            "sdp.establish_conversation:FALSE", "-Y", args.expr, "-T", "fields",
                            "-e", "frame.number"])
        ours = [json.loads(x)["frame"] for x in out_y.splitlines()]
        theirs = [int(x) for x in out_t.split()]
        print(f"mcsec --filter all         : {t_all:6.2f} s")
        print(f"mcsec --filter all -Y EXPR : {t_y:6.2f} s  ratio {t_y / t_all:.2f} (target <= 1.10)")
        print(f"tshark -Y EXPR             : {t_t:6.2f} s  mcsec/tshark time {t_y / t_t:.2f}")
        print(f"frames selected: mcsec {len(ours)}, tshark {len(theirs)}, "
              f"{'equal' if ours == theirs else 'DIFFERENT'}")
        pkts = [json.loads(x) for x in out_all.splitlines()]
        flt = compile_filter(args.expr)
        t = time.perf_counter()
        n = sum(1 for p in pkts if flt(p))
        dt = time.perf_counter() - t
        print(f"compiled filter alone      : {dt / len(pkts) * 1e6:6.1f} µs/packet "
              f"({len(pkts)} packets, {n} selected)")
        return 0 if ours == theirs else 1


if __name__ == "__main__":
    sys.exit(main())
