"""A scapy layer for MIKEY (RFC 3830, RFC 6043, RFC 6509), generated from the codec's schemas.

>>> from dissectors.fuzz.scapy_mikey import MIKEY
>>> pkt = MIKEY(wire)                  # dissect: HDR / payload / payload / ... / SIGN [/ Raw]
>>> bytes(pkt) == wire                 # byte-exact rebuild
>>> pkt[MIKEY_SIGN].sign_len = 32      # lie: explicit values are written as given
>>> pkt.show()                         # field names are our JSON / Wireshark names

Nothing here restates a layout.  At import time every construct ``Struct`` of
:mod:`codec.mikey.schemas` becomes one scapy ``Packet`` class; each named construct field becomes
a scapy field chosen from its construct type and its :class:`~codec.constructs.Meta`:

====================================  =========================================================
construct (schema)                    scapy field
====================================  =========================================================
``Int8ub`` / ``16`` / ``32`` / ``64``   Byte/Short/Int/LongField (``…EnumField`` with ``Meta.vals``,
                                      ``X…Field`` with ``display="hex"``)
``BitFields(n, members)``             one ``BitField`` / ``BitEnumField`` per member
``VarBytes(field | this-expr)``       ``StrLenField(length_from=<that field>)``
``VarBytes(constant)``                ``StrFixedLenField``
``VarBytes`` with ``extra["packed"]``   ``PacketListField(length_from=…)`` of the packed structure
                                      (SP policy parameters)
``Array(count, Int8ub)``              ``FieldListField(count_from=…)``
``Array(count, Struct)``              ``PacketListField(count_from=…)``
``Switch`` of ``Array``\\ s (CS ID map) ``PacketListField`` whose entry class is selected by the
                                      map type (:class:`SwitchPacketListField`)
``LengthSwitch`` / ``IntSwitch``      :class:`SwitchStrField` / :class:`SwitchIntField` (size by
                                      the selector; an unknown selector takes the rest)
``If(cond, …)``                       ``ConditionalField`` (the construct condition is evaluated
                                      on the packet's values)
``Switch(kv, Pass…, default=Reject)``   a conditional ``*_unparsed`` field holding the octets the
                                      codec cannot parse after an unknown selector value
====================================  =========================================================

Fields whose ``Meta.computed`` is set (lengths, counts, next payload) default to ``None`` and are
computed at build time — the length of the field that names them in the schema (``VarBytes``
length, ``Array`` count), or, for Next Payload, the type of the next layer (0 after the last).
Any value you set, or that was dissected, is written as it is: fuzzers lie.

Naming (one rule, no table): the scapy field name is the field's JSON key without the ``mikey.``
prefix, dots replaced by underscores — ``mikey.t.ts_type`` → ``t_ts_type``,
``mikey.sign.len`` → ``sign_len``, ``mikey.next_payload`` → ``next_payload``.  ``show()`` prints
the JSON key itself; :func:`json_name` maps back.  Layer classes are ``MIKEY`` (the common header,
alias ``MIKEY_HDR``) and ``MIKEY_<codec class name>`` for payloads and entries (``MIKEY_T``,
``MIKEY_SIGN``, ``MIKEY_GenericIdEntry``, ``MIKEY_SpParam``, ``MIKEY_THDR``); :data:`LAYERS` maps
codec class names to them.  Payload chaining uses ``bind_layers`` on Next Payload; SIGN has none
and ends the chain; octets after the last payload are a ``Raw`` layer.

Secrets (``Meta.secret`` fields, a NULL-encrypted KEMAC's key data) show as ``<hidden>`` in
``show()`` unless :data:`SHOW_SECRETS` is set; the values themselves are untouched.  The field
classes for the construct types scapy lacks are in :mod:`dissectors.fuzz.scapy_fields`.
"""

from __future__ import annotations

import types
from typing import Any

import construct as c
from scapy.fields import (BitEnumField, BitField, ByteEnumField, ByteField, ConditionalField,
                          FieldListField, IntEnumField, IntField, LongEnumField, LongField,
                          PacketListField, ShortEnumField, ShortField, StrField,
                          StrFixedLenField, XByteField, XIntField, XLongField, XShortField)
