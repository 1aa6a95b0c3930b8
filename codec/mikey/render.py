"""MIKEY message <-> JSON records and text trees, derived from the schema metadata.

JSON (``to_json`` / ``from_json``)::

    {"mikey": [{"mikey.hdr": {"mikey.version": 1, ..., "mikey.srtp_id": [{...}]}},
               {"mikey.t": {"mikey.next_payload": 11, "mikey.t.ts_type": 0, ...}}, ...],
     "mikey.trailing": "00",                         # only when present
     "mikey.findings": [{"path": ..., "offset": ..., "message": ...}]}

Keys are Wireshark display-filter names where tshark 4.x has the field, otherwise new names under
``mikey.``.  Integers are numbers, octet strings lowercase hex, identity strings (Wireshark
FT_STRING fields) UTF-8 text — or ``<key>_hex`` when they are not valid UTF-8.  Keys that only
explain (``mikey.t.ntp``, SP parameter names such as ``mikey.sp.encr_alg``, the key-data sub-tree
``mikey.key`` of a NULL-encrypted KEMAC, ``*_name``) are derived: ``from_json`` ignores them.
"""

from __future__ import annotations

import datetime as _dt
import time as _time
from typing import Any

from codec.errors import DecodeError, McsecError
from codec.mikey import registry
from codec.mikey.config import DEFAULT_TLS_PROT_TYPE, prot_type_name
from codec.mikey.message import Message, _PARSE_ERRORS
from codec.mikey.model import (HDR, KEY_DATA, PAYLOAD_CLASSES, CS_ID_MAP_ENTRY, SpParam,
                               Structure)
from codec.mikey.schemas import NEXT_PAYLOAD

HIDDEN = "<hidden>"
NTP_UNIX_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # %b, C locale
PAYLOAD_BY_JSON = {cls.JSON: cls for cls in PAYLOAD_CLASSES.values()}
PAYLOAD_BY_JSON[HDR.JSON] = HDR
DERIVED_SUFFIXES = ("_text", "_name", "_tree")
DERIVED_KEYS = {"mikey.t.ntp", "mikey.tr.ntp", "mikey.key", "mikey.generic_id.srtp",
                "mikey.tp.payloads", "mikey.ticket.tp_payloads", "mikey.ticket.payloads",
                "mikey.ticket.initiator_payloads"}
DERIVED_KEYS |= {ws for _name, ws in registry.SRTP_POLICY_PARAMS.values()}


class JsonError(McsecError, ValueError):
    """A JSON document that does not describe a MIKEY message."""


# ----------------------------------------------------------------------------------------------
def ntp_to_text(value: int, bits: int = 64) -> str:
    """NTP timestamp in tshark's absolute-time format (``Nov  5, 2023 07:28:35.000000000 UTC``)."""
    if bits == 64:
        secs, frac = value >> 32, value & 0xFFFFFFFF
    else:
        secs, frac = value, 0
    nanos = (frac * 1_000_000_000) >> 32
    if bits == 64 and not secs & 0x80000000:
        secs += 1 << 32  # RFC 4330 §3: MSB 0 means era 1 (from 2036-02-07), as tshark shows it
    unix = secs - NTP_UNIX_OFFSET
    if -NTP_UNIX_OFFSET <= unix < 1 << 34:  # 1900..2514: time.gmtime, same calendar, faster
        t = _time.gmtime(unix)
        return (f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d}, {t.tm_year} {t.tm_hour:02d}:{t.tm_min:02d}:"
                f"{t.tm_sec:02d}.{nanos:09d} UTC")
    try:
        t = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(
            seconds=secs - NTP_UNIX_OFFSET)
    except OverflowError:
        return f"(out of range: {secs})"
    return f"{t:%b} {t.day:2d}, {t.year} {t:%H:%M:%S}.{nanos:09d} UTC"


def is_secret(structure: Structure, name: str, meta) -> bool:
    """Whether field ``name`` of ``structure`` holds key material (hidden without --show-secrets)."""
    if meta.secret:
        return True
    # RFC 3830 §6.2: a NULL-encrypted KEMAC carries the key data in the clear
    return structure.NAME == "KEMAC" and name == "encr_data" and structure.encr_alg == 0


