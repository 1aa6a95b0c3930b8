"""`mcsec fields`: every MIKEY JSON field name, derived from the schemas (like tshark -G fields)."""

from __future__ import annotations

import sys

from dissectors.cli.options import EXIT_OK


def cmd_fields(args) -> int:
    from codec.mikey import fieldtable

    sys.stdout.write(fieldtable.markdown() if args.format == "markdown" else fieldtable.tsv())
    return EXIT_OK


def register(sub) -> None:
    """Add the `fields` command to the `mcsec` parser."""
    f = sub.add_parser("fields", help="list the JSON field names (like tshark -G fields)",
                       description="List every MIKEY JSON field name, derived from the schemas.")
    f.add_argument("--format", choices=("tsv", "markdown"), default="tsv")
    f.set_defaults(func=cmd_fields)
