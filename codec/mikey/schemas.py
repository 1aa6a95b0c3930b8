"""One construct schema per MIKEY wire structure, named after the RFC that defines it.

Every named field carries a :class:`~codec.constructs.Meta`: its JSON key (the Wireshark
display-filter name where tshark 4.x has one, marked ``wireshark=True``; otherwise a new name under
the same prefix), its label and value table, and — for length, count and next-payload fields —
how encode computes it.  Nothing else in the project restates these layouts.
"""

from __future__ import annotations

import construct as c
from construct import this

from codec.mikey import registry
from codec.constructs import F, BitFields, IntSwitch, LengthSwitch, Meta, Reject, VarBytes

u8, u16, u32 = c.Int8ub, c.Int16ub, c.Int32ub

NEXT_PAYLOAD = "__next_payload__"  # computed by the message from the following payload


def NP():
    """The 8-bit Next Payload field that starts every payload except HDR and SIGN (RFC 3830 §6)."""
    return F("next_payload", u8, "mikey.next_payload", "Next Payload", vals=registry.PAYLOAD_TYPES,
             computed=NEXT_PAYLOAD, wireshark=True)


def _len(field):
    return lambda p: len(getattr(p, field))


def KV_FIELDS(prefix: str, ws: bool):
    """Key validity data (RFC 3830 §6.14), selected by the KV nibble of the same payload."""
    return [
        c.Switch(this._flags.kv, {0: c.Pass, 1: c.Pass, 2: c.Pass},
                 default=Reject(this._flags.kv, "KV type")),
        F("spi_len", c.If(this._flags.kv == 1, u8), f"{prefix}.kv.spi.len", "Valid SPI len",
          computed=lambda p: len(p.spi) if p.kv == 1 else None, wireshark=ws, bits=8),
        F("spi", c.If(this._flags.kv == 1, VarBytes("spi_len")), f"{prefix}.kv.spi", "Valid SPI",
          display="bytes", wireshark=ws),
        F("vf_len", c.If(this._flags.kv == 2, u8), f"{prefix}.kv.from.len", "Valid from len",
          computed=lambda p: len(p.vf) if p.kv == 2 else None, wireshark=ws, bits=8),
        F("vf", c.If(this._flags.kv == 2, VarBytes("vf_len")), f"{prefix}.kv.from", "Valid from",
          display="bytes", wireshark=ws),
        F("vt_len", c.If(this._flags.kv == 2, u8), f"{prefix}.kv.to.len", "Valid to len",
          computed=lambda p: len(p.vt) if p.kv == 2 else None, wireshark=ws, bits=8),
        F("vt", c.If(this._flags.kv == 2, VarBytes("vt_len")), f"{prefix}.kv.to", "Valid to",
          display="bytes", wireshark=ws),
    ]


# ----------------------------------------------------------------------------------------------
# CS ID map entries (HDR CS ID map info)

# RFC 3830 §6.1.1 SRTP-ID map entry
SRTP_ID = c.Struct(
    F("policy_no", u8, "mikey.srtp_id.policy_no", "Policy No", wireshark=True),
    F("ssrc", u32, "mikey.srtp_id.ssrc", "SSRC", display="hex", wireshark=True),
    F("roc", u32, "mikey.srtp_id.roc", "ROC", display="hex", wireshark=True),
)

# RFC 6043 §6.1.1 GENERIC-ID map entry; seed 004 Annex X.1 for the TLS Prot type
GENERIC_ID = c.Struct(
    F("cs_id", u8, "mikey.generic_id.cs_id", "CS ID"),
    F("prot_type", u8, "mikey.generic_id.prot_type", "Prot type", vals=registry.PROT_TYPES),
    "_flags" / BitFields(1, [
        ("s", 1, Meta("mikey.generic_id.s", "S", bits=1, mask=0x80)),
        ("n_p", 7, Meta("mikey.generic_id.p_count", "#P", bits=7, mask=0x7F,
                        computed=_len("policies"))),
    ]),
    F("policies", c.Array(this._flags.n_p, u8), "mikey.generic_id.policies", "Ps"),
    F("session_data_len", u16, "mikey.generic_id.session_data_len", "Session Data Length",
      computed=_len("session_data")),
    F("session_data", VarBytes("session_data_len"), "mikey.generic_id.session_data", "Session Data",
      display="bytes"),
    F("spi_len", u8, "mikey.generic_id.spi_len", "SPI Length", computed=_len("spi")),
    F("spi", VarBytes("spi_len"), "mikey.generic_id.spi", "SPI", display="bytes"),
)