def _value_json(structure, name, meta, value, show_secrets, out):
    key = meta.json
    if value is None:
        return
    if is_secret(structure, name, meta) and not show_secrets and value:
        out[key] = HIDDEN
        return
    if isinstance(value, (bytes, bytearray)):
        if meta.display == "text":
            try:
                out[key] = bytes(value).decode("utf-8")
                return
            except UnicodeDecodeError:
                out[key + "_hex"] = bytes(value).hex()
                return
        out[key] = bytes(value).hex()
    elif isinstance(value, list):
        out[key] = list(value)
    else:
        out[key] = value


_PLANS: dict[type, tuple] = {}  # Structure class -> what structure_json does with each field


def _render_plan(cls) -> tuple:
    """Per field of ``cls``, in wire order, the facts ``structure_json`` needs (from the schema
    metadata, worked out once per class)."""
    plan = _PLANS.get(cls)
    if plan is None:
        steps = []
        for name, meta in cls.FIELDS:
            kind = 1 if name in cls.NESTED else 2 if name in cls.PACKED else 0
            # is_secret: always (Meta.secret), or the Encr data of a NULL-encrypted KEMAC
            secret = 1 if meta.secret else 2 if (cls.NAME == "KEMAC" and name == "encr_data") else 0
            steps.append((name, meta, meta.json, name in cls.COMPUTED, name == "next_payload", kind,
                          secret, meta.display == "text", meta.vals, meta.json + "_name",
                          name == "prot_type"))
        plan = _PLANS[cls] = tuple(steps)
    return plan


def structure_json(s: Structure, next_payload=None, show_secrets=False, *,
                   tls_prot_type=DEFAULT_TLS_PROT_TYPE) -> dict:
    """One structure as ``{json key: value}``, in wire order (computed fields resolved)."""
    out: dict[str, Any] = {}
    d = s.__dict__
    auto = None
    for (name, meta, key, computed, is_np, kind, secret, text, vals, name_key,
         is_prot) in _render_plan(type(s)):
        if computed:  # Structure.resolved
            if auto is None:
                auto = s._auto
            if name in auto:
                fn = s.COMPUTED[name]
                value = None if fn is NEXT_PAYLOAD else fn(s)
            else:
                value = d[name]
        else:
            value = d[name]
        if is_np and value is None:
            value = next_payload
        if kind == 1:
            entries = d[name]
            if entries:
                key = meta.extra["entry_json"].get(s._selector(d), meta.json)
                out[key] = [structure_json(e, show_secrets=show_secrets, tls_prot_type=tls_prot_type)
                            for e in entries]
            continue
        if kind == 2 and isinstance(value, list):
            out[key] = [_sp_param_json(p, s, show_secrets, tls_prot_type=tls_prot_type)
                        for p in value]
            continue
        if value is not None:  # _value_json
            if secret and (secret == 1 or s.encr_alg == 0) and not show_secrets and value:
                out[key] = HIDDEN
            elif isinstance(value, (bytes, bytearray)):
                if text:
                    try:
                        out[key] = bytes(value).decode("utf-8")
                    except UnicodeDecodeError:
                        out[key + "_hex"] = bytes(value).hex()
                else:
                    out[key] = bytes(value).hex()
            elif isinstance(value, list):
                out[key] = list(value)
            else:
                out[key] = value
        if vals is not None and isinstance(value, int):  # _label_json
            label = prot_type_name(value, tls_prot_type) if is_prot else vals.get(value)
            if label:
                out[name_key] = label
    _add_derived(s, out, show_secrets, tls_prot_type=tls_prot_type)
    return out


def _label_json(name, meta, value, out, *, tls_prot_type=DEFAULT_TLS_PROT_TYPE) -> None:
    """``<key>_name``: the registry's name for a value (the TLS Prot type is configurable)."""
    if meta.vals is not None and isinstance(value, int):
        label = prot_type_name(value, tls_prot_type) if name == "prot_type" else meta.vals.get(value)
        if label:
            out[meta.json + "_name"] = label


def partial_json(cls, values: dict, show_secrets=False, *, tls_prot_type=DEFAULT_TLS_PROT_TYPE) -> dict:
    """The plain fields of a structure that failed to decode, as far as they were read
    (nested entries and derived values left out)."""
    import types

    view = types.SimpleNamespace(NAME=cls.NAME, **values)
    out: dict[str, Any] = {}
    for name, meta in cls.FIELDS:
        if name not in values or name in cls.NESTED or name in cls.PACKED:
            continue
        value = values[name]
        if not isinstance(value, (int, bytes, bytearray, list)) or (
                isinstance(value, list) and not all(isinstance(x, int) for x in value)):
            continue
        _value_json(view, name, meta, value, show_secrets, out)
        _label_json(name, meta, value, out, tls_prot_type=tls_prot_type)
    return out


