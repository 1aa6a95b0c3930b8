"""The mcsec command line: one module per command; app.py holds the parser and main()."""

from dissectors.cli.app import main

__all__ = ["main"]
