"""Text of the renderer: ``--format text`` lines (:func:`text_line`, :func:`packet_text`) and
``--brief`` lines (:func:`brief_line`)."""

from __future__ import annotations

from dissectors.pcap.render import MEDIA_KINDS
from dissectors.pcap.render.json_text import RenderedList

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
