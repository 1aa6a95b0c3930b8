"""Decrypted CMS content is a user's message: `mcsec dissect` shows it only with --show-secrets,
in every output mode (issue 15), as it does for MSRP text.  Oracle: OpenSSL decrypts the bundled
sign-then-encrypt message (smime.pcapng frame 9) with the KEK of the keyring, and
``openssl asn1parse`` locates the eContent octets in what it decrypted."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PCAPS = REPO / "pcaps"
MCSEC = str(Path(sys.executable).parent / "mcsec")
KEYS = ["--keys", str(PCAPS / "keyring.toml"), "--keys", str(PCAPS / "smime-keys.pem")]


@pytest.fixture(scope="module")
def message(tmp_path_factory) -> bytes:
    """The eContent of the SignedData inside frame 9's EnvelopedData, as OpenSSL finds it."""
    openssl = shutil.which("openssl")
    assert openssl, "openssl is the oracle of this test"
    tmp = tmp_path_factory.mktemp("cms")
    manifest = json.loads((PCAPS / "manifest.json").read_text())
    entry, = [e for e in manifest["entries"] if e["capture"] == "smime.pcapng" and e["frame"] == 9]
    (tmp / "enveloped.der").write_bytes(bytes.fromhex(entry["cms"]))
    kek = re.search(r'\[\[kek\]\]\s*id = "([0-9a-f]+)"\s*key = "([0-9a-f]+)"',
                    (PCAPS / "keyring.toml").read_text())
    subprocess.run([openssl, "cms", "-decrypt", "-inform", "DER", "-in", tmp / "enveloped.der",
                    "-secretkeyid", kek.group(1), "-secretkey", kek.group(2), "-binary",
                    "-out", tmp / "inner.der"], check=True, capture_output=True)
    inner = (tmp / "inner.der").read_bytes()
    listing = subprocess.run([openssl, "asn1parse", "-inform", "DER", "-in", tmp / "inner.der"],
                             check=True, capture_output=True, text=True).stdout
    m = re.search(r"^\s*(\d+):d=\d+\s+hl=(\d+)\s+l=\s*(\d+) prim: OCTET STRING", listing, re.M)
    off, hl, length = map(int, m.groups())
    content = inner[off + hl:off + hl + length]
    assert b"sign then encrypt" in content
    return content


MODES = [["--format", "text"], ["--format", "json"], ["--format", "jsonl-records"], ["--brief"],
         ["--format", "json", "--brief"], ["--format", "jsonl-records", "--brief"],
         ["--stats"]]


def _dissect(*extra) -> str:
    r = subprocess.run([MCSEC, "dissect", str(PCAPS / "smime.pcapng"), *KEYS, "--no-progress",
                        "--workers", "1", *extra], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return r.stdout + r.stderr


def _leaks(out: str, content: bytes) -> bool:
    return (content.hex() in out.lower() or "sign then encrypt" in out
            or content.decode().replace("\r\n", "\n")[:60] in out.replace("\r\n", "\n"))


@pytest.mark.parametrize("mode", MODES, ids=" ".join)
def test_decrypted_content_hidden_without_show_secrets(message, mode):
    out = _dissect(*mode)
    assert not _leaks(out, message)


@pytest.mark.parametrize("mode", [["--format", "json"], ["--format", "jsonl-records"]], ids=" ".join)
def test_decrypted_content_shown_with_show_secrets(message, mode):
    out = _dissect("--show-secrets", *mode)
    assert message.hex() in out
    hidden = _dissect(*mode)
    # the decrypted layer is still reported, its content replaced by a note giving its size
    assert '"cms.layer.via": "decrypted"' in hidden
    assert f"<{len(message)} octets decrypted; --show-secrets>" in hidden


def test_cms_open_out_still_writes_the_content(message, tmp_path):
    der = tmp_path / "m.der"
    manifest = json.loads((PCAPS / "manifest.json").read_text())
    entry, = [e for e in manifest["entries"] if e["capture"] == "smime.pcapng" and e["frame"] == 9]
    der.write_bytes(bytes.fromhex(entry["cms"]))
    r = subprocess.run([MCSEC, "cms", "open", str(der), *KEYS, "--out", str(tmp_path / "msg")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "msg").read_bytes() == message