def _sp_param_json(p: SpParam, sp, show_secrets, *, tls_prot_type=DEFAULT_TLS_PROT_TYPE):
    d = structure_json(p, show_secrets=show_secrets, tls_prot_type=tls_prot_type)
    if sp.prot_type == registry.PROT_TYPE_SRTP and p.type in registry.SRTP_POLICY_PARAMS and len(p.value) == 1:
        label, ws = registry.SRTP_POLICY_PARAMS[p.type]
        d[ws] = p.value[0]
        d["mikey.sp.param.type_name"] = label
    return d


def srtp_session_data(entry):
    """RFC 6043 §6.1.1 SRTP Session Data of a GENERIC-ID entry, or None when it does not fit."""
    from codec.mikey.model import SrtpSessionData

    if entry.prot_type != registry.PROT_TYPE_SRTP or len(entry.session_data) != (10 if entry.s else 4):
        return None
    import io
    c = SrtpSessionData.compiled().parse_stream(io.BytesIO(entry.session_data), s=entry.s)
    return SrtpSessionData._from_container(c)


def embedded_chains(s: Structure):
    """Payload chains carried inside RFC 6043 TP / TICKET payloads: (key, label, Message|error)."""
    from codec.mikey.message import decode_payloads
    from codec.mikey.model import THDR

    out = []
    if s.NAME in ("TP", "TICKET") and s.tp_data:
        out.append((f"{s.JSON}.tp_payloads" if s.NAME == "TICKET" else "mikey.tp.payloads",
                    "TP Data", _try(decode_payloads, s.tp_data)))
    if s.NAME == "TICKET":
        if s.ticket_type == 1 and s.subtype == 1 and s.ticket_data:  # RFC 6043 Appendix A
            out.append(("mikey.ticket.payloads", "Ticket Data (MIKEY Base Ticket)",
                        _try(decode_payloads, s.ticket_data, first=THDR)))
        if s.initiator_data:
            out.append(("mikey.ticket.initiator_payloads", "Initiator Data",
                        _try(decode_payloads, s.initiator_data)))
    return out


def _try(fn, *a, **kw):
    try:
        return fn(*a, **kw)
    except DecodeError as e:
        return e


def _chain_json(chain, show_secrets, *, tls_prot_type=DEFAULT_TLS_PROT_TYPE):
    if isinstance(chain, DecodeError):
        return {"mikey.decode_error": str(chain)}
    recs = []
    if chain.hdr is not None:
        recs.append({chain.hdr.JSON: structure_json(chain.hdr, chain.next_payload_of(-1),
                                                    show_secrets, tls_prot_type=tls_prot_type)})
    for i, p in enumerate(chain.payloads):
        recs.append({p.JSON: structure_json(p, chain.next_payload_of(i), show_secrets,
                                            tls_prot_type=tls_prot_type)})
    return recs


def _add_derived(s: Structure, out: dict, show_secrets: bool, *, tls_prot_type=DEFAULT_TLS_PROT_TYPE):
    name = s.NAME
    if name == "GenericIdEntry":
        srtp = srtp_session_data(s)
        if srtp is not None:
            out["mikey.generic_id.srtp"] = structure_json(srtp, tls_prot_type=tls_prot_type)
    if name in ("TP", "TICKET"):  # the only structures embedded_chains finds chains in
        for key, _label, chain in embedded_chains(s):
            out[key] = _chain_json(chain, show_secrets, tls_prot_type=tls_prot_type)
    if name in ("T", "TR") and s.ts_type in (0, 1) and isinstance(s.ts_value, int):
        out[f"{s.JSON}.ntp"] = ntp_to_text(s.ts_value)
    if name == "KEMAC" and s.encr_alg == 0 and s.encr_data:
        chain = decode_key_data_chain(s.encr_data)
        if isinstance(chain, list):
            out["mikey.key"] = [structure_json(k, show_secrets=show_secrets, tls_prot_type=tls_prot_type)
                                for k in chain]


