"""JSON and text for :func:`codec.mikey.ticket.process` results (PSK MIKEY, MIKEY-TICKET).

JSON keys (derived; ``encode`` ignores them):
- KEMAC: ``mikey.kemac.verified`` (RFC 3830 MAC), ``mikey.kemac.error``, ``mikey.kemac.keys`` —
  the decrypted key data sub-payloads under Wireshark's ``mikey.key.*`` names (keys and salts are
  secrets);
- V: ``mikey.v.verified``, ``mikey.v.error`` (RFC 6043 §5.5 MAC);
- TICKET: ``mikey.ticket.verified`` (the ticket's own MAC), ``mikey.ticket.error``,
  ``mikey.ticket.tpk_identity``, ``mikey.ticket.mpk`` / ``.mpk_i`` / ``.mpk_r`` (secrets),
  ``mikey.ticket.keys`` (key data of the ticket);
- top level: ``mikey.ticket.session_keys`` (``cs_id``, ``prot_type``, ``spi``, ``tek``, ``salt``,
  ``tls_psk``, ``tls_psk_identity``), ``mikey.ticket.replay`` ("accepted", "replay", "stale") and
  ``mikey.ticket.notes``.
"""

from __future__ import annotations

from codec.mikey.message import Message
from codec.mikey.ticket import TicketResult

HIDDEN = "<hidden>"


def _secret(v, show):
    return None if v is None else (bytes(v).hex() if show else HIDDEN)


def _keys_json(keys, show):
    from codec.mikey.render import structure_json

    return [structure_json(k, show_secrets=show) for k in keys]


def annotate_json(doc: dict, msg: Message, res: TicketResult, show: bool,
                  replay: str | None = None) -> dict:
    records = doc["mikey"]
    for rec, p in zip(records[1:], msg.payloads):
        (obj,) = rec.values()
        if p.NAME == "KEMAC":
            if res.mode == "psk":
                obj["mikey.kemac.verified"] = res.verified
                if res.error:
                    obj["mikey.kemac.error"] = res.error
            if res.kemac_keys:
                obj["mikey.kemac.keys"] = _keys_json(res.kemac_keys, show)
            if res.kemac_error:
                obj["mikey.kemac.error"] = res.kemac_error
        elif p.NAME == "V" and res.mode == "ticket":
            obj["mikey.v.verified"] = res.verified
            if res.error:
                obj["mikey.v.error"] = res.error
        elif p.NAME == "TICKET" and res.ticket is not None:
            t = res.ticket
            obj["mikey.ticket.verified"] = t.verified
            if t.error:
                obj["mikey.ticket.error"] = t.error
            if t.tpk_identity:
                obj["mikey.ticket.tpk_identity"] = t.tpk_identity
            for name in ("mpk", "mpk_i", "mpk_r"):
                if getattr(t, name) is not None:
                    obj[f"mikey.ticket.{name}"] = _secret(getattr(t, name), show)
            if t.keys:
                obj["mikey.ticket.keys"] = _keys_json(t.keys, show)
    if res.mode == "ticket" and res.error and not any("V" == p.NAME for p in msg.payloads):
        doc["mikey.ticket.error"] = res.error
    if res.session_keys:
        doc["mikey.ticket.session_keys"] = [
            {"mikey.ticket.cs_id": s.cs_id, "mikey.ticket.prot_type": s.prot_type,
             "mikey.ticket.spi": s.spi.hex(), "mikey.ticket.tek": _secret(s.tek, show),
             **({"mikey.ticket.salt": _secret(s.salt, show)} if s.salt is not None else {}),
             **({"mikey.ticket.tls_psk": _secret(s.tek, show),
                 "mikey.ticket.tls_psk_identity": s.tls_psk_identity} if s.is_tls else {})}
            for s in res.session_keys]
    if replay is not None:
        doc["mikey.ticket.replay"] = replay
    if res.notes:
        doc["mikey.ticket.notes"] = list(res.notes)
    return doc


_PAYLOAD_KEYS = ("mikey.kemac.verified", "mikey.kemac.error", "mikey.kemac.keys",
                 "mikey.v.verified", "mikey.v.error", "mikey.ticket.verified",
                 "mikey.ticket.error", "mikey.ticket.tpk_identity", "mikey.ticket.mpk",
                 "mikey.ticket.mpk_i", "mikey.ticket.mpk_r", "mikey.ticket.keys")
_TOP_KEYS = ("mikey.ticket.error", "mikey.ticket.session_keys", "mikey.ticket.replay",
             "mikey.ticket.notes")


def reannotate_json(doc: dict, msg: Message, res: TicketResult, show: bool,
                    replay: str | None = None) -> dict:
    """Replace what :func:`annotate_json` added to ``doc`` by the verdict of ``res`` (a
    TRANSFER_INIT checked once its RESOLVE_RESP came); every other key is left alone."""
    for rec in doc.get("mikey", ())[1:]:
        for obj in rec.values():
            for k in _PAYLOAD_KEYS:
                obj.pop(k, None)
    for k in _TOP_KEYS:
        doc.pop(k, None)
    return annotate_json(doc, msg, res, show, replay)


def text_lines(res: TicketResult, show: bool, replay: str | None = None) -> list[str]:
    pad = "    "
    title = "PSK MIKEY" if res.mode == "psk" else "MIKEY-TICKET"
    out = [f"{pad}[{title} with provisioned keys]"]
    add = lambda k, v: out.append(f"{pad * 2}{k}: {v}")  # noqa: E731
    what = "KEMAC MAC" if res.mode == "psk" else "V MAC"
    if res.verified is True:
        add(what, "verified" + (f" (PSK of {res.psk_identity})" if res.psk_identity else ""))
    elif res.verified is False:
        add(what, f"FAILED: {res.error}")
    elif res.error:
        add(what, f"not checked: {res.error}")
    t = res.ticket
    if t is not None:
        add("Ticket", "verified" if t.verified else f"{'FAILED' if t.verified is False else 'not checked'}"
                                                      f": {t.error}")
        for name in ("mpk", "mpk_i", "mpk_r"):
            if getattr(t, name) is not None:
                add(name.upper().replace("_", ""), _secret(getattr(t, name), show))
    for k in res.kemac_keys + (t.keys if t is not None else []):
        add(f"Key data ({_key_type(k.type)})", f"key {_secret(k.key_data, show)}"
            + (f", salt {_secret(k.salt, show)}" if k.salt else "")
            + (f", SPI {k.spi.hex()}" if k.kv == 1 else ""))
    if res.kemac_error:
        add("KEMAC", f"FAILED: {res.kemac_error}")
    for s in res.session_keys:
        if s.is_tls:
            add(f"Crypto session {s.cs_id} (TLS)", f"TLS-PSK {_secret(s.tek, show)}, PSK identity "
                                                   f"{s.tls_psk_identity!r}, SPI {s.spi.hex()}")
        else:
            add(f"Crypto session {s.cs_id}", f"TEK {_secret(s.tek, show)}"
                + (f", salt {_secret(s.salt, show)}" if s.salt else "") + f", SPI {s.spi.hex()}")
    if replay is not None:
        add("Replay cache", replay)
    for n in res.notes:
        out.append(f"{pad * 2}[Note: {n}]")
    return out


def _key_type(t):
    from codec.mikey.registry import KEY_TYPES

    return KEY_TYPES.get(t, str(t))
