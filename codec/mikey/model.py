"""The MIKEY message model: plain Python objects generated from the construct schemas.

Each wire structure of :mod:`codec.mikey.schemas` becomes a class whose attributes are the
schema's fields (bit-field groups flattened: ``hdr.v``, ``hdr.prf_func``).  Build them by hand::

    T(ts_type=0, ts_value=0xE8F1C2A300000000)

Length, count and next-payload fields are *computed* on encode while they are "auto": a field
left at ``None`` is auto, a decoded value that agrees with the computed one stays auto (so editing
``id_data`` re-computes ``id_len``), and assigning a value makes it explicit — encode then writes
it as given, even when it lies (fuzzers need that).  Assign ``None`` to make it auto again.
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

import construct as c

from codec.errors import EncodeError
from codec.mikey import schemas
from codec.constructs import BitFields
from codec.struct_codegen import Unsupported, struct_builder, struct_parser


def _unwrap(sc):
    """Strip Renamed/If wrappers to reach the construct that shapes the value."""
    while isinstance(sc, (c.Renamed, c.IfThenElse)):
        sc = sc.subcon if isinstance(sc, c.Renamed) else sc.thensubcon
    return sc


class Structure:
    """Base class of every MIKEY wire structure in the model."""

    SCHEMA: ClassVar[c.Struct]
    NAME: ClassVar[str]
    JSON: ClassVar[str]  # Wireshark subtree / JSON object name, e.g. "mikey.t"
    FIELDS: ClassVar[tuple]  # ((name, Meta), ...) flattened, in wire order
    GROUPS: ClassVar[dict]  # bit-field group -> member names
    COMPUTED: ClassVar[dict]  # name -> function(self) | NEXT_PAYLOAD
    NESTED: ClassVar[dict]  # name -> Structure subclass or {selector value: subclass}
    PACKED: ClassVar[dict] = {}  # name -> Structure subclass packed in a length-delimited field

    def __init_subclass__(cls, schema=None, **kw):
        super().__init_subclass__(**kw)
        if schema is None:
            # a subclass without its own schema: construct's path makes objects of *this* class
            cls._fast_parse = cls._fast_build = None
            return
        cls.SCHEMA = schema
        fields, groups, computed = [], {}, {}
        for sc in schema.subcons:
            if not sc.name:
                continue
            if isinstance(sc.subcon, BitFields):
                groups[sc.name] = [m for m, _w, _meta in sc.subcon.members]
                for m, _w, meta in sc.subcon.members:
                    fields.append((m, meta))
                    if meta.computed:
                        computed[m] = meta.computed
            else:
                meta = getattr(sc, "meta", None)
                if meta is None:
                    raise TypeError(f"{cls.__name__}.{sc.name} has no Meta")
                fields.append((sc.name, meta))
                if meta.computed:
                    computed[sc.name] = meta.computed
        cls.OPTIONAL = frozenset(sc.name for sc in schema.subcons
                                 if sc.name and isinstance(getattr(sc, "subcon", None), c.IfThenElse))
        cls.LISTS = frozenset(sc.name for sc in schema.subcons
                              if sc.name and isinstance(_unwrap(sc), c.Array))
        cls.FIELDS = tuple(fields)
        cls.FIELD_NAMES = tuple(n for n, _ in fields)
        cls.GROUPS = groups
        cls.COMPUTED = computed
        cls._META = dict(fields)
        cls._INDEX = {sc.name: i for i, sc in enumerate(schema.subcons) if sc.name}
        cls._compiled = None
        _BY_SCHEMA.setdefault(id(schema), []).append(cls)
        cls._finish()

    @classmethod
    def _finish(cls):
        """Per-class tables for the decode hot path (re-run when NESTED/PACKED change)."""
        grouped = {m for ms in cls.GROUPS.values() for m in ms}
        cls._PLAIN = tuple(n for n in cls.FIELD_NAMES if n not in grouped)
        cls._GROUP_ITEMS = tuple(cls.GROUPS.items())
        cls._NESTED_ITEMS = tuple(getattr(cls, "NESTED", {}).items())
        cls._EAGER_AUTO = bool(cls._NESTED_ITEMS or getattr(cls, "PACKED", None) or cls.LISTS)
        cls._ORDER = cls._PLAIN + tuple(m for ms in cls.GROUPS.values() for m in ms)
        cls._NESTED_NAMES = tuple(getattr(cls, "NESTED", {}))
        cls._HAS_SUBS = bool(cls._NESTED_NAMES or getattr(cls, "PACKED", None))
        # the chain walk checks KEMAC and SIGN after parsing them (message._decode_chain)
        cls._AFTER_PARSE = getattr(cls, "TYPE", None) in (1, 4)
        # generated from the schema on first use (see _prepare_fast)
        cls._fast_parse = staticmethod(_first_use(cls, "_fast_parse"))
        cls._fast_build = staticmethod(_first_use(cls, "_fast_build"))

    @classmethod
    def _prepare_fast(cls):
        """Generate the fast parse and build functions from the schema (codec.constructs
        ``struct_parser`` / ``struct_builder``); None where the schema is beyond them, and then
        construct's compiled code does the work."""
        nested = _nested_parser if cls._NESTED_NAMES else None
        try:
            if cls._EAGER_AUTO:  # decide now which computed fields agree with their data
                parse = struct_parser(cls.SCHEMA, cls._from_values, nested, order=cls._ORDER,
                                      what=cls.__name__)
            else:  # the values become the object's attributes, "auto" decided lazily
                parse = struct_parser(cls.SCHEMA, cls, nested, order=cls._ORDER,
                                      extra={"_autoset": None}, what=cls.__name__)
        except Unsupported:
            parse = None
        try:
            build = struct_builder(cls.SCHEMA, computed=_computed_spec(cls), what=cls.__name__)
        except Unsupported:
            build = None
        cls._fast_parse = staticmethod(parse) if parse else None
        cls._fast_build = staticmethod(build) if build else None

    # -- construction -------------------------------------------------------------------------
    def __init__(self, **values: Any):
        unknown = set(values) - set(self.FIELD_NAMES)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        d = self.__dict__
        auto = d["_autoset"] = set()
        for name in self.FIELD_NAMES:
            v = values.get(name, self._default(name))
            d[name] = v
            if name in self.COMPUTED and v is None:
                auto.add(name)

    def _default(self, name):
        meta = self._META[name]
        if meta.computed or name in self.OPTIONAL:
            return None
        if meta.display in ("bytes", "text"):
            sub = _unwrap(self.SCHEMA.subcons[self._INDEX[name]])
            return bytes(sub.length) if isinstance(getattr(sub, "length", None), int) else b""
        if name in self.LISTS or name in self.NESTED:
            return []
        return 0

    def __setattr__(self, name, value):
        if name not in self._META:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        auto = self._auto  # settle what is auto before the data it depends on changes
        if name in self.COMPUTED:
            (auto.add if value is None else auto.discard)(name)
        self.__dict__[name] = value

    @classmethod
    def compiled(cls):
        if cls._compiled is None:
            cls._compiled = cls.SCHEMA.compile()
        return cls._compiled

    _PARSE_CONTEXT = c.Container(_parsing=True, _building=False, _sizing=False,
                                 _params=c.Container())

    @classmethod
    def parse_fast(cls, stream):
        """Compiled parse straight into the generated function (skips construct's wrappers)."""
        return cls.compiled().parsefunc(stream, Structure._PARSE_CONTEXT)

    # -- conversion to and from construct containers ------------------------------------------
    @classmethod
    def _from_values(cls, d: dict) -> "Structure":
        """The object of the fast parse's ``{field: value}`` (what ``_from_container`` makes)."""
        obj = cls.__new__(cls)
        d["_autoset"] = None
        object.__setattr__(obj, "__dict__", d)
        if cls._EAGER_AUTO:
            d["_autoset"] = obj._decoded_auto()
        return obj

    @classmethod
    def _from_container(cls, cont) -> "Structure":
        obj = cls.__new__(cls)
        d = obj.__dict__
        for name in cls._PLAIN:
            d[name] = cont[name]
        for g, members in cls._GROUP_ITEMS:
            sub = cont[g]
            for m in members:
                d[m] = sub[m]
        for name, nested in cls._NESTED_ITEMS:
            v = d[name]
            if isinstance(v, list):
                sub = nested if isinstance(nested, type) else nested.get(cls._selector(d))
                d[name] = [sub._from_container(x) for x in v]
        # Which computed fields agree with their data decides what encode recomputes.  Structures
        # holding lists decide now (the lists may be edited in place); the others lazily.
        d["_autoset"] = None
        if cls._EAGER_AUTO:
            d["_autoset"] = obj._decoded_auto()
        return obj

    def _decoded_auto(self):
        d = self.__dict__
        return {name for name, fn in self.COMPUTED.items()
                if fn is not schemas.NEXT_PAYLOAD and fn(self) == d[name]}

    @property
    def _auto(self) -> set:
        a = self.__dict__["_autoset"]
        if a is None:
            a = self.__dict__["_autoset"] = self._decoded_auto()
        return a

    @classmethod
    def _selector(cls, d):
        return None

    def resolved(self, name):
        """The value encode will write for ``name``."""
        if name in self._auto:
            fn = self.COMPUTED[name]
            return None if fn is schemas.NEXT_PAYLOAD else fn(self)
        return self.__dict__[name]

    def _build_dict(self, next_payload=None) -> dict:
        d = dict(self.__dict__)
        del d["_autoset"]
        for name in self._auto:
            fn = self.COMPUTED[name]
            d[name] = next_payload if fn is schemas.NEXT_PAYLOAD else fn(self)
        for name in self.NESTED:
            v = d[name]
            if isinstance(v, list):
                d[name] = [x._build_dict() for x in v]
        for name in self.PACKED:
            v = d[name]
            if isinstance(v, list):
                d[name] = b"".join(x.to_bytes() for x in v)
        for g, members in self.GROUPS.items():
            d[g] = {m: d[m] for m in members}
        return d

    def _sub_values(self) -> dict:
        """The field values for the generated builder where nested entries and packed lists are
        already encoded (as ``_build_dict`` has them)."""
        d = self.__dict__.copy()
        for name in self._NESTED_NAMES:
            v = d[name]
            if isinstance(v, list):
                # construct builds the entries with the schema the selector picks: an entry of
                # another class is left to it (it fails, or writes what that schema says)
                sub = self.NESTED[name]
                sub = sub if isinstance(sub, type) else sub.get(self._selector(d))
                d[name] = [x.to_bytes() if type(x) is sub or (sub is None and isinstance(x, Structure))
                           else _not_a_structure(x) for x in v]
        for name in self.PACKED:
            v = d[name]
            if isinstance(v, list):
                d[name] = b"".join(x.to_bytes() for x in v)
        return d

    def to_bytes(self, next_payload=None) -> bytes:
        build = self._fast_build
        if build is not None:
            d = self.__dict__
            try:
                auto = d["_autoset"]
                if auto is None:
                    auto = self._auto
                return build(self, self._sub_values() if self._HAS_SUBS else d, auto, next_payload)
            except Exception:  # noqa: BLE001 - construct's build below reports the error
                pass
        try:
            stream = io.BytesIO()
            self.compiled().buildfunc(self._build_dict(next_payload), stream, _BUILD_CONTEXT)
            return stream.getvalue()
        except EncodeError:
            raise
        except Exception as e:  # construct errors, struct.error, TypeError from bad values
            raise EncodeError(self.NAME, _reason(e)) from None

    # -- comparison and display ---------------------------------------------------------------
    def _comparable(self, next_payload=None):
        out = []
        for name in self.FIELD_NAMES:
            if name in self.COMPUTED:
                v = self.resolved(name)
                if v is None and self.COMPUTED[name] is schemas.NEXT_PAYLOAD:
                    v = next_payload
            else:
                v = self.__dict__[name]
            if name in self.PACKED and isinstance(v, list):
                v = b"".join(x.to_bytes() for x in v)  # compare packed lists by their octets
            elif isinstance(v, list):
                v = [x._comparable() if isinstance(x, Structure) else x for x in v]
            elif name in self.OPTIONAL and not v:
                v = None
            out.append((name, v))
        return out

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._comparable() == other._comparable()

    def __repr__(self):
        parts = ", ".join(f"{n}={self.__dict__[n]!r}" for n in self.FIELD_NAMES
                          if not (n in self._auto))
        return f"{type(self).__name__}({parts})"

    def copy(self):
        new = type(self).__new__(type(self))
        d = dict(self.__dict__)
        d["_autoset"] = set(self._auto)
        for name in (*self.NESTED, *self.PACKED):
            if isinstance(d[name], list):
                d[name] = [x.copy() for x in d[name]]
        new.__dict__.update(d)
        return new

    def make_auto(self):
        """Make every computed field auto again (after structural edits)."""
        self._auto.update(self.COMPUTED)
        for name in (*self.NESTED, *self.PACKED):
            for x in self.__dict__[name] if isinstance(self.__dict__[name], list) else ():
                x.make_auto()
        return self


