"""`mcsec synth …`: write deterministic sample MCPTT captures, their keys and a manifest.
register() adds the command to the main parser."""

from __future__ import annotations



def cmd_synth(args) -> int:
    from dissectors.cli.options import EXIT_OK, UsageError
    from dissectors.synth import generate

    try:
        manifest = generate(args.outdir, seed=args.seed, calls=args.calls,
                            scenarios=args.scenario or None)
    except ValueError as e:
        raise UsageError(f"synth: {e}") from None
    except OSError as e:
        raise UsageError(f"synth: cannot write {e.filename or args.outdir}: "
                         f"{e.strerror}") from None
    if not args.quiet:
        for name, cap in manifest["captures"].items():
            n = sum(1 for e in manifest["entries"] if e["capture"] == cap["file"])
            print(f"{cap['file']}: {cap['frames']} frames, {n} manifest entries")
        print(f"keyring.toml, smime-keys.pem, {len(manifest['kms_documents'])} KMS documents, "
              f"manifest.json (seed {manifest['seed']})")
    return EXIT_OK


def register(subparsers) -> None:
    """Add the `synth` command to the `mcsec` parser."""
    from dissectors.cli.options import positive_int, seed_int
    from dissectors.synth import ALL_SCENARIOS, DEFAULT_CALLS, DEFAULT_SEED, SCENARIOS

    s = subparsers.add_parser(
        "synth", help="write sample MCPTT captures with their keys and a manifest",
        description="Generate pcapng captures of MCPTT security signalling (MIKEY-SAKKE, "
                    "MIKEY-TICKET, S/MIME, KMS provisioning, SRTP/SRTCP), the keyring TOML, the "
                    "KMS XML documents and manifest.json listing every frame that carries key "
                    "material and what it decodes to.  The same seed gives the same octets.",
        epilog="scenarios: " + ", ".join(SCENARIOS))
    s.add_argument("outdir", metavar="OUTDIR", help="directory to write into (created)")
    s.add_argument("--seed", type=seed_int, default=DEFAULT_SEED, metavar="N",
                   help=f"seed of every key, random value and timestamp (default {DEFAULT_SEED})")
    s.add_argument("--calls", type=positive_int, default=DEFAULT_CALLS, metavar="N",
                   help=f"private calls in the private-call capture (default {DEFAULT_CALLS}; odd "
                        "calls carry the MIKEY at SDP media level, even ones at session level)")
    s.add_argument("--scenario", action="append", choices=list(ALL_SCENARIOS), metavar="NAME",
                   help="generate only this scenario (repeatable; default: all)")
    s.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    s.set_defaults(func=cmd_synth)
