"""The one place where analysis records become output: JSON dicts, text lines and brief lines.

:mod:`dissectors.pcap.records` holds what the session found (decoded objects, crypto results,
secrets included); here they are turned into

- the record dicts of ``--format jsonl-records`` (:func:`record_json`): the frame-level fields,
  ``kind``, and the object under Wireshark-style field names — a MIKEY message as
  :func:`codec.mikey.render.to_json` plus what :mod:`codec.mikey.render_sakke` /
  :mod:`codec.mikey.render_ticket` add, CMS as :mod:`codec.cms.render`; secrets are hidden
  unless ``show_secrets``;
- the per-packet ``layers`` of ``--format json`` (:func:`add_layers`, :func:`new_packet`; the
  grouping itself is :class:`dissectors.pcap.output.Packets`);
- the text of ``--format text`` (:func:`text_line` per record, :func:`packet_text` per packet)
  and of ``--brief`` (:func:`brief_line`);
- JSON text (:func:`dumps`: orjson, byte-identical to ``json.dumps`` with its defaults).
"""

from __future__ import annotations

import json
from typing import Any

from codec.mikey import render as mikey_render
from codec.mikey import render_sakke, render_ticket
from dissectors.pcap.capture import CaptureFault
from dissectors.pcap.message_cache import RENDERED
from dissectors.pcap.records import (AnomalyRecord, CarrierErrorRecord, CmsRecord, Failure,
                                     KmsRecord, MediaRecord, MikeyRecord, MsrpRecord, NoteRecord,
                                     OpenedJson, PskSmimeRecord, RtspContext, RtspStreamsRecord, SipContext)

BASE_KEYS = ("frame", "frames", "time", "transport", "src", "sport", "dst", "dport", "sip",
             "kind")
MEDIA_KINDS = ("srtp", "srtcp")
PSK_SMIME_CARRIER = "seed 004 multipart (application/mikey)"


# -- JSON text -------------------------------------------------------------------------------------
try:
    import orjson
except ImportError:  # pragma: no cover - declared; json.dumps gives the same text
    orjson = None


def dumps(obj) -> str:
    """The JSON text of ``--format json`` / ``jsonl-records``: ``json.dumps`` (ASCII, ``", "``
    and ``": "`` separators, insertion order).  orjson has no such separators; re-spacing its
    indented output gives the same bytes but cost as much time as it saved (0.21 s either way
    for the 1,772 packets of the sample captures), so json.dumps it is.

    The MIKEY payload lists rendered once per distinct message (:class:`RenderedList`) are not
    encoded again: the object is dumped with a placeholder string in their place, and their
    ``json_text`` replaces the placeholders (the same bytes ``json.dumps`` gives; should the
    placeholder occur elsewhere in the text, the object is dumped as is)."""
    spliced = _rendered_in(obj)
    if not spliced:
        return _json_dumps(obj)
    try:  # the placeholder in place of each list, in dicts made for this output alone
        for holder, _ in spliced:
            holder["mikey"] = _PLACEHOLDER
        parts = _json_dumps(obj).split(_PLACEHOLDER_JSON)
    finally:
        for holder, payloads in spliced:
            holder["mikey"] = payloads
    if len(parts) != len(spliced) + 1:
        return json.dumps(obj)
    out = [parts[0]]
    for (_, payloads), part in zip(spliced, parts[1:]):
        out.append(payloads.json_text)
        out.append(part)
    return "".join(out)


def _not_serializable(o):
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


# json.dumps(obj) with its defaults is JSONEncoder().encode(obj): the C encoder made anew for
# each call with these arguments (markers: the circular-reference check, which these trees
# never need).  Made once here: the same C code, the same text, ~8 us a packet less.
_C_ENCODER = (json.encoder.c_make_encoder(None, _not_serializable,
                                          json.encoder.encode_basestring_ascii, None, ": ", ", ",
                                          False, False, True)
              if json.encoder.c_make_encoder is not None else None)


def _json_dumps(obj) -> str:
    if _C_ENCODER is None:
        return json.dumps(obj)
    return "".join(_C_ENCODER(obj, 0))


