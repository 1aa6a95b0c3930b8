"""`mcsec dissect`: a capture file, several, standard input or a live interface, dissected by
the pcap pipeline (dissectors/pcap/) and written as text, brief lines, JSON, records or Parquet."""

from __future__ import annotations

import json
import sys

from dissectors.cli import options as cliopts
from dissectors.cli.common import load_keyring, resolve_captures
from dissectors.cli.options import EXIT_OK, UsageError


def cmd_dissect(args) -> int:
    from dissectors.pcap import dissect, output, render
    from dissectors.pcap.capture import read_frames
    from codec.mikey.ticket import ReplayCache
    from dissectors.pcap.distributed import EngineError

    dfilter = cliopts.display_filter(args.display_filter)  # compiled before anything is read
    filt = args.filter or ("all" if dfilter is not None else "any")
    if args.format == "parquet" and not args.output:
        raise UsageError("--format parquet needs -o DIR")
    if not args.capture:  # nargs="*": no CAPTURE
        args.capture = None
    else:
        resolve_captures(args)
    if (args.capture is None) == (args.interface is None):
        raise UsageError("dissect needs a CAPTURE (a file, or - for standard input) or -i IFACE, "
                         "not both")
    if args.interface is None and (args.count is not None or args.duration is not None
                                   or args.capture_filter is not None):
        raise UsageError("-f, -c and --duration apply to a live capture (-i IFACE)")
    if args.engine == "dask" and (args.interface is not None or args.capture == "-"):
        raise UsageError("--engine dask dissects capture files, not standard input or -i IFACE")
    if args.scheduler is not None and args.engine != "dask":
        raise UsageError("--scheduler needs --engine dask")
    keyring = load_keyring(args)
    per_record = args.format == "jsonl-records"
    session = output.PacketSession(keyring=keyring, show_secrets=args.show_secrets,
                                   decrypt_unverified=args.decrypt_unverified,
                                   transport_key=bytes.fromhex(args.trk) if args.trk else None,
                                   replay_cache=ReplayCache(args.replay_cache_size),
                                   max_clock_skew=cliopts.clock_skew_limit(args.max_clock_skew),
                                   want_fields=not per_record or dfilter is not None,
                                   start_line_fields_only=args.brief and dfilter is None
                                   and args.format != "parquet")
    out = sys.stdout
    keylog = cliopts.read_tls_keylog(args.tls_keylog)
    from dissectors.pcap import live

    source, capture = args.capture, None
    try:
        if args.interface is not None:  # dumpcap/tcpdump's pipe, spooled (dissectors/pcap/live.py)
            capture = live.LiveCapture(args.interface, args.capture_filter, args.count,
                                       args.duration)
            source = capture.spool
        elif args.capture == "-":
            source = live.Spool(sys.stdin.buffer)
    except live.LiveError as e:
        raise UsageError(str(e)) from None
    streaming = source is not args.capture  # pipes: each packet is flushed as it is written
    # a pipe is analysed as it arrives, in this process unless --workers says otherwise: no
    # look-ahead window holds packets back, and a quiet input releases the packets read so far
    workers = 1 if streaming and args.workers is None else args.workers
    progress = (output.Progress(args.capture or args.interface)
                if not args.no_progress and not streaming else None)
    if progress is not None and not progress.enabled:
        progress = None
    stats = output.Stats() if args.stats else None
    try:
        if args.engine == "dask":  # the files on a Dask cluster (dissectors/pcap/distributed.py)
            from dissectors.pcap import distributed

            recs = distributed.records(source, session, scheduler=args.scheduler,
                                       workers=args.workers, tls_keylog=keylog,
                                       max_stream_memory=args.max_stream_memory,
                                       progress=progress is not None)
            if progress is not None:  # Dask's progress bar instead
                progress.close()
                progress = None
        else:
            recs = dissect.records(source, session, tls_keylog=keylog, workers=workers,
                                   max_stream_memory=args.max_stream_memory)
        if args.format == "parquet":  # one row per packet of --format json (dissectors/pcap/parquet.py)
            from dissectors.pcap import parquet

            packets = output.Packets(recs, session, filt=filt, stats=stats,
                                     frames=read_frames(source) if (
                                         stats is not None or filt == "all") else None,
                                     progress=progress, display_filter=dfilter)
            try:
                n = parquet.write_dataset(packets, args.output, parquet.file_namer(
                    source, args.capture if args.interface is None else args.interface))
            except parquet.ParquetError as e:
                raise UsageError(f"-o: {e}") from None
            print(f"mcsec: {n} packet(s) written to the Parquet dataset {args.output}",
                  file=sys.stderr)
        elif per_record:  # compatibility: one record per line, as before
            from dissectors.pcap.display_filter import record_packet

            for typed in recs:
                rec = render.record_json(typed, args.show_secrets)  # the output edge
                if stats is not None:
                    stats.record(rec)
                if dfilter is not None and not dfilter(record_packet(rec, session)):
                    continue
                out.write(render.dumps(rec) + "\n")
                if streaming:
                    out.flush()
        else:
            lockstep = stats is not None or filt == "all" or progress is not None
            packets = output.Packets(recs, session, filt=filt, stats=stats,
                                     frames=read_frames(source) if lockstep else None,
                                     progress=progress, keep_records=args.format == "text",
                                     display_filter=dfilter)

            def emit(pkt):
                if args.brief:
                    out.write(render.brief_line(pkt) + "\n")
                elif args.format == "json":
                    out.write(render.dumps(pkt) + "\n")
                else:
                    recs_text = [render.text_line(r) for r in pkt.pop("_records", ())]
                    out.write(render.packet_text(pkt, recs_text) + "\n")
                if streaming:
                    out.flush()

            if streaming and workers == 1:
                def on_idle(reader):  # nothing came for a while: out with what was read
                    for pkt in packets.flush_upto(getattr(reader, "_number", 0)):
                        emit(pkt)
                source.on_idle = on_idle
            for pkt in packets:
                emit(pkt)
    except BrokenPipeError:
        raise  # `mcsec dissect … | head`: options.run, not the OSError below
    except KeyboardInterrupt:  # Ctrl-C ends a live capture: not an error (options.run: 130)
        return EXIT_OK
    except EngineError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot read {args.capture}: {e.strerror}") from None
    finally:
        if progress is not None:
            progress.close()
        if capture is not None:
            capture.close()
        elif source is not args.capture or hasattr(source, "open_reader"):
            source.close()  # a spool, or a capture set's merged file for tshark
    if stats is not None:
        print(json.dumps({"mcsec.stats": stats.to_json(session)}), file=sys.stderr)
    return EXIT_OK


