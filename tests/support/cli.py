"""Shared test helpers: running ``mcsec`` as a process, loading the fuzz campaign harness."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def mcsec(*args, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m dissectors.cli ARGS`` from the repository root; never a traceback, and exit 0
    unless ``check`` is false."""
    proc = subprocess.run([sys.executable, "-m", "dissectors.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def fuzz_harness():
    """``benchmarks/fuzz_campaign.py`` as a module (loaded once per process)."""
    if "fuzz_campaign" in sys.modules:
        return sys.modules["fuzz_campaign"]
    spec = importlib.util.spec_from_file_location("fuzz_campaign",
                                                  ROOT / "benchmarks" / "fuzz_campaign.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_campaign"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod
