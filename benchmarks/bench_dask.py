"""A capture set sequentially and on Dask (issue 19 item 4): wall times, ratio, peak memory.

    python benchmarks/bench_dask.py                              # 20 files x 100,000 packets
    python benchmarks/bench_dask.py --files 20 --packets 5000    # a quick check
    python benchmarks/bench_dask.py --packets 200 --keys         # MIKEY-SAKKE verified too

The ring buffer is one ``benchmarks/make_captures.py`` capture of ``files x packets`` packets
(default shape ``mixed``: one SIP INVITE with a MIKEY-SAKKE I_MESSAGE, then nine SRTP packets of
that call) cut by ``editcap -c packets`` into ``files`` files (cached in ``benchmarks/.cache``).
Timed, each once per ``--repeat`` (median), output ``--format json`` to /dev/null:

- ``sequential``: ``mcsec dissect FILES --format json`` (the default engine);
- ``dask, own cluster``: ``mcsec dissect FILES --engine dask --workers 2``: the command starts
  and closes its LocalCluster (its start-up, ~1-3 s, is in the time);
- ``dask, N worker(s)``: against a LocalCluster of N processes started beforehand
  (``--scheduler``), N = 1 and 2, for the model of docs/SCALE.md; then the peak RSS of each
  worker process (``getrusage`` in the worker, via ``client.run``), and one more run through the
  API (records consumed, not printed) for the phases' times (index, timeline, dissect).

Without ``--keys`` MIKEY is decoded, not verified (no keyring): the work is reading, flows, SIP,
MIKEY decoding and JSON.  With ``--keys`` (pcaps/keyring.toml) every I_MESSAGE is verified and
decrypted (~70 ms of ECCSI/SAKKE each) and the SRTP opened: use small ``--packets``.
Not a timed test; on a shared machine the figures are noisy (the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))
import make_captures  # noqa: E402

MCSEC = [sys.executable, "-m", "dissectors.cli", "dissect"]


def ring(files: int, packets: int, shape: str, mikey_every: int | None = None) -> list[Path]:
    """The capture of files x packets cut into files of ``packets`` (editcap -c);
    ``mikey_every``: in the mixed shape, one INVITE with MIKEY per that many packets (make_captures'
    default: 10) — an operator's probe sees far more media than key management."""
    every = f"-e{mikey_every}" if mikey_every else ""
    directory = (make_captures.CACHE
                 / f"ring-{shape}{every}-{files}x{packets}-v{make_captures.VERSION}")
    parts = sorted(directory.glob("ring_*"))
    if len(parts) == files:
        return parts
    if mikey_every:
        make_captures.MIKEY_EVERY_MIXED = mikey_every
        whole = make_captures.make_capture(shape, files * packets,
                                           out=directory.with_suffix(".pcap"))
    else:
        whole = make_captures.make_capture(shape, files * packets)
    directory.mkdir(parents=True, exist_ok=True)
    for p in parts:
        p.unlink()
    subprocess.run(["editcap", "-c", str(packets), str(whole), str(directory / "ring.pcap")],
                   check=True, capture_output=True)
    parts = sorted(directory.glob("ring_*"))
    assert len(parts) == files, parts
    return parts


def timed(args: list) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (octets) and CPU seconds of the mcsec process; stdout to
    /dev/null."""
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen([*MCSEC, *map(str, args)], stdout=null,
                                stderr=subprocess.PIPE, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        err = proc.stderr.read().decode()
        proc.stderr.close()
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0 or "Traceback" in err:
        raise SystemExit(f"mcsec failed: {' '.join(map(str, args))}\n{err}")
    return seconds, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


def _worker_peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _workers_cpu(client) -> float:
    """CPU seconds the cluster's worker processes have used so far (together)."""
    return sum(client.run(_cpu_seconds).values())