from scapy.layers.inet import TCP, UDP
from scapy.packet import NoPayload, Packet, Raw, bind_layers

from codec.mikey import model
from codec.mikey import registry
from codec.mikey import schemas
from codec.constructs import BitFields, Meta, Reject, VarBytes
from dissectors.fuzz.scapy_fields import (FuzzStrLenField, SwitchIntField, SwitchPacketListField,
                                          SwitchStrField, as_int, computed_kind, construct_context,
                                          evaluate, referenced_name)

MIKEY_PORT = 2269  # IANA "mikey" (RFC 3830 §10)
SHOW_SECRETS = False
HIDDEN = "<hidden>"


# ----------------------------------------------------------------------------------------------
# Naming
def scapy_name(json: str) -> str:
    """The scapy field name of a JSON key: ``mikey.`` dropped, dots → underscores."""
    name = json[len("mikey."):] if json.startswith("mikey.") else json
    name = name.replace(".", "_")
    if not name.isidentifier() or hasattr(Packet, name):
        raise ValueError(f"JSON key {json!r} gives no usable scapy field name ({name!r})")
    return name


def json_name(layer, field_name: str) -> str:
    """The JSON key of a scapy field of ``layer`` (a packet or a layer class)."""
    cls = layer if isinstance(layer, type) else type(layer)
    return cls.JSON_NAMES.get(field_name, field_name)


# ----------------------------------------------------------------------------------------------
class MikeyPacket(Packet):
    """Base class of every generated MIKEY layer."""

    CODEC_NAME = ""  # name of the codec class (HDR, T, GenericIdEntry, ...)
    JSON = ""  # JSON / Wireshark subtree name (mikey.hdr, mikey.t, ...)
    MIKEY_TYPE: int | None = None  # payload type number (None: HDR, entries)
    JSON_NAMES: dict = {}  # scapy field name -> JSON key
    METAS: dict = {}  # scapy field name -> Meta
    CODEC_NAMES: dict = {}  # codec attribute name -> scapy field name
    CODEC_GROUPS: dict = {}  # bit-field group -> [(member, scapy name)]
    SIZES: dict = {}  # length/count field -> (the field it sizes, "len" | "count")
    show_indent = 1

    def do_dissect(self, s):
        """Truncated input never raises: the fields that fit are kept and the layer rebuilds to
        the octets it was given (scapy's raw cache), with nothing after it."""
        try:
            return super().do_dissect(s)
        except Exception:  # noqa: BLE001 - struct.error and friends from a short buffer
            from scapy.config import conf

            if conf.debug_dissector:
                raise
            self.raw_packet_cache, self.raw_packet_cache_fields = bytes(s), {}
            self.explicit = 1
            return b""

    def extract_padding(self, s):
        if self.MIKEY_TYPE is None and self.CODEC_NAME != "HDR" and self.CODEC_NAME != "THDR":
            return b"", s  # list entries: whatever follows belongs to the next entry
        return s, None

    def _hidden(self, fname, value) -> bool:
        if SHOW_SECRETS or not value:
            return False
        meta = self.METAS.get(fname)
        if meta is None:
            return False
        from codec.mikey.render import is_secret

        shim = types.SimpleNamespace(NAME=self.CODEC_NAME, **construct_context(self))
        codec_name = next((k for k, v in self.CODEC_NAMES.items() if v == fname), fname)
        return is_secret(shim, codec_name, meta)

    def _repr(self, f, value):
        """Like ``mcsec decode``'s text: ``label (number)``, octet strings in hex."""
        meta = self.METAS.get(f.name)
        if isinstance(value, int) and meta is not None and meta.vals:
            label = meta.vals.get(value)
            return f"{label} ({value})" if label else f"Unknown ({value})"
        if isinstance(value, (bytes, bytearray)) and meta is not None and meta.display == "bytes":
            return bytes(value).hex() or "''"
        return f.i2repr(self, value)

    # scapy's Packet._show_or_dump with the JSON keys as labels (and secrets hidden)
    def _show_or_dump(self, dump=False, indent=3, lvl="", label_lvl="", first_call=True):
        from scapy.config import conf
        from scapy.themes import AnsiColorTheme

        ct = AnsiColorTheme() if dump else conf.color_theme
        title = f"{self.name} ({self.JSON})" if self.JSON else self.name
        s = "%s%s %s %s\n" % (label_lvl, ct.punct("###["), ct.layer_name(title), ct.punct("]###"))
        for f in self.fields_desc:
            if isinstance(f, ConditionalField) and not f._evalcond(self):
                continue
            label = self.JSON_NAMES.get(f.name, f.name)
            pad = max(1, 10 - len(label)) * " "
            fvalue = self.getfieldval(f.name)
            if isinstance(fvalue, list) and f.islist and f.holds_packets:
                s += "%s  %s%s%s%s\n" % (label_lvl + lvl, ct.punct("\\"), ct.field_name(label),
                                         pad, ct.punct("\\"))
                for entry in fvalue:
                    s += entry._show_or_dump(dump=dump, indent=indent,
                                             label_lvl=label_lvl + lvl + "   |", first_call=False)
                continue
            reprval = HIDDEN if self._hidden(f.name, fvalue) else self._repr(f, fvalue)
            if isinstance(reprval, str):
                reprval = reprval.replace("\n", "\n" + " " * (len(label_lvl) + len(lvl)
                                                              + len(label) + 4))
            s += "%s  %s%s%s %s\n" % (label_lvl + lvl, ct.field_name(label), pad, ct.punct("="),
                                      ct.field_value(reprval))
        if self.payload:
            s += self.payload._show_or_dump(dump=dump, indent=indent,
                                            lvl=lvl + (" " * indent * self.show_indent),
                                            label_lvl=label_lvl, first_call=False)
        if first_call and not dump:
            print(s)
            return None
        return s

    def json_fields(self) -> dict:
        """This layer's values keyed by JSON name (scapy values, not JSON-encoded)."""
        return {self.JSON_NAMES[f.name]: self.getfieldval(f.name) for f in self.fields_desc
                if not (isinstance(f, ConditionalField) and not f._evalcond(self))
                and f.name in self.JSON_NAMES}


