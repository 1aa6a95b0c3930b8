"""`mcsec keylog`: the secrets a dissection recovers, in the mcsec keylog format (for the
Wireshark plugin)."""

from __future__ import annotations

import sys

from dissectors.cli import options as cliopts
from dissectors.cli.common import load_keyring, resolve_captures
from dissectors.cli.options import EXIT_OK, UsageError


def cmd_keylog(args) -> int:
    from dissectors.pcap import keylog

    keyring = load_keyring(args)
    if keyring is None:
        raise UsageError("keylog needs --keys")
    resolve_captures(args)
    try:
        from dissectors.safefile import check_target

        check_target(args.output)  # a symlink or directory at -o: refused before the analysis
        tls_keylog = cliopts.read_tls_keylog(args.tls_keylog)
        n = keylog.write_keylog(args.capture, keyring, args.output, tls_keylog=tls_keylog,
                                transport_key=bytes.fromhex(args.trk) if args.trk else None)
    finally:
        if hasattr(args.capture, "open_reader"):
            args.capture.close()
    if args.output != "-":
        print(f"mcsec: {n} keylog line(s) written to {args.output}", file=sys.stderr)
    return EXIT_OK


def register(sub) -> None:
    """Add the `keylog` command to the `mcsec` parser."""
    kl = sub.add_parser("keylog", help="write the secrets a dissection recovers (for the plugin)",
                        description="Dissect CAPTURE with --keys and write the keys recovered "
                                    "(SSVs, SRTP master keys, TEKs) in the mcsec keylog format "
                                    "(dissectors/pcap/keylog.py); the file is created with mode 0600.")
    kl.add_argument("capture", metavar="CAPTURE", nargs="+",
                    help="capture file(s), directories or globs (read as one capture)")
    kl.add_argument("--keys", action="append", metavar="FILE", required=True)
    kl.add_argument("--trk", metavar="HEX", type=cliopts.transport_key_hex)
    kl.add_argument("-o", "--output", required=True, metavar="FILE", help="keylog file (- = stdout)")
    kl.add_argument("--tls-keylog", metavar="FILE",
                    help="NSS key log for SIP over TLS in the capture (as for dissect)")
    kl.set_defaults(func=cmd_keylog)
