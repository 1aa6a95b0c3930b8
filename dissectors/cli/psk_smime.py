"""`mcsec psk-smime`: open seed 004 PSK S/MIME SIP MESSAGEs (key from the MIKEY-TICKET
TRANSFER_INIT they carry)."""

from __future__ import annotations

import argparse
import json
import sys

from dissectors.cli import options as cliopts
from dissectors.cli.common import load_keyring, read_input
from dissectors.cli.options import EXIT_CHECK, EXIT_DECODE, EXIT_OK


def cmd_psk_smime(args) -> int:
    """Open seed 004 PSK S/MIME SIP MESSAGEs (or MIME entities)."""
    from codec import psk_smime
    from codec.mikey.ticket import ReplayCache

    keyring = load_keyring(args)
    if keyring is None:
        from codec.keyring import Keyring

        keyring = Keyring()
    cache = ReplayCache(args.replay_cache_size)
    status = EXIT_OK
    for path in args.inputs:
        data = read_input(path)
        res = psk_smime.open_message(data, keyring, cache)
        tr = res.transfer
        report = {
            "input": path, "ok": res.ok, "error": res.error,
            "transfer_init_verified": None if tr is None else tr.verified,
            "ticket_verified": None if tr is None or tr.ticket is None else tr.ticket.verified,
            "kek_id": None if res.kek_id is None else res.kek_id.hex(),
            "proof_of_origin": res.proof_of_origin, "replay": res.replay, "notes": res.notes,
        }
        if args.format == "json":
            print(json.dumps(report))
        else:
            for k, v in report.items():
                if v not in (None, [], ""):
                    print(f"{k}: {v}", file=sys.stderr if args.out == "-" else sys.stdout)
        if not res.ok:
            # a MAC that fails: 3, as decode --keys and cms open; anything else did not decode: 1
            failed = False in (report["transfer_init_verified"], report["ticket_verified"],
                               res.proof_of_origin)
            if status != EXIT_DECODE:  # an input that does not decode (1) comes first
                status = EXIT_CHECK if failed else EXIT_DECODE
            continue
        if args.out == "-":
            if args.format != "json":
                sys.stdout.buffer.write(res.content)
        else:
            from dissectors.safefile import write_secret

            write_secret(args.out, res.content)  # a user's message: 0600
    return status


def register(sub) -> None:
    """Add the `psk-smime` command to the `mcsec` parser."""
    ps = sub.add_parser("psk-smime", help="open seed 004 PSK S/MIME SIP MESSAGEs",
                        description="Recover the key from the MIKEY-TICKET TRANSFER_INIT of a SIP "
                                    "MESSAGE and decrypt/authenticate its S/MIME body (seed 004).")
    ps.add_argument("inputs", nargs="+", metavar="FILE", help="SIP MESSAGE or MIME entity")
    ps.add_argument("--keys", action="append", metavar="FILE", help="keyring (repeatable)")
    ps.add_argument("--trk", metavar="HEX", type=cliopts.transport_key_hex, help=argparse.SUPPRESS)
    ps.add_argument("--out", default="-", metavar="FILE",
                    help="where the decrypted MIME entity goes (default: stdout)")
    ps.add_argument("--format", choices=("text", "json"), default="text")
    ps.add_argument("--replay-cache-size", type=cliopts.positive_int, default=1024, metavar="N")
    ps.set_defaults(func=cmd_psk_smime)
