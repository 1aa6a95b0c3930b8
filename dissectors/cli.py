"""The ``mcsec`` command line.

Exit codes: 0 success, 1 the input does not decode (message on stderr with field path and
offset), 2 usage error.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys

from codec import DecodeError, EncodeError
from codec import mikey
from codec.mikey import carriers, render

EXIT_OK, EXIT_DECODE, EXIT_USAGE = 0, 1, 2


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _apply_common(args) -> None:
    if getattr(args, "tls_prot_type", None) is not None:
        mikey.set_tls_prot_type(args.tls_prot_type)


def cmd_decode(args) -> int:
    try:
        raw = _read_input(args.input)
    except OSError as e:
        print(f"mcsec: cannot read {args.input}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        blobs = carriers.mikey_messages(raw, args.input_form)
    except DecodeError as e:
        print(f"mcsec: {e}", file=sys.stderr)
        return EXIT_DECODE
    status = EXIT_OK
    records, texts = [], []
    for i, blob in enumerate(blobs):
        where = f"message {i + 1}: " if len(blobs) > 1 else ""
        try:
            msg = mikey.decode(blob, strict=args.strict)
        except DecodeError as e:
            print(f"mcsec: {where}decode error: {e}", file=sys.stderr)
            status = EXIT_DECODE
            if e.partial is None:
                continue
            msg = e.partial
            msg.findings.append(mikey.Finding(e.path, e.offset, f"DECODE ERROR: {e.reason}"))
        if args.format == "json":
            records.append(render.to_json(msg, show_secrets=args.show_secrets))
        else:
            texts.append(render.to_text(msg, show_secrets=args.show_secrets))
    if args.format == "json":
        doc = records[0] if len(records) == 1 and len(blobs) == 1 else records
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("\n".join(texts))
    return status


def cmd_encode(args) -> int:
    try:
        with (sys.stdin if args.from_json == "-" else open(args.from_json)) as f:
            doc = json.load(f)
    except OSError as e:
        print(f"mcsec: cannot read {args.from_json}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    except json.JSONDecodeError as e:
        print(f"mcsec: {args.from_json} is not JSON: {e}", file=sys.stderr)
        return EXIT_DECODE
    docs = doc if isinstance(doc, list) else [doc]
    outputs = []
    for d in docs:
        try:
            outputs.append(mikey.encode(render.from_json(d)))
        except (render.JsonError, EncodeError) as e:
            print(f"mcsec: {e}", file=sys.stderr)
            return EXIT_DECODE
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


def cmd_fields(args) -> int:
    from codec.mikey import fieldtable

    sys.stdout.write(fieldtable.markdown() if args.format == "markdown" else fieldtable.tsv())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mcsec", description="MCPTT security signalling codec and "
                                                          "dissector (MIKEY, MIKEY-SAKKE, "
                                                          "MIKEY-TICKET, S/MIME CMS).")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    d = sub.add_parser("decode", help="decode one MIKEY message (or every a=key-mgmt:mikey of an SDP)",
                       description="Decode MIKEY given as raw octets, hex, base64 or SDP.")
    d.add_argument("input", nargs="?", default="-", metavar="INPUT",
                   help="file to read, or - for standard input (default)")
    d.add_argument("--in", dest="input_form", choices=carriers.FORMS, default="auto",
                   help="input form (default: auto-detect)")
    d.add_argument("--format", choices=("text", "json"), default="text",
                   help="text tree like tshark -V, or JSON keyed by Wireshark field names")
    d.add_argument("--strict", action="store_true",
                   help="treat octets after the last payload as an error")
    d.add_argument("--show-secrets", action="store_true",
                   help="show key material (hidden by default)")
    d.add_argument("--tls-prot-type", type=int, metavar="N",
                   help=f"Prot type number meaning TLS (seed 004 Annex X; default "
                        f"{mikey.DEFAULT_TLS_PROT_TYPE})")
    d.set_defaults(func=cmd_decode)

    e = sub.add_parser("encode", help="encode a MIKEY message from the JSON that decode prints",
                       description="Encode the JSON of `mcsec decode --format json` back to octets.")
    e.add_argument("--from-json", required=True, metavar="FILE", help="JSON file, or - for stdin")
    e.add_argument("--out", choices=("raw", "hex", "base64"), default="hex",
                   help="output form (default: hex)")
    e.add_argument("--tls-prot-type", type=int, metavar="N",
                   help="Prot type number meaning TLS (seed 004 Annex X)")
    e.set_defaults(func=cmd_encode)

    f = sub.add_parser("fields", help="list the JSON field names (like tshark -G fields)",
                       description="List every MIKEY JSON field name, derived from the schemas.")
    f.add_argument("--format", choices=("tsv", "markdown"), default="tsv")
    f.set_defaults(func=cmd_fields)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _apply_common(args)
    except ValueError as e:
        parser.error(str(e))
    try:
        return args.func(args)
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
