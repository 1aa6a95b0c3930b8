"""The ``mcsec`` command line.

Exit codes: 0 success, 1 the input does not decode (message on stderr with field path and
offset), 2 usage error (or an unusable key file), 3 a signature or MAC was checked and failed.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys

from codec import DecodeError, EncodeError
from codec import mikey
from codec.mikey import carriers, render
from dissectors.cli import options as cliopts

EXIT_OK, EXIT_DECODE, EXIT_USAGE, EXIT_CHECK = 0, 1, 2, 3


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _apply_common(args) -> None:
    if getattr(args, "tls_prot_type", None) is not None:
        mikey.check_tls_prot_type(args.tls_prot_type)  # passed on by decode; ValueError: usage


def _tls_prot_type(args) -> int:
    """--tls-prot-type, or the default TLS Prot type (codec/mikey/config.py)."""
    value = getattr(args, "tls_prot_type", None)
    return mikey.DEFAULT_TLS_PROT_TYPE if value is None else value


def load_keyring(args):
    """The keyring of --keys (None without keys); usage errors are reported and exit 2."""
    if not getattr(args, "keys", None):
        return None
    from codec.keyring import KeyringError
    from codec.kms import KmsXmlError
    from dissectors.keys import load_keys

    trk = bytes.fromhex(args.trk) if getattr(args, "trk", None) else None
    try:
        return load_keys(args.keys, transport_key=trk)
    except (KeyringError, KmsXmlError) as e:
        print(f"mcsec: --keys: {e}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def _annotator(msg, blob, keyring, args, history, replay_cache, exchanges=None):
    """(json annotator, text lines, failed) for messages the keyring can open, else None;
    failed() tells whether a signature or MAC was checked and is wrong (exit 3)."""
    if keyring is None or msg.hdr is None:  # None: the header did not decode
        return None
    if msg.hdr.data_type == 26 or msg.find("SAKKE") is not None:
        from codec.mikey import render_sakke, sakke as mikey_sakke

        res = mikey_sakke.process(msg, blob, keyring, decrypt_unverified=args.decrypt_unverified)
        return (lambda doc: render_sakke.annotate_json(doc, msg, res, args.show_secrets),
                lambda: render_sakke.text_lines(res, args.show_secrets),
                lambda: res.verified is False)
    from codec.mikey import render_ticket

    # PSK MIKEY / MIKEY-TICKET: one tracker matches INITs and RESPs (codec/mikey/exchange.py); a
    # TRANSFER_INIT's verdict may come with a later RESOLVE_RESP, so render only at the end
    entry = exchanges.feed(msg, blob).entry if exchanges is not None else None
    if entry is None:
        return None
    return (lambda doc: render_ticket.annotate_json(doc, msg, entry.result, args.show_secrets,
                                                    entry.replay),
            lambda: render_ticket.text_lines(entry.result, args.show_secrets, entry.replay),
            lambda: _ticket_failed(entry.result))


def _ticket_failed(res) -> bool:
    """A KEMAC/V MAC (RFC 3830 §5.2, RFC 6043 §5) or the ticket's own MAC checked and wrong."""
    return res is not None and (res.verified is False or (
        res.ticket is not None and res.ticket.verified is False))


