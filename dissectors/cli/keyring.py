"""`mcsec keyring import`: merge keyring TOML files and KMS XML documents into one keyring TOML."""

from __future__ import annotations

import sys

from dissectors.cli import options as cliopts
from dissectors.cli.options import EXIT_DECODE, EXIT_OK, InputError


def cmd_keyring_import(args) -> int:
    from codec.keyring import KeyringError
    from codec.kms import KmsXmlError, check_key_set
    from dissectors.keys import load_keys

    trk = bytes.fromhex(args.trk) if args.trk else None
    try:
        ring = load_keys(args.files, transport_key=trk)
    except (KeyringError, KmsXmlError) as e:
        raise InputError(str(e)) from None
    status = EXIT_OK
    for u in ring.users:
        kms = ring.kms_by_uri(u.kms) if u.kms else None
        if kms is None:
            continue
        for problem in check_key_set(u, kms):
            print(f"mcsec: {u.uri or u.uid.hex()} (period {u.period}): {problem}", file=sys.stderr)
            status = EXIT_DECODE
    if ring.private_keys or ring.certificates:
        print("mcsec: note: PEM/DER keys are not written to the TOML keyring; pass them with "
              "--keys as they are", file=sys.stderr)
    text = ring.to_toml()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        from dissectors.safefile import write_secret

        write_secret(args.output, text)  # secrets inside: 0600, never through a symlink
    return status


def register(sub) -> None:
    """Add the `keyring` command (and its `import` action) to the `mcsec` parser."""
    k = sub.add_parser("keyring", help="keyring tools")
    ksub = k.add_subparsers(dest="keyring_command", metavar="ACTION")
    ksub.required = True
    ki = ksub.add_parser("import", help="merge key files (TOML, KMS XML) into one keyring TOML",
                         description="Merge keyring TOML files and KMS XML documents into one "
                                     "keyring TOML, checking each key set against its KMS.")
    ki.add_argument("files", nargs="+", metavar="FILE")
    ki.add_argument("-o", "--output", required=True, metavar="FILE", help="output TOML (- = stdout)")
    ki.add_argument("--trk", metavar="HEX", type=cliopts.transport_key_hex,
                    help="transport key (TrK) for wrapped keys")
    ki.set_defaults(func=cmd_keyring_import)