# minisip private "IPSEC4-ID" map entry (map type 7): accepted on input, never emitted by mcsec
IPSEC4_ID = c.Struct(
    F("policy_no", u8, "mikey.ipsec4_id.policy_no", "Policy No"),
    F("spi", u32, "mikey.ipsec4_id.spi", "SPI", display="hex"),
    F("src_addr", u32, "mikey.ipsec4_id.src_addr", "Source address", display="hex"),
    F("dst_addr", u32, "mikey.ipsec4_id.dst_addr", "Destination address", display="hex"),
)

# ----------------------------------------------------------------------------------------------
# RFC 3830 §6.1 Common header
HDR = c.Struct(
    F("version", u8, "mikey.version", "Version", wireshark=True),
    F("data_type", u8, "mikey.type", "Data Type", vals=registry.DATA_TYPES, wireshark=True),
    F("next_payload", u8, "mikey.next_payload", "Next Payload", vals=registry.PAYLOAD_TYPES,
      computed=NEXT_PAYLOAD, wireshark=True),
    "_octet3" / BitFields(1, [
        ("v", 1, Meta("mikey.v.set", "V", bits=1, mask=0x80, wireshark=True)),
        ("prf_func", 7, Meta("mikey.prf_func", "PRF func", vals=registry.PRF_FUNCS, bits=7, mask=0x7F,
                             wireshark=True)),
    ]),
    F("csb_id", u32, "mikey.csb_id", "CSB ID", display="hex", wireshark=True),
    F("n_cs", u8, "mikey.cs_count", "#CS", computed=_len("cs_id_map"), wireshark=True),
    F("cs_id_map_type", u8, "mikey.cs_id_map_type", "CS ID map type", vals=registry.CS_ID_MAP_TYPES,
      wireshark=True),
    F("cs_id_map", c.Switch(this.cs_id_map_type, {
        0: c.Array(this.n_cs, SRTP_ID),
        1: c.Array(0, SRTP_ID),  # RFC 4563: the Empty map carries no map info whatever #CS says
        2: c.Array(this.n_cs, GENERIC_ID),
        7: c.Array(this.n_cs, IPSEC4_ID),
    }, default=Reject("cs_id_map_type", "CS ID map type")), "mikey.cs_id_map", "CS ID map info",
      extra={"entry_json": {0: "mikey.srtp_id", 2: "mikey.generic_id", 7: "mikey.ipsec4_id"},
             "entry_label": {0: "SRTP ID", 2: "GENERIC ID", 7: "IPSEC4 ID"}}),
)

# ----------------------------------------------------------------------------------------------
# Payloads

# RFC 3830 §6.2 Key data transport payload (KEMAC); RFC 6043 adds AES-KW and HMAC-SHA-256
KEMAC = c.Struct(
    NP(),
    F("encr_alg", u8, "mikey.kemac.encr_alg", "Encr alg", vals=registry.KEMAC_ENCR_ALGS, wireshark=True),
    F("encr_data_len", u16, "mikey.kemac.key_data_len", "Key data len", computed=_len("encr_data"),
      wireshark=True),
    F("encr_data", VarBytes("encr_data_len"), "mikey.kemac.key_data", "Key data", display="bytes",
      wireshark=True),
    F("mac_alg", u8, "mikey.kemac.mac_alg", "Mac alg", vals=registry.MAC_ALGS, wireshark=True),
    F("mac", LengthSwitch("mac_alg", registry.MAC_LENGTHS, "MAC algorithm"), "mikey.kemac.mac", "MAC",
      display="bytes", wireshark=True),
)