_PLACEHOLDER = "\x00mcsec.rendered\x00"  # json.dumps writes it as "\u0000mcsec.rendered\u0000"
_PLACEHOLDER_JSON = json.dumps(_PLACEHOLDER)


def _rendered_in(obj) -> list:
    """(dict, :class:`RenderedList`) for each rendered payload list of ``obj`` — a packet of
    ``--format json`` (its mikey layer's entries: fresh dicts of :func:`add_layers`) or a
    MIKEY record of ``jsonl-records`` (its message doc: a fresh copy, :func:`mikey_json`) —
    in the order ``json.dumps`` meets them."""
    if not isinstance(obj, dict):
        return []
    layers = obj.get("layers")
    if isinstance(layers, dict):
        entries = layers.get("mikey")
        if not entries or not isinstance(entries, list):
            return []
    else:
        entries = (obj.get("mikey"),)
    return [(e, e["mikey"]) for e in entries
            if isinstance(e, dict) and type(e.get("mikey")) is RenderedList]


def dumps_compact(obj) -> str:
    """``json.dumps(obj, separators=(",", ":"))``, by orjson (3 times faster) where the text is
    the same: ASCII output (json.dumps escapes the rest, orjson writes UTF-8 and DEL as is) and
    no float that repr() writes with an exponent (orjson writes ``1e-7`` for ``1e-07`` and
    ``0.000015`` for ``1.5e-05``: a digit-``e±``-digit or ``0.0000`` anywhere sends the object
    to json.dumps; hex strings have neither).  What orjson refuses (an integer beyond 64 bits, a
    non-string key) goes to json.dumps too."""
    if orjson is not None:
        try:
            raw = orjson.dumps(obj)
        except TypeError:
            raw = None
        if (raw is not None and raw.isascii() and b"\x7f" not in raw and b"0.0000" not in raw
                and not _exponent(raw)):
            return raw.decode("ascii")
    return json.dumps(obj, separators=(",", ":"))


def _exponent(raw: bytes) -> bool:
    """Whether ``raw`` holds ``<digit>e-<digit>`` or ``<digit>e+<digit>`` (a float in exponent
    form, or text that looks like one)."""
    for mark in (b"e-", b"e+"):
        i = raw.find(mark)
        while i >= 0:
            if 0 < i < len(raw) - 2 and raw[i - 1] in _DIGITS and raw[i + 2] in _DIGITS:
                return True
            i = raw.find(mark, i + 2)
    return False


_DIGITS = frozenset(b"0123456789")


# -- records -> JSON dicts ------------------------------------------------------------------------
def error_json(f: Failure) -> dict:
    if f.located:
        return {"path": f.path, "offset": f.offset, "reason": f.reason}
    return {"reason": f.reason}


def _decode_error_json(e) -> dict[str, Any]:
    return {"path": e.path, "offset": e.offset, "reason": e.reason}


def _base(rec) -> dict:
    o = rec.origin
    out = {"frame": o.frame, "frames": list(o.frames), "time": o.time, "transport": o.transport,
           "src": o.src, "sport": o.sport, "dst": o.dst, "dport": o.dport}
    if o.channel is not None:
        out["channel"] = o.channel
    ctx = rec.context
    if isinstance(ctx, SipContext):
        out["sip"] = {"start_line": ctx.start_line, "call_id": ctx.call_id, "cseq": ctx.cseq,
                      "from": ctx.from_, "to": ctx.to}
    elif isinstance(ctx, RtspContext):
        info = {"start_line": ctx.start_line, "cseq": ctx.cseq}
        if ctx.request is not None:
            info["request"] = ctx.request
        if isinstance(rec, RtspStreamsRecord):
            info["streams"] = rec.streams
        out["rtsp"] = info
    out["kind"] = rec.kind
    return out


