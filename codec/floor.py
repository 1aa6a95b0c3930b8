"""RTCP and MCPTT floor control (TS 24.380 §8.2): construct schemas, decoding and building.

An SRTCP packet, once opened, is a compound RTCP packet (RFC 3550 §6.1); MCPTT floor control
messages are its APP packets named "MCPT" (TS 24.380 §8.2.2), whose 5-bit subtype is the message
type (bit 0x10: acknowledgement required) and whose application data is a list of fields
(§8.2.3: Field ID, length, value, padded to a multiple of 4 octets).

Every field is an ``F`` with its :class:`~codec.constructs.Meta`, like the MIKEY schemas: the JSON
names come from the schema and are Wireshark's (``rtcp.app.subtype``, ``rtcp.mcptt.fld_id``,
``rtcp.app_data.mcptt.priority`` …), so the decoded view matches what tshark shows for the same
packet in the clear (``tests/test_floor.py``).
"""

from __future__ import annotations

import io
from typing import Any

import construct as c

from codec.constructs import F, Meta
from codec.errors import DecodeError
from codec.rtp import RTCP_HEADER

RTCP_APP = 204  # RFC 3550 §12.1
MCPT = b"MCPT"  # TS 24.380 §8.2.2 floor control (MCPC / MCMC are other APP names)

# RFC 3550 §6.7 APP: after the common header (codec/rtp.py), SSRC/CSRC and a 4-character name
APP_HEAD = c.Struct(
    F("ssrc", c.Int32ub, "rtcp.ssrc.identifier", "Identifier", display="hex"),
    F("name", c.Bytes(4), "rtcp.app.name", "Name (ASCII)", display="text"),
)

# TS 24.380 §8.2.3.1 field IDs (the names Wireshark uses)
FIELD_NAMES = {
    0: "Floor Priority", 1: "Duration", 2: "Reject Cause", 3: "Queue Info",
    4: "Granted Party's Identity", 5: "Permission to Request the Floor", 6: "User ID",
    7: "Queue Size", 8: "Message Sequence-Number", 9: "Queued User ID", 10: "Source",
    11: "Track Info", 12: "Message Type", 13: "Floor Indicator", 14: "SSRC",
    15: "List of Granted Users", 16: "List of SSRCs", 17: "Functional Alias",
    18: "List of Functional Aliases", 19: "Location", 20: "List of Locations",
    21: "Queued Floor Requests Purpose", 22: "List of Queued Users", 23: "Response State",
    24: "Media Flow Control Indicator",
}
# TS 24.380 §8.2.2 message types (subtype & 0x0F; 0x10 = acknowledgement required)
MESSAGE_NAMES = {
    0: "Floor Request", 1: "Floor Granted", 2: "Floor Taken", 3: "Floor Deny",
    4: "Floor Release", 5: "Floor Idle", 6: "Floor Revoke", 8: "Floor Queue Position Request",
    9: "Floor Queue Position Info", 10: "Floor Ack", 11: "Unicast Media Flow Control",
    14: "Floor Queued Cancel", 15: "Floor Release Multi Talker",
}
ACK_REQUIRED = 0x10
(FLOOR_REQUEST, FLOOR_GRANTED, FLOOR_TAKEN, FLOOR_DENY, FLOOR_RELEASE, FLOOR_IDLE,
 FLOOR_REVOKE) = range(7)
FLOOR_PRIORITY, DURATION, GRANTED_PARTYS_IDENTITY = 0, 1, 4  # field IDs used by the generator

# Reject Cause values are named per message (Wireshark: rtcp.app_data.mcptt.rej_cause.*)
REJECT_CAUSE_KEY = {FLOOR_DENY: "rtcp.app_data.mcptt.rej_cause.floor_deny",
                    FLOOR_REVOKE: "rtcp.app_data.mcptt.rej_cause.floor_revoke"}
REJECT_CAUSES = {
    FLOOR_DENY: {1: "Another MCPTT client has permission", 2: "Internal floor control server "
                 "error", 3: "Only one participant", 4: "Retry-after timer has not expired",
                 5: "Receive only", 6: "No resources available", 7: "Queue full",
                 255: "Other reason"},
    FLOOR_REVOKE: {1: "Only one MCPTT client", 2: "Media burst too long",
                   3: "No permission to send a Media Burst", 4: "Media Burst pre-empted",
                   6: "No resources available", 255: "Other reason"},
}
SUBTYPE = Meta("rtcp.app.subtype", "Subtype", vals=MESSAGE_NAMES, bits=5)  # RTCP header count

