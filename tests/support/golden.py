"""Golden outputs: every sample capture and message through every command and output mode.

Refactors that must not change behaviour (issue 16) are checked by recording the outputs before
and after and comparing them byte for byte:

    python -m tests.support.golden record OUT_BEFORE
    ... refactor ...
    python -m tests.support.golden record OUT_AFTER
    python -m tests.support.golden compare OUT_BEFORE OUT_AFTER

Each case runs ``mcsec`` in-process (``dissectors.cli.main``) with stdout/stderr captured; the exit
status, stdout and stderr are stored per case.  Files a command writes (``-o``) go to a temporary
directory and are stored too.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"

# the key files each sample needs (besides pcaps/keyring.toml and smime-keys.pem)
EXTRA_KEYS = {"uid-identities.pcapng": ["uid-identities.keyring.toml"]}
EXTRA_ARGS = {"sip-tls.pcapng": ["--tls-keylog", "pcaps/sip-tls.keylog"]}
DISSECT_MODES = {
    "text": [], "brief": ["--brief"], "stats": ["--stats"], "json": ["--format", "json"],
    "jsonl": ["--format", "jsonl-records"], "all": ["--format", "json", "--filter", "all"],
}


def _keys_for(capture: Path) -> list[str]:
    keys = ["--keys", "pcaps/keyring.toml", "--keys", "pcaps/smime-keys.pem"]
    for extra in EXTRA_KEYS.get(capture.name, []):
        keys += ["--keys", f"pcaps/{extra}"]
    return keys


def cases() -> dict[str, list[str]]:
    """name -> argv (paths relative to the repository root)."""
    out: dict[str, list[str]] = {}
    for cap in sorted(PCAPS.glob("*.pcapng")):
        rel = f"pcaps/{cap.name}"
        extra = EXTRA_ARGS.get(cap.name, [])
        for mode, margs in DISSECT_MODES.items():
            base = ["dissect", rel, "--no-progress", "--workers", "1", *margs, *extra]
            out[f"dissect/{cap.stem}/{mode}/nokeys"] = base
            out[f"dissect/{cap.stem}/{mode}/keys"] = base + _keys_for(cap)
            out[f"dissect/{cap.stem}/{mode}/secrets"] = base + _keys_for(cap) + ["--show-secrets"]
        out[f"keylog/{cap.stem}"] = ["keylog", rel, *_keys_for(cap), *extra, "-o", "{tmp}/keylog"]
    for msg in ("mikey-sakke-gmk.sdp", "mikey-sakke-pck.hex"):
        rel = f"pcaps/messages/{msg}"
        for fmt in ("text", "json"):
            base = ["decode", rel, "--format", fmt]
            out[f"decode/{msg}/{fmt}/nokeys"] = base
            out[f"decode/{msg}/{fmt}/keys"] = base + ["--keys", "pcaps/messages/bob.keyring.toml"]
            out[f"decode/{msg}/{fmt}/secrets"] = base + ["--keys", "pcaps/messages/bob.keyring.toml",
                                                         "--show-secrets"]
    out["fields/tsv"] = ["fields", "--format", "tsv"]
    out["wireshark/generate"] = ["wireshark", "generate", "-o", "{tmp}/mcsec.lua"]
    return out


def run_case(argv: list[str]) -> dict:
    from dissectors.cli import main
    with tempfile.TemporaryDirectory() as tmp:
        argv = [a.replace("{tmp}", tmp) for a in argv]
        out, err = io.StringIO(), io.StringIO()
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    rc = main(argv)
                except SystemExit as exc:  # argparse
                    rc = exc.code
        finally:
            os.chdir(cwd)
        files = {p.name: p.read_bytes().decode("utf-8", "backslashreplace")
                 for p in sorted(Path(tmp).iterdir()) if p.is_file()}
    def scrub(text: str) -> str:  # the temporary directory's name changes from run to run
        return text.replace(tmp, "{tmp}")
    return {"argv": argv, "rc": rc, "stdout": scrub(out.getvalue()),
            "stderr": scrub(err.getvalue()), "files": files}


def record(outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    for name, argv in cases().items():
        result = run_case(argv)
        path = outdir / (name.replace("/", "__") + ".json")
        path.write_text(json.dumps(result, indent=1, sort_keys=True))
        print(f"{result['rc']!s:>3} {name}", flush=True)


def compare(a: Path, b: Path) -> int:
    names = sorted({p.name for p in a.glob("*.json")} | {p.name for p in b.glob("*.json")})
    bad = 0
    for name in names:
        pa, pb = a / name, b / name
        if not pa.exists() or not pb.exists():
            print(f"only in {'b' if not pa.exists() else 'a'}: {name}")
            bad += 1
            continue
        ra, rb = json.loads(pa.read_text()), json.loads(pb.read_text())
        ra.pop("argv"), rb.pop("argv")
        if ra != rb:
            keys = [k for k in ra if ra[k] != rb.get(k)]
            print(f"differs: {name} ({', '.join(keys)})")
            bad += 1
    print(f"{len(names)} cases, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "record":
        record(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
