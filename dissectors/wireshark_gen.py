"""Generate the Wireshark Lua plugin (``wireshark/mcsec_mikey.lua``) from the MIKEY schemas.

Nothing here restates a wire layout.  The generator walks the construct trees of
:mod:`codec.mikey.schemas` (``F`` fields with their :class:`~codec.mikey.fields.Meta`,
``BitFields`` groups, ``VarBytes``, ``LengthSwitch``/``IntSwitch`` with their ``Reject`` default,
``If``, ``Array``, the CS ID map ``Switch``) and emits one Lua function per structure, one
``ProtoField`` per JSON key (the Wireshark display-filter name), and the value tables of
:mod:`codec.mikey.registry`.  A small generic runtime (``_RUNTIME``, below) walks payload chains,
reports malformed structures as expert info in the codec's own words (``<path> at offset <n>:
<reason>``, the text of :class:`codec.DecodeError`), and adds the derived views that
:mod:`codec.mikey.render` adds (NTP times, SRTP session data, SRTP policy parameter names, the key
data of a NULL KEMAC, the payload chains inside RFC 6043 TP/TICKET payloads).

Field names: Wireshark refuses two protocols with one filter name, but allows one field
abbreviation in several protocols when the field types are compatible.  The plugin therefore
registers its protocol as ``mcsec_mikey`` (preferences live there) and puts its tree under an
``FT_PROTOCOL`` field named ``mikey``, so ``tshark -T json`` shows a ``mikey`` layer holding the
same ``mikey.*`` keys as ``mcsec decode --format json``, and display filters match both this
plugin and the built-in dissector.  Types follow Wireshark's for the names it already has (1-bit
fields are FT_BOOLEAN, as Wireshark's ``mikey.v.set``).
"""

from __future__ import annotations

import construct as c
import construct.expr as cexpr
import operator
from dataclasses import dataclass

from codec.mikey import config, registry as R, schemas as S
from codec.mikey.fields import BitFields, Reject, VarBytes

PLUGIN_PATH = "wireshark/mcsec_mikey.lua"
PROTO_NAME = "mcsec_mikey"
VERSION = "1"


# ----------------------------------------------------------------------------------------------
# Lua literals
def lua_str(s: str) -> str:
    out = []
    for ch in s.encode("utf-8"):
        if ch in (0x22, 0x5C):
            out.append("\\" + chr(ch))
        elif 0x20 <= ch < 0x7F:
            out.append(chr(ch))
        else:
            out.append(f"\\{ch:03d}")
    return '"' + "".join(out) + '"'


def lua_vals(vals: dict) -> str:
    return "{" + ", ".join(f"[{k}] = {lua_str(v)}" for k, v in sorted(vals.items())) + "}"


# ----------------------------------------------------------------------------------------------
# construct expressions (``this`` paths) -> Lua expressions over the value table ``v``
_OPS = {operator.eq: "==", operator.ne: "~=", operator.or_: "or", operator.and_: "and",
        operator.lt: "<", operator.gt: ">", operator.le: "<=", operator.ge: ">="}


def lua_expr(e) -> str:
    if isinstance(e, bool):
        return "true" if e else "false"
    if isinstance(e, int):
        return str(e)
    if isinstance(e, str):  # a field name of the same structure (VarBytes("len_field"))
        return f"v.{e}"
    if isinstance(e, cexpr.BinExpr):
        return f"({lua_expr(e.lhs)} {_OPS[e.op]} {lua_expr(e.rhs)})"
    if isinstance(e, cexpr.Path):
        parts = []
        p = e
        while getattr(p, "_Path__parent") is not None:
            parts.append(getattr(p, "_Path__field"))
            p = getattr(p, "_Path__parent")
        out = "v"
        for name in reversed(parts):
            if name == "_":
                out += "._parent"
            elif name.startswith("_"):
                continue  # bit-field groups are flattened into the structure's values
            else:
                out += f".{name}"
        return out
    raise TypeError(f"cannot translate {e!r} to Lua")


# ----------------------------------------------------------------------------------------------
@dataclass
class Field:
    abbrev: str
    label: str
    kind: str  # uint8/16/24/32/64, bool, bytes, string, none, abstime
    base: str = "base.DEC"
    vals: str | None = None  # name of a Lua value table
    mask: int | None = None
    bool_bits: int = 8