# ----------------------------------------------------------------------------------------------
# Generation
_BY_SCHEMA: dict[int, type] = {}  # id(construct Struct) -> generated layer class
_INT_FIELDS = {1: (ByteField, ByteEnumField, XByteField), 2: (ShortField, ShortEnumField, XShortField),
               4: (IntField, IntEnumField, XIntField), 8: (LongField, LongEnumField, XLongField)}


def _int_field(sname, nbytes, meta: Meta, default=0):
    plain, enum, hexa = _INT_FIELDS[nbytes]
    default = None if meta.computed else default
    if meta.vals:
        return computed_kind(enum, meta)(sname, default, dict(meta.vals))
    return computed_kind(hexa if meta.display == "hex" else plain, meta)(sname, default)


def _value_field(sname, meta: Meta, sub, default, max_length=None):
    """The scapy field for one named construct field (without its Meta-level wrappers)."""
    if isinstance(sub, c.IfThenElse):  # c.If(cond, X): present when the condition holds
        inner = _value_field(sname, meta, sub.thensubcon, default, max_length)
        cond = sub.condfunc
        return ConditionalField(inner, lambda pkt, cond=cond: bool(evaluate(cond, pkt)))
    if isinstance(sub, c.FormatField):
        return _int_field(sname, sub.length, meta, default if isinstance(default, int) else 0)
    if isinstance(sub, VarBytes):
        if isinstance(sub.length, int):
            return StrFixedLenField(sname, bytes(sub.length), length=sub.length)
        length = sub.length
        if meta.extra.get("packed"):
            entry = _layer_for(getattr(schemas, meta.extra["packed"]))
            return PacketListField(sname, [], entry,
                                   length_from=lambda pkt, e=length: as_int(evaluate(e, pkt)))
        # fuzz() draws at most what the length field can say
        return FuzzStrLenField(sname, b"", max_length=max_length,
                               length_from=lambda pkt, e=length: as_int(evaluate(e, pkt)))
    if isinstance(sub, c.Array):
        count = sub.count
        count_from = (lambda pkt, e=count: as_int(evaluate(e, pkt)))
        if isinstance(sub.subcon, c.Struct):
            return PacketListField(sname, [], _layer_for(sub.subcon), count_from=count_from)
        if isinstance(sub.subcon, c.FormatField):
            return FieldListField(sname, [], _int_field("", sub.subcon.length, Meta("", "")),
                                  count_from=count_from)
    if isinstance(sub, c.Switch):
        cases = sub.cases
        if all(isinstance(x, VarBytes) for x in cases.values()):
            return SwitchStrField(sname, b"", sub.keyfunc, {k: x.length for k, x in cases.items()})
        if all(isinstance(x, c.FormatField) for x in cases.values()):
            return SwitchIntField(sname, 0, sub.keyfunc, {k: x.length for k, x in cases.items()})
        if all(isinstance(x, c.Array) and isinstance(x.subcon, c.Struct) for x in cases.values()):
            return SwitchPacketListField(sname, sub.keyfunc, {
                k: (x.count, _layer_for(x.subcon)) for k, x in cases.items()})
    raise TypeError(f"no scapy field for {sname}: {type(sub).__name__}")