def decode_key_data_chain(data: bytes):
    """Key data sub-payloads (RFC 3830 §6.13) of a plaintext KEMAC Encr data field.

    Returns a list of KEY_DATA, or a DecodeError (not raised) when the octets are not a chain.
    """
    import io

    from codec.mikey.message import _locate

    items, stream = [], io.BytesIO(data)
    while True:
        start = stream.tell()
        try:
            k = KEY_DATA._from_container(KEY_DATA.compiled().parse_stream(stream))
        except _PARSE_ERRORS:
            path, off, reason = _locate(KEY_DATA.SCHEMA, data, start)
            return DecodeError(f"key_data[{len(items)}]{path}", off, reason)
        items.append(k)
        if k.next_payload != 20 or stream.tell() >= len(data):
            break
    if stream.tell() != len(data):
        return DecodeError(f"key_data[{len(items)}]", stream.tell(), "octets after the last key data")
    return items


def to_json(msg: Message, show_secrets: bool = False, *, tls_prot_type=DEFAULT_TLS_PROT_TYPE) -> dict:
    """The JSON record of a decoded (or hand-built) message."""
    recs = ([{HDR.JSON: structure_json(msg.hdr, msg.next_payload_of(-1), show_secrets,
                                       tls_prot_type=tls_prot_type)}]
            if msg.hdr is not None else [])
    for i, p in enumerate(msg.payloads):
        recs.append({p.JSON: structure_json(p, msg.next_payload_of(i), show_secrets,
                                            tls_prot_type=tls_prot_type)})
    if msg.incomplete is not None:  # the failing structure's fields before the error
        cls, values = msg.incomplete
        recs.append({cls.JSON: partial_json(cls, values, show_secrets, tls_prot_type=tls_prot_type)})
    out: dict[str, Any] = {"mikey": recs}
    if msg.hdr_padding:
        out["mikey.hdr_padding"] = msg.hdr_padding.hex()
    if msg.trailing:
        out["mikey.trailing"] = msg.trailing.hex()
    if msg.findings:
        out["mikey.findings"] = [{"path": f.path, "offset": f.offset, "message": f.message}
                                 for f in msg.findings]
    return out


# ----------------------------------------------------------------------------------------------
DERIVED_PREFIXES = ("mikey.3gpp.",)
DERIVED_KEYS |= {"mikey.sign.verified", "mikey.sign.region", "mikey.sign.error", "mikey.sakke.ssv",
                 "mikey.sakke.error", "mikey.sakke.unverified", "mikey.kemac.verified",
                 "mikey.kemac.error", "mikey.kemac.keys", "mikey.v.verified", "mikey.v.error",
                 "mikey.ticket.verified", "mikey.ticket.error", "mikey.ticket.tpk_identity",
                 "mikey.ticket.mpk", "mikey.ticket.mpk_i", "mikey.ticket.mpk_r", "mikey.ticket.keys",
                 "mikey.ticket.session_keys", "mikey.ticket.replay", "mikey.ticket.notes",
                 "mikey.replay", "mikey.clock_skew"}  # RFC 3830 §5.4 (codec/mikey/replay.py)


def is_derived_key(key: str) -> bool:
    """Whether JSON key ``key`` is something mcsec derived (not a wire field of the message)."""
    return key in DERIVED_KEYS or key.endswith(DERIVED_SUFFIXES) or key.startswith(DERIVED_PREFIXES)


def structure_from_json(cls, obj: dict, where: str) -> Structure:
    if not isinstance(obj, dict):
        raise JsonError(f"{where}: expected an object")
    by_json = {meta.json: (name, meta) for name, meta in cls.FIELDS}
    values: dict[str, Any] = {}
    nested_json = {}
    for name, meta in cls.FIELDS:
        if name in cls.NESTED:
            for sel, key in meta.extra["entry_json"].items():
                nested_json[key] = (name, CS_ID_MAP_ENTRY[sel])
    for key, v in obj.items():
        if key in nested_json:
            name, sub = nested_json[key]
            if not isinstance(v, list):
                raise JsonError(f"{where}.{key}: expected a list")
            values[name] = [structure_from_json(sub, e, f"{where}.{key}[{i}]")
                            for i, e in enumerate(v)]
            continue
        hexkey = key[:-4] if key.endswith("_hex") else None
        if key not in by_json and hexkey in by_json:
            name, meta = by_json[hexkey]
            values[name] = _from_hex(v, f"{where}.{key}")
            continue
        if key not in by_json:
            if is_derived_key(key):
                continue
            raise JsonError(f"{where}: unknown key {key!r}")
        name, meta = by_json[key]
        if v == HIDDEN:
            raise JsonError(f"{where}.{key}: value is hidden; decode with --show-secrets to get it")
        if name in cls.PACKED:
            if isinstance(v, list):
                values[name] = [structure_from_json(cls.PACKED[name], e, f"{where}.{key}[{i}]")
                                for i, e in enumerate(v)]
            else:
                values[name] = _from_hex(v, f"{where}.{key}")
        elif meta.display == "text":
            if not isinstance(v, str):
                raise JsonError(f"{where}.{key}: expected a string")
            values[name] = v.encode("utf-8")
        elif meta.display == "bytes":
            values[name] = None if v is None else _from_hex(v, f"{where}.{key}")
        elif isinstance(v, list):
            if not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                raise JsonError(f"{where}.{key}: expected a list of integers")
            values[name] = v
        else:
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise JsonError(f"{where}.{key}: expected an integer")
            values[name] = v
    # Fields absent from the JSON: computed ones become auto, others keep their defaults.
    s = cls(**values)
    return s


