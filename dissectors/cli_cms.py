"""`mcsec cms …` subcommands (issue 5). register() adds them to the main parser."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add the `cms` command to the `mcsec` parser."""
    return None