def _size_references(schema) -> dict:
    """codec name of a length/count field -> (codec name of the field it sizes, "len"|"count")."""
    refs = {}

    def visit(name, sub):
        while isinstance(sub, (c.Renamed, c.IfThenElse)):
            sub = sub.subcon if isinstance(sub, c.Renamed) else sub.thensubcon
        if isinstance(sub, VarBytes):
            ref = referenced_name(sub.length)
            if ref:
                refs[ref] = (name, "len")
        elif isinstance(sub, c.Array):
            ref = referenced_name(sub.count)
            if ref:
                refs[ref] = (name, "count")
        elif isinstance(sub, c.Switch):
            for case in sub.cases.values():
                visit(name, case)

    for sc in schema.subcons:
        if sc.name:
            visit(sc.name, sc)
    return refs


def _next_payload_type(pkt) -> int:
    nxt = pkt.payload
    if isinstance(nxt, NoPayload):
        return 0
    return getattr(type(nxt), "MIKEY_TYPE", None) or 0


def _length_of(target):
    def fn(pkt):
        fld = pkt.get_field(target)
        return len(fld.addfield(pkt, b"", pkt.getfieldval(target)))
    return fn


def _count_of(target):
    def fn(pkt):
        return len(pkt.getfieldval(target) or [])
    return fn


