"""Fuzz campaign against mcsec's own decoders (issue 9 item 4).

    .venv/bin/python benchmarks/fuzz_campaign.py --seed 1 --inputs 100000 --seconds 600
    .venv/bin/python benchmarks/fuzz_campaign.py --targets mikey.raw,pcap --seed 2 --json out.json

Every target is fed deterministic mutants (``--seed``) of the sample inputs in ``pcaps/``; the
documented outcome for any input is a result or the target's typed error:

=============== ======================================================= ==========================
target          what is called                                          allowed exceptions
=============== ======================================================= ==========================
mikey.raw       codec.mikey.decode on byte mutants / random octets;     codec.DecodeError
                what decodes must re-encode to the same octets
mikey.struct    codec.mikey.decode on dissectors.fuzz.mutators.Mutator mutants   codec.DecodeError
                (all 14 mutation classes), stacked with byte mutations
cms.decode      codec.cms.decode on DER-aware mutants / random octets   codec.DecodeError
cms.open        codec.cms.open_layers(der, keyring of pcaps/)           DecodeError, cms.CmsError
mime            codec.mime.parse + find_smime on mutated SIP messages   codec.DecodeError
sip.framer      codec.sip.StreamFramer fed mutated SIP streams in       (none)
                random chunks
sdp             codec.sdp.key_mgmt_attributes (+ mikey.decode of each)  codec.DecodeError
kms             codec.kms.parse(xml, transport key)                     codec.kms.KmsXmlError
pcap            dissectors.pcap.capture.read_frames + flows.flow_events on   (none: CaptureFault
                mutated pcapng / pcap files (io.BytesIO)                records are results)
=============== ======================================================= ==========================

Per input the harness measures wall time (an input over ``--slow-ms`` is re-run once; it counts
as slow only if it is slow again), a watchdog (``--hang-seconds``) turns a hang into a finding,
and every ``--trace-every``-th input runs under tracemalloc to measure its peak allocation.
RSS growth of the process over each target (after a warm-up) shows leaks.  The table printed at
the end is the campaign's record (docs/FUZZING.md).  Inputs that raise anything else are saved
under ``--save-dir`` (one per distinct exception site) for tests/regressions/.

This file is the entry point; the harness is the package ``benchmarks/fuzzing/``: ``corpus``
(seeds from pcaps/), ``mutate`` (mutators), ``targets`` (the table above), ``cli_corpus``,
``cli_cases`` and ``cli_runner`` (the ``cli`` target), ``runner`` (the campaign).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.fuzzing.cli_runner import ALL_TARGETS, replay_cli  # noqa: E402
from benchmarks.fuzzing.runner import atheris_mikey, campaign, table  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--inputs", type=int, default=200_000, help="at most this many per target")
    ap.add_argument("--seconds", type=float, default=1800.0,
                    help="time budget of the whole run, split evenly over the targets")
    ap.add_argument("--targets", default=",".join(ALL_TARGETS),
                    help="comma-separated; default all: " + ",".join(ALL_TARGETS))
    ap.add_argument("--slow-ms", type=float, default=100.0)
    ap.add_argument("--hang-seconds", type=float, default=10.0)
    ap.add_argument("--trace-every", type=int, default=500,
                    help="run every Nth input under tracemalloc (0: never)")
    ap.add_argument("--struct-pool", type=int, default=2000,
                    help="dissectors.fuzz.mutators mutants generated for mikey.struct")
    ap.add_argument("--save-dir", type=Path, default=Path("fuzz-findings"),
                    help="where inputs that raise unexpected exceptions are written")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--atheris", type=int, metavar="SECONDS",
                    help="instead: coverage-guided fuzzing of codec.mikey.decode with atheris")
    ap.add_argument("--atheris-dir", type=Path, default=Path("out/atheris"))
    ap.add_argument("--memory-limit-mb", type=int, default=4096,
                    help="address-space limit of this process (RLIMIT_AS; 0: none): an input "
                         "that needs more fails with MemoryError, a finding, instead of "
                         "calling the OOM killer onto the machine (default 4096)")
    ap.add_argument("--replay", nargs="+", type=Path, metavar="CASE",
                    help="instead: run saved cli cases (JSON) and report what each does")
    a = ap.parse_args(argv)
    if a.memory_limit_mb > 0:
        limit = a.memory_limit_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if a.atheris:
        return atheris_mikey(a.atheris, a.atheris_dir)
    if a.replay:
        return replay_cli(a.replay)
    names = [x.strip() for x in a.targets.split(",") if x.strip()]
    bad = [x for x in names if x not in ALL_TARGETS]
    if bad:
        ap.error(f"unknown target(s) {bad}; choose from {', '.join(ALL_TARGETS)}")

    def progress(r):
        if not a.quiet:
            print(f"  {r.target}: {r.inputs:,} inputs, {r.unexpected} unexpected", flush=True,
                  file=sys.stderr)

    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results = campaign(names, a.seed, a.inputs, a.seconds, a.save_dir, a.slow_ms,
                       a.hang_seconds, a.trace_every, a.struct_pool, progress)
    print(f"mcsec fuzz campaign: seed {a.seed}, started {started}, python "
          f"{platform.python_version()}, {platform.machine()} {os.cpu_count()} CPU(s)")
    print(table(results))
    for r in results:
        for site, rec in r.crashes.items():
            print(f"{r.target}: {site} x{rec['count']}: {rec['type']}: {rec['message']} "
                  f"(input {rec['sha256'][:12]}, {rec['len']} octets{', ' + rec['file'] if rec.get('file') else ''})")
        for s in r.slow_inputs:
            print(f"{r.target}: slow input {s}")
    if a.json:
        a.json.write_text(json.dumps({"seed": a.seed, "started": started,
                                      "machine": platform.platform(),
                                      "results": [r.__dict__ for r in results]}, indent=1))
    return 1 if any(r.unexpected or r.hangs or r.slow for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