class Generator:
    def __init__(self):
        self.fields: dict[str, Field] = {}
        self.vals: dict[str, dict] = {}
        self.funcs: list[str] = []
        self.lens: dict[str, dict] = {}

    # -- registries ------------------------------------------------------------------------
    def val_table(self, vals: dict) -> str:
        return self._named_table(self.vals, vals, "VALS")

    def len_table(self, lengths: dict) -> str:
        return self._named_table(self.lens, lengths, "LENS")

    @staticmethod
    def _named_table(tables: dict, table: dict, prefix: str) -> str:
        """The Lua name of ``table``: one already emitted, else its codec registry name."""
        for name, v in tables.items():
            if v == table:
                return name
        for name in sorted(dir(R)):
            if name.isupper() and getattr(R, name) == table:
                tables[name] = table
                return name
        name = f"{prefix}_{len(tables)}"
        tables[name] = table
        return name

    def field(self, f: Field) -> str:
        old = self.fields.get(f.abbrev)
        if old is not None:
            if (old.kind, old.mask) != (f.kind, f.mask) and not (
                    old.kind.startswith("uint") and f.kind.startswith("uint") and not old.mask
                    and not f.mask):
                raise ValueError(f"{f.abbrev}: two incompatible definitions ({old} / {f})")
            return f.abbrev
        self.fields[f.abbrev] = f
        return f.abbrev

    # -- one structure -> one Lua function ----------------------------------------------------
    def structure(self, fname: str, schema: c.Struct, owner: str) -> None:
        body: list[str] = []
        for sc in schema.subcons:
            body += self._subcon(sc, owner)
        code = [f"D.{fname} = function(st, off, tree, path, v)",
                "  local o = {}", "  v._off = o", "  local n, item, k"]
        code += ["  " + line for line in body]
        code += ["  return off", "end", ""]
        self.funcs.append("\n".join(code))

    def _subcon(self, sc, owner) -> list[str]:
        if not sc.name:
            inner = sc
            if isinstance(inner, c.Switch) and isinstance(inner.default, Reject):
                rej = inner.default
                sel = rej.selector_name()
                cond = " or ".join(f"k == {k}" for k in sorted(inner.cases))
                return [f"k = {lua_expr(inner.keyfunc)}",
                        f"if not ({cond}) then return reject(st, tree, path, \"{sel}\", o.{sel}, {lua_str(rej.what)}, k) end"]
            raise TypeError(f"{owner}: unnamed subcon {sc!r} not supported")
        name = sc.name
        sub = sc.subcon
        if isinstance(sub, BitFields):
            return self._bits(name, sub, owner)
        meta = sc.meta
        cond = None
        if isinstance(sub, c.IfThenElse):
            cond = lua_expr(sub.condfunc)
            sub = sub.thensubcon
        lines = [f"o.{name} = off"]
        lines += self._value(name, sub, meta, owner)
        if cond is not None:
            return [f"o.{name} = off", f"if {cond} then"] + ["  " + x for x in lines[1:]] + ["end"]
        return lines

    def _int_field(self, meta, nbytes, mask=None) -> str:
        base = "base.HEX" if meta.display == "hex" else "base.DEC"
        vals = None
        if meta.vals is not None and meta.vals is not R.PROT_TYPES and nbytes <= 4:
            vals = self.val_table(meta.vals)
        kind = f"uint{8 * nbytes}"
        if mask is not None and meta.bits == 1:
            return self.field(Field(meta.json, meta.label, "bool", mask=mask, bool_bits=8 * nbytes))
        return self.field(Field(meta.json, meta.label, kind, base, vals, mask))

    def _value(self, name, sub, meta, owner) -> list[str]:
        p = lua_str("." + name)
        if isinstance(sub, c.FormatField):
            fld = self._int_field(meta, sub.length)
            out = [f"off, item = U(st, tree, v, \"{name}\", path .. {p}, off, {sub.length}, F[{lua_str(fld)}])",
                   "if not off then return nil end"]
            if meta.vals is R.PROT_TYPES:
                out.append(f"prot_label(item, v.{name})")
            return out
        if isinstance(sub, c.Switch) and all(isinstance(x, c.FormatField) for x in sub.cases.values()):
            lengths = {k: x.length for k, x in sub.cases.items()}
            tab = self.len_table(_lengths_of(sub))
            fld = self._int_field(meta, max(lengths.values()))
            sel = sub.default.selector_name()
            return [f"n = LENS.{tab}[v.{sel}]",
                    f"if n == nil then return reject(st, tree, path, \"{sel}\", o.{sel}, {lua_str(sub.default.what)}, v.{sel}) end",
                    f"off, item = U(st, tree, v, \"{name}\", path .. {p}, off, n, F[{lua_str(fld)}])",
                    "if not off then return nil end"]
        if isinstance(sub, c.Switch) and all(isinstance(x, VarBytes) for x in sub.cases.values()):
            tab = self.len_table(_lengths_of(sub))
            sel = sub.default.selector_name()
            return [f"n = LENS.{tab}[v.{sel}]",
                    f"if n == nil then return reject(st, tree, path, \"{sel}\", o.{sel}, {lua_str(sub.default.what)}, v.{sel}) end"
                    ] + self._bytes(name, "n", meta, owner)
        if isinstance(sub, VarBytes):
            return [f"n = {lua_expr(sub.length)}"] + self._bytes(name, "n", meta, owner)
        if isinstance(sub, c.Array) and isinstance(sub.subcon, c.FormatField):
            fld = self._int_field(meta, sub.subcon.length)
            return [f"v.{name} = {{}}",
                    f"for i = 0, {lua_expr(sub.count)} - 1 do",
                    f"  off, item = U(st, tree, nil, nil, path .. {p} .. \"[\" .. fmt_int(i) .. \"]\", off, {sub.subcon.length}, F[{lua_str(fld)}])",
                    "  if not off then return nil end",
                    "end"]
        if isinstance(sub, c.Switch) and all(isinstance(x, c.Array) for x in sub.cases.values()):
            return self._entries(name, sub, meta, owner)
        raise TypeError(f"{owner}.{name}: {sub!r} not supported by the generator")

    def _bytes(self, name, n, meta, owner) -> list[str]:
        p = lua_str("." + name)
        if meta.display == "text":
            fld = self.field(Field(meta.json, meta.label, "string"))
            hexfld = self.field(Field(meta.json + "_hex", meta.label, "bytes"))
            return [f"off = TEXT(st, tree, v, \"{name}\", path .. {p}, off, {n}, F[{lua_str(fld)}], F[{lua_str(hexfld)}])",
                    "if not off then return nil end"]
        fld = self.field(Field(meta.json, meta.label, "bytes"))
        secret = "true" if meta.secret else "false"
        if owner == "KEMAC" and name == "encr_data":
            secret = "(v.encr_alg == 0)"  # RFC 3830 §6.2: NULL encryption carries keys in clear
        packed = meta.extra.get("packed")
        if packed:
            return [f"off = PACKED(st, tree, v, \"{name}\", path .. {p}, off, {n}, F[{lua_str(fld)}], D.{packed})",
                    "if not off then return nil end"]
        return [f"off = BYTES(st, tree, v, \"{name}\", path .. {p}, off, {n}, F[{lua_str(fld)}], {secret}, {lua_str(meta.label)})",
                "if not off then return nil end"]

    def _bits(self, group, bf: BitFields, owner) -> list[str]:
        members = []
        for (mname, width, meta), (_n, shift, m) in zip(bf.members, bf.layout):
            fld = self._int_field(meta, bf.nbytes, mask=m << shift)
            members.append(f"{{\"{mname}\", F[{lua_str(fld)}], {1 << shift}, {1 << width}}}")
        first = bf.members[0][0]
        lines = [f"o.{m} = off" for m, _w, _meta in bf.members]
        lines.append(f"off = BITS(st, tree, v, path .. \".{first}\", off, {bf.nbytes}, BITS_{owner}_{group})")
        lines.append("if not off then return nil end")
        self.funcs.append(f"local BITS_{owner}_{group} = {{{', '.join(members)}}}\n")
        return lines

    def _entries(self, name, sw: c.Switch, meta, owner) -> list[str]:
        """The CS ID map: an array of entry structures whose type the map type selects."""
        entry_json = meta.extra["entry_json"]
        entry_label = meta.extra["entry_label"]
        sel = sw.default.selector_name()
        lines = [f"k = v.{sel}"]
        for i, key in enumerate(sorted(sw.cases)):
            arr = sw.cases[key]
            sname = _STRUCT_NAMES[id(arr.subcon)]
            ej = entry_json.get(key)
            fld = f"F[{lua_str(self.field(Field(ej, entry_label[key], 'none')))}]" if ej else "nil"
            kw = "if" if i == 0 else "elseif"
            lines.append(f"{kw} k == {key} then n = {lua_expr(arr.count)}; "
                         f"item = {{D.{sname}, {fld}, DERIVED.{sname}}}")
        lines.append(f"else return reject(st, tree, path, \"{sel}\", o.{sel}, "
                     f"{lua_str(sw.default.what)}, k) end")
        lines.append(f"off = ENTRIES(st, tree, v, path .. \".{name}\", off, n, item)")
        lines.append("if not off then return nil end")
        return lines


def _lengths_of(sw: c.Switch) -> dict:
    out = {}
    for k, x in sw.cases.items():
        out[k] = x.length if isinstance(x, (c.FormatField, VarBytes)) else None
    return out


# Every structure the plugin dissects: (Lua name, schema, JSON subtree, label)
_STRUCTURES = [
    ("SRTP_ID", S.SRTP_ID), ("GENERIC_ID", S.GENERIC_ID), ("IPSEC4_ID", S.IPSEC4_ID),
    ("SP_PARAM", S.SP_PARAM), ("SRTP_SESSION_DATA", S.SRTP_SESSION_DATA), ("THDR", S.THDR),
    ("HDR", S.HDR),
]
_STRUCT_NAMES = {id(s): n for n, s in _STRUCTURES}


def generate(tls_prot_type: int = config.DEFAULT_TLS_PROT_TYPE) -> str:
    """The plugin's Lua source (deterministic: the checked-in file must equal it)."""
    return build(tls_prot_type)[0]


def build(tls_prot_type: int = config.DEFAULT_TLS_PROT_TYPE):
    """(Lua source, the Generator holding the field table)."""
    g = Generator()
    for name, schema in _STRUCTURES:
        g.structure(name, schema, name)
    payload_rows = []
    for ptype, (name, schema, json) in sorted(S.PAYLOAD_SCHEMAS.items()):
        g.structure(name, schema, name)
        label = R.PAYLOAD_TYPES.get(ptype, name)
        g.field(Field(json, label, "none"))
        payload_rows.append(f"  [{ptype}] = {{name = \"{name}\", json = {lua_str(json)}, fn = D.{name}}},")
    # structures and derived views that render.py adds (same names, see its DERIVED_KEYS)
    g.field(Field("mikey", "Multimedia Internet KEYing", "protocol"))
    g.field(Field("mikey.hdr", "Common Header (HDR)", "none"))
    g.field(Field("mikey.thdr", "Ticket header (THDR)", "none"))
    g.field(Field("mikey.generic_id.srtp", "SRTP Session Data", "none"))
    g.field(Field("mikey.t.ntp", "NTP timestamp", "abstime"))
    g.field(Field("mikey.tr.ntp", "NTP timestamp", "abstime"))
    g.field(Field("mikey.trailing", "Octets after the last payload", "bytes"))
    g.field(Field("mikey.hdr_padding", "Octets after the header", "bytes"))
    g.field(Field("mikey.decode_error", "Decode error", "string"))
    for key, label in _EMBEDDED_KEYS.items():
        g.field(Field(key, label, "none"))
    srtp_rows = []
    for ptype, (label, ws) in sorted(R.SRTP_POLICY_PARAMS.items()):
        vals = R.SRTP_PARAM_VALUE_NAMES.get(ptype)
        g.field(Field(ws, label, "uint8", "base.DEC", g.val_table(vals) if vals else None))
        srtp_rows.append(f"  [{ptype}] = F[{lua_str(ws)}],")
    kp_rows = _keylog_fields(g) + ["}", "-- RFC 3830 §6.13 Key data fields in a KEYDATA line: "
                                         "{JSON key, field, encoding, secret}", "local KEYDATA_FIELDS = {"]
    kp_rows += _keydata_rows(g)
    return _assemble(g, payload_rows, srtp_rows, kp_rows, tls_prot_type), g