_TEXT = c.GreedyString("utf8")


def _text(name, json, label):
    return F(name, _TEXT, json, label, display="text")


def _u8(name, json, label, **kw):
    return F(name, c.Int8ub, json, label, **kw)


def _u16(name, json, label, **kw):
    return F(name, c.Int16ub, json, label, **kw)


# TS 24.380 §8.2.3: the value of each field, by Field ID (spare octets carry no metadata)
FIELD_VALUES = {
    0: c.Struct(_u8("priority", "rtcp.app_data.mcptt.priority", "Floor Priority"),  # §8.2.3.2
                "_spare" / c.Int8ub),
    1: c.Struct(_u16("duration", "rtcp.app_data.mcptt.duration", "Duration")),  # §8.2.3.3
    2: c.Struct(_u16("rej_cause", "rtcp.app_data.mcptt.rej_cause", "Reject Cause",  # §8.2.3.4
                     extra={"per_message": (REJECT_CAUSE_KEY, REJECT_CAUSES)}),
                _text("rej_phrase", "rtcp.mcptt.rej_phrase", "Reject Phrase")),
    3: c.Struct(_u8("queue_pos_inf", "rtcp.app_data.mcptt.queue_pos_inf",  # §8.2.3.5
                    "Queue Position Info"),
                _u8("queue_pri_lev", "rtcp.app_data.mcptt.queue_pri_lev", "Queue Priority Level")),
    4: c.Struct(_text("granted_partys_id", "rtcp.mcptt.granted_partys_id",  # §8.2.3.6
                      "Granted Party's Identity")),
    5: c.Struct(_u16("perm_to_req_floor", "rtcp.app_data.mcptt.perm_to_req_floor",  # §8.2.3.7
                     "Permission to Request the Floor")),
    6: c.Struct(_text("user_id", "rtcp.app_data.mcptt.user_id", "User ID")),  # §8.2.3.8
    7: c.Struct(_u16("queue_size", "rtcp.app_data.mcptt.queue_size", "Queue Size")),  # §8.2.3.9
    8: c.Struct(_u16("msg_seq_num", "rtcp.app_data.mcptt.msg_seq_num",  # §8.2.3.10
                     "Message Sequence-Number")),
    9: c.Struct(_text("queued_user_id", "rtcp.mcptt.queued_user_id",  # §8.2.3.11
                      "Queued User ID")),
    10: c.Struct(_u16("source", "rtcp.app_data.mcptt.source", "Source")),  # §8.2.3.12
    12: c.Struct(_u8("msg_type", "rtcp.app_data.mcptt.msg_type", "Message Type",  # §8.2.3.14
                     vals=MESSAGE_NAMES),
                 "_spare" / c.Int8ub),
    13: c.Struct(_u16("floor_ind", "rtcp.app_data.mcptt.floor_ind", "Floor Indicator",  # §8.2.3.15
                      display="hex")),
    14: c.Struct(F("ssrc", c.Int32ub, "rtcp.app_data.mcptt.rtcp", "SSRC",  # §8.2.3.16
                   display="hex"),
                 "_spare" / c.Int16ub),
    17: c.Struct(_text("func_alias", "rtcp.mcptt.func_alias", "Functional Alias")),  # §8.2.3.20
}
FIELD = c.Struct(  # the padding that follows (to 32 bits) is not part of the field
    _u8("id", "rtcp.mcptt.fld_id", "Field ID", vals=FIELD_NAMES),
    _u8("length", "rtcp.mcptt.fld_len", "Length"),
    F("value", c.Bytes(c.this.length), "rtcp.mcptt.fld_val", "Field Value", display="hex"),
)
_FIELD_META = {sc.name: sc.meta for sc in FIELD.subcons}
_APP_META = {sc.name: sc.meta for sc in APP_HEAD.subcons}


def message_name(subtype: int) -> str:
    name = SUBTYPE.vals.get(subtype & 0x0F, f"subtype {subtype & 0x0F}")
    return name + ("(ack req)" if subtype & ACK_REQUIRED else "")