def mikey_json(rec: MikeyRecord, show_secrets: bool = False) -> dict | None:
    """The JSON doc of a MIKEY record: the message (or what decoded of it), then the keyring's
    results, the NULL-encrypted KEMAC's keys, the RFC 3830 §5.4 checks and later verdicts —
    in the order the analysis found them, so the keys come out in that order."""
    if rec.message is None:
        return (None if rec.partial is None
                else mikey_render.to_json(rec.partial, show_secrets=show_secrets))
    if (rec.sakke is None and rec.ticket is None and rec.clear is None and not rec.revisions
            and rec.wire):  # nothing to add inside the message's own JSON: rendered once
        doc = dict(_message_json(rec.wire, rec.message, show_secrets))
        _replay_json(doc, rec)  # top-level keys only: the cached payload list is shared
        return doc
    return annotate_mikey(mikey_render.to_json(rec.message, show_secrets=show_secrets), rec,
                          show_secrets)


class RenderedList(list):
    """The payload list of a message's JSON doc kept in :data:`message_cache.RENDERED`, shared
    by every record of those octets (never modified) and carrying its own JSON text
    (``json_text``: ``json.dumps`` of the list), which :func:`dumps` splices in."""

    __slots__ = ("json_text", "flags")


def _message_json(wire: bytes, msg, show_secrets: bool) -> dict:
    """:func:`codec.mikey.render.to_json` of ``msg`` (decoded from ``wire``), once per distinct
    (octets, show_secrets): the doc's ``"mikey"`` list is a :class:`RenderedList`.  The doc
    itself is shared too: callers copy it before adding keys."""
    key = (wire, show_secrets)
    doc = RENDERED.get(key)
    if doc is None:
        doc = mikey_render.to_json(msg, show_secrets=show_secrets)
        payloads = RenderedList(doc["mikey"])
        payloads.json_text = json.dumps(payloads)
        payloads.flags = None  # mikey_flags' verdicts, once asked
        doc["mikey"] = payloads
        RENDERED.put(key, doc, len(payloads.json_text))
    return doc


def mikey_skeleton(msg) -> dict:
    """A JSON doc of ``msg`` with one empty object per payload (the HDR's with its CSB ID): what
    :func:`annotate_mikey` adds to it are the derived fields alone (the keylog's values)."""
    from codec.mikey.model import HDR

    return {"mikey": [{HDR.JSON: {"mikey.csb_id": msg.hdr.csb_id}}]
            + [{p.JSON: {}} for p in msg.payloads]}


def annotate_mikey(doc: dict, rec, show_secrets: bool) -> dict:
    """Add to ``doc`` (the JSON doc of the record's message, or :func:`mikey_skeleton`) what the
    analysis found, under the JSON names of :mod:`codec.mikey.render_sakke` /
    :mod:`codec.mikey.render_ticket`."""
    show, msg = show_secrets, rec.message
    if isinstance(rec, PskSmimeRecord):  # seed 004: the TRANSFER_INIT of a PSK S/MIME body
        if rec.transfer is not None:
            render_ticket.annotate_json(doc, msg, rec.transfer, show)
        _replay_json(doc, rec)
        return doc
    if rec.sakke is not None:
        render_sakke.annotate_json(doc, msg, rec.sakke, show)
    elif rec.ticket is not None:
        render_ticket.annotate_json(doc, msg, rec.ticket, show, rec.ticket_replay)
    _clear_keys_json(doc, rec, show)
    _replay_json(doc, rec)
    for r in rec.revisions:  # a TRANSFER_INIT checked once its RESOLVE_RESP came
        render_ticket.reannotate_json(doc, msg, r.result, show, r.replay)
    return doc


def _replay_json(doc: dict, rec) -> None:
    if rec.replay_of is not None:
        doc["mikey.replay"] = rec.replay_of
    if rec.clock_skew is not None:
        doc["mikey.clock_skew"] = rec.clock_skew


