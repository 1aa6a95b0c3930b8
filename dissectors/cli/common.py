"""Helpers shared by several `mcsec` commands: reading an input, the keyring of --keys, the
captures named on the command line."""

from __future__ import annotations

import sys

from codec import mikey
from dissectors.cli.options import UsageError


def read_input(path: str) -> bytes:
    """The octets of ``path`` (``-``: standard input); UsageError when it cannot be read."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None


def apply_common_options(args) -> None:
    """Checks of options several commands share, made before any command runs (ValueError)."""
    if getattr(args, "tls_prot_type", None) is not None:
        mikey.check_tls_prot_type(args.tls_prot_type)  # passed on by decode; ValueError: usage


def load_keyring(args):
    """The keyring of --keys (None without keys); UsageError for a key file that does not load."""
    if not getattr(args, "keys", None):
        return None
    from codec.keyring import KeyringError
    from codec.kms import KmsXmlError
    from dissectors.keys import load_keys

    trk = bytes.fromhex(args.trk) if getattr(args, "trk", None) else None
    try:
        return load_keys(args.keys, transport_key=trk)
    except (KeyringError, KmsXmlError) as e:
        raise UsageError(f"--keys: {e}") from None


def resolve_captures(args) -> None:
    """CAPTURE... (files, directories, globs) -> ``args.capture``: a path, "-" or a
    :class:`dissectors.pcap.captureset.CaptureSet`; UsageError when they name no capture."""
    from dissectors.pcap.captureset import CaptureSetError, resolve

    try:
        args.capture = resolve(args.capture)
    except CaptureSetError as e:
        raise UsageError(str(e)) from None