def _field_json(subtype: int, fid: int, value: bytes, path: str, offset: int) -> dict:
    fid_meta = _FIELD_META["id"]
    out: dict[str, Any] = {fid_meta.json: fid,
                           fid_meta.json + "_name": fid_meta.vals.get(fid, "Unknown field"),
                           _FIELD_META["length"].json: len(value)}
    schema = FIELD_VALUES.get(fid)
    if schema is None:
        out[_FIELD_META["value"].json] = value.hex()
        return out
    try:
        parsed = schema.parse_stream(io.BytesIO(value))
    except (c.ConstructError, UnicodeDecodeError) as e:
        raise DecodeError(f"{path}.value", offset + 2,
                          f"{FIELD_NAMES.get(fid, fid)}: {str(e).splitlines()[-1]}") from None
    for sc in schema.subcons:
        meta = getattr(sc, "meta", None)
        v = parsed[sc.name]
        if meta is None or v == "":  # spare octets; an absent Reject Phrase
            continue
        key = meta.json
        if "per_message" in meta.extra:  # Reject Cause: key and value names depend on the message
            keys, names = meta.extra["per_message"]
            key = keys.get(subtype & 0x0F, key)
            name = names.get(subtype & 0x0F, {}).get(v)
            if name:
                out[key + "_name"] = name
        out[key] = v
    return out


def decode_app(packet: bytes) -> dict:
    """One RTCP APP packet "MCPT" (TS 24.380 §8.2.2) as JSON; raises DecodeError."""
    stream = io.BytesIO(packet)
    try:
        hdr = RTCP_HEADER.parse_stream(stream)
        app = APP_HEAD.parse_stream(stream)
    except c.ConstructError:
        raise DecodeError("rtcp.app", 0, f"APP packet of {len(packet)} octet(s) is shorter "
                                         f"than its 12-octet header") from None
    subtype = hdr._bits.count
    out: dict[str, Any] = {SUBTYPE.json: subtype, SUBTYPE.json + "_name": message_name(subtype),
                           _APP_META["ssrc"].json: app.ssrc,
                           _APP_META["name"].json: app.name.decode("latin-1"),
                           "rtcp.mcptt.fields": []}
    end = min(len(packet), 4 * (hdr.length + 1))
    data = packet[12:end]
    pos = 0
    while pos < len(data):
        path = f"rtcp.mcptt.fields[{len(out['rtcp.mcptt.fields'])}]"
        if len(data) - pos < 2:
            if not any(data[pos:]):  # trailing zero padding
                break
            raise DecodeError(path, 12 + pos, f"{len(data) - pos} octet(s) left: a field needs 2")
        try:
            f = FIELD.parse(data[pos:])
        except c.ConstructError:
            raise DecodeError(f"{path}.value", 12 + pos + 2,
                              f"length {data[pos + 1]} runs past the end of the packet "
                              f"({len(data) - pos - 2} octet(s) left)") from None
        out["rtcp.mcptt.fields"].append(_field_json(subtype, f.id, f.value, path, 12 + pos))
        pos += 2 + f.length + -(2 + f.length) % 4
    return out


def floor_messages(plain: bytes) -> list[tuple[int, dict | DecodeError]]:
    """The MCPT APP packets of a compound RTCP packet (RFC 3550 §6.1): (offset, JSON or the
    DecodeError of that packet).  Other packet types are skipped by their length."""
    out = []
    pos = 0
    while pos + 4 <= len(plain):
        hdr = RTCP_HEADER.parse(plain[pos:pos + 4])
        size = 4 * (hdr.length + 1)
        if hdr._bits.version != 2 or pos + size > len(plain):
            break
        if hdr.pt == RTCP_APP and plain[pos + 8:pos + 12] == MCPT:
            try:
                out.append((pos, decode_app(plain[pos:pos + size])))
            except DecodeError as e:
                out.append((pos, DecodeError(e.path, pos + e.offset, e.reason)))
        pos += size
    return out


def field(fid: int, value: bytes) -> bytes:
    """One TS 24.380 §8.2.3 field: ID, length, value, padding to 32 bits."""
    return FIELD.build({"id": fid, "length": len(value), "value": value}) + bytes(
        -(2 + len(value)) % 4)


def app_packet(ssrc: int, subtype: int, fields: bytes = b"") -> bytes:
    """An RTCP APP packet named "MCPT" carrying floor control message ``subtype``."""
    body = APP_HEAD.build({"ssrc": ssrc, "name": MCPT}) + fields
    return RTCP_HEADER.build({"_bits": {"version": 2, "padding": False, "count": subtype},
                              "pt": RTCP_APP, "length": (4 + len(body)) // 4 - 1}) + body