def cmd_decode(args) -> int:
    from codec.mikey.clear_keys import clear_srtp_keys

    try:
        raw = _read_input(args.input)
    except OSError as e:
        print(f"mcsec: cannot read {args.input}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    keyring = load_keyring(args)
    try:
        carried = carriers.mikey_inputs(raw, args.input_form)
    except DecodeError as e:
        print(f"mcsec: {e}", file=sys.stderr)
        return EXIT_DECODE
    status = EXIT_OK
    records, texts = [], []
    history = []  # earlier messages of this input: the INITs that RESPs answer
    from codec.mikey.ticket import ReplayCache

    replay_cache = ReplayCache(args.replay_cache_size)
    from codec.mikey.exchange import ExchangeTracker

    tls_prot_type = _tls_prot_type(args)
    exchanges = (ExchangeTracker(keyring, replay_cache, tls_prot_type=tls_prot_type)
                 if keyring is not None else None)
    annotated = []  # (message, annotator): rendered once every message has been seen
    blobs = [c.data for c in carried]
    from codec.mikey.replay import SeenIMessages

    seen_i_messages, replays = SeenIMessages(), {}  # RFC 3830 §5.4: message -> first copy
    for i, blob in enumerate(blobs):
        where = f"message {i + 1}: " if len(blobs) > 1 else ""
        try:
            msg = mikey.decode(blob, strict=args.strict, tls_prot_type=tls_prot_type)
        except DecodeError as e:
            print(f"mcsec: {where}decode error: {e}", file=sys.stderr)
            status = EXIT_DECODE
            if e.partial is None:
                continue
            msg = e.partial
            msg.findings.append(mikey.Finding(e.path, e.offset, f"DECODE ERROR: {e.reason}"))
        msg.findings[:0] = carried[i].findings  # what the carrier tolerated (unpadded base64)
        clear = clear_srtp_keys(msg) if msg.hdr is not None else None
        if clear is not None:  # NULL-encrypted KEMAC: the sender's quirks (GStreamer, LIVE555)
            msg.findings.extend(clear.findings)
        annotated.append((msg, _annotator(msg, blob, keyring, args, history, replay_cache,
                                          exchanges)))
        replays[id(msg)] = seen_i_messages.check(msg, i + 1, wire=blob)
        history.append((msg, blob))
    if exchanges is not None:
        exchanges.close()  # TRANSFER_INITs whose RESOLVE_RESP never came
    for msg, annotate in annotated:
        if args.format == "json":
            doc = render.to_json(msg, show_secrets=args.show_secrets, tls_prot_type=tls_prot_type)
            if annotate is not None:
                annotate[0](doc)
            if replays.get(id(msg)) is not None:
                doc["mikey.replay"] = replays[id(msg)]  # index (from 1) of the first copy
            records.append(doc)
        else:
            text = render.to_text(msg, show_secrets=args.show_secrets, tls_prot_type=tls_prot_type)
            if annotate is not None:
                text += "\n".join(annotate[1]()) + "\n"
            if replays.get(id(msg)) is not None:
                text += (f"    [REPLAY: the same I_MESSAGE (CSB ID, RAND, T) as message "
                         f"{replays[id(msg)]}, RFC 3830 §5.4]\n")
            texts.append(text)
    if args.format == "json":
        doc = records[0] if len(records) == 1 and len(blobs) == 1 else records
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("\n".join(texts))
    if status == EXIT_OK and any(a is not None and a[2]() for _, a in annotated):
        return EXIT_CHECK  # a check failed; an input that does not decode (1) comes first
    return status


def cmd_encode(args) -> int:
    try:
        with (sys.stdin if args.from_json == "-" else open(args.from_json)) as f:
            doc = json.load(f)
    except OSError as e:
        print(f"mcsec: cannot read {args.from_json}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as e:  # not JSON, not UTF-8, or an integer of more than 4,300 digits
        print(f"mcsec: {args.from_json} is not JSON mcsec can read: {e}", file=sys.stderr)
        return EXIT_DECODE
    except RecursionError:
        print(f"mcsec: {args.from_json}: JSON nested too deeply", file=sys.stderr)
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


def cmd_keyring_import(args) -> int:
    from codec.keyring import KeyringError
    from codec.kms import KmsXmlError, check_key_set
    from dissectors.keys import load_keys

    trk = bytes.fromhex(args.trk) if args.trk else None
    try:
        ring = load_keys(args.files, transport_key=trk)
    except (KeyringError, KmsXmlError) as e:
        print(f"mcsec: {e}", file=sys.stderr)
        return EXIT_DECODE
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
        from dissectors.safefile import UnsafeTarget, write_secret

        try:
            write_secret(args.output, text)  # secrets inside: 0600, never through a symlink
        except UnsafeTarget as e:
            print(f"mcsec: cannot write {e}", file=sys.stderr)
            return EXIT_USAGE
    return status


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
        try:
            data = _read_input(path)
        except OSError as e:
            print(f"mcsec: cannot read {path}: {e.strerror}", file=sys.stderr)
            return EXIT_USAGE
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
            from dissectors.safefile import UnsafeTarget, write_secret

            try:
                write_secret(args.out, res.content)  # a user's message: 0600
            except UnsafeTarget as e:
                print(f"mcsec: cannot write {e}", file=sys.stderr)
                return EXIT_USAGE
    return status


def _skew_seconds(text: str) -> float:
    """--max-clock-skew SECONDS: a number (inf allowed, NaN not)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value != value:
        raise argparse.ArgumentTypeError("NaN is not a number of seconds")
    return value


def clock_skew_limit(seconds: float) -> float | None:
    """--max-clock-skew: a negative value turns the check off."""
    return None if seconds is None or seconds < 0 else seconds


def cmd_dissect(args) -> int:
    from dissectors.pcap import dissect, output
    from dissectors.pcap.capture import read_frames
    from codec.mikey.ticket import ReplayCache

    dfilter = cliopts.display_filter(args.display_filter)  # compiled before anything is read
    filt = args.filter or ("all" if dfilter is not None else "any")
    if args.format == "parquet" and not args.output:
        print("mcsec: --format parquet needs -o DIR", file=sys.stderr)
        return EXIT_USAGE
    if not args.capture:  # nargs="*": no CAPTURE
        args.capture = None
    elif resolve_captures(args) is not None:
        return EXIT_USAGE
    if (args.capture is None) == (args.interface is None):
        print("mcsec: dissect needs a CAPTURE (a file, or - for standard input) or -i IFACE, "
              "not both", file=sys.stderr)
        return EXIT_USAGE
    if args.interface is None and (args.count is not None or args.duration is not None
                                   or args.capture_filter is not None):
        print("mcsec: -f, -c and --duration apply to a live capture (-i IFACE)", file=sys.stderr)
        return EXIT_USAGE
    keyring = load_keyring(args)
    per_record = args.format == "jsonl-records"
    session = output.PacketSession(keyring=keyring, show_secrets=args.show_secrets,
                                   decrypt_unverified=args.decrypt_unverified,
                                   transport_key=bytes.fromhex(args.trk) if args.trk else None,
                                   replay_cache=ReplayCache(args.replay_cache_size),
                                   max_clock_skew=clock_skew_limit(args.max_clock_skew),
                                   want_fields=not per_record or dfilter is not None)
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
        print(f"mcsec: {e}", file=sys.stderr)
        return EXIT_USAGE
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
                print(f"mcsec: -o: {e}", file=sys.stderr)
                return EXIT_USAGE
            print(f"mcsec: {n} packet(s) written to the Parquet dataset {args.output}",
                  file=sys.stderr)
        elif per_record:  # compatibility: one record per line, as before
            from dissectors.pcap.display_filter import record_packet

            for rec in recs:
                if stats is not None:
                    stats.record(rec)
                if dfilter is not None and not dfilter(record_packet(rec, session)):
                    continue
                out.write(json.dumps(rec) + "\n")
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
                    out.write(output.brief_line(pkt) + "\n")
                elif args.format == "json":
                    out.write(json.dumps(pkt) + "\n")
                else:
                    recs_text = [dissect.text_line(r) for r in pkt.pop("_records", ())]
                    out.write(output.packet_text(pkt, recs_text) + "\n")
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
        return EXIT_OK
    except KeyboardInterrupt:  # Ctrl-C ends a live capture: not an error
        return EXIT_OK
    except OSError as e:
        print(f"mcsec: cannot read {args.capture}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
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


def resolve_captures(args) -> int | None:
    """CAPTURE... (files, directories, globs) -> ``args.capture``: a path, "-" or a
    :class:`dissectors.pcap.captureset.CaptureSet`; a usage error (message) -> EXIT_USAGE."""
    from dissectors.pcap.captureset import CaptureSetError, resolve

    try:
        args.capture = resolve(args.capture)
    except CaptureSetError as e:
        print(f"mcsec: {e}", file=sys.stderr)
        return EXIT_USAGE
    return None


def cmd_keylog(args) -> int:
    from dissectors.pcap import keylog

    keyring = load_keyring(args)
    if keyring is None:
        print("mcsec: keylog needs --keys", file=sys.stderr)
        return EXIT_USAGE
    if resolve_captures(args) is not None:
        return EXIT_USAGE
    try:
        from dissectors.safefile import check_target

        check_target(args.output)  # a symlink or directory at -o: refused before the analysis
        tls_keylog = cliopts.read_tls_keylog(args.tls_keylog)
        n = keylog.write_keylog(args.capture, keyring, args.output, tls_keylog=tls_keylog,
                                transport_key=bytes.fromhex(args.trk) if args.trk else None)
    except OSError as e:
        print(f"mcsec: {e.filename}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if hasattr(args.capture, "open_reader"):
            args.capture.close()
    if args.output != "-":
        print(f"mcsec: {n} keylog line(s) written to {args.output}", file=sys.stderr)
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
    d.add_argument("--keys", action="append", metavar="FILE",
                   help="keyring TOML, KMS XML document or PEM/DER key file (repeatable): "
                        "verify and decrypt with them")
    d.add_argument("--trk", metavar="HEX", type=cliopts.transport_key_hex,
                   help="transport key (TrK) for wrapped keys in KMS XML")
    d.add_argument("--decrypt-unverified", action="store_true",
                   help="decrypt even when the signature does not verify (marked as such)")
    d.add_argument("--replay-cache-size", type=cliopts.positive_int, default=1024, metavar="N",
                   help="entries of the TRANSFER_INIT replay cache (seed 004; default 1024)")
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

    ds.add_argument("--max-clock-skew", type=_skew_seconds, default=DEFAULT_MAX_CLOCK_SKEW,
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
    ds.set_defaults(func=cmd_dissect)

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

    from dissectors.cli import cms as cli_cms, fuzz as cli_fuzz, synth as cli_synth, wireshark as cli_wireshark

    cli_cms.register(sub)
    cli_synth.register(sub)
    cli_fuzz.register(sub)
    cli_wireshark.register(sub)
    from dissectors.cli import export as cli_export

    cli_export.register(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _apply_common(args)
    except ValueError as e:
        parser.error(str(e))
    return cliopts.run(args.func, args)  # errors -> message and exit status, never a traceback


if __name__ == "__main__":
    sys.exit(main())