# ----------------------------------------------------------------------------------------------
# issue 10 item 4: values from `mcsec keylog` (dissectors/keylog.py).  The names are the JSON keys
# `mcsec decode --keys` / `mcsec dissect --keys` add (codec/mikey/render_sakke.py, render_ticket.py);
# secrets are FT_STRING so that, like the JSON, they carry either lowercase hex or "<hidden>".
KEYLOG_FIELDS = [
    # (JSON key, label, kind, base)
    ("mikey.3gpp.key_type", "Key type (keylog)", "string", None),
    ("mikey.3gpp.key_id", "Key ID (keylog)", "uint32", "base.HEX"),
    ("mikey.3gpp.guk_id", "GUK-ID (keylog)", "uint32", "base.HEX"),
    ("mikey.3gpp.period", "Key period (keylog)", "uint32", "base.DEC"),
    ("mikey.sign.verified", "Signature verified (keylog)", "flag", None),
    ("mikey.sign.region", "Signed region (keylog)", "string", None),
    ("mikey.sakke.ssv", "SSV (keylog)", "string", None),
    ("mikey.3gpp.key_params", "Key parameters, decrypted (keylog)", "none", None),
    ("mikey.3gpp.kp.group_id_list", "MC group ID", "string", None),
    ("mikey.3gpp.kp.legacy", "Legacy unencrypted form", "flag", None),
    ("mikey.3gpp.crypto_sessions", "SRTP crypto session (keylog)", "none", None),
    ("mikey.3gpp.cs_id", "CS ID", "uint8", "base.DEC"),
    ("mikey.3gpp.mki", "MKI", "string", None),
    ("mikey.3gpp.srtp_master_key", "SRTP master key", "string", None),
    ("mikey.3gpp.srtp_master_salt", "SRTP master salt", "string", None),
    ("mikey.ticket.session_keys", "Session key (keylog)", "none", None),
    ("mikey.ticket.cs_id", "CS ID", "uint8", "base.DEC"),
    ("mikey.ticket.spi", "SPI", "string", None),
    ("mikey.ticket.tek", "TEK", "string", None),
    ("mikey.ticket.tls_psk", "TLS PSK", "string", None),
    ("mikey.ticket.tls_psk_identity", "TLS PSK identity", "string", None),
    ("mikey.ticket.prot_type", "Prot type", "uint8", "base.DEC"),
    ("mikey.ticket.salt", "Salt", "string", None),
    ("mikey.3gpp.sender_uid", "Sender UID (keylog)", "string", None),
    ("mikey.3gpp.receiver_uid", "Receiver UID (keylog)", "string", None),
    ("mikey.3gpp.period_no", "Key period number matched (keylog)", "uint32", "base.DEC"),
    ("mikey.3gpp.sender_uri", "Sender URI, by its UID (keylog)", "string", None),
    ("mikey.3gpp.receiver_uri", "Receiver URI, by its UID (keylog)", "string", None),
    ("mikey.3gpp.notes", "Note (keylog)", "string", None),
    ("mikey.3gpp.cs_use", "Use", "string", None),
    ("mikey.3gpp.key_params_error", "Key parameters not decrypted (keylog)", "string", None),
    ("mikey.sign.error", "Signature not verified (keylog)", "string", None),
    ("mikey.sakke.error", "SSV not decrypted (keylog)", "string", None),
    ("mikey.sakke.unverified", "Decrypted without a verified signature (keylog)", "flag", None),
    ("mikey.kemac.verified", "KEMAC MAC verified (keylog)", "flag", None),
    ("mikey.kemac.error", "KEMAC error (keylog)", "string", None),
    ("mikey.kemac.keys", "Key data, decrypted (keylog)", "none", None),
    ("mikey.v.verified", "Verification MAC verified (keylog)", "flag", None),
    ("mikey.v.error", "Verification error (keylog)", "string", None),
    ("mikey.ticket.verified", "Ticket opened (keylog)", "flag", None),
    ("mikey.ticket.error", "Ticket error (keylog)", "string", None),
    ("mikey.ticket.tpk_identity", "Ticket protection key (keylog)", "string", None),
    ("mikey.ticket.mpk", "MPK (keylog)", "string", None),
    ("mikey.ticket.mpk_i", "MPKi (keylog)", "string", None),
    ("mikey.ticket.mpk_r", "MPKr (keylog)", "string", None),
    ("mikey.ticket.keys", "Key data, decrypted (keylog)", "none", None),
    ("mikey.ticket.replay", "Replay cache (keylog)", "string", None),
    ("mikey.ticket.notes", "Note (keylog)", "string", None),
]


def _keydata_rows(g: Generator) -> list[str]:
    """Rows of ``KEYDATA_FIELDS``: the Key data sub-payload's fields (its schema's JSON keys,
    already registered by the payload walk), with how a keylog line writes their values."""
    from codec.mikey.model import KEY_DATA

    rows = []
    for name, meta in KEY_DATA.FIELDS:
        if meta.json not in g.fields:
            continue
        how = "hex" if g.fields[meta.json].kind == "bytes" else "int"
        secret = "true" if meta.secret else "false"
        rows.append(f"  {{{lua_str(meta.json)}, F[{lua_str(meta.json)}], \"{how}\", {secret}}},")
    return rows


# RFC 3830 §5.4, as `mcsec dissect` reports it (dissectors/session.py, codec/mikey/replay.py): the
# plugin keeps the first frame each I_MESSAGE reached its host in, and compares T with the capture
# time; no keylog needed
REPLAY_FIELDS = [
    ("mikey.replay", "Replay of the I_MESSAGE first seen in frame", "uint32", "base.DEC"),
    ("mikey.clock_skew", "Clock skew: T minus capture time (s), beyond the allowed skew", "double",
     None),
]


def _keylog_fields(g: Generator) -> list[str]:
    """Register the keylog fields; the key parameters' come from the TS 33.180 §E.6 schema.

    Returns the rows of ``KP_FIELDS``: {keylog key, field, how the value is written}."""
    from codec.mikey.keyparams import KEY_PARAMETERS

    for key, label, kind, base in KEYLOG_FIELDS + REPLAY_FIELDS:
        g.field(Field(key, label, kind, base or "base.DEC"))
    rows = []
    for sc in KEY_PARAMETERS.subcons:
        meta = sc.meta
        sub = sc.subcon
        if meta.display == "text":
            g.field(Field(meta.json, meta.label, "string"))
            rows.append(f"  {{\"kp.{sc.name}_b64\", F[{lua_str(meta.json)}], \"b64\"}},")
        elif meta.display == "bytes":  # octets: hex text, as the JSON writes them
            g.field(Field(meta.json, meta.label, "string"))
            rows.append(f"  {{\"kp.{sc.name}\", F[{lua_str(meta.json)}], \"hex\"}},")
        else:
            nbytes = sub.length  # FormatField or BytesInteger (u40)
            kind = "uint64" if nbytes > 4 else f"uint{8 * nbytes}"
            vals = g.val_table(meta.vals) if meta.vals is not None else None
            base = "base.HEX" if meta.display == "hex" else "base.DEC"
            g.field(Field(meta.json, meta.label, kind, base, vals))
            how = "u64" if nbytes > 4 else "int"
            rows.append(f"  {{\"kp.{sc.name}\", F[{lua_str(meta.json)}], \"{how}\"}},")
    return rows



_EMBEDDED_KEYS = {
    "mikey.tp.payloads": "TP Data payloads",
    "mikey.ticket.tp_payloads": "TP Data payloads",
    "mikey.ticket.payloads": "Ticket Data (MIKEY Base Ticket)",
    "mikey.ticket.initiator_payloads": "Initiator Data payloads",
}

_KIND = {"uint8": "uint8", "uint16": "uint16", "uint24": "uint24", "uint32": "uint32",
         "uint64": "uint64"}


# field kinds whose ProtoField takes just the abbreviation and the label
_PLAIN_KIND = {"flag": "bool", "bytes": "bytes", "string": "string", "none": "none",
               "double": "double"}