# RFC 3830 §6.3 Envelope data payload (PKE)
PKE = c.Struct(
    NP(),
    "_flags" / BitFields(2, [
        ("c", 2, Meta("mikey.pke.c", "C", vals=registry.PKE_CACHE, bits=2, mask=0xC000, wireshark=True)),
        ("data_len", 14, Meta("mikey.pke.len", "Data len", bits=14, mask=0x3FFF, wireshark=True,
                              computed=_len("data"))),
    ]),
    F("data", VarBytes(this._flags.data_len), "mikey.pke.data", "Data", display="bytes",
      wireshark=True),
)

# RFC 3830 §6.4 DH data payload
DH = c.Struct(
    NP(),
    F("dh_group", u8, "mikey.dh.group", "DH-Group", vals=registry.DH_GROUPS, wireshark=True),
    F("dh_value", LengthSwitch("dh_group", registry.DH_VALUE_LENGTHS, "DH group"), "mikey.dh.value",
      "DH-Value", display="bytes", wireshark=True),
    "_flags" / BitFields(1, [
        ("reserved", 4, Meta("mikey.dh.reserv", "Reserv", bits=4, mask=0xF0, wireshark=True,
                             display="hex")),
        ("kv", 4, Meta("mikey.dh.kv", "KV", vals=registry.KV_TYPES, bits=4, mask=0x0F, wireshark=True)),
    ]),
    *KV_FIELDS("mikey.dh", ws=False),
)

# RFC 3830 §6.5 Signature payload (no Next Payload field: always last); RFC 6509 §4.3 ECCSI
SIGN = c.Struct(
    "_flags" / BitFields(2, [
        ("s_type", 4, Meta("mikey.sign.type", "Signature type", vals=registry.SIGN_TYPES, bits=4,
                           mask=0xF000, wireshark=True)),
        ("signature_len", 12, Meta("mikey.sign.len", "Signature len", bits=12, mask=0x0FFF,
                                   wireshark=True, computed=_len("signature"))),
    ]),
    F("signature", VarBytes(this._flags.signature_len), "mikey.sign.data", "Signature",
      display="bytes", wireshark=True),
)

# RFC 3830 §6.6 Timestamp payload (TS type 3 NTP-UTC-32: RFC 6043 §6.6)
T = c.Struct(
    NP(),
    F("ts_type", u8, "mikey.t.ts_type", "TS type", vals=registry.TS_TYPES, wireshark=True),
    F("ts_value", IntSwitch("ts_type", registry.TS_VALUE_LENGTHS, "TS type"), "mikey.t.ts_value",
      "TS value", display="hex"),
)

# RFC 3830 §6.7 ID payload
ID = c.Struct(
    NP(),
    F("id_type", u8, "mikey.id.type", "ID type", vals=registry.ID_TYPES, wireshark=True),
    F("id_len", u16, "mikey.id.len", "ID len", computed=_len("id_data"), wireshark=True),
    F("id_data", VarBytes("id_len"), "mikey.id.data", "ID", display="text", wireshark=True),
)

# RFC 3830 §6.7 Certificate payload
CERT = c.Struct(
    NP(),
    F("cert_type", u8, "mikey.cert.type", "Certificate type", vals=registry.CERT_TYPES, wireshark=True),
    F("cert_len", u16, "mikey.cert.len", "Certificate len", computed=_len("cert_data"),
      wireshark=True),
    F("cert_data", VarBytes("cert_len"), "mikey.cert.data", "Certificate", display="bytes",
      wireshark=True),
)

# RFC 3830 §6.8 Cert hash payload
CHASH = c.Struct(
    NP(),
    F("hash_func", u8, "mikey.chash.hash_func", "Hash func", vals=registry.HASH_FUNCS),
    F("hash", LengthSwitch("hash_func", registry.HASH_LENGTHS, "hash function"), "mikey.chash.hash",
      "Hash", display="bytes"),
)

