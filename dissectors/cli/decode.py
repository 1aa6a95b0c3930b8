"""`mcsec decode`: one MIKEY message, or every a=key-mgmt:mikey of an SDP, as a text tree or
JSON; with --keys, verified and decrypted (MIKEY-SAKKE, PSK MIKEY, MIKEY-TICKET)."""

from __future__ import annotations

import json
import sys

from codec import DecodeError
from codec import mikey
from codec.mikey import carriers, render
from dissectors.cli import options as cliopts
from dissectors.cli.common import load_keyring, read_input
from dissectors.cli.options import EXIT_CHECK, EXIT_DECODE, EXIT_OK, InputError


def _tls_prot_type(args) -> int:
    """--tls-prot-type, or the default TLS Prot type (codec/mikey/config.py)."""
    value = getattr(args, "tls_prot_type", None)
    return mikey.DEFAULT_TLS_PROT_TYPE if value is None else value


def _annotator(msg, blob, keyring, args, history, replay_cache, exchanges=None):
    """(json annotator, text lines, failed) for messages the keyring can open, else None;
    failed() tells whether a signature or MAC was checked and is wrong (exit 3)."""
    if keyring is None or msg.hdr is None:  # None: the header did not decode
        return None
    from codec.mikey import sakke as mikey_sakke

    if mikey_sakke.carries_sakke(msg):
        from codec.mikey import render_sakke

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

    raw = read_input(args.input)
    keyring = load_keyring(args)
    try:
        carried = carriers.mikey_inputs(raw, args.input_form)
    except DecodeError as e:
        raise InputError(str(e)) from None
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


def register(sub) -> None:
    """Add the `decode` command to the `mcsec` parser."""
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
