"""Read key files for `--keys`: keyring TOML, KMS XML documents, PEM/DER keys and certificates.

The file contents go to the I/O-free parsers of codec.keyring / codec.kms; nothing read here is
ever printed or logged (error messages name the file, never its contents).
"""

from __future__ import annotations

import os
from pathlib import Path

from codec import keyring as codec_keyring

PASSWORD_ENV = "MCSEC_KEYS_PASSWORD"  # password of encrypted PEM/DER private keys
MAX_KEY_FILE = 16 * 1024 * 1024  # octets: a key file is small; refuse before reading more


def sniff(data: bytes) -> str:
    head = data.lstrip()[:200]
    if head.startswith(b"-----BEGIN") or b"-----BEGIN" in data[:4096]:
        return "pem"
    if head.startswith(b"<"):
        return "xml"
    if head[:1] == b"\x30":  # DER SEQUENCE
        return "der"
    return "toml"


def load_keys(paths, transport_key: bytes | None = None,
              password: bytes | None = None) -> codec_keyring.Keyring:
    """One keyring from every file in ``paths`` (repeatable --keys).

    Encrypted private keys use ``password``, else the environment variable
    ``MCSEC_KEYS_PASSWORD`` (never a command-line argument: it would show in process lists)."""
    if password is None and os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV].encode()
    ring = codec_keyring.Keyring()
    for p in paths:
        path = Path(p)
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_KEY_FILE + 1)
        except OSError as e:
            raise codec_keyring.KeyringError(f"{p}: cannot read: {e.strerror}") from None
        if len(data) > MAX_KEY_FILE:
            raise codec_keyring.KeyringError(f"{p}: larger than {MAX_KEY_FILE} octets; not a key file")
        kind = sniff(data)
        if kind == "toml":
            ring.merge(codec_keyring.from_toml(data, str(p)))
        elif kind in ("pem", "der"):
            ring.merge(codec_keyring.from_pem_or_der(data, str(p), password=password))
        else:
            from codec import kms

            ring.merge(kms.keyring_from_xml(data, source=str(p), transport_key=transport_key,
                                            max_size=16 * 1024 * 1024))  # the user's own file
    return ring