# RFC 3830 §6.9 Verification message payload
V = c.Struct(
    NP(),
    F("auth_alg", u8, "mikey.v.auth_alg", "Auth alg", vals=registry.MAC_ALGS, wireshark=True),
    F("ver_data", LengthSwitch("auth_alg", registry.MAC_LENGTHS, "authentication algorithm"),
      "mikey.v.ver_data", "Ver data", display="bytes", wireshark=True),
)

# RFC 3830 §6.10 policy parameter (Type, Length, Value), inside SP
SP_PARAM = c.Struct(
    F("type", u8, "mikey.sp.param.type", "Type", wireshark=True),
    F("length", u8, "mikey.sp.param.len", "Length", computed=_len("value"), wireshark=True),
    # Wireshark 4.0's field really is spelled "patam".
    F("value", VarBytes("length"), "mikey.sp.patam.value", "Value", display="bytes", wireshark=True),
)

# RFC 3830 §6.10 Security Policy payload
SP = c.Struct(
    NP(),
    F("policy_no", u8, "mikey.sp.no", "Policy No", wireshark=True),
    F("prot_type", u8, "mikey.sp.proto_type", "Protocol type", vals=registry.PROT_TYPES, wireshark=True),
    F("policy_param_len", u16, "mikey.sp.param_len", "Policy param length",
      computed=lambda p: (sum(2 + len(x.value) for x in p.policy_params)
                          if isinstance(p.policy_params, list) else len(p.policy_params)),
      wireshark=True),
    F("policy_params", VarBytes("policy_param_len"), "mikey.sp.params", "Policy param",
      display="bytes", extra={"packed": "SP_PARAM"}),
)

# RFC 3830 §6.11 RAND payload
RAND = c.Struct(
    NP(),
    F("rand_len", u8, "mikey.rand.len", "RAND len", computed=_len("rand"), wireshark=True),
    F("rand", VarBytes("rand_len"), "mikey.rand.data", "RAND", display="bytes", wireshark=True),
)

# RFC 3830 §6.12 Error payload
ERR = c.Struct(
    NP(),
    F("error_no", u8, "mikey.err.no", "Error no.", vals=registry.ERROR_NUMBERS, wireshark=True),
    F("reserved", VarBytes(2), "mikey.err.reserved", "Reserved", display="bytes", wireshark=True),
)

# RFC 6043 §6.5 Timestamp payload with role (TR)
TR = c.Struct(
    NP(),
    F("ts_role", u8, "mikey.tr.ts_role", "TS role", vals=registry.TS_ROLES),
    F("ts_type", u8, "mikey.tr.ts_type", "TS type", vals=registry.TS_TYPES),
    F("ts_value", IntSwitch("ts_type", registry.TS_VALUE_LENGTHS, "TS type"), "mikey.tr.ts_value",
      "TS value", display="hex"),
)

# RFC 6043 §6.6 ID payload with role (IDR); roles 6/7 from RFC 6509 §4.4
IDR = c.Struct(
    NP(),
    F("id_role", u8, "mikey.id.role", "ID role", vals=registry.ID_ROLES, wireshark=True),
    F("id_type", u8, "mikey.id.type", "ID type", vals=registry.ID_TYPES, wireshark=True),
    F("id_len", u16, "mikey.id.len", "ID len", computed=_len("id_data"), wireshark=True),
    F("id_data", VarBytes("id_len"), "mikey.id.data", "ID", display="text", wireshark=True),
)

# RFC 6043 §6.7 RAND payload with role (RANDR)
RANDR = c.Struct(
    NP(),
    F("rand_role", u8, "mikey.randr.rand_role", "RAND role", vals=registry.RAND_ROLES),
    F("rand_len", u8, "mikey.randr.len", "RAND len", computed=_len("rand")),
    F("rand", VarBytes("rand_len"), "mikey.randr.data", "RAND", display="bytes"),
)