def _make_layer(class_name, codec_name, schema, json, label, mikey_type=None, base=MikeyPacket):
    fields_desc, json_names, metas, codec_names, groups = [], {}, {}, {}, {}
    refs = _size_references(schema)
    computed = []  # (scapy field, codec name, Meta)
    model_cls = getattr(model, codec_name)
    model_defaults = model_cls().__dict__  # the codec's defaults (HDR version 1, ...)

    def add(codec, meta, fld):
        if fld.name in json_names:
            raise ValueError(f"{class_name}: two fields named {fld.name}")
        json_names[fld.name], metas[fld.name] = meta.json, meta
        codec_names[codec] = fld.name
        fields_desc.append(fld)
        if meta.computed:
            computed.append((fld, codec, meta))

    for sc in schema.subcons:
        if not sc.name:
            # RFC 3830 §6.14 KV: Switch(kv, {known: Pass}, default=Reject): keep what follows an
            # unknown value, as the codec reports it there
            if isinstance(sc, c.Switch) and isinstance(sc.default, Reject):
                sel, known = sc.keyfunc, set(sc.cases)
                sel_name = sc.default.selector_name()
                sname = f"{scapy_name(json)}_{sel_name}_unparsed"
                fld = ConditionalField(StrField(sname, b""),
                                       lambda pkt, sel=sel, k=known: evaluate(sel, pkt) not in k)
                json_names[sname] = f"{json}.{sel_name}.unparsed"  # not a codec key: it rejects
                fields_desc.append(fld)
                continue
            raise TypeError(f"{class_name}: unnamed {type(sc).__name__} not supported")
        if isinstance(sc.subcon, BitFields):
            members = []
            for m, width, meta in sc.subcon.members:
                sname = scapy_name(meta.json)
                default = None if meta.computed else model_defaults.get(m) or 0
                fld = (computed_kind(BitEnumField, meta)(sname, default, width, dict(meta.vals))
                       if meta.vals else computed_kind(BitField, meta)(sname, default, width))
                add(m, meta, fld)
                members.append((m, sname))
            groups[sc.name] = members
            continue
        meta = sc.meta
        sizer = next((n for n, (t, _k) in refs.items() if t == sc.name), None)
        max_length = None
        if sizer is not None:
            sizer_meta = dict(model_cls.FIELDS)[sizer]
            max_length = (1 << sizer_meta.bits) - 1 if sizer_meta.bits else None
        add(sc.name, meta, _value_field(scapy_name(meta.json), meta, sc.subcon,
                                        model_defaults.get(sc.name), max_length))

    sizes = {codec_names[n]: (codec_names[t], k) for n, (t, k) in refs.items()
             if n in codec_names and t in codec_names}
    ns = {"name": label, "fields_desc": fields_desc, "CODEC_NAME": codec_name, "JSON": json,
          "SIZES": sizes,
          "MIKEY_TYPE": mikey_type, "JSON_NAMES": json_names, "METAS": metas,
          "CODEC_NAMES": codec_names, "CODEC_GROUPS": groups,
          "__doc__": f"{label}: generated from codec.mikey.schemas ({json})."}
    cls = type(class_name, (base,), ns)
    for fld, codec, meta in computed:  # lengths, counts and next payload: None = compute
        inner = fld.fld if isinstance(fld, ConditionalField) else fld
        if meta.computed is schemas.NEXT_PAYLOAD:
            inner.compute = _next_payload_type
        elif codec in refs:
            target, kind = refs[codec]
            inner.compute = (_count_of if kind == "count" else _length_of)(codec_names[target])
        else:
            raise TypeError(f"{class_name}.{codec}: computed, but no field is sized by it")
    _BY_SCHEMA[id(schema)] = cls
    return cls


# Structures that are not payloads (CS ID map entries, SP parameters, the ticket header): their
# schemas and JSON subtree names come from the codec's model classes.
_ENTRY_SCHEMAS = {cls.NAME: (cls.SCHEMA, cls.JSON)
                  for cls in (model.SrtpIdEntry, model.GenericIdEntry, model.Ipsec4IdEntry,
                              model.SpParam, model.THDR)}


def _layer_for(schema):
    cls = _BY_SCHEMA.get(id(schema))
    if cls is None:
        for name, (sch, json) in _ENTRY_SCHEMAS.items():
            if sch is schema:
                return _make_layer(f"MIKEY_{name}", name, sch, json, f"MIKEY {name}")
        raise TypeError("schema without a layer")
    return cls


# The layers -----------------------------------------------------------------------------------
LAYERS: dict[str, type] = {}
for _name in _ENTRY_SCHEMAS:
    LAYERS[_name] = _layer_for(_ENTRY_SCHEMAS[_name][0])

MIKEY = _make_layer("MIKEY", "HDR", schemas.HDR, "mikey.hdr", "MIKEY Common Header (HDR)")
MIKEY_HDR = MIKEY
LAYERS["HDR"] = MIKEY

PAYLOAD_LAYERS: dict[int, type] = {}
for _type, (_name, _schema, _json) in schemas.PAYLOAD_SCHEMAS.items():
    _cls = _make_layer(f"MIKEY_{_name}", _name, _schema, _json,
                       f"MIKEY {registry.PAYLOAD_TYPES.get(_type, _name)}", mikey_type=_type)
    PAYLOAD_LAYERS[_type] = LAYERS[_name] = _cls
    globals()[_cls.__name__] = _cls