def register(sub) -> None:
    """Add the `dissect` command to the `mcsec` parser."""
    ds = sub.add_parser("dissect", help="dissect a pcap/pcapng: every MIKEY and CMS object, "
                                         "verified and decrypted with --keys",
                        description="Read a capture (pcap or pcapng), reassemble IP and TCP, find "
                                    "MIKEY and CMS in SIP, SDP, HTTP and port 2269, and decode, "
                                    "verify and decrypt them with the provisioned keys.")
    ds.add_argument("capture", metavar="CAPTURE", nargs="*",
                    help="pcap or pcapng file, or - to read one from standard input as it "
                         "arrives (tcpdump -w - | mcsec dissect -); several files, "
                         "directories and globs are read as one capture, ordered by their "
                         "first packet's time (a ring buffer: dissectors/pcap/captureset.py)")
    ds.add_argument("-i", "--interface", metavar="IFACE",
                    help="capture live on IFACE with dumpcap (or tcpdump) instead of a file")
    ds.add_argument("-f", "--capture-filter", metavar="BPF",
                    help="capture filter (BPF syntax) for -i")
    ds.add_argument("-c", "--count", type=cliopts.positive_int, metavar="N",
                    help="with -i: stop after N packets")
    ds.add_argument("--duration", type=cliopts.positive_seconds, metavar="SECONDS",
                    help="with -i: stop after SECONDS")
    ds.add_argument("-Y", "--display-filter", metavar="EXPR",
                    help="Wireshark display filter over the packet's JSON field names "
                         "(sip.*, sdp.*, mikey.* with the decrypted fields, cms.*, srtp.*, "
                         "rtcp.* floor control, frame.number, ip.addr, udp.port...), e.g. "
                         "'mikey.3gpp.key_type == \"GMK\" and mikey.sign.verified == 0'; "
                         "every frame is considered unless --filter is given too")
    ds.add_argument("--keys", action="append", metavar="FILE",
                    help="keyring TOML, KMS XML or PEM/DER key file (repeatable)")
    ds.add_argument("--trk", metavar="HEX", type=cliopts.transport_key_hex,
                    help="transport key (TrK) for wrapped keys in KMS XML (files or captured)")
    ds.add_argument("-o", "--output", metavar="DIR",
                    help="with --format parquet: the dataset directory (created, mode 0700)")
    ds.add_argument("--format", choices=("text", "json", "jsonl-records", "parquet"),
                    default="text",
                    help="text: a summary line and the decoded objects per packet; json: one "
                         "JSON object per packet (frame, time, addresses, then layers keyed by "
                         "Wireshark field names: sip, sdp, mikey, cms, srtp, srtcp, ...); "
                         "jsonl-records: one JSON record per MIKEY/CMS/SRTP object (the format "
                         "of mcsec 0.x); parquet: the json packets as an Apache Parquet "
                         "dataset in -o DIR, partitioned by input file")
    ds.add_argument("--brief", action="store_true", help="one summary line per packet")
    ds.add_argument("--filter", choices=("any", "mikey", "cms", "srtp", "all"), default=None,
                    help="packets to list: any (default: those with MIKEY, CMS, SRTP/SRTCP, "
                         "KMS XML or an error), mikey, cms, srtp, or all (every frame; the "
                         "default with -Y); a shorthand: -Y mikey, -Y 'cms or psk-smime', ...")
    ds.add_argument("--no-progress", action="store_true",
                    help="no progress bar (it is shown only when stderr is a terminal)")
    ds.add_argument("--show-secrets", action="store_true")
    ds.add_argument("--decrypt-unverified", action="store_true")
    ds.add_argument("--replay-cache-size", type=cliopts.positive_int, default=1024, metavar="N")
    from codec.mikey.replay import DEFAULT_MAX_CLOCK_SKEW

    ds.add_argument("--max-clock-skew", type=cliopts.clock_skew_seconds, default=DEFAULT_MAX_CLOCK_SKEW,
                    metavar="SECONDS",
                    help="flag an I_MESSAGE whose T payload is further than this from the "
                         "capture time (RFC 3830 §5.4; default "
                         f"{DEFAULT_MAX_CLOCK_SKEW:g}; a negative value turns the check off)")
    ds.add_argument("--workers", type=cliopts.int_range(1, cliopts.MAX_WORKERS), default=None,
                    metavar="N",
                    help="processes verifying and decrypting MIKEY-SAKKE ahead of the analysis "
                         "(default: one per core; 1: everything in this process)")
    from dissectors.pcap.dissect import stream_memory_size
    from dissectors.pcap.flows import Limits

    ds.add_argument("--max-stream-memory", type=stream_memory_size, default=None, metavar="SIZE",
                    help="TCP stream data held at most, every stream together: out-of-order "
                         "segments and partial SIP/HTTP messages (default "
                         f"{Limits.max_total_buffer >> 20}M; K/M/G suffixes); over it the least "
                         "recently fed stream's data is given up, reported as an anomaly naming "
                         "its frames")
    ds.add_argument("--stats", action="store_true",
                    help="print counters on stderr at the end (JSON): per message type, "
                         "verified/failed, decrypted/undecryptable and why, errors, and every "
                         "frame of the capture accounted for")
    ds.add_argument("--tls-keylog", metavar="FILE",
                    help="NSS key log for SIP over TLS (tshark decrypts it; secrets in pcapng "
                         "Decryption Secrets Blocks are used without this option)")
    ds.add_argument("--engine", choices=("sequential", "dask"), default="sequential",
                    help="sequential (default): this process reads the files in order; dask: "
                         "the files of a capture set are dissected in parallel on a Dask "
                         "cluster, with the same output (a LocalCluster of --workers processes, "
                         "default 2, unless --scheduler names one)")
    ds.add_argument("--scheduler", metavar="ADDRESS",
                    help="with --engine dask: the scheduler of an existing Dask cluster "
                         "(tcp://host:8786; `dask scheduler` / `dask worker`, dask-kubernetes); "
                         "its workers must reach the capture files by the same paths")
    ds.set_defaults(func=cmd_dissect)