def _from_hex(v, where):
    if not isinstance(v, str):
        raise JsonError(f"{where}: expected a hex string")
    try:
        return bytes.fromhex(v.replace(":", ""))
    except ValueError:
        raise JsonError(f"{where}: not hex") from None


def from_json(doc: dict) -> Message:
    """The message a ``to_json`` record describes; encoding it gives the original octets."""
    if not isinstance(doc, dict) or not isinstance(doc.get("mikey"), list) or not doc["mikey"]:
        raise JsonError('expected {"mikey": [{"mikey.hdr": {...}}, ...]}')
    recs = doc["mikey"]
    structures = []
    for i, rec in enumerate(recs):
        if not isinstance(rec, dict) or len(rec) != 1:
            raise JsonError(f"mikey[{i}]: expected one {{payload name: fields}} object")
        (key, fields), = rec.items()
        cls = PAYLOAD_BY_JSON.get(key)
        if cls is None:
            raise JsonError(f"mikey[{i}]: unknown payload {key!r}")
        if (cls is HDR) != (i == 0):
            raise JsonError(f"mikey[{i}]: the header must come first, and only once")
        structures.append(structure_from_json(cls, fields, f"mikey[{i}]"))
    trailing = _from_hex(doc.get("mikey.trailing", ""), "mikey.trailing")
    padding = _from_hex(doc.get("mikey.hdr_padding", ""), "mikey.hdr_padding")
    unknown = {k for k in set(doc) - {"mikey", "mikey.trailing", "mikey.hdr_padding",
                                      "mikey.findings"} if not is_derived_key(k)}
    if unknown:
        raise JsonError(f"unknown top-level key(s) {sorted(unknown)}")
    return Message(structures[0], structures[1:], trailing, padding)


# ----------------------------------------------------------------------------------------------
def to_text(msg: Message, show_secrets: bool = False, *, tls_prot_type=DEFAULT_TLS_PROT_TYPE) -> str:
    """An indented tree in the manner of ``tshark -V`` (``tls_prot_type``: the Prot type number
    named TLS, see :mod:`codec.mikey.config`)."""
    lines = ["Multimedia Internet KEYing"]
    if msg.hdr is not None:  # None: the header itself did not decode (its fields: incomplete)
        _text_structure(msg.hdr, "Common Header (HDR)", msg.next_payload_of(-1), 1, lines,
                        show_secrets, tls_prot_type=tls_prot_type)
    if msg.hdr_padding:
        lines.append(f"    Octets after the header: {msg.hdr_padding.hex()}")
    for i, p in enumerate(msg.payloads):
        _text_structure(p, registry.PAYLOAD_TYPES.get(p.TYPE, p.NAME), msg.next_payload_of(i), 1,
                        lines, show_secrets, tls_prot_type=tls_prot_type)
    if msg.incomplete is not None:  # the failing structure's fields before the error
        _text_partial(*msg.incomplete, lines, show_secrets, tls_prot_type=tls_prot_type)
    if msg.trailing:
        lines.append(f"    Trailing octets: {msg.trailing.hex()}")
    for f in msg.findings:
        lines.append(f"    [Note: {f}]")
    return "\n".join(lines) + "\n"


def _fmt(structure, name, meta, value, show_secrets, *, tls_prot_type=DEFAULT_TLS_PROT_TYPE):
    if value is None:
        return None
    if is_secret(structure, name, meta) and not show_secrets and value:
        return HIDDEN
    if isinstance(value, (bytes, bytearray)):
        if meta.display == "text":
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                pass
        return bytes(value).hex() if value else "<MISSING>"
    if isinstance(value, list):
        return ", ".join(str(x) for x in value)
    label = None
    if meta.vals is not None:
        label = prot_type_name(value, tls_prot_type) if name == "prot_type" else meta.vals.get(value)
        label = label or "Unknown"
    if meta.display == "hex":
        text = f"0x{value:0{max(2, (meta.bits or 8) // 4)}x}"
    else:
        text = str(value)
    if label:
        return f"{label} ({text})"
    return text


