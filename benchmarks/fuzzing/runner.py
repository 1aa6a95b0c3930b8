"""The fuzz campaign's harness: runs one target on deterministic inputs with a time bound per
input (re-run once when slow), a watchdog for hangs, sampled tracemalloc peaks and RSS growth;
saves each distinct finding; prints the campaign table (docs/FUZZING.md).  Also the
coverage-guided mode with atheris.
"""

from __future__ import annotations

import gc
import hashlib
import os
import random
import resource
import signal
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.fuzzing.cli_runner import CLI_TARGETS, make_cli_targets
from benchmarks.fuzzing.corpus import load_corpus
from benchmarks.fuzzing.targets import TARGETS, Invariant, Target, finding_site, make_targets


class Hang(BaseException):
    """Raised by the watchdog: an input ran longer than --hang-seconds."""


@dataclass
class Result:
    target: str
    inputs: int = 0
    typed_errors: int = 0
    unexpected: int = 0
    hangs: int = 0
    slow: int = 0  # over slow_ms twice
    known: int = 0  # inputs that trigger an already recorded finding: generated, not run
    max_ms: float = 0.0  # slowest input (first run)
    max_ms_confirmed: float = 0.0  # slowest input, min of two runs when it was re-run
    mean_us: float = 0.0
    peak_kib: float = 0.0  # tracemalloc peak of one input (sampled inputs)
    traced: int = 0
    rss_growth_kib: int = 0
    seconds: float = 0.0
    max_input: int = 0
    crashes: dict = field(default_factory=dict)  # site -> {type, message, sha256, count, file}
    slow_inputs: list = field(default_factory=list)


def _rss_kib() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _on_alarm(signum, frame):
    raise Hang()


def run_target(t: Target, seed: int, inputs: int, seconds: float, *, slow_ms: float = 100.0,
               hang_seconds: float = 10.0, trace_every: int = 500, save_dir: Path | None = None,
               warmup: int = 200, progress=None) -> Result:
    rng = random.Random(f"{seed}:{t.name}")
    res = Result(t.name)
    if t.slow_ms:
        slow_ms = max(slow_ms, t.slow_ms)
    if t.hang_seconds and hang_seconds > 0:
        hang_seconds = max(hang_seconds, t.hang_seconds)
    clock = t.clock
    use_alarm = hang_seconds > 0 and hasattr(signal, "setitimer")
    if use_alarm:
        old = signal.signal(signal.SIGALRM, _on_alarm)
    for seed_input in t.seeds:  # warm up: lazy compilation and caches are not what we time
        try:
            t.run(seed_input)
        except Exception:  # noqa: BLE001
            pass
    total_ns = 0
    start = time.monotonic()
    rss0 = None
    try:
        while res.inputs < inputs and time.monotonic() - start < seconds:
            data = t.generate(rng)
            if t.known is not None and t.known(data):
                res.known += 1  # counted, not run: see docs/FUZZING.md
                continue
            res.inputs += 1
            res.max_input = max(res.max_input, len(data))
            traced = trace_every and res.inputs % trace_every == 0
            if traced:
                tracemalloc.start()
                tracemalloc.reset_peak()
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, hang_seconds)
            t0 = clock()
            exc = None
            try:
                t.run(data)
            except t.allowed:
                res.typed_errors += 1
            except Hang as e:
                exc = e
            except Exception as e:  # noqa: BLE001 - this is what we are looking for
                exc = e
            finally:
                dt = clock() - t0
                if use_alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                if traced:
                    res.peak_kib = max(res.peak_kib, tracemalloc.get_traced_memory()[1] / 1024)
                    tracemalloc.stop()
                    res.traced += 1
            total_ns += dt
            ms = dt / 1e6
            res.max_ms = max(res.max_ms, ms)
            if ms > slow_ms and exc is None:
                if ms < 10 * slow_ms:  # re-run once: GC pauses and scheduling are noise
                    t1 = clock()
                    try:
                        t.run(data)
                    except Exception:  # noqa: BLE001
                        pass
                    ms = min(ms, (clock() - t1) / 1e6)
                if ms > slow_ms:
                    res.slow += 1
                    if len(res.slow_inputs) < 5:
                        res.slow_inputs.append({"ms": round(ms, 1), "len": len(data),
                                                "sha256": hashlib.sha256(data).hexdigest()})
                        if save_dir:
                            save_dir.mkdir(parents=True, exist_ok=True)
                            (save_dir / f"{t.name}__slow__{hashlib.sha256(data).hexdigest()[:12]}.{t.ext}").write_bytes(data)
            res.max_ms_confirmed = max(res.max_ms_confirmed, ms)
            if exc is not None:
                if isinstance(exc, Hang):
                    res.hangs += 1
                    site = "Hang"
                else:
                    res.unexpected += 1
                    site = finding_site(exc)
                rec = res.crashes.get(site)
                if rec is None:
                    sha = hashlib.sha256(data).hexdigest()
                    rec = {"type": type(exc).__name__, "message": str(exc)[:300], "sha256": sha,
                           "count": 0, "len": len(data)}
                    if save_dir:
                        save_dir.mkdir(parents=True, exist_ok=True)
                        p = save_dir / f"{t.name}__{sha[:12]}.{t.ext}"
                        p.write_bytes(data)
                        rec["file"] = str(p)
                    res.crashes[site] = rec
                rec["count"] += 1
            if res.inputs == warmup:
                gc.collect()
                rss0 = _rss_kib()
            if progress and res.inputs % 20000 == 0:
                progress(res)
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    gc.collect()
    if rss0 is not None:
        res.rss_growth_kib = _rss_kib() - rss0
    res.seconds = time.monotonic() - start
    res.mean_us = total_ns / max(res.inputs, 1) / 1000
    return res


