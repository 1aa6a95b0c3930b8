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
- JSON text (:mod:`.json_text`: :func:`dumps`, byte-identical to ``json.dumps`` with its defaults).

Text and brief lines live in :mod:`.text`, JSON text in :mod:`.json_text`; their names are
imported here, so callers use this one module.
"""

from __future__ import annotations

import json
from typing import Any

from codec.mikey import render as mikey_render
from codec.mikey import render_sakke, render_ticket
from dissectors.pcap.capture import CaptureFault
from dissectors.pcap.message_cache import RENDERED
from dissectors.pcap.render.json_text import RenderedList
from dissectors.pcap.records import (AnomalyRecord, CarrierErrorRecord, CmsRecord, Failure,
                                     KmsRecord, MediaRecord, MikeyRecord, MsrpRecord, NoteRecord,
                                     OpenedJson, PskSmimeRecord, RtspContext, RtspStreamsRecord, SipContext)

BASE_KEYS = ("frame", "frames", "time", "transport", "src", "sport", "dst", "dport", "sip",
             "kind")
MEDIA_KINDS = ("srtp", "srtcp")
PSK_SMIME_CARRIER = "seed 004 multipart (application/mikey)"



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


# the text and JSON-text halves of the renderer (imported last: text.py reads MEDIA_KINDS)
from dissectors.pcap.render.json_text import dumps, dumps_compact  # noqa: E402
from dissectors.pcap.render.text import (brief_line, mikey_flags, packet_text,  # noqa: E402
                                         text_line)

__all__ = ["BASE_KEYS", "MEDIA_KINDS", "PSK_SMIME_CARRIER", "dumps", "dumps_compact", "error_json",
           "mikey_json", "mikey_skeleton", "annotate_mikey", "record_json", "records_json",
           "add_field", "add_layers", "new_packet", "brief_line", "mikey_flags", "packet_text",
           "text_line", "RenderedList"]