MIKEY_SrtpIdEntry = LAYERS["SrtpIdEntry"]
MIKEY_GenericIdEntry = LAYERS["GenericIdEntry"]
MIKEY_Ipsec4IdEntry = LAYERS["Ipsec4IdEntry"]
MIKEY_SpParam = LAYERS["SpParam"]
MIKEY_THDR = LAYERS["THDR"]
MIKEY_KEMAC = PAYLOAD_LAYERS[1]; MIKEY_PKE = PAYLOAD_LAYERS[2]; MIKEY_DH = PAYLOAD_LAYERS[3]
MIKEY_SIGN = PAYLOAD_LAYERS[4]; MIKEY_T = PAYLOAD_LAYERS[5]; MIKEY_ID = PAYLOAD_LAYERS[6]
MIKEY_CERT = PAYLOAD_LAYERS[7]; MIKEY_CHASH = PAYLOAD_LAYERS[8]; MIKEY_V = PAYLOAD_LAYERS[9]
MIKEY_SP = PAYLOAD_LAYERS[10]; MIKEY_RAND = PAYLOAD_LAYERS[11]; MIKEY_ERR = PAYLOAD_LAYERS[12]
MIKEY_TR = PAYLOAD_LAYERS[13]; MIKEY_IDR = PAYLOAD_LAYERS[14]; MIKEY_RANDR = PAYLOAD_LAYERS[15]
MIKEY_TP = PAYLOAD_LAYERS[16]; MIKEY_TICKET = PAYLOAD_LAYERS[17]
MIKEY_KEY_DATA = PAYLOAD_LAYERS[20]; MIKEY_GEN_EXT = PAYLOAD_LAYERS[21]
MIKEY_SAKKE = PAYLOAD_LAYERS[26]

# RFC 3830 §6: Next Payload of the HDR and of every payload that has one names the next layer
for _upper in [MIKEY, MIKEY_THDR, *PAYLOAD_LAYERS.values()]:
    if "next_payload" not in _upper.JSON_NAMES:
        continue  # SIGN: always last
    for _type, _lower in PAYLOAD_LAYERS.items():
        bind_layers(_upper, _lower, next_payload=_type)

for _port_field in ("sport", "dport"):
    bind_layers(UDP, MIKEY, **{_port_field: MIKEY_PORT})
    bind_layers(TCP, MIKEY, **{_port_field: MIKEY_PORT})


# ----------------------------------------------------------------------------------------------
def payloads(pkt) -> list:
    """The MIKEY layers of a dissected message, HDR first (Raw trailing octets excluded)."""
    out, layer = [], pkt if isinstance(pkt, MikeyPacket) else pkt.getlayer(MIKEY)
    while layer is not None and isinstance(layer, MikeyPacket):
        out.append(layer)
        layer = layer.payload if not isinstance(layer.payload, NoPayload) else None
    return out


def trailing(pkt) -> bytes:
    """Octets after the last MIKEY payload (the codec's ``Message.trailing``)."""
    layers = payloads(pkt)
    return bytes(layers[-1].payload) if layers and not isinstance(layers[-1].payload,
                                                                    NoPayload) else b""


def from_sdp(obj: Any) -> list:
    """MIKEY packets of every ``a=key-mgmt:mikey`` line of an SDP or SIP text.

    ``obj`` is text, octets, or a scapy packet whose ``Raw`` load holds the SIP/SDP message
    (e.g. ``IP/UDP(dport=5060)/Raw``).  Invalid base64 raises :class:`codec.DecodeError`.
    """
    from codec.sdp import key_mgmt_attributes

    if isinstance(obj, Packet):
        raw = obj.getlayer(Raw)
        obj = raw.load if raw is not None else bytes(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        obj = bytes(obj).decode("utf-8", errors="replace")
    return [MIKEY(a.data) for a in key_mgmt_attributes(obj) if a.protocol == "mikey"]


mikey_from_sdp = from_sdp

__all__ = ["MIKEY", "MIKEY_HDR", "LAYERS", "PAYLOAD_LAYERS", "MikeyPacket", "from_sdp",
           "mikey_from_sdp",
           "payloads", "trailing", "json_name", "scapy_name", "MIKEY_PORT",
           *(cls.__name__ for cls in LAYERS.values() if cls is not MIKEY)]
