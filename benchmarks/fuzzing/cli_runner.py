"""Running ``cli`` fuzz cases in process (``dissectors.cli.main`` with a fresh directory, captured
stdout/stderr, the exit statuses the CLI documents: 0, 1, 2, 3) and replaying saved ones
(``fuzz_campaign.py --replay``).
"""

from __future__ import annotations

import io
import os
import stat
import sys
import time
from pathlib import Path

from benchmarks.fuzzing.cli_cases import CliCase, cli_case, decode_case
from benchmarks.fuzzing.cli_corpus import CLI_EXITS, CLI_HANG_SECONDS, CLI_SLOW_MS, load_cli_corpus
from benchmarks.fuzzing.corpus import PCAPS, Corpus
from benchmarks.fuzzing.targets import TARGETS, Invariant, Target, finding_site


class CliRunner:
    """Runs one case through ``dissectors.cli.main(argv)`` in this process: standard streams
    redirected (stdout encodes strictly as UTF-8, stderr with backslashreplace, as Python's own
    streams do), SystemExit caught, the working directory a scratch directory (so a relative
    path a hostile argv names is written there).  The parser is built once and reused (building
    it costs ~10 ms, more than most commands).  Raises what escapes main; raises Invariant for an
    exit status outside {0, 1, 2, 3} or a traceback printed on stderr."""

    def __init__(self, main=None, workdir: Path | None = None):
        import tempfile

        from dissectors.cli import app as cli

        self.cli = cli
        self.main = main or cli.main
        self.parser = None
        if workdir is None:  # a scratch directory of our own: removed when the process ends
            import atexit
            import shutil

            workdir = tempfile.mkdtemp(prefix="mcsec-cli-fuzz-")
            atexit.register(shutil.rmtree, workdir, True)
        self.root = Path(workdir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.last = None  # (status, stdout, stderr) of the last case

    def __call__(self, data: bytes):
        import shutil

        case = decode_case(data)
        d = self.root / "c"
        if d.exists():
            shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        for name, blob in case["files"].items():
            (d / name).write_bytes(blob)
            (d / name).chmod(0o644)
        for name, target in case["links"].items():
            os.symlink(d / target, d / name)
        argv = [x.replace("{D}", str(d)).replace("{P}", str(PCAPS)) for x in case["argv"]]
        out, err = io.BytesIO(), io.BytesIO()
        streams = (sys.stdin, sys.stdout, sys.stderr)
        (d / ".stdin").write_bytes(case["stdin"])  # a real file: some commands want fileno()
        wrappers = (open(d / ".stdin", encoding="utf-8"),
                    io.TextIOWrapper(out, encoding="utf-8", write_through=True),
                    io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace",
                                     write_through=True))
        sys.stdin, sys.stdout, sys.stderr = wrappers
        cwd = os.getcwd()
        build = self.cli.build_parser
        if self.parser is None:
            self.parser = build()
        self.cli.build_parser = lambda: self.parser
        os.chdir(d)
        try:
            try:
                status = self.main(argv)
            except SystemExit as e:
                status = e.code
        finally:
            os.chdir(cwd)
            self.cli.build_parser = build
            for w in wrappers[1:]:
                try:
                    w.flush()
                except (OSError, ValueError):
                    pass
            stdout, stderr = out.getvalue(), err.getvalue()  # before the wrappers close them
            wrappers[0].close()
            sys.stdin, sys.stdout, sys.stderr = streams
        self.last = (status, stdout, stderr)
        if status is None:
            status = 0
        elif isinstance(status, str):  # SystemExit("message"): printed, exit status 1
            status = 1
        if isinstance(status, bool) or status not in CLI_EXITS:
            raise Invariant(f"exit status {status!r} (argv {_short(case['argv'])})",
                            kind=f"exit status {status!r}"[:40])
        if b"Traceback (most recent call last)" in stderr:
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1][:200]
            raise Invariant(f"traceback on stderr: {tail} (argv {_short(case['argv'])})",
                            kind="traceback on stderr: " + tail.split(":")[0][:40])
        for name, target in case["links"].items():
            if (d / target).read_bytes() != case["files"][target]:
                raise Invariant(f"{argv[0]} wrote through the symbolic link {name} (argv "
                                f"{_short(case['argv'])})", kind=f"{argv[0]}: wrote through "
                                                                 f"a symlink")
        for name in case["secret"]:
            if "{D}/" + name not in case["argv"]:
                continue  # argv damage sent the output elsewhere
            st = os.lstat(d / name) if os.path.lexists(d / name) else None
            if status == 0 and st is not None and (stat.S_ISLNK(st.st_mode)
                                                   or stat.S_IMODE(st.st_mode) & 0o077):
                raise Invariant(f"{argv[0]} left the secret file {name} with mode "
                                f"{stat.filemode(st.st_mode)} (argv {_short(case['argv'])})",
                                kind=f"{argv[0]}: secret file readable by others")
        return status


def _short(argv, n: int = 60) -> str:
    return " ".join(x if len(x) <= n else x[:n] + f"…({len(x)})" for x in argv)


def make_cli_targets(corpus: Corpus, seed: int = 1, pool: int = 300) -> dict:
    state: dict = {}

    def cc():
        if "cc" not in state:
            state["cc"] = load_cli_corpus(corpus, seed, pool)
        return state["cc"]

    def run(data):
        if "runner" not in state:
            state["runner"] = CliRunner()
        state["runner"](data)

    def gen(rng):
        return cli_case(rng, cc())

    seeds = [CliCase() for _ in range(3)]
    seeds[0].argv = ["fields"]
    seeds[1].argv = ["decode", "{P}/messages/mikey-sakke-gmk.sdp", "--keys",
                     "{P}/messages/bob.keyring.toml"]
    seeds[2].argv = ["dissect", "{P}/malformed.pcapng", "--workers", "1", "--keys",
                     "{P}/keyring.toml"]
    return {"cli": Target("cli", (), run, gen, [s.encode() for s in seeds], slow_ms=CLI_SLOW_MS,
                          hang_seconds=CLI_HANG_SECONDS, clock=time.process_time_ns,
                          ext="json")}


CLI_TARGETS = ("cli",)
ALL_TARGETS = TARGETS + CLI_TARGETS


def replay_cli(paths) -> int:
    """Run saved CLI cases (out/fuzz-findings/cli__*.json, tests/regressions/cli/) and show what
    each does; exit 1 if any still fails."""
    runner = CliRunner()
    bad = 0
    for p in paths:
        data = Path(p).read_bytes()
        argv = _short(decode_case(data)["argv"])
        t0 = time.perf_counter()
        try:
            status = runner(data)
            print(f"ok   {p}: exit {status} in {(time.perf_counter() - t0) * 1000:.0f} ms: {argv}")
        except Exception as e:  # noqa: BLE001
            bad += 1
            print(f"FAIL {p}: {finding_site(e)}: {type(e).__name__}: {str(e)[:200]}: {argv}")
    return 1 if bad else 0