def _field_lua(f: Field) -> str:
    a, lab = lua_str(f.abbrev), lua_str(f.label)
    if f.kind in _KIND:
        vals = f"VALS.{f.vals}" if f.vals else "nil"
        mask = f"0x{f.mask:X}" if f.mask else "nil"
        return f"ProtoField.{_KIND[f.kind]}({a}, {lab}, {f.base}, {vals}, {mask})"
    if f.kind == "bool":
        return f"ProtoField.bool({a}, {lab}, {f.bool_bits}, nil, 0x{f.mask:X})"
    if f.kind in _PLAIN_KIND:
        return f"ProtoField.{_PLAIN_KIND[f.kind]}({a}, {lab})"
    if f.kind == "abstime":
        return f"ProtoField.absolute_time({a}, {lab}, base.UTC)"
    if f.kind == "protocol":
        return None
    raise ValueError(f.kind)


_FT = {"uint8": "FT_UINT8", "uint16": "FT_UINT16", "uint24": "FT_UINT24", "uint32": "FT_UINT32",
       "uint64": "FT_UINT64", "bool": "FT_BOOLEAN", "flag": "FT_BOOLEAN", "bytes": "FT_BYTES", "string": "FT_STRING",
       "none": "FT_NONE", "abstime": "FT_ABSOLUTE_TIME", "protocol": "FT_PROTOCOL",
       "double": "FT_DOUBLE"}


def field_types() -> dict:
    """{abbrev: Wireshark FT_ type} of every field the plugin registers (the tests use it)."""
    g = build()[1]
    return {a: _FT[f.kind] for a, f in g.fields.items()}


def _assemble(g: Generator, payload_rows, srtp_rows, kp_rows, tls_prot_type) -> str:
    out = [_HEADER.replace("@PROTO@", PROTO_NAME).replace("@VERSION@", VERSION)]
    out.append("local VALS = {")
    for name in sorted(g.vals):
        out.append(f"  {name} = {lua_vals(g.vals[name])},")
    out.append("}")
    out.append("local LENS = {")
    for name in sorted(g.lens):
        out.append(f"  {name} = {lua_vals_num(g.lens[name])},")
    out.append("}")
    out.append(f"local PROT_TYPES = {lua_vals(R.PROT_TYPES)}")
    out.append(f"local KEMAC_ENCR_ALGS = {lua_vals(R.KEMAC_ENCR_ALGS)}")
    out.append(f"local ECCSI_SIGNATURE_LEN = {R.ECCSI_SIGNATURE_LEN}")
    out.append(f"local DEFAULT_TLS_PROT_TYPE = {tls_prot_type}")
    out.append("")
    out.append("-- Fields: one per JSON key of `mcsec decode --format json` (codec/mikey/schemas.py)")
    out.append("local F = {}")
    for abbrev in sorted(g.fields):
        lua = _field_lua(g.fields[abbrev])
        if lua:
            out.append(f"F[{lua_str(abbrev)}] = {lua}")
    out.append("")
    out.append(_RUNTIME_A)
    out.append("-- Structures, generated from the construct schemas")
    out.append("local D = {}")
    out.append("local DERIVED = {}")
    out.extend(g.funcs)
    out.append("local PAYLOADS = {")
    out.extend(payload_rows)
    out.append("}")
    out.append("local SRTP_PARAM_FIELDS = {")
    out.extend(srtp_rows)
    out.append("}")
    out.append("-- TS 33.180 §E.6 key parameters in a keylog line: {key, field, encoding}")
    out.append("local KP_FIELDS = {")
    out.extend(kp_rows)
    out.append("}")
    out.append(_RUNTIME_B)
    return "\n".join(out)


def lua_vals_num(vals: dict) -> str:
    return "{" + ", ".join(f"[{k}] = {v}" for k, v in sorted(vals.items())) + "}"


_HEADER = r"""-- mcsec_mikey.lua: MIKEY (RFC 3830, 4650, 4738, 6043, 6509) and 3GPP MCPTT for Wireshark.
--
-- GENERATED by `mcsec wireshark generate` from codec/mikey/schemas.py and registry.py.
-- Do not edit: change the schemas and regenerate (tests/test_wireshark.py checks it is current).
--
-- Replaces the built-in MIKEY dissector on UDP/TCP port 2269, for media type application/mikey
-- and for SDP a=key-mgmt:mikey (session level through the "key_mgmt" table; media level, which
-- Wireshark's SDP dissector does not hand over, by a post-dissector).  Field names are the keys
-- of `mcsec decode --format json` (Wireshark's own mikey.* names where it has them).
-- Works with Wireshark 4.0 (Lua 5.2) and later (Lua 5.4): no bit32, integer arithmetic only.
-- Plugin version @VERSION@.

local proto = Proto.new("@PROTO@", "MIKEY (mcsec)")
"""