def _clear_keys_json(doc: dict, rec: MikeyRecord, show: bool) -> None:
    clear = rec.clear
    if clear is None:
        return
    if rec.message.find("KEMAC").mac_alg == 0:  # NULL MAC, NULL encryption: no PSK needed, none
        for p in doc.get("mikey", ()):  # missing (the same verdict with and without --keys)
            obj = p.get("mikey.kemac")
            if obj and str(obj.get("mikey.kemac.error", "")).startswith("no key"):
                obj.pop("mikey.kemac.error")
                obj.pop("mikey.kemac.verified", None)
    doc.setdefault("mikey.findings", []).extend(
        {"path": f.path, "offset": f.offset, "message": f.message} for f in clear.findings)
    if clear.error:
        doc["mikey.clear_keys.error"] = clear.error
    if not rec.clear_used:  # the keyring's PSK opened it already
        return
    hidden = mikey_render.HIDDEN
    doc["mikey.ticket.session_keys"] = [
        {"mikey.ticket.cs_id": s.cs_id, "mikey.ticket.prot_type": s.prot_type,
         "mikey.ticket.spi": s.spi.hex(),
         "mikey.ticket.tek": s.tek.hex() if show else hidden,
         "mikey.ticket.salt": s.salt.hex() if show else hidden,
         "mikey.ticket.ssrc": s.ssrc, "mikey.ticket.roc": s.roc,
         "mikey.ticket.srtp_transform": s.transform.name,
         "mikey.ticket.keys_from": "NULL-encrypted KEMAC (keys in the clear)"}
        for s in clear.sessions]
    if rec.clear_key_error:
        doc.setdefault("mikey.clear_keys.error", rec.clear_key_error)


def _psk_smime_json(rec: PskSmimeRecord, out: dict, show: bool) -> None:
    res = rec.result
    out.update(ok=res.ok, error=res.error, proof_of_origin=res.proof_of_origin,
               replay=res.replay, notes=res.notes)
    if rec.message is not None:
        out["mikey"] = annotate_mikey(mikey_render.to_json(rec.message, show_secrets=show), rec,
                                      show)
    elif rec.message_error is not None:
        out["mikey_error"] = error_json(rec.message_error)
    if res.ok:
        out["content"] = (res.content.decode("utf-8", "replace") if show
                          else f"<{len(res.content)} octets decrypted; --show-secrets>")


def _media_json(rec: MediaRecord, out: dict, show: bool) -> None:
    res = rec.result
    out.update(ok=res.ok, mki=res.mki.hex(), keys=res.label, ssrc=res.ssrc)
    if res.error:
        out["error"] = {"reason": res.error}
    if res.floor:
        out["floor"] = res.floor
    if res.floor_control:  # floor control is signalling, not a secret: shown decoded
        out["floor_control"] = res.floor_control
    if res.floor_errors:
        out["floor_errors"] = [_decode_error_json(e) for e in res.floor_errors]
    if res.ok:
        out["plaintext"] = (res.plaintext.hex() if show
                            else f"<{len(res.plaintext)} octets decrypted; --show-secrets>")
    if rec.rtsp_stream is not None:  # sent from ports an RTSP SETUP tied to a stream
        out["rtsp_stream"] = rec.rtsp_stream
    if rec.keyed_by:
        out["keyed_by"] = rec.keyed_by


def _kms_json(rec: KmsRecord, out: dict) -> None:
    if rec.error is not None:
        out["error"] = error_json(rec.error)
        return
    doc = rec.document
    if doc.request is not None:
        out["kms_request"] = doc.request
        return
    out["kms"] = {"certificates": [k.uri for k in doc.certificates],
                  "key_sets": [{"uri": u.uri, "period": u.period,
                                "keys": [n for n in ("rsk", "ssk", "pvt")
                                         if getattr(u, n) is not None]}
                               for u in doc.key_sets], "notes": doc.notes}


