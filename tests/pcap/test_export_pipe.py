"""`mcsec export -` reads the capture from standard input (issue 18 item 3): the file it writes
equals the export of the same capture read from its file, octet for octet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MCSEC = [sys.executable, "-m", "dissectors.cli"]
KEYS = ["--keys", "pcaps/keyring.toml", "--keys", "pcaps/smime-keys.pem"]
CASES = {  # media replaced (IPv4, IPv6), a TLS key log into the DSB, a TLS-PSK learnt from MIKEY
    "private-call": [], "group-call": [], "sip-tls": ["--tls-keylog", "pcaps/sip-tls.keylog"],
    "psk-smime": [],
}


def _export(capture: str, extra: list, out: Path, stdin: bytes | None = None):
    return subprocess.run([*MCSEC, "export", capture, *KEYS, *extra, "-o", str(out)],
                          input=stdin, capture_output=True, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("name", sorted(CASES))
def test_piped_export_equals_the_file_export(name, tmp_path):
    cap = ROOT / "pcaps" / f"{name}.pcapng"
    from_file = _export(f"pcaps/{name}.pcapng", CASES[name], tmp_path / "file.pcapng")
    piped = _export("-", CASES[name], tmp_path / "pipe.pcapng", stdin=cap.read_bytes())
    assert from_file.returncode == piped.returncode == 0, (from_file.stderr, piped.stderr)
    assert b"Traceback" not in piped.stderr
    assert (tmp_path / "pipe.pcapng").read_bytes() == (tmp_path / "file.pcapng").read_bytes()
    assert (tmp_path / "pipe.pcapng").stat().st_mode & 0o777 == 0o600


def test_piped_garbage_is_a_decode_error_and_writes_nothing(tmp_path):
    r = _export("-", [], tmp_path / "x.pcapng", stdin=b"not a capture at all\n" * 10)
    assert r.returncode == 1 and b"Traceback" not in r.stderr
    assert not (tmp_path / "x.pcapng").exists()