# RFC 6043 §6.10 Ticket Policy payload (TP) and §6.11 Ticket payload (TICKET) share their start:
# Ticket Type, Subtype, Version, PRF Func, flags D..O, Res, TP Data length, TP Data.
def _ticket_policy_fields(prefix):
    flags = [
        ("flag_d", 1, Meta(f"{prefix}.flag_d", "D: ticket generated by the KMS (1) or the Initiator (0)", bits=1)),
        ("flag_e", 1, Meta(f"{prefix}.flag_e", "E: Ticket Resolve exchange mandatory", bits=1)),
        ("flag_f", 1, Meta(f"{prefix}.flag_f", "F: TRANSFER_RESP shall be sent", bits=1)),
        ("flag_g", 1, Meta(f"{prefix}.flag_g", "G: Responder generates RANDRr", bits=1)),
        ("flag_h", 1, Meta(f"{prefix}.flag_h", "H: RANDRi used in TGK derivation", bits=1)),
        ("flag_i", 1, Meta(f"{prefix}.flag_i", "I: key forking", bits=1)),
        ("flag_j", 1, Meta(f"{prefix}.flag_j", "J: ticket may be reused", bits=1)),
        ("flag_k", 1, Meta(f"{prefix}.flag_k", "K: KMS changed the policy or KEMAC", bits=1)),
        ("flag_l", 1, Meta(f"{prefix}.flag_l", "L: Initiator may supply session keys", bits=1)),
        ("flag_m", 1, Meta(f"{prefix}.flag_m", "M: Responder may supply session keys", bits=1)),
        ("flag_n", 1, Meta(f"{prefix}.flag_n", "N: Initiator can initiate TRANSFER_INIT per RFC 6043", bits=1)),
        ("flag_o", 1, Meta(f"{prefix}.flag_o", "O: Responder can process per RFC 6043", bits=1)),
    ]
    return [
        NP(),
        F("ticket_type", u16, f"{prefix}.ticket_type", "Ticket Type", vals=registry.TICKET_TYPES),
        F("subtype", u8, f"{prefix}.subtype", "Subtype"),
        F("version", u8, f"{prefix}.version", "Version"),
        "_flags" / BitFields(3, [
            ("prf_func", 7, Meta(f"{prefix}.prf_func", "PRF Func", vals=registry.PRF_FUNCS, bits=7)),
            *flags,
            ("reserved", 5, Meta(f"{prefix}.reserved", "Res", bits=5)),
        ]),
        F("tp_data_len", u16, f"{prefix}.tp_data_len", "TP Data length", computed=_len("tp_data")),
        # first octet: type of the first payload, then a chain of MIKEY payloads (RFC 6043 §6.10)
        F("tp_data", VarBytes("tp_data_len"), f"{prefix}.tp_data", "TP Data", display="bytes"),
    ]


TP = c.Struct(*_ticket_policy_fields("mikey.tp"))

TICKET = c.Struct(
    *_ticket_policy_fields("mikey.ticket"),
    F("ticket_data_len", u16, "mikey.ticket.data_len", "Ticket Data length",
      computed=_len("ticket_data")),
    F("ticket_data", VarBytes("ticket_data_len"), "mikey.ticket.data", "Ticket Data",
      display="bytes"),
    F("initiator_data_len", u16, "mikey.ticket.initiator_data_len", "Initiator Data length",
      computed=_len("initiator_data")),
    F("initiator_data", VarBytes("initiator_data_len"), "mikey.ticket.initiator_data",
      "Initiator Data", display="bytes"),
)

# RFC 6043 Appendix A: the MIKEY base ticket's Ticket Data starts with a ticket header (THDR),
# which has no payload type of its own: Next Payload, THDR Data length, THDR Data.
THDR = c.Struct(
    NP(),
    F("thdr_data_len", u16, "mikey.thdr.data_len", "THDR Data length", computed=_len("thdr_data")),
    F("thdr_data", VarBytes("thdr_data_len"), "mikey.thdr.data", "THDR Data", display="bytes"),
)

# RFC 6043 §6.1.1 Session Data of a GENERIC-ID entry with Prot type SRTP (ROC, SEQ iff S = 1)
SRTP_SESSION_DATA = c.Struct(
    F("ssrc", u32, "mikey.generic_id.srtp.ssrc", "SSRC", display="hex"),
    F("roc", c.If(this._.s == 1, u32), "mikey.generic_id.srtp.roc", "ROC", display="hex", bits=32),
    F("seq", c.If(this._.s == 1, u16), "mikey.generic_id.srtp.seq", "SEQ", bits=16),
)