_NEXT_PAYLOAD = schemas.NEXT_PAYLOAD
_LEN_CODE = schemas._len("x").__code__  # the "length of another field" computations


def _computed_spec(cls) -> dict:
    """How the generated builder computes each computed field (``struct_builder(computed=)``):
    the Next Payload argument, the length of another field (the schemas' ``_len``), or a call."""
    spec = {}
    for name, fn in cls.COMPUTED.items():
        if fn is _NEXT_PAYLOAD:
            spec[name] = "arg"
        elif getattr(fn, "__code__", None) is _LEN_CODE:
            spec[name] = ("len", fn.__closure__[0].cell_contents)
        else:
            spec[name] = fn
    return spec


def _not_a_structure(x):
    raise TypeError(f"{type(x).__name__} is not the structure the selector expects")


_BY_SCHEMA: dict[int, list] = {}  # id(schema) -> the Structure classes made from it


def _first_use(cls, attr):
    """A stand-in that generates the fast functions on the first call, then calls the real one."""
    def first(*args):
        cls._prepare_fast()
        fn = getattr(cls, attr)
        if fn is None:
            raise Unsupported(f"{cls.__name__}: no fast path")
        return fn(*args)
    return first


def _nested_parser(schema):
    """The fast parse of the structure class made from ``schema`` (CS ID map entries)."""
    classes = _BY_SCHEMA.get(id(schema), [])
    if len(classes) != 1:
        raise Unsupported("nested schema without exactly one class")
    sub = classes[0]
    sub._prepare_fast()
    if sub._fast_parse is None:
        raise Unsupported(f"{sub.__name__}: no fast parse")
    return sub._fast_parse