def table(results) -> str:
    head = ("target", "inputs", "known F (not run)", "typed err", "unexpected", "hangs", "slow>100ms", "max ms",
            "max ms (re-run)", "mean µs", "peak KiB/input", "RSS growth KiB", "s")
    rows = [head]
    for r in results:
        rows.append((r.target, f"{r.inputs:,}", f"{r.known:,}", f"{r.typed_errors:,}", str(r.unexpected),
                     str(r.hangs), str(r.slow), f"{r.max_ms:.1f}", f"{r.max_ms_confirmed:.1f}",
                     f"{r.mean_us:.0f}", f"{r.peak_kib:,.0f}", f"{r.rss_growth_kib:,}",
                     f"{r.seconds:.0f}"))
    tot = sum(r.inputs for r in results)
    rows.append(("TOTAL", f"{tot:,}", f"{sum(r.known for r in results):,}", f"{sum(r.typed_errors for r in results):,}",
                 str(sum(r.unexpected for r in results)), str(sum(r.hangs for r in results)),
                 str(sum(r.slow for r in results)), f"{max((r.max_ms for r in results), default=0):.1f}",
                 f"{max((r.max_ms_confirmed for r in results), default=0):.1f}", "",
                 f"{max((r.peak_kib for r in results), default=0):,.0f}",
                 f"{max((r.rss_growth_kib for r in results), default=0):,}",
                 f"{sum(r.seconds for r in results):.0f}"))
    w = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(row)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (x + 2) for x in w) + "|")
    return "\n".join(lines)


def campaign(targets=TARGETS, seed: int = 1, inputs: int = 10_000, seconds: float = 60.0,
             save_dir: Path | None = None, slow_ms: float = 100.0, hang_seconds: float = 10.0,
             trace_every: int = 500, struct_pool: int = 2000, progress=None) -> list:
    """Run the campaign; ``seconds`` is the whole budget, split evenly over ``targets``."""
    corpus = load_corpus()
    all_targets = make_targets(corpus, seed, struct_pool)
    if any(name in CLI_TARGETS for name in targets):
        all_targets.update(make_cli_targets(corpus, seed, min(struct_pool, 300)))
    results = []
    share = seconds / max(len(targets), 1)
    for name in targets:
        results.append(run_target(all_targets[name], seed, inputs, share, slow_ms=slow_ms,
                                  hang_seconds=hang_seconds, trace_every=trace_every,
                                  save_dir=save_dir, progress=progress))
    return results


def atheris_mikey(seconds: int, workdir: Path) -> int:
    """Coverage-guided fuzzing of codec.mikey.decode with atheris/libFuzzer, when atheris is
    installed (``pip install atheris``; not a dependency of mcsec).  The seed corpus is the MIKEY
    messages of pcaps/; libFuzzer keeps what it finds new in ``workdir``/corpus."""
    try:
        import atheris
    except ImportError:
        print("atheris is not installed: pip install atheris", file=sys.stderr)
        return 2
    corpus_dir = workdir / "corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for m in load_corpus().mikey:
        (corpus_dir / hashlib.sha256(m).hexdigest()[:16]).write_bytes(m)
    with atheris.instrument_imports():
        import codec.mikey.message  # noqa: F401
        import codec.mikey.model  # noqa: F401
        import construct  # noqa: F401
    from codec import DecodeError
    from codec import mikey

    def one(data: bytes):
        try:
            msg = mikey.decode(data)
        except DecodeError:
            return
        if mikey.encode(msg) != data:
            raise Invariant("decoded message does not re-encode to the same octets")

    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", "-timeout=1",
                   "-rss_limit_mb=2048", "-print_final_stats=1",
                   f"-artifact_prefix={workdir}/", str(corpus_dir)], one)
    atheris.Fuzz()
    return 0