# RFC 3830 §6.13 Key data sub-payload (inside KEMAC Encr data); salt only for TGK+SALT, TEK+SALT
_HAS_SALT = (this._flags.type == 1) | (this._flags.type == 3) | (this._flags.type == 5)
KEY_DATA = c.Struct(
    NP(),
    "_flags" / BitFields(1, [
        ("type", 4, Meta("mikey.key.type", "Type", vals=registry.KEY_TYPES, bits=4, mask=0xF0,
                         wireshark=True)),
        ("kv", 4, Meta("mikey.key.kv", "KV", vals=registry.KV_TYPES, bits=4, mask=0x0F, wireshark=True)),
    ]),
    F("key_data_len", u16, "mikey.key.data.len", "Key len", computed=_len("key_data"),
      wireshark=True),
    F("key_data", VarBytes("key_data_len"), "mikey.key.data", "Key", display="bytes",
      wireshark=True, secret=True),
    F("salt_len", c.If(_HAS_SALT, u16),
      "mikey.key.salt.len", "Salt key len", bits=16, wireshark=True,
      computed=lambda p: len(p.salt) if p.type in registry.KEY_TYPES_WITH_SALT else None),
    F("salt", c.If(_HAS_SALT, VarBytes("salt_len")),
      "mikey.key.salt", "Salt key", display="bytes", wireshark=True, secret=True),
    *KV_FIELDS("mikey.key", ws=True),
)

# RFC 3830 §6.15 General extension payload (TS 33.180 type 7 kept as bytes here)
GEN_EXT = c.Struct(
    NP(),
    F("type", u8, "mikey.ext.type", "Extension type", vals=registry.GEN_EXT_TYPES, wireshark=True),
    F("length", u16, "mikey.ext.len", "Length", computed=_len("data"), wireshark=True),
    F("data", VarBytes("length"), "mikey.ext.data", "Data", display="bytes", wireshark=True),
)

# RFC 6509 §4.2 SAKKE payload
SAKKE = c.Struct(
    NP(),
    F("sakke_params", u8, "mikey.sakke.params", "SAKKE params", vals=registry.SAKKE_PARAMS,
      wireshark=True),
    F("id_scheme", u8, "mikey.sakke.idscheme", "ID scheme", vals=registry.SAKKE_ID_SCHEMES,
      wireshark=True),
    F("sakke_data_len", u16, "mikey.sakke.len", "SAKKE data length", computed=_len("sakke_data"),
      wireshark=True),
    F("sakke_data", VarBytes("sakke_data_len"), "mikey.sakke.data", "SAKKE data", display="bytes",
      wireshark=True),
)

# The payload table: type number -> (class name, schema, JSON/Wireshark subtree, label)
PAYLOAD_SCHEMAS = {
    1: ("KEMAC", KEMAC, "mikey.kemac"),
    2: ("PKE", PKE, "mikey.pke"),
    3: ("DH", DH, "mikey.dh"),
    4: ("SIGN", SIGN, "mikey.sign"),
    5: ("T", T, "mikey.t"),
    6: ("ID", ID, "mikey.id"),
    7: ("CERT", CERT, "mikey.cert"),
    8: ("CHASH", CHASH, "mikey.chash"),
    9: ("V", V, "mikey.v"),
    10: ("SP", SP, "mikey.sp"),
    11: ("RAND", RAND, "mikey.rand"),
    12: ("ERR", ERR, "mikey.err"),
    13: ("TR", TR, "mikey.tr"),
    14: ("IDR", IDR, "mikey.idr"),
    15: ("RANDR", RANDR, "mikey.randr"),
    16: ("TP", TP, "mikey.tp"),
    17: ("TICKET", TICKET, "mikey.ticket"),
    20: ("KEY_DATA", KEY_DATA, "mikey.key"),
    21: ("GEN_EXT", GEN_EXT, "mikey.ext"),
    26: ("SAKKE", SAKKE, "mikey.sakke"),
}
