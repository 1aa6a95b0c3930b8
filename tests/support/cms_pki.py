"""Shared fixtures of the CMS tests: fresh keys and certificates made by `openssl` at test time,
and helpers to run `openssl cms` (the independent oracle).  tests/interop/openssl/test_cms_pki.py
checks the PKI fixture itself.  A test module uses the ``pki`` fixture by importing it."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from dissectors.keys import load_keys

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
KEK_ID = "a1b2c3d4"  # e.g. a KMS key identifier (seed 002) / MIKEY-TICKET key id (seed 004)
KEKS = {16: "000102030405060708090a0b0c0d0e0f",
        24: "000102030405060708090a0b0c0d0e0f1011121314151617",
        32: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}
KEK_IDS = {16: "a1b2c3d4", 24: "a1b2c3d5", 32: "a1b2c3d6"}
PLAIN = b"Content-Type: text/plain\r\n\r\nAll your base are belong to us.\r\n"


def openssl(*args, input: bytes | None = None, check: bool = True, cwd=None):
    """Run openssl; returns CompletedProcess (stdout bytes)."""
    if not Path(OPENSSL).exists():
        pytest.fail("openssl is not installed: it is the oracle of the CMS tests")
    proc = subprocess.run([OPENSSL, *map(str, args)], input=input, capture_output=True,
                          cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"openssl {' '.join(map(str, args))} failed "
                             f"({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return proc


@dataclass
class Pki:
    dir: Path
    rsa_key: Path
    rsa_crt: Path
    ec_key: Path
    ec_crt: Path
    other_key: Path  # an RSA key/cert no object is addressed to
    other_crt: Path
    ca_crt: Path  # a CA and a leaf it issued (trust-chain tests)
    leaf_key: Path
    leaf_crt: Path
    ring_toml: Path  # the three KEKs

    def ring(self, *names):
        return load_keys([getattr(self, n) if isinstance(n, str) else n for n in names])

    def all_keys(self):
        return self.ring("ring_toml", "rsa_key", "rsa_crt", "ec_key", "ec_crt")


def _selfsigned(d: Path, name: str, newkey: list[str]):
    key, crt = d / f"{name}.key", d / f"{name}.crt"
    openssl("req", "-x509", *newkey, "-nodes", "-keyout", key, "-out", crt, "-subj",
            f"/CN={name}.mcptt.example.org", "-days", "2",
            "-addext", "subjectKeyIdentifier=hash")
    return key, crt


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    rsa_key, rsa_crt = _selfsigned(d, "server", ["-newkey", "rsa:2048"])
    ec_key, ec_crt = _selfsigned(d, "client", ["-newkey", "ec", "-pkeyopt",
                                               "ec_paramgen_curve:P-256"])
    other_key, other_crt = _selfsigned(d, "other", ["-newkey", "rsa:2048"])
    ca_key, ca_crt = _selfsigned(d, "ca", ["-newkey", "ec", "-pkeyopt",
                                           "ec_paramgen_curve:P-256"])
    leaf_key = d / "leaf.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", leaf_key)
    csr = d / "leaf.csr"
    openssl("req", "-new", "-key", leaf_key, "-subj", "/CN=leaf.mcptt.example.org", "-out", csr)
    leaf_crt = d / "leaf.crt"
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
            "-days", "2", "-out", leaf_crt)
    ring = d / "ring.toml"
    ring.write_text("".join(f'[[kek]]\nid = "{KEK_IDS[n]}"\nkey = "{KEKS[n]}"\n\n'
                            for n in (16, 24, 32)))
    return Pki(d, rsa_key, rsa_crt, ec_key, ec_crt, other_key, other_crt, ca_crt, leaf_key,
               leaf_crt, ring)
