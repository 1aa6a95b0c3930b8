"""Shared test helpers: running ``mcsec`` as a process."""

from __future__ import annotations

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
