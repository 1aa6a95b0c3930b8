"""CMS throughput: mcsec decode / open against `openssl cms` on the same objects, as ratios.

Objects: seed 004's PSK S/MIME (AuthEnvelopedData, AES-128-GCM, KEK recipient), seed 003's
encrypt-then-sign (SignedData ECDSA P-256 over an EnvelopedData to an RSA-2048 key) and an
attached ECDSA SignedData.  mcsec rates come from timeit (best of repeats, one core).  OpenSSL's
per-object time is measured as (t(N2 runs) - t(N1 runs)) / (N2 - N1) of `openssl cms` minus the
same for `openssl version`, which removes most of the process start-up from the figure.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codec import cms  # noqa: E402
from codec.cms import build as B  # noqa: E402
from codec.keyring import Kek  # noqa: E402
from dissectors.keys import load_keys  # noqa: E402

OPENSSL = shutil.which("openssl")
PLAIN = b"Content-Type: text/plain\r\n\r\n" + b"All your base are belong to us.\r\n" * 8


def _rate(fn, number=200) -> float:
    return number / min(timeit.repeat(fn, number=number, repeat=3))


def _per_run(args, n1=5, n2=25) -> float:
    def t(n):
        start = time.perf_counter()
        for _ in range(n):
            subprocess.run(args, capture_output=True, check=True)
        return time.perf_counter() - start
    return (t(n2) - t(n1)) / (n2 - n1)


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    kek_id, kek = bytes.fromhex("a1b2c3d4"), bytes(range(16))
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    tmp / "r.key", "-out", tmp / "r.crt", "-subj", "/CN=r", "-days", "1"],
                   capture_output=True, check=True)
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", tmp / "e.key", "-out",
                    tmp / "e.crt", "-subj", "/CN=e", "-days", "1"], capture_output=True,
                   check=True)
    ring = load_keys([tmp / "r.key", tmp / "r.crt", tmp / "e.key", tmp / "e.crt"])
    ring.keks.append(Kek(kek_id, kek))
    psk = B.auth_envelope(PLAIN, [B.KekRecipient(kek_id, kek)])
    ets = B.encrypt_then_sign(PLAIN, [B.KeyTransRecipient(ring.certificates[0])],
                              ring.certificates[1], ring.private_keys[1])
    signed = B.sign(PLAIN, ring.certificates[1], ring.private_keys[1])
    for name, der in (("psk.der", psk), ("ets.der", ets), ("signed.der", signed)):
        (tmp / name).write_bytes(der)
    base = _per_run([OPENSSL, "version"])
    rows = []
    for label, der, ossl in (
            ("AuthEnvelopedData PSK (seed 004)", psk,
             ["cms", "-decrypt", "-inform", "DER", "-in", tmp / "psk.der", "-secretkey",
              kek.hex(), "-secretkeyid", kek_id.hex()]),
            ("SignedData ECDSA, attached", signed,
             ["cms", "-verify", "-inform", "DER", "-in", tmp / "signed.der", "-CAfile",
              tmp / "e.crt"]),
            ("encrypt-then-sign (seed 003)", ets,
             ["cms", "-verify", "-inform", "DER", "-in", tmp / "ets.der", "-CAfile",
              tmp / "e.crt"])):
        decode = _rate(lambda: cms.decode(der))
        opened = _rate(lambda: cms.open_layers(der, ring), number=50)
        assert cms.open_layers(der, ring).ok
        ossl_time = max(_per_run([OPENSSL, *ossl]) - base, 1e-6)
        rows.append((label, len(der), decode, opened, 1 / ossl_time))
    print(f"{'object':36} {'octets':>6} {'decode/s':>9} {'open/s':>8} {'openssl/s':>10} "
          f"{'open vs openssl':>16}")
    for label, size, decode, opened, ossl in rows:
        print(f"{label:36} {size:6d} {decode:9.0f} {opened:8.0f} {ossl:10.0f} "
              f"{opened / ossl:15.2f}x")
    print(f"(openssl start-up {base * 1000:.1f} ms per run removed)")


if __name__ == "__main__":
    main()