_BUILD_CONTEXT = c.Container(_parsing=False, _building=True, _sizing=False, _params=c.Container())


def _reason(e: Exception) -> str:
    msg = str(e)
    return msg.split("\n")[-1].strip() or type(e).__name__


def _structure(name, schema, json, **extra):
    cls = type(name, (Structure,), {"NESTED": {}, "NAME": name, "JSON": json,
                                    "__doc__": f"MIKEY {name} ({json}).", **extra}, schema=schema)
    return cls


# CS ID map entries and SP parameters ---------------------------------------------------------
SrtpIdEntry = _structure("SrtpIdEntry", schemas.SRTP_ID, "mikey.srtp_id")
GenericIdEntry = _structure("GenericIdEntry", schemas.GENERIC_ID, "mikey.generic_id")
Ipsec4IdEntry = _structure("Ipsec4IdEntry", schemas.IPSEC4_ID, "mikey.ipsec4_id")
SpParam = _structure("SpParam", schemas.SP_PARAM, "mikey.sp.param")
SrtpSessionData = _structure("SrtpSessionData", schemas.SRTP_SESSION_DATA, "mikey.generic_id.srtp")
THDR = _structure("THDR", schemas.THDR, "mikey.thdr")

CS_ID_MAP_ENTRY = {0: SrtpIdEntry, 2: GenericIdEntry, 7: Ipsec4IdEntry}


