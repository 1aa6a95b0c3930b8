"""`mcsec export`: the capture as Wireshark should see it once mcsec has recovered the keys — every
frame written again as pcapng with the SRTP/SRTCP mcsec opened as plain RTP/RTCP, the TLS secrets
in a Decryption Secrets Block and mcsec's verdicts as frame comments.  The pipeline is
:mod:`dissectors.pcap.export`; this module reads the options and writes the file (0600, never
through a symbolic link).
"""

from __future__ import annotations

import sys

from dissectors.cli import options as cliopts
from dissectors.cli.options import EXIT_DECODE, EXIT_OK, UsageError


def cmd_export(args) -> int:
    from codec.mikey.ticket import ReplayCache
    from dissectors.cli.common import load_keyring, resolve_captures
    from dissectors.cli.options import clock_skew_limit
    from dissectors.pcap.session import Session
    from dissectors.safefile import check_target

    dfilter = cliopts.display_filter(args.display_filter)  # compiled before anything is read
    keyring = load_keyring(args)
    keylog = cliopts.read_tls_keylog(args.tls_keylog)
    if args.output == "-" and sys.stdout.isatty():
        raise UsageError("export -o -: standard output is a terminal; redirect it (> out.pcapng) "
                         "or pipe it (| tshark -r -)")
    if args.output != "-":
        check_target(args.output)  # a symlink / directory: refused before the (long) analysis
    options = dict(keyring=keyring, show_secrets=True,  # the plaintext goes into the file
                   decrypt_unverified=args.decrypt_unverified,
                   transport_key=bytes.fromhex(args.trk) if args.trk else None,
                   replay_cache=ReplayCache(args.replay_cache_size),
                   max_clock_skew=clock_skew_limit(args.max_clock_skew))
    if dfilter is not None:  # the packets' sip/sdp fields, for the filter
        from dissectors.pcap.output import PacketSession

        session = PacketSession(**options)
    else:
        session = Session(**options)
    resolve_captures(args)  # several files, directories, globs: one capture
    source, workers = args.capture, args.workers
    if args.capture == "-":  # a pipe (tcpdump -w - | mcsec export -): spooled as it arrives,
        from dissectors.pcap import live  # read by the analysis and by the writer (dissectors/pcap/live.py)

        source = live.Spool(sys.stdin.buffer)
        workers = 1 if workers is None else workers
    try:
        return _export(args, session, source, workers, keylog, dfilter)
    finally:
        if source is not args.capture or hasattr(source, "open_reader"):
            source.close()  # a spool, or a capture set's merged file for tshark


def _export(args, session, source, workers, keylog, dfilter) -> int:
    from dissectors.pcap.export import export_capture
    from dissectors.safefile import write_secret

    try:
        data, stats, selected = export_capture(source, session, tls_keylog=keylog,
                                               workers=workers, display_filter=dfilter,
                                               display_filter_text=args.display_filter,
                                               rewrite_sdp=not args.keep_sdp)
    except OSError as e:
        raise UsageError(f"cannot read {args.capture}: {e.strerror}") from None
    if stats.capture_errors and not stats.frames and selected is None:
        for err in stats.capture_errors:
            print(f"mcsec: {args.capture}: {err}", file=sys.stderr)
        return EXIT_DECODE  # nothing to export: not a capture (no file written)
    if args.output == "-":
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            pass
    else:
        write_secret(args.output, data)  # key log and plaintext inside: 0600, no symlink
    if not args.quiet:
        print(f"mcsec: {stats.frames} frame(s) written to {args.output}: {stats.replaced} "
              f"SRTP/SRTCP packet(s) replaced by plain RTP/RTCP, {stats.left_encrypted} left "
              f"encrypted, {stats.comments} frame comment(s), {stats.tls_secret_lines} TLS key "
              f"log line(s) in a Decryption Secrets Block", file=sys.stderr)
        for note in stats.notes:
            print(f"mcsec: note: {note}", file=sys.stderr)
    return EXIT_OK


def register(subparsers) -> None:
    """Add the `export` command to the `mcsec` parser."""
    from codec.mikey.replay import DEFAULT_MAX_CLOCK_SKEW

    e = subparsers.add_parser(
        "export", help="write the capture with SRTP/SRTCP decrypted, TLS secrets and verdicts, "
                       "for Wireshark",
        description="Dissect CAPTURE with --keys and write it again as pcapng, every frame in "
                    "order: each SRTP/SRTCP packet mcsec authenticated replaced by its plain "
                    "RTP/RTCP (MKI, tag and SRTCP index removed; UDP/IP lengths and checksums "
                    "fixed), the TLS secrets (--tls-keylog, the input's DSBs, TLS-PSK sessions "
                    "of MIKEY-TICKET) in a Decryption Secrets Block, and a comment with mcsec's "
                    "verdict on every key-management frame and every packet left encrypted.  "
                    "The file holds secrets: it is created with mode 0600, never through a "
                    "symbolic link.")
    e.add_argument("capture", metavar="CAPTURE", nargs="+",
                   help="pcap or pcapng file, or - to read one from standard input "
                        "(tcpdump -w - | mcsec export - ...); several files, directories and "
                        "globs are read as one capture (as for dissect)")
    e.add_argument("-o", "--output", required=True, metavar="OUT.pcapng",
                   help="pcapng file to write (- = standard output)")
    e.add_argument("--keys", action="append", metavar="FILE",
                   help="keyring TOML, KMS XML or PEM/DER key file (repeatable)")
    e.add_argument("--trk", metavar="HEX", type=cliopts.transport_key_hex,
                   help="transport key (TrK) for wrapped keys in KMS XML")
    e.add_argument("--tls-keylog", metavar="FILE",
                   help="NSS key log for SIP over TLS: used for the analysis and written into "
                        "the Decryption Secrets Block")
    e.add_argument("-Y", "--display-filter", metavar="EXPR",
                   help="write only the frames this Wireshark display filter selects, over the "
                        "packet JSON of `mcsec dissect -Y` (e.g. 'mikey or srtp.ok == 1')")
    e.add_argument("--keep-sdp", action="store_true",
                   help="leave the SDP of the decrypted streams as captured (RTP/SAVP): "
                        "Wireshark then shows their payload as 'SRTP Encrypted Payload'; by "
                        "default their profile becomes RTP/AVPF (same length), with a comment")
    e.add_argument("--decrypt-unverified", action="store_true")
    e.add_argument("--replay-cache-size", type=cliopts.positive_int, default=1024, metavar="N")
    e.add_argument("--max-clock-skew", type=cliopts.clock_skew_seconds, default=DEFAULT_MAX_CLOCK_SKEW,
                   metavar="SECONDS", help="as for dissect (a negative value turns it off)")
    e.add_argument("--workers", type=cliopts.int_range(1, cliopts.MAX_WORKERS), default=None, metavar="N",
                   help="processes for MIKEY-SAKKE crypto (as for dissect)")
    e.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    e.set_defaults(func=cmd_export)