_RUNTIME_A = r"""
local function fmt_int(x) return string.format("%d", x) end

proto.prefs.tls_prot_type = Pref.uint("TLS Prot type", DEFAULT_TLS_PROT_TYPE,
  "Prot type number of a TLS crypto session in the GENERIC-ID map (seed 004 Annex X: 'TBD'; " ..
  "mcsec uses the first private-use value until IANA assigns one)")
proto.prefs.show_secrets = Pref.bool("Show key material", false,
  "Show the key data of NULL-encrypted KEMACs and KEY_DATA keys and salts (hidden otherwise)")
proto.prefs.keylog_file = Pref.string("mcsec keylog file", "",
  "A file written by `mcsec keylog`: for the MIKEY messages it lists, show the signature " ..
  "verification, key type and IDs, decrypted key parameters and session keys (secrets only " ..
  "with 'Show key material')")
proto.prefs.max_clock_skew = Pref.string("Maximum clock skew (seconds)", "-1",
  "Flag a MIKEY message whose T payload is further than this from the capture time " ..
  "(RFC 3830 §5.4, as mcsec dissect --max-clock-skew, whose default is 300; negative or " ..
  "empty: not checked, the default here)")
proto.prefs.media_level = Pref.bool("Decode media-level a=key-mgmt", true,
  "Decode a=key-mgmt:mikey lines inside SDP media descriptions (Wireshark's SDP dissector " ..
  "hands only session-level ones to MIKEY)")

local EX = {
  malformed = ProtoExpert.new("mikey.expert.malformed", "Malformed MIKEY structure",
                              expert.group.MALFORMED, expert.severity.ERROR),
  finding = ProtoExpert.new("mikey.expert.finding", "MIKEY finding",
                            expert.group.PROTOCOL, expert.severity.WARN),
  embedded = ProtoExpert.new("mikey.expert.embedded", "Embedded payload chain does not decode",
                             expert.group.MALFORMED, expert.severity.WARN),
  keylog = ProtoExpert.new("mikey.expert.keylog", "mcsec keylog file problem",
                           expert.group.UNDECODED, expert.severity.WARN),
}
proto.experts = {EX.malformed, EX.finding, EX.embedded, EX.keylog}

-- The protocol item: an FT_PROTOCOL field named "mikey" gives tshark's JSON a "mikey" layer,
-- as the built-in dissector does.  Fall back to the plugin's own protocol item if refused.
local proto_field_ok, proto_field = pcall(ProtoField.new, "Multimedia Internet KEYing", "mikey",
                                          ftypes.PROTOCOL)
local field_list = {}
for _, f in pairs(F) do field_list[#field_list + 1] = f end
if proto_field_ok then field_list[#field_list + 1] = proto_field end
proto.fields = field_list

-- A tree that swallows everything: the dry runs (quirk detection, embedded chains) use it.
local NULLTREE = {}
setmetatable(NULLTREE, {__index = function() return function() return NULLTREE end end})

local function prot_type_name(x)
  if x == proto.prefs.tls_prot_type then return "TLS (seed 004 Annex X; number configurable)" end
  return PROT_TYPES[x]
end

local function prot_label(item, x)
  local name = prot_type_name(x)
  if name then item:append_text(" (" .. name .. ")") end
end

-- Errors say what codec.DecodeError says: "<path> at offset <n>: <reason>".
local function fail(st, tree, path, off, reason)
  local msg = string.format("%s at offset %d: %s", path, off - st.base, reason)
  if st.error == nil then st.error = msg end
  local len = st.limit - off
  if len < 0 then len = 0 end
  tree:add_tvb_expert_info(EX.malformed, st.tvb(off, len), msg)
  return nil
end

local function finding(st, tree, path, off, text, len)
  local msg = string.format("%s at offset %d: %s", path, off - st.base, text)
  st.findings[#st.findings + 1] = msg
  tree:add_tvb_expert_info(st.finding_expert or EX.finding, st.tvb(off, len or 0), msg)
end

local function reject(st, tree, path, sel, sel_off, what, key)
  return fail(st, tree, path .. "." .. sel, sel_off,
              string.format("unknown %s %d: the rest of the payload cannot be parsed", what, key))
end

local function need(st, tree, path, off, n)
  if off + n > st.limit then
    fail(st, tree, path, off, string.format("needs %d octet(s), %d left", n, st.limit - off))
    return false
  end
  return true
end

-- An integer field of n octets (value kept in v[name] when n <= 4).
local function U(st, tree, v, name, path, off, n, fld)
  if not need(st, tree, path, off, n) then return nil end
  local r = st.tvb(off, n)
  if v ~= nil then
    if n <= 4 then v[name] = r:uint() else v[name] = -1 end
  end
  return off + n, tree:add(fld, r)
end

-- A bit-field group: members are {name, field, 2^shift, 2^width}.
local function BITS(st, tree, v, path, off, nbytes, members)
  if not need(st, tree, path, off, nbytes) then return nil end
  local r = st.tvb(off, nbytes)
  local g = r:uint()
  for _, m in ipairs(members) do
    v[m[1]] = math.floor(g / m[3]) % m[4]
    tree:add(m[2], r)
  end
  return off + nbytes
end

local function BYTES(st, tree, v, name, path, off, n, fld, secret, label)
  if not need(st, tree, path, off, n) then return nil end
  v[name] = {off = off, len = n}
  if secret and n > 0 and not proto.prefs.show_secrets then
    tree:add(st.tvb(off, n), label .. ": <hidden> (" .. fmt_int(n) ..
             " octets; enable the 'Show key material' preference)")
  else
    tree:add(fld, st.tvb(off, n))
  end
  return off + n
end

-- Identities: text when the octets are printable UTF-8, else the <key>_hex field (binary UIDs).
local function printable_utf8(s)
  local i, n = 1, #s
  while i <= n do
    local b = s:byte(i)
    if b >= 0x20 and b < 0x7F then
      i = i + 1
    else
      local len, min
      if b >= 0xC2 and b <= 0xDF then len, min = 2, 0x80
      elseif b >= 0xE0 and b <= 0xEF then len, min = 3, 0x800
      elseif b >= 0xF0 and b <= 0xF4 then len, min = 4, 0x10000
      else return false end
      if i + len - 1 > n then return false end
      local cp = b % (2 ^ (7 - len))
      for j = 1, len - 1 do
        local cb = s:byte(i + j)
        if cb < 0x80 or cb > 0xBF then return false end
        cp = cp * 64 + (cb - 0x80)
      end
      if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) or cp < 0xA0 then
        return false
      end
      i = i + len
    end
  end
  return true
end

local function TEXT(st, tree, v, name, path, off, n, fld, hexfld)
  if not need(st, tree, path, off, n) then return nil end
  v[name] = {off = off, len = n}
  local r = st.tvb(off, n)
  local s = ""
  if n > 0 then s = r:raw() end
  if printable_utf8(s) then tree:add(fld, r, s) else tree:add(hexfld, r) end
  return off + n
end

local PACKED -- SP policy parameters, defined with the structures

-- CS ID map entries: spec = {dissect function, entry field, derived view}
local function ENTRIES(st, tree, v, path, off, count, spec)
  for i = 0, count - 1 do
    local item = tree
    if spec[2] then item = tree:add(spec[2], st.tvb(off, 0)) end
    local ev = {_parent = v}
    local noff = spec[1](st, off, item, path .. "[" .. fmt_int(i) .. "]", ev)
    if not noff then return nil end
    item:set_len(noff - off)
    if spec[3] then spec[3](st, item, ev, path .. "[" .. fmt_int(i) .. "]") end
    off = noff
  end
  return off
end
"""

