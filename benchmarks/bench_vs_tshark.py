"""`mcsec dissect` against tshark on the three capture shapes of issue 17, same files, same run.

    python benchmarks/bench_vs_tshark.py                        # 100,000 packets a shape
    python benchmarks/bench_vs_tshark.py --packets 20000 --repeat 3
    python benchmarks/bench_vs_tshark.py --large                # + peak RSS at 1,000,000 packets

The captures come from ``benchmarks/make_captures.py`` (``sip``: every packet a SIP INVITE with
one MIKEY-SAKKE I_MESSAGE in SDP; ``raw``: every packet one I_MESSAGE on UDP 2269; ``mixed``:
one INVITE with MIKEY then nine SRTP packets).  For each shape two pairs of commands are timed,
run in turn (mcsec, tshark, mcsec, tshark, …) ``--repeat`` times on the same file:

- ``mcsec dissect FILE --format json`` against ``tshark -r FILE -T json``;
- ``mcsec dissect FILE --brief`` against ``tshark -r FILE -T fields -e frame.number
  -e mikey.type -e mikey.csb_id``;

tshark with the mcsec Lua plugin (``-X lua_script:wireshark/mcsec_mikey.lua``, so that it
decodes MIKEY-SAKKE as mcsec does) and ``-n`` (no name resolution: mcsec resolves none).  On the
mixed shape mcsec runs with ``--filter all``, so that it prints every frame as tshark does.
JSON output goes to /dev/null; the one-line-a-packet outputs go to a file and are checked (every
MIKEY packet must show in both).  Wall time is the median of the runs; the ratio is tshark's
median / mcsec's (> 1: mcsec faster); peak RSS is the largest single process of a run
(``wait4`` resource usage of the child, which covers the worker processes it reaped) over the
runs.  The report (Markdown, for README's Performance section) is printed and written to
``benchmarks/results/vs-tshark-<N>.md``.  Not a timed test: the figures are noisy on a shared
machine, the ratios less so.

The plugin is Lua and costs tshark about four times its own MIKEY dissector on MIKEY packets;
``--no-plugin`` measures tshark's own dissector instead (which decodes less: no full MIKEY-SAKKE,
no media-level key-mgmt), for reference.  ``--mcsec-root DIR`` runs mcsec from another tree
(e.g. ``git archive`` of a commit), so that two versions can be compared on the same captures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import make_captures  # noqa: E402

RESULTS = HERE / "results"
MCSEC = [str(ROOT / ".venv" / "bin" / "mcsec")] if (ROOT / ".venv/bin/mcsec").exists() else [
    sys.executable, "-m", "dissectors.cli"]
SHAPE_TEXT = {  # (table label, description)
    "sip": ("SIP INVITE + SDP key-mgmt over UDP",
            "every packet a SIP INVITE over UDP whose SDP carries one MIKEY-SAKKE I_MESSAGE in "
            "`a=key-mgmt:mikey` (session level in even calls, media level in odd ones)"),
    "raw": ("raw MIKEY on UDP 2269",
            "every packet one MIKEY-SAKKE I_MESSAGE alone in a UDP datagram to port 2269"),
    "mixed": ("mixed, 10% MIKEY (mcsec `--filter all`)",
              "one SIP INVITE with MIKEY-SAKKE in SDP then nine SRTP packets of its call (10% "
              "MIKEY); mcsec runs with `--filter all` so that it prints every frame, as tshark "
              "does"),
}
BRIEF_FIELDS = ["-e", "frame.number", "-e", "mikey.type", "-e", "mikey.csb_id"]


@dataclass
class Runs:
    """The runs of one command: wall seconds, CPU seconds (user + sys), peak RSS in KiB."""

    cmd: list[str]
    cwd: str | None = None
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def peak_mb(self) -> float:
        return max(self.rss_kib) * 1024 / 1e6


def run_once(runs: Runs, stdout_path: str, stderr_path: str) -> None:
    """One run of ``runs.cmd``; its resources from ``wait4`` (this child and what it reaped)."""
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(runs.cmd, stdout=out, stderr=err, cwd=runs.cwd,
                                env={**os.environ, "LC_ALL": "C", "TZ": "UTC"})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = Path(stderr_path).read_text(errors="replace")[-1500:]
        raise SystemExit(f"exit {proc.returncode}: {' '.join(runs.cmd)}\n{tail}")
    runs.wall.append(wall)
    runs.cpu.append(usage.ru_utime + usage.ru_stime)
    runs.rss_kib.append(usage.ru_maxrss)


def check_stderr(path: str, who: str) -> None:
    text = Path(path).read_text(errors="replace")
    if "Lua" in text.replace("lua_script", "") or "rror" in text:
        raise SystemExit(f"{who} complained on stderr:\n{text[-1500:]}")


def check_lines(shape: str, packets: int, mcsec_out: str, tshark_out: str) -> None:
    """Every MIKEY packet shows in both one-line outputs; tshark prints every frame."""
    want = make_captures.mikey_packets(shape, packets)
    mcsec_lines = Path(mcsec_out).read_text().splitlines()
    mcsec_mikey = sum(1 for line in mcsec_lines if "MIKEY" in line)
    tshark_lines = Path(tshark_out).read_text().splitlines()
    tshark_mikey = sum(1 for line in tshark_lines if line.split("\t")[1:2] not in ([], [""]))
    expect_mcsec_lines = packets if shape == "mixed" else want  # --filter all on mixed
    problems = []
    if mcsec_mikey != want or len(mcsec_lines) != expect_mcsec_lines:
        problems.append(f"mcsec --brief: {len(mcsec_lines)} lines, {mcsec_mikey} with MIKEY")
    if tshark_mikey != want or len(tshark_lines) != packets:
        problems.append(f"tshark -T fields: {len(tshark_lines)} lines, {tshark_mikey} with "
                        f"mikey.type")
    if problems:
        raise SystemExit(f"{shape}: expected {want} MIKEY packets of {packets}: "
                         + "; ".join(problems))


def compare(mine: Runs, theirs: Runs, repeat: int, tmp: Path, keep_output: bool) -> None:
    """Alternate the two commands ``repeat`` times (A B A B …), so drift hits both alike."""
    for i in range(repeat):
        for label, runs in (("mcsec", mine), ("tshark", theirs)):
            out = str(tmp / f"{label}.out") if keep_output else os.devnull
            run_once(runs, out, str(tmp / f"{label}.err"))
            if label == "tshark":
                check_stderr(str(tmp / "tshark.err"), "tshark")


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; load average at start {load}")


def tshark_version(tshark: str) -> str:
    out = subprocess.run([tshark, "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0].rstrip(".") if out else "unknown"


def git_revision(root: Path) -> str:
    if not (root / ".git").exists():
        return f"tree {root}"
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                "codec", "dissectors"], capture_output=True,
                               text=True).stdout.strip()
        return rev + (" + uncommitted changes in codec/ or dissectors/" if dirty else "")
    except OSError:
        return "unknown"


def fmt_s(runs: Runs) -> str:
    return f"{runs.median:.2f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=make_captures.DEFAULT_PACKETS)
    ap.add_argument("--distinct", type=int, default=make_captures.DEFAULT_DISTINCT)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each command (median)")
    ap.add_argument("--shapes", default=",".join(make_captures.SHAPES),
                    help="comma-separated, of %s" % ", ".join(make_captures.SHAPES))
    ap.add_argument("--no-brief", action="store_true", help="skip --brief / -T fields")
    ap.add_argument("--large", action="store_true",
                    help="also mcsec's peak RSS on --large-packets of the raw shape (slow)")
    ap.add_argument("--large-packets", type=int, default=1_000_000)
    ap.add_argument("--mcsec-option", action="append", default=[], metavar="OPT",
                    help="extra option for every mcsec dissect run (e.g. --workers=1)")
    ap.add_argument("--tshark-option", action="append", default=[], metavar="OPT",
                    help="extra option for every tshark run (e.g. -o=sdp.establish_conversation:FALSE)")
    ap.add_argument("--no-plugin", action="store_true",
                    help="tshark without the mcsec Lua plugin: its own MIKEY dissector, which "
                         "does not decode MIKEY-SAKKE in full nor media-level key-mgmt (not the "
                         "same output; the plugin, in Lua, costs tshark ~4x on MIKEY packets)")
    ap.add_argument("--mcsec-root", type=Path, metavar="DIR",
                    help="run mcsec (python -m dissectors.cli) and take the Lua plugin from this "
                         "tree, e.g. an export of another commit (default: this checkout)")
    ap.add_argument("--out", type=Path, help="report file (default benchmarks/results/"
                                             "vs-tshark-<N>.md)")
    a = ap.parse_args()
    shapes = [s for s in a.shapes.split(",") if s]
    unknown = set(shapes) - set(make_captures.SHAPES)
    if unknown or a.packets < 1 or a.repeat < 1:
        ap.error(f"bad --shapes {sorted(unknown)} or --packets/--repeat below 1")
    tshark = shutil.which("tshark")
    if tshark is None:
        raise SystemExit("tshark is needed (apt-get install tshark)")
    topts = [o for opt in a.tshark_option for o in opt.split("=", 1)]
    root = a.mcsec_root.resolve() if a.mcsec_root else ROOT
    mcsec_cwd = str(root) if a.mcsec_root else None
    mcsec_exe = [sys.executable, "-m", "dissectors.cli"] if a.mcsec_root else MCSEC
    plugin = [] if a.no_plugin else ["-X", f"lua_script:{root / 'wireshark' / 'mcsec_mikey.lua'}"]
    tshark_base = [tshark, *plugin, "-n", *topts]
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = [
        f"- Measured {started} by `benchmarks/bench_vs_tshark.py --packets {a.packets} "
        f"--repeat {a.repeat}` (mcsec {git_revision(root)}).",
        f"- Machine: {machine()}.",
        f"- tshark: {tshark_version(tshark)}, options `"
        + ("" if a.no_plugin else "-X lua_script:wireshark/mcsec_mikey.lua ") + "-n"
        + (" " + " ".join(topts) if topts else "") + "`; output to /dev/null (JSON) or a file "
        "(one line a packet).",
        f"- Captures: `benchmarks/make_captures.py`, {a.packets:,} packets a shape, "
        f"{a.distinct} distinct signed MIKEY-SAKKE I_MESSAGEs cycled (every SIP message distinct).",
        *(f"  - `{s}`: {SHAPE_TEXT[s][1]}." for s in shapes),
        f"- Median wall time of {a.repeat} runs each, taken in turn; ratio = tshark / mcsec "
        "(> 1: mcsec faster); peak RSS = the largest process over the runs.",
    ]
    rows, details = [], []
    with tempfile.TemporaryDirectory(prefix="mcsec-vs-tshark-") as d:
        tmp = Path(d)
        for shape in shapes:
            t0 = time.perf_counter()
            cap = make_captures.make_capture(shape, a.packets, a.distinct)
            size = cap.stat().st_size
            print(f"{shape}: {cap} ({size / 1e6:.1f} MB, ready in "
                  f"{time.perf_counter() - t0:.1f} s)", file=sys.stderr)
            with open(cap, "rb") as f:  # into the page cache before the first timed run
                while f.read(1 << 20):
                    pass
            extra = ["--filter", "all"] if shape == "mixed" else []
            mcsec = [*mcsec_exe, "dissect", str(cap), "--no-progress", *extra,
                     *[o for opt in a.mcsec_option for o in opt.split("=", 1)]]
            json_m = Runs(mcsec + ["--format", "json"], mcsec_cwd)
            json_t = Runs(tshark_base + ["-r", str(cap), "-T", "json"])
            compare(json_m, json_t, a.repeat, tmp, keep_output=False)
            row = [f"{SHAPE_TEXT[shape][0]} ({size / 1e6:.1f} MB)", fmt_s(json_m), fmt_s(json_t),
                   f"**{json_t.median / json_m.median:.2f}×**"]
            pairs = [("json", json_m, json_t)]
            if not a.no_brief:
                brief_m = Runs(mcsec + ["--brief"], mcsec_cwd)
                brief_t = Runs(tshark_base + ["-r", str(cap), "-T", "fields", *BRIEF_FIELDS])
                compare(brief_m, brief_t, a.repeat, tmp, keep_output=True)
                if not a.no_plugin:  # tshark's own dissector misses some: nothing to check
                    check_lines(shape, a.packets, str(tmp / "mcsec.out"),
                                str(tmp / "tshark.out"))
                row += [fmt_s(brief_m), fmt_s(brief_t),
                        f"**{brief_t.median / brief_m.median:.2f}×**"]
                pairs.append(("brief", brief_m, brief_t))
            else:
                row += ["–", "–", "–"]
            row.append(f"{json_m.peak_mb:.0f} MB / {json_t.peak_mb:.0f} MB")
            rows.append(row)
            for label, m, t in pairs:
                details.append(
                    f"- {shape}, {label}: mcsec {', '.join(f'{x:.2f}' for x in m.wall)} s "
                    f"(CPU {statistics.median(m.cpu):.2f} s, peak {m.peak_mb:.0f} MB); tshark "
                    f"{', '.join(f'{x:.2f}' for x in t.wall)} s (CPU "
                    f"{statistics.median(t.cpu):.2f} s, peak {t.peak_mb:.0f} MB)")
            print(f"  {row}", file=sys.stderr)
        large = None
        if a.large:
            cap = make_captures.make_capture("raw", a.large_packets, a.distinct)
            big = Runs([*mcsec_exe, "dissect", str(cap), "--no-progress", "--format", "json",
                        *[o for opt in a.mcsec_option for o in opt.split("=", 1)]], mcsec_cwd)
            run_once(big, os.devnull, str(tmp / "large.err"))
            large = (f"Peak RSS of `mcsec dissect --format json` on {a.large_packets:,} packets "
                     f"of the raw shape: **{big.peak_mb:.0f} MB** ({big.wall[0]:.0f} s; target "
                     f"≤ 150 MB).")
    mcsec_cmd = "mcsec dissect FILE" + (" " + " ".join(a.mcsec_option) if a.mcsec_option else "")
    table = [
        f"| {a.packets:,} packets | `{mcsec_cmd} --format json` | `tshark -T json` | ratio "
        f"| `{mcsec_cmd} --brief` | `tshark -T fields -e frame.number -e mikey.type "
        f"-e mikey.csb_id` | ratio | peak RSS (JSON) mcsec / tshark |",
        "|---|---|---|---|---|---|---|---|",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
    report = "\n".join([*header, "", *table, "", *([large, ""] if large else []),
                        "Every run (wall seconds):", "", *details, ""])
    print(report)
    out = a.out or RESULTS / f"vs-tshark-{a.packets}{'-no-plugin' if a.no_plugin else ''}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
