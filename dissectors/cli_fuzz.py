"""`mcsec fuzz …` subcommands. register() adds them to the main parser."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add the `fuzz` command(s) to the `mcsec` parser (none yet)."""
    return None