def on_cluster(n: int, parts, opts, repeat: int):
    """(median seconds, [peak RSS per worker], Report of an API run, CPU seconds of the last
    command run: its client, its workers) on a LocalCluster of n."""
    import argparse as ap

    from distributed import Client, LocalCluster

    from dissectors.cli.common import load_keyring
    from dissectors.pcap import captureset, distributed, output

    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        times = []
        for _ in range(repeat):
            before = _workers_cpu(client)
            s, _, client_cpu = timed([*parts, *opts, "--engine", "dask", "--scheduler",
                                      cluster.scheduler_address])
            times.append(s)
            cpu = (client_cpu, _workers_cpu(client) - before)
        rss = sorted(client.run(_worker_peak_rss).values())
        keys = [opts[i + 1] for i, o in enumerate(opts) if o == "--keys"]
        session = output.PacketSession(keyring=load_keyring(ap.Namespace(keys=keys or None,
                                                                          trk=None)))
        report = distributed.Report()
        before = _workers_cpu(client)
        t0 = time.perf_counter()
        n_records = sum(1 for _ in distributed.records(captureset.resolve(list(map(str, parts))),
                                                       session, client=client, report=report))
        report.phase_seconds["total"] = time.perf_counter() - t0
        report.phase_seconds["records"] = n_records
        report.phase_seconds["workers cpu"] = _workers_cpu(client) - before
    return statistics.median(times), rss, report, cpu


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a.add_argument("--files", type=int, default=20)
    a.add_argument("--packets", type=int, default=100_000, help="packets per file")
    a.add_argument("--shape", choices=make_captures.SHAPES, default="mixed")
    a.add_argument("--keys", action="store_true", help="verify/decrypt with pcaps/keyring.toml")
    a.add_argument("--mikey-every", type=int, default=None, metavar="N",
                   help="mixed shape: one INVITE with MIKEY per N packets (default 10)")
    a.add_argument("--repeat", type=int, default=1)
    args = a.parse_args(argv)
    parts = ring(args.files, args.packets, args.shape, args.mikey_every)
    opts = ["--format", "json", "--no-progress"]
    if args.keys:
        opts += ["--keys", str(ROOT / "pcaps" / "keyring.toml")]
    load = os.getloadavg()
    rows = []
    seq = [timed([*parts, *opts]) for _ in range(args.repeat)]
    seq_s = statistics.median(s for s, _, _ in seq)
    seq_cpu = statistics.median(c for _, _, c in seq)
    rows.append(("sequential", seq_s, max(r for _, r, _ in seq), None))
    own = [timed([*parts, *opts, "--engine", "dask", "--workers", "2"])
           for _ in range(args.repeat)]
    rows.append(("dask, own LocalCluster of 2", statistics.median(s for s, _, _ in own),
                 max(r for _, r, _ in own), None))
    reports, cpus = {}, {}
    for n in (1, 2):
        s, rss, report, cpus[n] = on_cluster(n, parts, opts, args.repeat)
        reports[n] = report
        rows.append((f"dask, {n} worker(s) started beforehand", s, None, rss))
    total = args.files * args.packets
    lines = [f"# `mcsec dissect` on a ring buffer: sequential vs `--engine dask`",
             "",
             f"{args.files} files x {args.packets:,} packets ({total:,}; shape `{args.shape}`"
             + (f", one MIKEY INVITE per {args.mikey_every} packets" if args.mikey_every else "")
             + f"{', keyed' if args.keys else ', no keys'}), `--format json` to /dev/null, "
             f"median of {args.repeat}; load average at start {load[0]:.1f} on "
             f"{os.cpu_count()} CPUs (a shared machine: noisy).",
             "",
             "| run | wall s | speed-up vs sequential | client peak RSS MiB | worker peak RSS MiB |",
             "|---|---:|---:|---:|---:|"]
    for name, s, client_rss, worker_rss in rows:
        lines.append(f"| {name} | {s:.1f} | {seq_s / s:.2f}x | "
                     f"{'' if client_rss is None else f'{client_rss / 2**20:.0f}'} | "
                     f"{'' if worker_rss is None else ', '.join(f'{r / 2**20:.0f}' for r in worker_rss)} |")
    lines += ["", "Phases (API run, records consumed, not printed):", "",
              "| workers | index s | timeline s | key-mgmt messages | timeline ms/message | "
              "dissect s | total s | workers CPU s | re-dissected files |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, r in reports.items():
        p = r.phase_seconds
        per = 1000 * r.timeline_seconds / r.timeline_messages if r.timeline_messages else 0
        lines.append(f"| {n} | {p.get('index', 0):.1f} | {p.get('timeline', 0):.1f} | "
                     f"{r.timeline_messages:,} | {per:.2f} | {p.get('dissect', 0):.1f} | "
                     f"{p.get('total', 0):.1f} | {p.get('workers cpu', 0):.1f} | {r.rerun} |")
    lines += ["", "CPU seconds (independent of the other load, unlike the wall times): the "
              "sequential command's, and the dask command's client and workers (last run on "
              "the cluster started beforehand). Estimate on N idle cores: the client and the "
              "workers' CPU spread over N cores, no less than the client's alone: "
              "`max((client + workers) / N, client)`.",
              "",
              "| run | client CPU s | workers CPU s | total CPU s | estimated wall s on N idle "
              "cores | estimated speed-up |",
              "|---|---:|---:|---:|---:|---:|",
              f"| sequential | {seq_cpu:.1f} | | {seq_cpu:.1f} | {seq_cpu:.1f} | 1.00x |"]
    for n, (client_cpu, workers_cpu) in cpus.items():
        est = max((client_cpu + workers_cpu) / n, client_cpu)
        lines.append(f"| dask, {n} worker(s) | {client_cpu:.1f} | {workers_cpu:.1f} | "
                     f"{client_cpu + workers_cpu:.1f} | {est:.1f} | {seq_cpu / est:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    every = f"-e{args.mikey_every}" if args.mikey_every else ""
    name = (f"dask-{args.shape}{every}-{args.files}x{args.packets}"
            f"{'-keys' if args.keys else ''}.md")
    (out / name).write_text(text)
    (out / name.replace(".md", ".json")).write_text(json.dumps(
        {"rows": rows, "phases": {n: vars(r) for n, r in reports.items()},
         "cpu": {"sequential": seq_cpu, **{f"dask {n}": c for n, c in cpus.items()}}},
        default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
