"""`mcsec uid`: the MIKEY-SAKKE UID of TS 33.180 §F.2.1 for a URI, a KMS and a key period."""

from __future__ import annotations

import sys

from dissectors.cli import options as cliopts
from dissectors.cli.options import EXIT_OK, EXIT_USAGE


def _ntp_from(text: str) -> int:
    """NTP seconds from an integer (NTP seconds) or an ISO 8601 time."""
    import datetime as dt

    from codec.crypto.mcx import NTP_UNIX_OFFSET

    if text.isdigit():
        return int(text)
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp()) + NTP_UNIX_OFFSET


def cmd_uid(args) -> int:
    from codec.crypto import mcx

    if args.period_no is None:
        try:
            ntp = _ntp_from(args.time)
        except ValueError:
            print(f"mcsec: --time {args.time!r} is neither NTP seconds nor ISO 8601", file=sys.stderr)
            return EXIT_USAGE
        period_no = mcx.key_period_number(ntp, args.key_period, args.key_period_offset)
        if not 0 <= period_no <= cliopts.MAX_UINT64:  # TS 33.180 §F.2.1: periods counted from 0
            print(f"mcsec: --time {args.time!r} is outside the key periods (before the key "
                  f"period offset, or too far ahead)", file=sys.stderr)
            return EXIT_USAGE
    else:
        period_no = args.period_no
    uid = mcx.uid(args.uri, args.kms_uri, args.key_period, args.key_period_offset, period_no)
    print(uid.hex())
    if args.verbose:
        print(f"period number {period_no}", file=sys.stderr)
    return EXIT_OK


def register(sub) -> None:
    """Add the `uid` command to the `mcsec` parser."""
    u = sub.add_parser("uid", help="compute a TS 33.180 MIKEY-SAKKE UID",
                       description="UID of TS 33.180 §F.2.1 (SHA-256 over the KDF-style string).")
    u.add_argument("--uri", required=True, type=cliopts.kdf_text, help="user, group or server URI")
    u.add_argument("--kms-uri", required=True, type=cliopts.kdf_text)
    u.add_argument("--key-period", type=cliopts.positive_int, required=True, metavar="SECONDS")
    u.add_argument("--key-period-offset", type=cliopts.non_negative_int, default=0, metavar="SECONDS")
    g = u.add_mutually_exclusive_group(required=True)
    g.add_argument("--period-no", type=cliopts.non_negative_int, metavar="N")
    g.add_argument("--time", metavar="NTP-OR-ISO", help="NTP seconds or ISO 8601 time")
    u.add_argument("-v", "--verbose", action="store_true", help="also print the period number")
    u.set_defaults(func=cmd_uid)
