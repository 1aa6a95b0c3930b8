"""`mcsec synth …` subcommands. register() adds them to the main parser."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add the `synth` command(s) to the `mcsec` parser (none yet)."""
    return None
