"""`mcsec encode`: the JSON of `mcsec decode --format json` back to MIKEY octets."""

from __future__ import annotations

import base64
import json
import sys

from codec import EncodeError
from codec import mikey
from codec.mikey import render
from dissectors.cli.options import EXIT_OK, InputError, UsageError


def cmd_encode(args) -> int:
    try:
        with (sys.stdin if args.from_json == "-" else open(args.from_json)) as f:
            doc = json.load(f)
    except OSError as e:
        raise UsageError(f"cannot read {args.from_json}: {e.strerror}") from None
    except ValueError as e:  # not JSON, not UTF-8, or an integer of more than 4,300 digits
        raise InputError(f"{args.from_json} is not JSON mcsec can read: {e}") from None
    except RecursionError:
        raise InputError(f"{args.from_json}: JSON nested too deeply") from None
    docs = doc if isinstance(doc, list) else [doc]
    outputs = []
    for d in docs:
        try:
            outputs.append(mikey.encode(render.from_json(d)))
        except (render.JsonError, EncodeError) as e:
            raise InputError(str(e)) from None
    out = sys.stdout.buffer
    for data in outputs:
        if args.out == "raw":
            out.write(data)
        elif args.out == "hex":
            out.write(data.hex().encode() + b"\n")
        else:
            out.write(base64.b64encode(data) + b"\n")
    out.flush()
    return EXIT_OK


def register(sub) -> None:
    """Add the `encode` command to the `mcsec` parser."""
    e = sub.add_parser("encode", help="encode a MIKEY message from the JSON that decode prints",
                       description="Encode the JSON of `mcsec decode --format json` back to octets.")
    e.add_argument("--from-json", required=True, metavar="FILE", help="JSON file, or - for stdin")
    e.add_argument("--out", choices=("raw", "hex", "base64"), default="hex",
                   help="output form (default: hex)")
    e.add_argument("--tls-prot-type", type=int, metavar="N",
                   help="Prot type number meaning TLS (seed 004 Annex X)")
    e.set_defaults(func=cmd_encode)
