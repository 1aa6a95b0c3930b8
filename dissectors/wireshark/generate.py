"""Generate the Wireshark Lua plugin (``wireshark/mcsec_mikey.lua``) from the MIKEY schemas.

Nothing here restates a wire layout.  The generator walks the construct trees of
:mod:`codec.mikey.schemas` (``F`` fields with their :class:`~codec.constructs.Meta`,
``BitFields`` groups, ``VarBytes``, ``LengthSwitch``/``IntSwitch`` with their ``Reject`` default,
``If``, ``Array``, the CS ID map ``Switch``) and emits one Lua function per structure, one
``ProtoField`` per JSON key (the Wireshark display-filter name), and the value tables of
:mod:`codec.mikey.registry`.  A small generic runtime, hand-written Lua shipped as package data
(``lua/header.lua``, ``lua/helpers.lua``, ``lua/dissector.lua``: fragments that this module puts
around the generated tables, not standalone files), walks payload chains, reports malformed
structures as expert info in the codec's own words (``<path> at offset <n>: <reason>``, the text
of :class:`codec.DecodeError`), and adds the derived views that
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
from dataclasses import dataclass

from codec.mikey import config, registry as R, schemas as S
from codec.constructs import BitFields, Reject, VarBytes
from dissectors.wireshark.lua import lua_expr, lua_str, lua_vals, lua_vals_num, runtime

PLUGIN_PATH = "wireshark/mcsec_mikey.lua"
PROTO_NAME = "mcsec_mikey"
VERSION = "1"


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
# issue 10 item 4: values from `mcsec keylog` (dissectors/pcap/keylog.py).  The names are the JSON keys
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


# RFC 3830 §5.4, as `mcsec dissect` reports it (dissectors/pcap/session.py, codec/mikey/replay.py): the
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
    out = [runtime("header").replace("@PROTO@", PROTO_NAME).replace("@VERSION@", VERSION)]
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
    out.append("\n" + runtime("helpers"))
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
    out.append("\n" + runtime("dissector"))
    return "\n".join(out)