def record_json(rec, show_secrets: bool = False) -> dict:
    """The ``--format jsonl-records`` dict of one record (:mod:`dissectors.pcap.records`)."""
    if isinstance(rec, AnomalyRecord):
        if rec.flow is None:
            return {"kind": "anomaly", "frame": rec.frame, "layer": rec.layer, "what": rec.what}
        out = {"kind": "anomaly", "layer": rec.layer, "flow": rec.flow}
        if rec.direction is not None:
            out["direction"] = rec.direction
        if rec.frames is not None:
            out.update(frame=rec.frame, frames=rec.frames)
        out["what"] = rec.what
        return out
    if isinstance(rec, NoteRecord):
        out = {"kind": "note", "layer": rec.layer, "message": rec.message}
        if rec.frame is not None:
            out["frame"] = rec.frame
        return out
    if isinstance(rec, CaptureFault):
        return {"kind": "capture-error", "offset": rec.offset, "after_frame": rec.after_frame,
                "error": str(rec)}
    if isinstance(rec, dict):  # a record already rendered
        return rec
    out = _base(rec)
    show = show_secrets
    if isinstance(rec, MikeyRecord):
        out["carrier"] = rec.carrier
        if rec.error is not None:
            out["error"] = error_json(rec.error)
        doc = mikey_json(rec, show)
        if doc is not None:
            out["mikey"] = doc
    elif isinstance(rec, MediaRecord):
        _media_json(rec, out, show)
    elif isinstance(rec, CmsRecord):
        from codec.cms import render as cms_render

        out["smime_type"] = rec.smime_type
        if rec.error is not None:
            out["error"] = error_json(rec.error)
            return out
        out["cms"] = rec.layer if isinstance(rec.layer, dict) else cms_render.to_json(rec.layer)
        if isinstance(rec.opened, OpenedJson):  # a record pickled in another process
            out["cms_open"] = rec.opened.shown if show else rec.opened.hidden
        elif rec.opened is not None:
            out["cms_open"] = cms_render.result_json(rec.opened, show)
        if rec.findings:
            out["findings"] = [{"path": f.path, "offset": f.offset, "message": f.message}
                               for f in rec.findings]
    elif isinstance(rec, PskSmimeRecord):
        _psk_smime_json(rec, out, show)
    elif isinstance(rec, MsrpRecord):
        if rec.decrypted:
            out["decrypted"] = rec.decrypted
        if rec.error is not None:
            out["error"] = error_json(rec.error)
        else:
            fields = dict(rec.fields)
            if rec.data is not None:
                fields["msrp.data"] = (rec.data.decode("utf-8", "replace") if show
                                       else f"<{len(rec.data)} octets; --show-secrets>")
            out["msrp"] = fields
    elif isinstance(rec, KmsRecord):
        _kms_json(rec, out)
    elif isinstance(rec, CarrierErrorRecord):
        out["error"] = error_json(rec.error)
    return out


def records_json(records, show_secrets: bool = False) -> list[dict]:
    """:func:`record_json` of each record."""
    return [record_json(r, show_secrets) for r in records]


# -- records -> the layers of a packet ----------------------------------------------------------------
def add_field(layer: dict, name: str, value) -> None:
    """Set a field; a field met again becomes a list (repeated fields, as tshark gives them)."""
    old = layer.get(name)
    if old is None:
        layer[name] = value
    elif isinstance(old, list):
        old.append(value)
    else:
        layer[name] = [old, value]


def _layer_entry(rec: dict) -> dict:
    if rec.get("kind") == "mikey":
        entry = dict(rec.get("mikey") or {})
        entry["mcsec.carrier"] = rec.get("carrier")
        if rec.get("error"):
            entry["mcsec.error"] = rec["error"]
        return entry
    if rec.get("kind") == "msrp" and rec.get("msrp"):
        entry = dict(rec["msrp"])
        if rec.get("decrypted"):
            entry["mcsec.decrypted"] = rec["decrypted"]
        return entry
    if rec.get("kind") == "psk-smime":  # its MIKEY message goes to the packet's mikey layer
        return {k: v for k, v in rec.items() if k not in BASE_KEYS + ("mikey", "mikey_error")}
    return {k: v for k, v in rec.items() if k not in BASE_KEYS}


def add_layers(layers: dict, rec: dict) -> None:
    """A record's entries in the packet's layers: the MIKEY message of a seed 004 PSK S/MIME
    body is shown in the ``mikey`` layer, as Wireshark shows the multipart's application/mikey
    part, so that one filter (``mikey.*``) finds every MIKEY message."""
    kind = rec.get("kind")
    if kind == "sip":  # a SIP message that does not parse: an error in the (dict) sip layer
        sip = layers.get("sip")
        if not isinstance(sip, dict):
            sip = layers["sip"] = {}
        add_field(sip, "mcsec.error", rec.get("error"))
        return
    layers.setdefault(_layer_name(kind), []).append(_layer_entry(rec))
    if kind == "psk-smime" and (rec.get("mikey") or rec.get("mikey_error")):
        entry = dict(rec.get("mikey") or {}, **{"mcsec.carrier": PSK_SMIME_CARRIER})
        if rec.get("mikey_error"):
            entry["mcsec.error"] = rec["mikey_error"]
        layers.setdefault("mikey", []).append(entry)