def _text_partial(cls, values: dict, lines, show_secrets, *,
                  tls_prot_type=DEFAULT_TLS_PROT_TYPE) -> None:
    """The plain fields read of a structure that failed to decode (as :func:`partial_json`)."""
    import types

    title = "Common Header (HDR)" if cls is HDR else registry.PAYLOAD_TYPES.get(cls.TYPE, cls.NAME)
    lines.append(f"    {title} (incomplete)")
    view = types.SimpleNamespace(**{"encr_alg": None, **values, "NAME": cls.NAME})
    for name, meta in cls.FIELDS:
        value = values.get(name)
        if name in cls.NESTED or name in cls.PACKED or not isinstance(
                value, (int, bytes, bytearray)):
            continue
        text = _fmt(view, name, meta, value, show_secrets, tls_prot_type=tls_prot_type)
        if text is not None:
            lines.append(f"        {meta.label}: {text}")


def _text_structure(s, title, next_payload, depth, lines, show_secrets, *,
                    tls_prot_type=DEFAULT_TLS_PROT_TYPE):
    pad = "    " * depth
    lines.append(f"{pad}{title}")
    pad += "    "
    for name, meta in s.FIELDS:
        value = s.resolved(name) if name in s.COMPUTED else s.__dict__[name]
        if name == "next_payload" and value is None:
            value = next_payload
        if name in s.NESTED:
            labels = meta.extra["entry_label"]
            for e in s.__dict__[name]:
                _text_structure(e, labels.get(s._selector(s.__dict__), "Entry"), None,
                                depth + 1, lines, show_secrets, tls_prot_type=tls_prot_type)
            continue
        if name in s.PACKED and isinstance(value, list):
            for prm in value:
                label = registry.SRTP_POLICY_PARAMS.get(prm.type, (f"Type {prm.type}", None))[0] \
                    if s.prot_type == registry.PROT_TYPE_SRTP else f"Type {prm.type}"
                vals = registry.SRTP_PARAM_VALUE_NAMES.get(prm.type) if s.prot_type == 0 else None
                v = int.from_bytes(prm.value, "big") if prm.value else None
                shown = (f"{vals.get(v, 'Unknown')} ({v})" if vals and v is not None
                         else (str(v) if v is not None and len(prm.value) <= 4 else prm.value.hex()))
                lines.append(f"{pad}Policy param: {label}: {shown}")
            continue
        text = _fmt(s, name, meta, value, show_secrets, tls_prot_type=tls_prot_type)
        if text is not None:
            lines.append(f"{pad}{meta.label}: {text}")
    if s.NAME in ("T", "TR") and s.ts_type in (0, 1) and isinstance(s.ts_value, int):
        lines.append(f"{pad}NTP timestamp: {ntp_to_text(s.ts_value)}")
    if s.NAME == "KEMAC" and s.encr_alg == 0 and s.encr_data:
        chain = decode_key_data_chain(s.encr_data)
        if isinstance(chain, list):
            for k in chain:
                _text_structure(k, "Key data (KEY)", None, depth + 1, lines, show_secrets,
                                tls_prot_type=tls_prot_type)
        else:
            lines.append(f"{pad}[Key data does not decode: {chain}]")
    if s.NAME == "GenericIdEntry":
        srtp = srtp_session_data(s)
        if srtp is not None:
            _text_structure(srtp, "SRTP Session Data", None, depth + 1, lines, show_secrets,
                            tls_prot_type=tls_prot_type)
    for _key, label, chain in embedded_chains(s):
        if isinstance(chain, DecodeError):
            lines.append(f"{pad}[{label} does not decode: {chain}]")
            continue
        lines.append(f"{pad}{label}")
        if chain.hdr is not None:
            _text_structure(chain.hdr, "Ticket header (THDR)", chain.next_payload_of(-1),
                            depth + 2, lines, show_secrets, tls_prot_type=tls_prot_type)
        for i, p in enumerate(chain.payloads):
            _text_structure(p, registry.PAYLOAD_TYPES.get(p.TYPE, p.NAME), chain.next_payload_of(i),
                            depth + 2, lines, show_secrets, tls_prot_type=tls_prot_type)