_RUNTIME_B = r"""
local function sub_state(st, off, len, finding_expert)
  return {tvb = st.tvb, base = off, limit = off + len, findings = {},
          finding_expert = finding_expert or st.finding_expert}
end

-- ---------------------------------------------------------------------------------------------
-- issue 10 item 4: verdicts and secrets from a file written by `mcsec keylog`
-- (dissectors/keylog.py).  A message is found by its exact octets (the keylog's MSG line; Lua
-- has no SHA-256), then its MIKEY, SRTP (mid=) and TEK lines by the message-id.
local KEYLOG = {}

local function keylog_line(line)
  local tokens = {}
  for t in line:gmatch("%S+") do tokens[#tokens + 1] = t end
  local kv = {}
  for i = 3, #tokens do
    local k, val = tokens[i]:match("^([^=]+)=(.*)$")
    if k then kv[k] = val end
  end
  return tokens[1], tokens[2], kv
end

local function load_keylog()
  local path = proto.prefs.keylog_file or ""
  if KEYLOG.path == path then return KEYLOG end
  KEYLOG = {path = path, by_octets = {}, any = false}
  if path == "" then return KEYLOG end
  local f, err = io.open(path, "r")
  if not f then KEYLOG.error = "cannot read " .. tostring(err); return KEYLOG end
  local msgs = {}
  local function entry(mid)
    local e = msgs[mid]
    if e == nil then
      e = {srtp = {}, srtp_seen = {}, tek = {}, tek_seen = {}, keydata = {kemac = {}, ticket = {}}}
      msgs[mid] = e
    end
    return e
  end
  for line in f:lines() do
    line = line:gsub("\r$", "")
    if line:sub(1, 1) ~= "#" then
      local kind, id, kv = keylog_line(line)
      if id ~= nil then
        if kind == "MSG" and kv.octets then
          entry(id).octets = kv.octets:lower()
        elseif kind == "MIKEY" then
          entry(id).mikey = kv
        elseif kind == "SRTP" and kv.mid then
          local e = entry(kv.mid)
          kv.mki = id
          local k = id .. "/" .. tostring(kv.cs)
          if not e.srtp_seen[k] then e.srtp_seen[k] = true; e.srtp[#e.srtp + 1] = kv end
        elseif kind == "TEK" then
          local e = entry(id)
          local k = tostring(kv.cs) .. "/" .. tostring(kv.spi)
          if not e.tek_seen[k] then e.tek_seen[k] = true; e.tek[#e.tek + 1] = kv end
        elseif kind == "TICKET" then
          entry(id).ticket = kv
        elseif kind == "KEYDATA" and entry(id).keydata[kv["in"]] then
          local n = tonumber(kv.n)
          if n then entry(id).keydata[kv["in"]][n + 1] = kv end
        end
      end
    end
  end
  f:close()
  for _, e in pairs(msgs) do
    if e.octets then KEYLOG.by_octets[e.octets] = e; KEYLOG.any = true end
  end
  return KEYLOG
end

local function keylog_for(tvb, pinfo, tree, off, len)
  local kl = load_keylog()
  if kl.error then
    tree:add_tvb_expert_info(EX.keylog, tvb(off, 0), "mcsec keylog " .. kl.path .. ": " .. kl.error)
    return nil
  end
  if not kl.any or len == 0 then return nil end
  return kl.by_octets[string.lower(tostring(tvb(off, len):bytes()))]
end

local function gen(item) item:set_generated(); return item end

local function secret(hex)
  if hex == nil then return nil end
  if proto.prefs.show_secrets then return hex:lower() end
  return "<hidden>"
end

local function b64text(b64)
  if b64 == nil or b64 == "" then return "" end
  local ok, s = pcall(function() return ByteArray.new(b64, true):base64_decode():raw() end)
  if ok then return s end
  return ""
end

local function u64(n)
  return UInt64.new(n % 4294967296, math.floor(n / 4294967296))
end

-- HDR: key type and IDs (render_sakke.py puts them on mikey.hdr)
local function keylog_hdr(st, item)
  local m = st.keylog.mikey
  if m == nil then return end
  local r = st.tvb(st.base, 0)
  if m.type then gen(item:add(F["mikey.3gpp.key_type"], r, m.type)) end
  if m.id then gen(item:add(F["mikey.3gpp.key_id"], r, tonumber(m.id, 16))) end
  if m.guk then gen(item:add(F["mikey.3gpp.guk_id"], r, tonumber(m.guk, 16))) end
  if m.period then gen(item:add(F["mikey.3gpp.period"], r, tonumber(m.period))) end
  if m.sender_uid then gen(item:add(F["mikey.3gpp.sender_uid"], r, m.sender_uid:lower())) end
  if m.receiver_uid then gen(item:add(F["mikey.3gpp.receiver_uid"], r, m.receiver_uid:lower())) end
  if m.period_no then gen(item:add(F["mikey.3gpp.period_no"], r, tonumber(m.period_no))) end
  if m.sender_uri_b64 then gen(item:add(F["mikey.3gpp.sender_uri"], r, b64text(m.sender_uri_b64))) end
  if m.receiver_uri_b64 then gen(item:add(F["mikey.3gpp.receiver_uri"], r, b64text(m.receiver_uri_b64))) end
end

local function keylog_key_params(st, item, m, off)
  local r = st.tvb(off, 0)
  local kp = gen(item:add(F["mikey.3gpp.key_params"], r))
  for _, row in ipairs(KP_FIELDS) do
    local val = m[row[1]]
    if val ~= nil then
      if row[3] == "b64" then gen(kp:add(row[2], r, b64text(val)))
      elseif row[3] == "hex" then gen(kp:add(row[2], r, val:lower()))
      elseif row[3] == "u64" then gen(kp:add(row[2], r, u64(tonumber(val))))
      else gen(kp:add(row[2], r, tonumber(val))) end
    end
  end
  if m["kp.group_id_list_b64"] then
    for g in m["kp.group_id_list_b64"]:gmatch("[^,]+") do
      gen(kp:add(F["mikey.3gpp.kp.group_id_list"], r, b64text(g)))
    end
  end
  if m["kp.legacy"] then gen(kp:add(F["mikey.3gpp.kp.legacy"], r, m["kp.legacy"] == "1")) end
end

local function add_flag(item, key, r, val)
  if val ~= nil then gen(item:add(F[key], r, val == "1")) end
end

local function add_text(item, key, r, b64)
  if b64 ~= nil then gen(item:add(F[key], r, b64text(b64))) end
end

local function add_list(item, key, r, b64s)
  if b64s == nil then return end
  for x in b64s:gmatch("[^,]+") do gen(item:add(F[key], r, b64text(x))) end
end

-- decrypted Key data sub-payloads (RFC 3830 §6.13) of a KEMAC or ticket: one subtree each
local function keylog_keydata(item, key, r, list)
  for _, kd in ipairs(list) do
    local t = gen(item:add(F[key], r))
    for _, row in ipairs(KEYDATA_FIELDS) do
      local val = kd[row[1]]
      if val ~= nil then
        if row[3] == "hex" then
          if proto.prefs.show_secrets or not row[4] then  -- a hidden secret: no value at all
            -- FT_BYTES take their value from the range: a data source of the decrypted octets
            local ok, kt = pcall(function() return ByteArray.new(val):tvb("Decrypted key data") end)
            if ok and kt then gen(t:add(row[2], kt(0, kt:len()))) end
          end
        else gen(t:add(row[2], r, tonumber(val))) end
      end
    end
  end
end

local function keylog_payload(st, item, name, v, off)
  local m = st.keylog.mikey or {}
  local tk = st.keylog.ticket or {}
  local r = st.tvb(off, 0)
  if name == "SIGN" then
    add_flag(item, "mikey.sign.verified", r, m.verified)
    if m.region then gen(item:add(F["mikey.sign.region"], r, m.region)) end
    add_text(item, "mikey.sign.error", r, m.sign_error_b64)
  elseif name == "SAKKE" then
    if m.ssv then gen(item:add(F["mikey.sakke.ssv"], r, secret(m.ssv))) end
    add_text(item, "mikey.sakke.error", r, m.sakke_error_b64)
    add_flag(item, "mikey.sakke.unverified", r, m.unverified)
  elseif name == "GEN_EXT" and v.type == 7 then
    if m["kp.key_type"] then keylog_key_params(st, item, m, off) end
    add_text(item, "mikey.3gpp.key_params_error", r, m.kp_error_b64)
  elseif name == "KEMAC" then
    add_flag(item, "mikey.kemac.verified", r, tk.kemac_verified)
    add_text(item, "mikey.kemac.error", r, tk.kemac_error_b64)
    keylog_keydata(item, "mikey.kemac.keys", r, st.keylog.keydata.kemac)
  elseif name == "V" then
    add_flag(item, "mikey.v.verified", r, tk.v_verified)
    add_text(item, "mikey.v.error", r, tk.v_error_b64)
  elseif name == "TICKET" then
    add_flag(item, "mikey.ticket.verified", r, tk.ticket_verified)
    add_text(item, "mikey.ticket.error", r, tk.ticket_error_b64)
    add_text(item, "mikey.ticket.tpk_identity", r, tk.tpk_identity_b64)
    for _, k in ipairs({"mpk", "mpk_i", "mpk_r"}) do
      if tk[k] then gen(item:add(F["mikey.ticket." .. k], r, secret(tk[k]))) end
    end
    keylog_keydata(item, "mikey.ticket.keys", r, st.keylog.keydata.ticket)
  end
end

-- top level: SRTP master key and salt per crypto session, TEKs (mikey.3gpp.crypto_sessions,
-- mikey.ticket.session_keys)
local function keylog_top(st, top)
  local e = st.keylog
  local r = st.tvb(st.base, 0)
  for _, s in ipairs(e.srtp) do
    local t = gen(top:add(F["mikey.3gpp.crypto_sessions"], r))
    t:append_text(": CS " .. tostring(s.cs) .. ", MKI " .. s.mki)
    gen(t:add(F["mikey.3gpp.cs_id"], r, tonumber(s.cs)))
    gen(t:add(F["mikey.3gpp.mki"], r, s.mki:lower()))
    if s.key then gen(t:add(F["mikey.3gpp.srtp_master_key"], r, secret(s.key))) end
    if s.salt then gen(t:add(F["mikey.3gpp.srtp_master_salt"], r, secret(s.salt))) end
    add_text(t, "mikey.3gpp.cs_use", r, s.use_b64)
  end
  for _, k in ipairs(e.tek) do
    local t = gen(top:add(F["mikey.ticket.session_keys"], r))
    t:append_text(": CS " .. tostring(k.cs))
    gen(t:add(F["mikey.ticket.cs_id"], r, tonumber(k.cs)))
    if k.spi then gen(t:add(F["mikey.ticket.spi"], r, k.spi:lower())) end
    if k.prot then gen(t:add(F["mikey.ticket.prot_type"], r, tonumber(k.prot))) end
    if k.tek then gen(t:add(F["mikey.ticket.tek"], r, secret(k.tek))) end
    if k.salt then gen(t:add(F["mikey.ticket.salt"], r, secret(k.salt))) end
    if k.tls_psk_identity_b64 then
      gen(t:add(F["mikey.ticket.tls_psk"], r, secret(k.tek)))
      gen(t:add(F["mikey.ticket.tls_psk_identity"], r, b64text(k.tls_psk_identity_b64)))
    end
  end
  local tk = e.ticket or {}
  add_text(top, "mikey.ticket.error", r, tk.error_b64)
  if tk.replay then gen(top:add(F["mikey.ticket.replay"], r, tk.replay)) end
  add_list(top, "mikey.ticket.notes", r, tk.notes_b64)
  add_list(top, "mikey.3gpp.notes", r, (e.mikey or {}).notes_b64)
end

-- RFC 3830 §6.10: SP policy parameters are a TLV list (SRTP: named by type, RFC 3830 §6.10.1).
PACKED = function(st, tree, v, name, path, off, n, fld, sub)
  if not need(st, tree, path, off, n) then return nil end
  v[name] = {off = off, len = n}
  -- dry run first: a list that is not a TLV list is kept as octets for unknown protocols
  local probe = {tvb = st.tvb, base = st.base, limit = off + n, findings = {}}
  local pos, i = off, 0
  while pos < off + n do
    local r = sub(probe, pos, NULLTREE, path .. "[" .. fmt_int(i) .. "]", {})
    if not r then break end
    pos, i = r, i + 1
  end
  if probe.error then
    if v.prot_type ~= 0 then
      tree:add(fld, st.tvb(off, n))
      finding(st, tree, path, off, "policy parameters are not a TLV list; kept as octets", n)
      return off + n
    end
  end
  pos, i = off, 0
  local limit = st.limit
  st.limit = off + n
  while pos < off + n do
    local item = tree:add(fld, st.tvb(pos, 0))
    local pv = {}
    local r = sub(st, pos, item, path .. "[" .. fmt_int(i) .. "]", pv)
    if not r then st.limit = limit; return nil end
    item:set_len(r - pos)
    local named = SRTP_PARAM_FIELDS[pv.type]
    if v.prot_type == 0 and named and pv.value.len == 1 then
      item:add(named, st.tvb(pv.value.off, 1))
    end
    pos, i = r, i + 1
  end
  st.limit = limit
  return off + n
end

-- RFC 6043 §6.1.1: SRTP Session Data of a GENERIC-ID entry (SSRC; ROC and SEQ when S = 1)
DERIVED.GENERIC_ID = function(st, item, ev, path)
  -- seed 004 Annex X.1: a TLS crypto session has S = 0, #P = 0 and no session data
  if ev.prot_type == proto.prefs.tls_prot_type and
     (ev.s ~= 0 or ev.n_p ~= 0 or (ev.session_data and ev.session_data.len > 0)) then
    local hv = ev._parent
    hv.tls_check = hv.tls_check or {}
    hv.tls_check[#hv.tls_check + 1] = {path, ev._off.cs_id, "TLS crypto session should have " ..
      "S = 0, #P = 0 and no session data (seed 004 Annex X.1)", 0}
  end
  local sd = ev.session_data
  local want = 4
  if ev.s == 1 then want = 10 end
  if ev.prot_type ~= 0 or sd == nil or sd.len ~= want then return end
  local t = item:add(F["mikey.generic_id.srtp"], st.tvb(sd.off, sd.len))
  local sub = sub_state(st, sd.off, sd.len)
  D.SRTP_SESSION_DATA(sub, sd.off, t, "session_data", {_parent = ev})
end

-- NTP timestamps (RFC 3830 §6.6; era per RFC 4330 §3) as tshark shows them
local NTP_UNIX_OFFSET = 2208988800
local function ntp_time(st, tree, fld, off)
  local secs = st.tvb(off, 4):uint()
  local frac = st.tvb(off + 4, 4):uint()
  if secs < 2147483648 then secs = secs + 4294967296 end
  local hi, lo = math.floor(frac / 65536), frac % 65536
  local nanos = math.floor((hi * 1000000000 + math.floor(lo * 1000000000 / 65536)) / 65536)
  tree:add(fld, st.tvb(off, 8), NSTime.new(secs - NTP_UNIX_OFFSET, nanos))
end

local dissect_chain -- forward

-- A payload chain inside a payload (RFC 6043 TP Data, Ticket Data, Initiator Data).
local function embedded(st, tree, key, loc, first_type, lead)
  if loc == nil or loc.len == 0 then return end
  local function attempt(t)
    local sub = sub_state(st, loc.off, loc.len, EX.embedded)
    local off, np, np_path, np_off = loc.off, first_type, "first_payload", loc.off
    if lead then
      local item = t:add(F["mikey.thdr"], st.tvb(off, 0))
      local lv = {}
      local r = D.THDR(sub, off, item, "THDR", lv)
      if not r then return sub end
      item:set_len(r - off)
      np, np_path, np_off, off = lv.next_payload, "THDR.next_payload", loc.off, r
    elseif np == nil then
      np, off = st.tvb(loc.off, 1):uint(), loc.off + 1
    end
    local r = dissect_chain(sub, off, t, np, np_path, np_off, "payloads")
    if r and r < sub.limit and sub.error == nil then
      fail(sub, t, "trailing", r, string.format("%d octet(s) after the last payload", sub.limit - r))
    end
    return sub
  end
  local probe = attempt(NULLTREE)
  local t = tree:add(F[key], st.tvb(loc.off, loc.len))
  if probe.error then
    t:add(F["mikey.decode_error"], st.tvb(loc.off, loc.len), probe.error)
    t:add_tvb_expert_info(EX.embedded, st.tvb(loc.off, loc.len), "Embedded payload chain: " .. probe.error)
  else
    attempt(t)
  end
end

-- RFC 3830 §6.13: Key data sub-payloads in the Encr data of a NULL-encrypted KEMAC
local function key_data_chain(st, tree, loc)
  if loc == nil or loc.len == 0 then return end
  local function attempt(t)
    local sub = sub_state(st, loc.off, loc.len)
    local off, i = loc.off, 0
    while true do
      local item = t:add(F["mikey.key"], st.tvb(off, 0))
      local kv = {}
      local r = D.KEY_DATA(sub, off, item, "key_data[" .. fmt_int(i) .. "]", kv)
      if not r then return false end
      item:set_len(r - off)
      off, i = r, i + 1
      if kv.next_payload ~= 20 or off >= sub.limit then break end
    end
    return off == sub.limit
  end
  if attempt(NULLTREE) then attempt(tree) end
end

local function derived_payload(st, item, name, v, path)
  if (name == "T" or name == "TR") and (v.ts_type == 0 or v.ts_type == 1) then
    if name == "T" then ntp_time(st, item, F["mikey.t.ntp"], v._off.ts_value)
    else ntp_time(st, item, F["mikey.tr.ntp"], v._off.ts_value) end
  end
  if name == "KEMAC" and v.encr_alg == 0 then key_data_chain(st, item, v.encr_data) end
  if name == "TP" then embedded(st, item, "mikey.tp.payloads", v.tp_data, nil, false) end
  if name == "TICKET" then
    embedded(st, item, "mikey.ticket.tp_payloads", v.tp_data, nil, false)
    if v.ticket_type == 1 and v.subtype == 1 then  -- RFC 6043 Appendix A
      embedded(st, item, "mikey.ticket.payloads", v.ticket_data, nil, true)
    end
    embedded(st, item, "mikey.ticket.initiator_payloads", v.initiator_data, nil, false)
  end
end

local function check_payload(st, item, name, v, path, off)
  if name == "SIGN" and v.s_type == 2 and v.signature.len ~= ECCSI_SIGNATURE_LEN then
    finding(st, item, path .. ".signature", off + 2, string.format(
      "ECCSI signature is %d octets, RFC 6507 needs %d (r, s, PVT); TS 33.180's '32' is a known error",
      v.signature.len, ECCSI_SIGNATURE_LEN), v.signature.len)
  end
  if name == "KEMAC" and KEMAC_ENCR_ALGS[v.encr_alg] == nil then
    finding(st, item, path .. ".encr_alg", off + 1,
            string.format("unknown KEMAC encryption algorithm %d", v.encr_alg), 1)
  end
end

-- RFC 3830 §6: payloads follow each other while Next Payload is not 0; SIGN is always last.
dissect_chain = function(st, off, tree, np, np_path, np_off, prefix)
  local index = 0
  while np ~= 0 do
    local pd = PAYLOADS[np]
    if pd == nil then
      return fail(st, tree, np_path, np_off, string.format(
        "unknown payload type %d: the rest of the message cannot be parsed", np))
    end
    local path = prefix .. "[" .. fmt_int(index) .. "](" .. pd.name .. ")"
    if off >= st.limit then
      return fail(st, tree, path, off, "data ends where " .. np_path .. " announces a " ..
                  pd.name .. " payload")
    end
    local item = tree:add(F[pd.json], st.tvb(off, 0))
    local v = {}
    local r = pd.fn(st, off, item, path, v)
    if not r then
      item:set_len(st.limit - off)
      return nil
    end
    item:set_len(r - off)
    check_payload(st, item, pd.name, v, path, off)
    derived_payload(st, item, pd.name, v, path)
    if st.keylog then keylog_payload(st, item, pd.name, v, off) end
    if pd.name == "T" and not st.has_t and (v.ts_type == 0 or v.ts_type == 1) then
      st.t_off = v._off.ts_value  -- the first T, NTP-UTC or NTP (RFC 3830 §6.6)
    end
    if pd.name == "T" then st.has_t = true end
    if pd.name == "RAND" then st.has_rand = true end
    if np == 4 then return r end
    np, np_path, np_off = v.next_payload, path .. ".next_payload", off
    off, index = r, index + 1
  end
  return off
end

-- One MIKEY message (RFC 3830 §6.1 header, then the payload chain).
local function decode_message(st, tree, padded)
  local item = tree:add(F["mikey.hdr"], st.tvb(st.base, 0))
  local hv = {}
  local off = D.HDR(st, st.base, item, "HDR", hv)
  if not off then item:set_len(st.limit - st.base); return hv end
  item:set_len(off - st.base)
  st.hdr = hv
  if st.keylog then keylog_hdr(st, item) end
  if padded then
    tree:add(F["mikey.hdr_padding"], st.tvb(off, 2))
    finding(st, tree, "hdr_padding", off, "2 zero octets after the Empty CS ID map (wolfSSL quirk)", 2)
    off = off + 2
  end
  local r = dissect_chain(st, off, tree, hv.next_payload, "HDR.next_payload", st.base + 2, "payloads")
  if r and r < st.limit then
    st.trailing = st.limit - r
    if padded then
      fail(st, tree, "trailing", r, string.format("%d octet(s) after the last payload", st.limit - r))
    else
      tree:add(F["mikey.trailing"], st.tvb(r, st.limit - r))
      local note = ""
      if st.limit - r == 1 and st.tvb(r, 1):uint() == 0 then
        note = " (a single 0x00, as Milestone XProtect sends)"
      end
      finding(st, tree, "trailing", r, string.format("%d octet(s) after the last payload%s",
              st.limit - r, note), st.limit - r)
    end
  end
  -- seed 004 Annex X.1: a TLS crypto session has S = 0, #P = 0 and no session data
  if st.error == nil and hv.cs_id_map_type == 2 and hv.tls_check then
    for _, c in ipairs(hv.tls_check) do finding(st, item, c[1], c[2], c[3], c[4]) end
  end
  return hv
end

local function new_state(tvb, off, len)
  return {tvb = tvb, base = off, limit = off + len, findings = {}}
end

-- RFC 3830 §5.4 for every I_MESSAGE, as mcsec dissect (dissectors/session.py): the same
-- I_MESSAGE (data type, CSB ID, RAND, T — and octets) delivered again to the same host is
-- a replay of the frame it first came in; a copy inside the same frame is not.
local I_MESSAGE_TYPES = {}
for _, t in ipairs({0, 2, 4, 7, 9, 11, 12, 14, 16, 17, 26}) do I_MESSAGE_TYPES[t] = true end
local SEEN, SEEN_RESULT = {}, {}  -- (host, octets) -> first frame; (frame, host, octets) -> result

local function replay_and_skew(st, pinfo, top, hv, off, len)
  local r = st.tvb(off, 0)
  if I_MESSAGE_TYPES[hv.data_type] and st.has_t and st.has_rand then
    local key = tostring(pinfo.dst) .. "|" .. tostring(st.tvb(off, len):bytes())
    local rkey = tostring(pinfo.number) .. "|" .. key
    local first
    if not pinfo.visited then
      first = SEEN[key]
      if first == nil then SEEN[key] = pinfo.number end
      if first == pinfo.number then first = nil end
      SEEN_RESULT[rkey] = first or false
    else
      first = SEEN_RESULT[rkey] or nil
    end
    if first then gen(top:add(F["mikey.replay"], r, first)) end
  end
  local limit = tonumber(proto.prefs.max_clock_skew)
  if st.t_off and limit and limit >= 0 then
    local t = st.tvb(st.t_off, 4):uint() - 2208988800 + st.tvb(st.t_off + 4, 4):uint() / 4294967296
    local skew = t - pinfo.abs_ts
    if math.abs(skew) > limit then
      gen(top:add(F["mikey.clock_skew"], r, math.floor(skew * 1000 + 0.5) / 1000))
    end
  end
end

local function dissect_mikey(tvb, pinfo, tree, off, len, what)
  off = off or 0
  len = len or tvb:len()
  -- dry run: wolfSSL pads an Empty map with 2 zero octets (reference mikey.md §2.6)
  local padded = false
  local probe = new_state(tvb, off, len)
  local hv = decode_message(probe, NULLTREE, false)
  if (probe.error ~= nil or probe.trailing) and hv.cs_id_map_type == 1 and hv.next_payload ~= 0
     and len >= 12 and tvb(off + 10, 2):uint() == 0 then
    local p2 = new_state(tvb, off, len)
    decode_message(p2, NULLTREE, true)
    padded = (p2.error == nil)
  end
  local top
  if proto_field_ok then top = tree:add(proto_field, tvb(off, len))
  else top = tree:add(proto, tvb(off, len)) end
  if what then top:append_text(" (" .. what .. ")") end
  local st = new_state(tvb, off, len)
  st.keylog = keylog_for(tvb, pinfo, top, off, len)
  hv = decode_message(st, top, padded)
  if st.keylog then keylog_top(st, top) end
  if st.error == nil then replay_and_skew(st, pinfo, top, hv, off, len) end
  local dt = hv.data_type and VALS.DATA_TYPES[hv.data_type]
  if dt then top:append_text(": " .. dt) end
  local info = "MIKEY " .. (dt or "?")
  if st.error then
    info = info .. " [Malformed: " .. st.error .. "]"
    top:append_text(" [Malformed]")
  end
  local carrier = tostring(pinfo.cols.protocol)
  if what == nil and (carrier == "UDP" or carrier == "TCP") then
    pinfo.cols.protocol = "MIKEY"
    pinfo.cols.info:set(info)
  else
    pinfo.cols.info:append(" " .. info)
  end
  return len
end

-- A body sent with Content-Transfer-Encoding: base64 (seed 004's multipart application/mikey
-- part) reaches us as text unless Wireshark's multipart "remove base64" preference is on; a
-- MIKEY message itself starts with version 1 (RFC 3830 §6.1), never a base64 character.
local function base64_body(tvb)
  if tvb:len() < 4 or tvb(0, 1):uint() == 1 then return nil end
  local s = tvb(0, tvb:len()):raw()
  if not s:match("^[A-Za-z0-9+/=%s]+$") then return nil end
  local ok, bytes = pcall(function()
    return ByteArray.new(s:gsub("%s", ""), true):base64_decode() end)
  if ok and bytes and bytes:len() > 0 then return bytes end
  return nil
end

function proto.dissector(tvb, pinfo, tree)
  local bytes = base64_body(tvb)
  if bytes then
    local mtvb = bytes:tvb("MIKEY (base64 Content-Transfer-Encoding)")
    dissect_mikey(mtvb, pinfo, tree, 0, mtvb:len(), "base64 body")
    return tvb:len()
  end
  return dissect_mikey(tvb, pinfo, tree)
end

-- re-read the keylog file at every (re)dissection: it may have been rewritten meanwhile
function proto.init()
  KEYLOG = {}
  SEEN, SEEN_RESULT = {}, {}
end

DissectorTable.get("udp.port"):add(2269, proto)
DissectorTable.get("tcp.port"):add(2269, proto)
DissectorTable.get("key_mgmt"):add("mikey", proto)
DissectorTable.get("media_type"):add("application/mikey", proto)

-- Media-level a=key-mgmt:mikey (RFC 4567 §3.1): Wireshark's SDP dissector does not decode it.
local media_attr = Field.new("sdp.media_attr")
local mediapost = Proto.new("mcsec_mikey_sdp", "MIKEY in SDP media descriptions (mcsec)")
function mediapost.dissector(tvb, pinfo, tree)
  if not proto.prefs.media_level then return end
  local attrs = {media_attr()}
  for i, fi in ipairs(attrs) do
    local s = tostring(fi.value)
    local b64 = s:match("^key%-mgmt:mikey%s+([A-Za-z0-9+/=]+)%s*$")
    if b64 then
      local ok, bytes = pcall(function() return ByteArray.new(b64, true):base64_decode() end)
      if ok and bytes and bytes:len() > 0 then
        local mtvb = bytes:tvb("MIKEY (media-level a=key-mgmt)")
        dissect_mikey(mtvb, pinfo, tree, 0, mtvb:len(), "SDP media-level a=key-mgmt")
      end
    end
  end
end
register_postdissector(mediapost)
"""