def _layer_name(kind: str | None) -> str:
    if kind in ("anomaly", "capture-error", "note"):
        return f"mcsec.{kind}"
    return kind or "mcsec.unknown"


def new_packet(frame, rec: dict | None) -> dict:
    pkt = {"frame": frame}
    if rec is not None and "src" in rec:
        pkt["time"] = rec.get("time")
        if rec.get("frames") and len(rec["frames"]) > 1:
            pkt["frames"] = rec["frames"]
        for k in ("src", "dst", "sport", "dport", "transport"):
            pkt[k] = rec.get(k)
    pkt["layers"] = {}
    return pkt


# -- text ---------------------------------------------------------------------------------------------
def brief_line(pkt: dict) -> str:
    """One summary line per packet (``--brief``)."""
    head = f"{pkt['frame']:>6} {pkt.get('time') or 0:.6f} "
    if pkt.get("src") is not None:
        head += (f"{pkt['src']}:{pkt.get('sport', '')} -> {pkt['dst']}:{pkt.get('dport', '')} "
                 f"{(pkt.get('transport') or '').upper()}")
    parts = []
    layers = pkt["layers"]
    sip = layers.get("sip")
    if isinstance(sip, dict) and sip:
        parts.append("SIP " + str(sip.get("sip.Method") or sip.get("sip.Status-Code", "")))
        if sip.get("mcsec.error"):
            parts.append("SIP ERROR")
    for e in layers.get("mikey", []):
        hdr = ((e.get("mikey") or [{}])[0]).get("mikey.hdr", {})
        s = f"MIKEY {hdr.get('mikey.type_name', '?')}"
        if "mikey.3gpp.key_type" in hdr:
            s += f" {hdr['mikey.3gpp.key_type']}"
        flags = mikey_flags(e)
        parts.append(s + (f" ({flags})" if flags else ""))
    for e in layers.get("cms", []):
        op = e.get("cms_open")
        parts.append(f"CMS {e.get('smime_type')}" + (
            "" if op is None else " opened" if op.get("cms.ok", op.get("ok")) else " FAILED")
            + (" ERROR" if e.get("error") else ""))
    for e in layers.get("psk-smime", []):
        parts.append("PSK S/MIME " + ("opened" if e.get("ok") else "FAILED"))
    for kind in MEDIA_KINDS:
        for e in layers.get(kind, []):
            parts.append(f"{kind.upper()} " + ("ok" if e.get("ok") else "FAILED")
                         + (f" floor {e['floor'].get('name')}" if isinstance(e.get("floor"), dict)
                            and e["floor"].get("name") else ""))
    for e in layers.get("kms-xml", []):
        parts.append("KMS XML" + (" ERROR" if e.get("error") else ""))
    for k in ("mcsec.anomaly", "mcsec.capture-error", "mcsec.note"):
        if layers.get(k):
            parts.append(f"{len(layers[k])} {k[6:]}(s)")
    return head + ("  " + "; ".join(parts) if parts else "")


def mikey_flags(e: dict) -> str:
    if e.get("mcsec.error"):
        return "DECODE ERROR"
    payloads = e.get("mikey")
    if type(payloads) is RenderedList:  # shared by every copy of the message: found once
        if payloads.flags is None:
            payloads.flags = _payload_flags(payloads)
        return payloads.flags
    return _payload_flags(payloads)


def _payload_flags(payloads) -> str:
    flags = []
    for p in payloads or []:
        for obj in p.values():
            if not isinstance(obj, dict):
                continue
            for check in ("sign", "kemac", "v", "ticket"):
                if f"mikey.{check}.verified" in obj:
                    verdict = obj[f"mikey.{check}.verified"]  # None: present but not checked
                    flags.append(f"{check} " + ("not checked" if verdict is None
                                                else "ok" if verdict else "FAILED"))
            if "mikey.sakke.ssv" in obj:
                flags.append("decrypted")
            if "mikey.sakke.error" in obj:
                flags.append("not decrypted")
    return ", ".join(flags)


