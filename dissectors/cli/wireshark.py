"""`mcsec wireshark generate|install`: the Lua plugin derived from the MIKEY schemas."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dissectors.cli.options import EXIT_OK, EXIT_USAGE, UsageError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PLUGIN = REPO / "wireshark" / "mcsec_mikey.lua"
PERSONAL_PLUGINS = Path("~/.local/lib/wireshark/plugins")


def register(subparsers) -> None:
    """Add `mcsec wireshark generate` and `mcsec wireshark install` to the `mcsec` parser."""
    w = subparsers.add_parser("wireshark", help="the Wireshark Lua plugin (generate, install)",
                              description="The Wireshark/tshark Lua plugin generated from the "
                                          "MIKEY schemas (see wireshark/README.md).")
    wsub = w.add_subparsers(dest="wireshark_command", metavar="ACTION")
    g = wsub.add_parser("generate", help="write the plugin generated from the codec schemas")
    g.add_argument("-o", "--output", default=str(DEFAULT_PLUGIN),
                   help="where to write it (default: %(default)s; '-' for standard output)")
    g.add_argument("--tls-prot-type", type=int, default=None, dest="plugin_tls_prot_type",
                   help="default of the plugin's TLS Prot type preference (default: mcsec's, 240)")
    g.set_defaults(func=_generate)
    i = wsub.add_parser("install", help="copy the plugin into Wireshark's personal plugin folder")
    i.add_argument("--dest", default=os.environ.get("MCSEC_WIRESHARK_PLUGINS", str(PERSONAL_PLUGINS)),
                   help="plugin folder (default: $MCSEC_WIRESHARK_PLUGINS or %(default)s)")
    i.add_argument("--plugin", default=None,
                   help="plugin file to install (default: the checked-in wireshark/mcsec_mikey.lua, "
                        "or one generated from the schemas when there is none)")
    i.set_defaults(func=_install)
    w.set_defaults(func=lambda args: (w.print_help(sys.stderr), EXIT_USAGE)[1])  # no ACTION


def _source(args) -> str:
    from dissectors import wireshark

    value = getattr(args, "plugin_tls_prot_type", None)
    if value is not None:  # only the plugin's default: the codec's setting is left alone
        if not 1 <= value <= 255:
            raise UsageError("--tls-prot-type must be 1..255")
        return wireshark.generate(value)
    return wireshark.generate()


def _generate(args) -> int:
    src = _source(args)
    if args.output == "-":
        sys.stdout.write(src)
        return EXIT_OK
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(src, encoding="utf-8")
    print(f"wrote {out} ({len(src.splitlines())} lines)", file=sys.stderr)
    return EXIT_OK


def _install(args) -> int:
    from dissectors.safefile import write_secret

    dest = Path(args.dest).expanduser()
    try:
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / DEFAULT_PLUGIN.name
        plugin = Path(args.plugin) if args.plugin else DEFAULT_PLUGIN
        if args.plugin or (plugin.is_file() and getattr(args, "plugin_tls_prot_type", None) is None):
            data = plugin.read_bytes()
        else:  # not a source checkout: generate it
            data = _source(args).encode("utf-8")
        write_secret(target, data)  # a new 0600 file renamed over it: never through a symlink
    except OSError as e:  # exit 2, as every file that cannot be written (options.py)
        raise UsageError(f"cannot install the plugin: {e}") from None
    print(f"installed {target}", file=sys.stderr)
    print("Wireshark loads it at start-up (Help > About > Plugins lists it); "
          "tshark: `tshark -r CAPTURE -O mikey`", file=sys.stderr)
    return EXIT_OK