class HDR(Structure, schema=schemas.HDR):
    """RFC 3830 §6.1 Common header."""

    NAME = "HDR"
    JSON = "mikey.hdr"
    NESTED = {"cs_id_map": CS_ID_MAP_ENTRY}
    TYPE = None

    @classmethod
    def _selector(cls, d):
        return d["cs_id_map_type"]

    def _default(self, name):
        if name == "version":
            return 1
        return super()._default(name)


class Payload(Structure):
    """A MIKEY payload (everything after HDR)."""

    TYPE: ClassVar[int]

    @property
    def has_next_payload(self) -> bool:
        return "next_payload" in self._META


PAYLOAD_CLASSES: dict[int, type[Payload]] = {}
for _type, (_name, _schema, _json) in schemas.PAYLOAD_SCHEMAS.items():
    _cls = type(_name, (Payload,), {"NESTED": {}, "NAME": _name, "JSON": _json, "TYPE": _type,
                                    "__doc__": f"MIKEY {_name} payload (type {_type}, {_json})."},
                schema=_schema)
    PAYLOAD_CLASSES[_type] = _cls
    globals()[_name] = _cls

KEMAC = PAYLOAD_CLASSES[1]; PKE = PAYLOAD_CLASSES[2]; DH = PAYLOAD_CLASSES[3]
SIGN = PAYLOAD_CLASSES[4]; T = PAYLOAD_CLASSES[5]; ID = PAYLOAD_CLASSES[6]
CERT = PAYLOAD_CLASSES[7]; CHASH = PAYLOAD_CLASSES[8]; V = PAYLOAD_CLASSES[9]
SP = PAYLOAD_CLASSES[10]; RAND = PAYLOAD_CLASSES[11]; ERR = PAYLOAD_CLASSES[12]
TR = PAYLOAD_CLASSES[13]; IDR = PAYLOAD_CLASSES[14]; RANDR = PAYLOAD_CLASSES[15]
TP = PAYLOAD_CLASSES[16]; TICKET = PAYLOAD_CLASSES[17]; KEY_DATA = PAYLOAD_CLASSES[20]
GEN_EXT = PAYLOAD_CLASSES[21]; SAKKE = PAYLOAD_CLASSES[26]
PAYLOAD_BY_NAME = {cls.NAME: cls for cls in PAYLOAD_CLASSES.values()}
SIGN_TYPE = 4


SP.PACKED = {"policy_params": SpParam}
SP._finish()


def _sp_default(self, name):
    return [] if name == "policy_params" else Structure._default(self, name)


SP._default = _sp_default
