"""Helpers shared by several `mcsec` commands: reading an input, the keyring of --keys, the
captures named on the command line."""

from __future__ import annotations

import sys

from codec import mikey
from dissectors.cli.options import EXIT_USAGE


def read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def apply_common_options(args) -> None:
    if getattr(args, "tls_prot_type", None) is not None:
        mikey.check_tls_prot_type(args.tls_prot_type)  # passed on by decode; ValueError: usage


def load_keyring(args):
    """The keyring of --keys (None without keys); usage errors are reported and exit 2."""
    if not getattr(args, "keys", None):
        return None
    from codec.keyring import KeyringError
    from codec.kms import KmsXmlError
    from dissectors.keys import load_keys

    trk = bytes.fromhex(args.trk) if getattr(args, "trk", None) else None
    try:
        return load_keys(args.keys, transport_key=trk)
    except (KeyringError, KmsXmlError) as e:
        print(f"mcsec: --keys: {e}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def resolve_captures(args) -> int | None:
    """CAPTURE... (files, directories, globs) -> ``args.capture``: a path, "-" or a
    :class:`dissectors.pcap.captureset.CaptureSet`; a usage error (message) -> EXIT_USAGE."""
    from dissectors.pcap.captureset import CaptureSetError, resolve

    try:
        args.capture = resolve(args.capture)
    except CaptureSetError as e:
        print(f"mcsec: {e}", file=sys.stderr)
        return EXIT_USAGE
    return None
