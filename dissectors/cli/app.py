"""The ``mcsec`` command line: the parser and main().  Each command lives in its own module of
dissectors/cli/ with a ``register(sub)`` that adds its sub-parser; helpers shared by several
commands are in common.py, option types and the one error-to-exit mapping (``run``) in options.py.

Exit codes: 0 success, 1 the input does not decode (message on stderr with field path and
offset), 2 usage error (or an unusable key file), 3 a signature or MAC was checked and failed.
"""

from __future__ import annotations

import argparse
import sys

from dissectors.cli import (cms, decode, dissect, encode, export, fields, fuzz, keylog, keyring,
                            options, psk_smime, synth, uid, wireshark)
from dissectors.cli.common import apply_common_options

# in the order `mcsec --help` lists them
COMMANDS = (decode, encode, fields, uid, keyring, dissect, keylog, psk_smime, cms, synth, fuzz,
            wireshark, export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcsec", description="MCPTT security signalling codec "
                                                               "and dissector (MIKEY, MIKEY-SAKKE, "
                                                               "MIKEY-TICKET, S/MIME CMS).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        apply_common_options(args)
    except ValueError as e:
        parser.error(str(e))
    return options.run(args.func, args)  # errors -> message and exit status, never a traceback


if __name__ == "__main__":
    sys.exit(main())