def packet_text(pkt: dict, records_text) -> str:
    """``--format text``: the packet's summary line, then each object's tree lines."""
    lines = [brief_line(pkt)]
    sip = pkt["layers"].get("sip")
    sip = sip if isinstance(sip, dict) else {}
    for k in ("sip.Request-Line", "sip.Status-Line", "sip.Call-ID", "sip.CSeq"):
        if k in sip:
            lines.append(f"    {k}: {sip[k]}")
    for text in records_text:
        lines.extend("  " + t for t in text.split("\n")[1:] if t.strip())
    return "\n".join(lines)



def text_line(rec: dict) -> str:
    """One-line summary of a record, followed by indented verdicts."""
    kind = rec.get("kind")
    if kind in ("anomaly", "capture-error", "note"):
        where = f"frame {rec['frame']}: " if rec.get("frame") else ""
        return f"[{kind}] {where}{rec.get('what') or rec.get('error') or rec.get('message')}"
    head = (f"frame {rec['frame']} {rec['transport']} {rec['src']}:{rec['sport']} -> "
            f"{rec['dst']}:{rec['dport']}")
    sip = rec.get("sip")
    if sip:
        head += f"  SIP {sip['start_line'].split(' SIP/')[0]} (Call-ID {sip['call_id']})"
    lines = [head]
    if kind == "mikey":
        doc = rec.get("mikey") or {}
        hdr = (doc.get("mikey") or [{}])[0].get("mikey.hdr", {})
        lines.append(f"    MIKEY {hdr.get('mikey.type_name', hdr.get('mikey.type'))} via "
                     f"{rec['carrier']}, CSB ID 0x{hdr.get('mikey.csb_id', 0):08x}"
                     + (f", {hdr['mikey.3gpp.key_type']} 0x{hdr['mikey.3gpp.key_id']:08x}"
                        if "mikey.3gpp.key_id" in hdr else ""))
        for k, label in (("mikey.3gpp.sender_uri", "sender (by UID)"),
                         ("mikey.3gpp.receiver_uri", "receiver (by UID)"),
                         ("mikey.3gpp.period_no", "key period")):
            if k in hdr:
                lines.append(f"    {label}: {hdr[k]}")
        for p in doc.get("mikey", []):
            (name, obj), = p.items()
            for k in ("mikey.sign.verified", "mikey.kemac.verified", "mikey.v.verified",
                      "mikey.ticket.verified"):
                if k in obj:
                    lines.append(f"    {k}: {obj[k]}"
                                 + (f" ({obj.get(k.replace('verified', 'error'))})"
                                    if obj.get(k.replace("verified", "error")) else ""))
            if "mikey.sakke.ssv" in obj:
                lines.append(f"    mikey.sakke.ssv: {obj['mikey.sakke.ssv']}")
            if "mikey.sakke.error" in obj:
                lines.append(f"    mikey.sakke.error: {obj['mikey.sakke.error']}")
        for cs in doc.get("mikey.3gpp.crypto_sessions", []):
            lines.append(f"    SRTP CS {cs['mikey.3gpp.cs_id']} MKI {cs['mikey.3gpp.mki']}: key "
                         f"{cs['mikey.3gpp.srtp_master_key']} salt {cs['mikey.3gpp.srtp_master_salt']}")
        for sk in doc.get("mikey.ticket.session_keys", []):
            lines.append(f"    CS {sk['mikey.ticket.cs_id']}: TEK {sk['mikey.ticket.tek']}"
                         + (f" salt {sk['mikey.ticket.salt']}" if "mikey.ticket.salt" in sk else "")
                         + (f", SRTP {sk['mikey.ticket.srtp_transform']}"
                            if "mikey.ticket.srtp_transform" in sk else "")
                         + (f", SSRC 0x{sk['mikey.ticket.ssrc']:08x}"
                            if sk.get("mikey.ticket.ssrc") is not None else "")
                         + (f" ({sk['mikey.ticket.keys_from']})" if "mikey.ticket.keys_from" in sk
                            else "")
                         + (" (TLS-PSK)" if "mikey.ticket.tls_psk" in sk else ""))
        for f in doc.get("mikey.findings", []):  # quirks of the sender (RFC deviations)
            lines.append(f"    finding: {f['path']} at offset {f['offset']}: {f['message']}")
        if "mikey.ticket.replay" in doc:
            lines.append(f"    replay cache: {doc['mikey.ticket.replay']}")
        if "mikey.replay" in doc:
            lines.append(f"    REPLAY: the same I_MESSAGE (CSB ID, RAND, T) was delivered to this "
                         f"host in frame {doc['mikey.replay']} (RFC 3830 §5.4)")
        if "mikey.clock_skew" in doc:
            lines.append(f"    CLOCK SKEW: T is {doc['mikey.clock_skew']:+.3f} s from the capture "
                         f"time (beyond --max-clock-skew)")
    elif kind == "cms":
        opened = rec.get("cms_open")
        lines.append(f"    CMS {rec.get('smime_type')}"
                     + (f": {'opened' if opened.get('cms.ok', opened.get('ok')) else 'FAILED'}"
                        if opened else ""))
    elif kind == "psk-smime":
        lines.append(f"    seed 004 PSK S/MIME: {'opened' if rec['ok'] else 'FAILED: ' + str(rec['error'])}"
                     f", proof of origin {rec['proof_of_origin']}, replay {rec['replay']}")
    elif kind in ("srtp", "srtcp"):
        lines.append(f"    {kind.upper()} SSRC 0x{rec['ssrc']:08x} MKI {rec['mki']} ({rec['keys']}): "
                     + ("authenticated and decrypted" if rec["ok"] else f"FAILED: {rec['error']['reason']}")
                     + (f"; floor control: {rec['floor']}" if rec.get("floor") else ""))
        if rec.get("rtsp_stream"):
            lines.append(f"    RTSP stream {rec['rtsp_stream']['url']} ({rec['rtsp_stream']['side']}"
                         f" {rec['rtsp_stream']['channel']})"
                         + (f", keyed by {rec['keyed_by']}" if rec.get("keyed_by") else ""))
        for msg in rec.get("floor_control", ()):  # TS 24.380 §8.2.3 fields
            for f in msg["rtcp.mcptt.fields"]:
                values = ", ".join(f"{k.rsplit('.', 1)[-1]} {v!r}" for k, v in f.items()
                                   if not k.startswith("rtcp.mcptt.fld_") and not k.endswith("_name"))
                lines.append(f"        {f['rtcp.mcptt.fld_id_name']}: {values}")
        for e in rec.get("floor_errors", ()):
            lines.append(f"    FLOOR CONTROL DECODE ERROR {e['path']} at offset {e['offset']}: "
                         f"{e['reason']}")
    elif kind == "msrp" and rec.get("msrp"):
        m = rec["msrp"]
        lines.append(f"    {m.get('msrp.request.line') or m.get('msrp.response.line')}"
                     + (f" ({rec['decrypted']})" if rec.get("decrypted") else ""))
        for key in ("msrp.from.path", "msrp.to.path", "msrp.messageid", "msrp.byte.range",
                    "msrp.content.type", "msrp.data"):
            if key in m:
                lines.append(f"        {key}: {m[key]}")
    elif kind == "rtsp" and rec.get("rtsp", {}).get("streams"):
        for s in rec["rtsp"]["streams"]:  # RFC 2326 §12.39: the ports a SETUP tied to keys
            for side in ("client", "server"):
                if f"{side}_port" in s:
                    keys = [k for item in s.get(f"{side}_keys", ()) for k in item["keys"]]
                    lines.append(f"    RTSP {s['url']} {side}_port "
                                 f"{'-'.join(map(str, s[side + '_port']))}: "
                                 + (", ".join(keys) if keys else "no keys announced"))
    elif kind == "kms-xml":
        if "kms_request" in rec:
            lines.append(f"    KMS request: {rec['kms_request']}")
        else:
            lines.append(f"    KMS document: {rec.get('kms') or rec.get('error')}")
    if rec.get("error") and kind not in ("psk-smime", "kms-xml", "srtp", "srtcp"):
        e = rec["error"]
        lines.append(f"    DECODE ERROR {e.get('path')} at offset {e.get('offset')}: {e.get('reason')}")
    return "\n".join(lines)
