"""MIKEY message: decode and encode the payload chain (RFC 3830 §6).

``decode(bytes) -> Message`` and ``encode(Message) -> bytes`` are the stable entry points.  Decode
walks the chain with one compiled construct parse per payload; only when a parse fails does it take
the slow path (:func:`_locate`) that finds the failing field and its byte offset.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from typing import Any, Iterator

import construct as c

from codec.errors import DecodeError, EncodeError, Finding, McsecError
from codec.mikey import registry
from codec.mikey.config import DEFAULT_TLS_PROT_TYPE
from codec.constructs import BitFields, Reject
from codec.mikey.model import HDR, PAYLOAD_CLASSES, SIGN_TYPE, Payload, Structure

@dataclass(eq=False)
class Message:
    """A MIKEY message: the common header, the payload chain and anything after it."""

    hdr: HDR
    payloads: list = field(default_factory=list)
    trailing: bytes = b""  # octets after the last payload (e.g. Milestone's extra 0x00)
    hdr_padding: bytes = b""  # octets between HDR and the first payload (wolfSSL quirk)
    findings: list = field(default_factory=list)  # quirks noticed while decoding
    offsets: list = field(default_factory=list, repr=False)  # start offset of hdr, payload 0, ...
    # on a decode error: (structure class, {field: value}) of the fields of the failing
    # structure decoded before the error, for display as Wireshark does
    incomplete: Any = field(default=None, repr=False)

    # -- navigation ---------------------------------------------------------------------------
    def find(self, name_or_type) -> Payload | None:
        """First payload of a type (class, name such as ``"RAND"``, or type number)."""
        return next(self.find_all(name_or_type), None)

    def find_all(self, name_or_type) -> Iterator[Payload]:
        for p in self.payloads:
            if (p.NAME == name_or_type or p.TYPE == name_or_type
                    or (isinstance(name_or_type, type) and isinstance(p, name_or_type))):
                yield p

    def next_payload_of(self, index: int) -> int:
        """The Next Payload value the chain implies for payload ``index`` (-1 = HDR)."""
        nxt = index + 1
        return self.payloads[nxt].TYPE if nxt < len(self.payloads) else 0

    # -- comparison ---------------------------------------------------------------------------
    def _comparable(self):
        items = [self.hdr._comparable(self.next_payload_of(-1))]
        items += [p._comparable(self.next_payload_of(i)) for i, p in enumerate(self.payloads)]
        return items, self.trailing, self.hdr_padding

    def __eq__(self, other):
        if not isinstance(other, Message):
            return NotImplemented
        return self._comparable() == other._comparable()

    def copy(self) -> "Message":
        return Message(self.hdr.copy(), [p.copy() for p in self.payloads], self.trailing,
                       self.hdr_padding, list(self.findings), list(self.offsets))

    def make_auto(self) -> "Message":
        """Recompute every length, count and next-payload field on the next encode."""
        self.hdr.make_auto()
        for p in self.payloads:
            p.make_auto()
        return self

    # -- signed region (RFC 3830 §5.2) ---------------------------------------------------------
    def signed_regions(self, data: bytes) -> dict:
        """The two signed-region conventions seen in the field for a message ending in SIGN."""
        sign = self.payloads[-1] if self.payloads and self.payloads[-1].TYPE == SIGN_TYPE else None
        if sign is None:
            return {}
        end = len(data) - len(self.trailing)
        sig_len = len(sign.signature)
        return {"rfc3830": data[:end - sig_len], "without_sign_header": data[:end - sig_len - 2]}

    def encode(self) -> bytes:
        return encode(self)


# ----------------------------------------------------------------------------------------------
def encode(msg: Message) -> bytes:
    """The wire form of ``msg``; computed fields are filled in, explicit ones written as set."""
    payloads = msg.payloads
    count = len(payloads)
    out = [_encode_one(msg.hdr, payloads[0].TYPE if count else 0, "HDR"),
           bytes(msg.hdr_padding)]
    for i, p in enumerate(payloads):
        nxt = payloads[i + 1].TYPE if i + 1 < count else 0  # Message.next_payload_of(i)
        p.NAME  # noqa: B018 - as before: a non-structure fails here, before encoding
        try:
            out.append(p.to_bytes(nxt))
        except EncodeError as e:
            raise EncodeError(f"payloads[{i}]({p.NAME})", e.reason) from None
    out.append(bytes(msg.trailing))
    return b"".join(out)


def _encode_one(structure: Structure, next_payload: int, path: str) -> bytes:
    try:
        return structure.to_bytes(next_payload)
    except EncodeError as e:
        raise EncodeError(path, e.reason) from None


# ----------------------------------------------------------------------------------------------
_PARSE_ERRORS = (c.ConstructError, struct.error, ValueError, KeyError, TypeError, IndexError,
                 OverflowError)


def decode(data: bytes, *, strict: bool = False,
           tls_prot_type: int = DEFAULT_TLS_PROT_TYPE) -> Message:
    """Decode one MIKEY message.

    Returns a :class:`Message` or raises :class:`~codec.DecodeError` — for any input.  Octets after
    the last payload are kept in ``Message.trailing`` and reported as a finding (``strict=True``
    makes them an error).  ``tls_prot_type`` is the Prot type number that means TLS (seed 004
    Annex X; see :mod:`codec.mikey.config`).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("decode() needs bytes")
    if type(data) is not bytes:
        data = bytes(data)
    hdr, end = _parse(HDR, data, 0, "HDR", None)
    msg = _decode_with_quirks(data, end, hdr, strict)
    _check_hdr(msg, tls_prot_type)
    return msg


def _check_hdr(msg: Message, tls_prot_type: int) -> None:
    """Spec constraints worth telling an analyst about; the message still decodes."""
    offset = 10
    for i, e in enumerate(msg.hdr.cs_id_map if msg.hdr.cs_id_map_type == 2 else ()):
        if e.prot_type == tls_prot_type and (e.s or e.policies or e.session_data):
            msg.findings.append(Finding(
                f"HDR.cs_id_map[{i}]", offset, "TLS crypto session should have S = 0, #P = 0 and "
                                               "no session data (seed 004 Annex X.1)"))
        offset += len(e.to_bytes())


def _decode_with_quirks(data, pos, hdr, strict):
    try:
        msg = _decode_rest(data, pos, hdr, b"", strict)
    except DecodeError as first_error:
        msg, error = None, first_error
    else:
        error = None
    if (msg is None or msg.trailing) and _wolfssl_padding(data, hdr):
        # Pitfall: wolfSSL's MIKEY-SAKKE writer puts 2 zero octets after an Empty map.  Accept
        # them only when the chain then lines up exactly (reference mikey.md §2.6).
        try:
            padded = _decode_rest(data, 12, hdr, data[10:12], True)
        except DecodeError:
            padded = None
        if padded is not None:
            padded.findings.insert(0, Finding("hdr_padding", 10, "2 zero octets after the Empty "
                                                                 "CS ID map (wolfSSL quirk)"))
            return padded
    if error is not None:
        raise error
    return msg


def _wolfssl_padding(data: bytes, hdr) -> bool:
    return hdr.cs_id_map_type == 1 and hdr.next_payload != 0 and data[10:12] == b"\0\0"


def _decode_rest(data, pos, hdr, padding, strict):
    """The payload chain after the header (from ``pos``), and whatever follows it."""
    base = len(padding) + 10 if padding else 0
    if padding:  # offsets inside the chain count from after the padding, then shift
        data = data[base:]
        pos = 0
    msg = Message(hdr, offsets=[0], hdr_padding=padding)
    pos = _decode_chain(data, pos, hdr.next_payload, "HDR.next_payload", 2, msg, "payloads")
    if padding:
        msg.offsets = [0] + [o + base for o in msg.offsets[1:]]
        msg.findings = [Finding(f.path, f.offset + base, f.message) for f in msg.findings]
    rest = data[pos:]
    if rest:
        where = pos + base
        if strict:
            raise DecodeError("trailing", where, f"{len(rest)} octet(s) after the last payload",
                              partial=msg)
        msg.trailing = rest
        note = " (a single 0x00, as Milestone XProtect sends)" if rest == b"\x00" else ""
        msg.findings.append(Finding("trailing", where, f"{len(rest)} octet(s) after the last "
                                                        f"payload{note}"))
    return msg


def _decode_chain(data, pos, np_, path_np, np_offset, msg, prefix) -> int:
    """Parse payloads from ``data[pos:]`` while Next Payload is not 0 (RFC 3830 §6); returns
    the offset after the last one.  Paths are only spelled out for errors and findings."""
    index = 0
    payloads, offsets, size = msg.payloads, msg.offsets, len(data)
    classes = PAYLOAD_CLASSES
    while np_ != 0:
        cls = classes.get(np_)
        if cls is None:
            if index:
                path_np = f"{_chain_path(prefix, index - 1, payloads[-1])}.next_payload"
            raise DecodeError(path_np, np_offset, f"unknown payload type {np_}: the rest of the "
                              f"message cannot be parsed", partial=msg)
        if pos >= size:
            if index:
                path_np = f"{_chain_path(prefix, index - 1, payloads[-1])}.next_payload"
            path = _chain_path(prefix, index, cls)
            raise DecodeError(path, pos, f"data ends where {path_np} announces a {cls.NAME} payload",
                              partial=msg)
        # the generated fast parse inline (see _parse); None when the schema is beyond it
        try:
            payload, end = cls._fast_parse(data, pos)
        except Exception:  # noqa: BLE001 - construct's parse decides the error
            payload = None
        if payload is None:
            payload, end = _parse_compiled(cls, data, pos, (prefix, index, cls), msg)
        if cls.PACKED:
            _unpack_packed(payload, data, pos, (prefix, index, cls), msg)
        payloads.append(payload)
        offsets.append(pos)
        if cls._AFTER_PARSE:  # the KEMAC and SIGN checks, SIGN ending the chain
            _check_payload(payload, (prefix, index, cls), pos, msg)
            if cls.TYPE == SIGN_TYPE:  # RFC 3830 §6.5: no Next Payload, always last
                return end
        np_ = payload.next_payload
        np_offset = pos
        pos = end
        index += 1
    return pos


def _chain_path(prefix, index, cls_or_payload) -> str:
    return f"{prefix}[{index}]({cls_or_payload.NAME})"


def _path(where) -> str:
    """A structure's path from what the chain walk passes: a string or (prefix, index, class)."""
    return where if isinstance(where, str) else _chain_path(*where)


def decode_payloads(data: bytes, first_type: int | None = None, *, first=None) -> Message:
    """Decode a payload chain embedded in another payload (RFC 6043 TP Data, Ticket Data, ...).

    ``first_type`` names the first payload (``None``: it is the first octet of ``data``, as in TP
    Data).  ``first`` may be a Structure class that leads the chain without a type number of its
    own (the THDR of the MIKEY base ticket).  Returns a Message whose ``hdr`` is that leading
    structure (or None); raises DecodeError with offsets relative to ``data``.
    """
    if type(data) is not bytes:
        data = bytes(data)
    msg = Message(None, offsets=[])
    np_offset = pos = 0
    if first is not None:
        lead, pos = _parse(first, data, 0, first.NAME, msg)
        msg.hdr = lead
        np_, path_np = lead.next_payload, f"{first.NAME}.next_payload"
    elif first_type is None:
        if not data:
            return msg
        np_, path_np = data[0], "first_payload"
        pos = 1
    else:
        np_, path_np = first_type, "first_payload"
    pos = _decode_chain(data, pos, np_, path_np, np_offset, msg, "payloads")
    rest = data[pos:]
    if rest:
        raise DecodeError("trailing", pos, f"{len(rest)} octet(s) after the last payload",
                          partial=msg)
    return msg


def _parse(cls, data, start, where, msg):
    """``(structure, end)`` of the ``cls`` structure at ``data[start:]``: the generated fast
    parse, else (schema beyond it, or the octets do not parse) construct's compiled parse, and on
    failure the slow path that locates the failing field."""
    fast = cls._fast_parse
    obj = None
    if fast is not None:
        try:
            obj, end = fast(data, start)
        except Exception:  # noqa: BLE001 - construct's parse below decides the error
            obj = None
    if obj is None:
        obj, end = _parse_compiled(cls, data, start, where, msg)
    if cls.PACKED:
        _unpack_packed(obj, data, start, where, msg)
    return obj, end


def _unpack_packed(obj, data, start, where, msg) -> None:
    for name, sub in obj.PACKED.items():
        obj.__dict__[name] = _unpack_list(obj, name, sub, data, start, where, msg)


def _parse_compiled(cls, data, start, where, msg):
    stream = io.BytesIO(data)
    stream.seek(start)
    try:
        cont = cls.parse_fast(stream)
    except _PARSE_ERRORS:
        fpath, foff, reason, before = _locate(cls.SCHEMA, data, start, with_partial=True)
        if msg is None and cls is HDR and before:  # a message of just the header's prefix
            msg = Message(None)
        if msg is not None and before:
            msg.incomplete = (cls, before)
        raise DecodeError(f"{_path(where)}{fpath}", foff, reason, partial=msg) from None
    try:
        obj = cls._from_container(cont)
    except _PARSE_ERRORS as e:  # pragma: no cover - container/schema mismatch is a bug
        raise DecodeError(_path(where), start, f"internal: {e}", partial=msg) from None
    return obj, stream.tell()


def _unpack_list(obj, name, sub, data, start, where, msg):
    """Split a length-delimited field into its sub-structures (SP policy parameters)."""
    raw = obj.__dict__[name]
    if type(raw) is not bytes:
        raw = bytes(raw)
    items, pos = [], 0
    while pos < len(raw):
        try:
            item, pos = _parse_item(sub, raw, pos)
        except _PARSE_ERRORS:
            base = start + _field_offset(type(obj).SCHEMA, data, start, name)
            path = _path(where)
            fpath, foff, reason = _locate(sub.SCHEMA, raw, pos)
            if getattr(obj, "prot_type", 0) != registry.PROT_TYPE_SRTP:
                # RFC 6043: unknown protocols keep their parameters as opaque octets
                msg_findings = msg.findings if msg is not None else []
                msg_findings.append(Finding(f"{path}.{name}", base,
                                            "policy parameters are not a TLV list; kept as octets"))
                return obj.__dict__[name]
            raise DecodeError(f"{path}.{name}[{len(items)}]{fpath}", base + foff, reason,
                              partial=msg) from None
        items.append(item)
    return items


def _parse_item(cls, data: bytes, pos: int):
    """``(structure, end)`` of a nested ``cls`` at ``data[pos:]``: the generated fast parse, else
    construct's compiled parse (whose errors the caller handles)."""
    fast = cls._fast_parse
    if fast is not None:
        try:
            return fast(data, pos)
        except Exception:  # noqa: BLE001 - construct's parse below decides the error
            pass
    s = io.BytesIO(data)
    s.seek(pos)
    return cls._from_container(cls.compiled().parse_stream(s)), s.tell()


def _check_payload(p: Payload, where, off: int, msg: Message):
    if p.TYPE == SIGN_TYPE and p.s_type == 2 and len(p.signature) != registry.ECCSI_SIGNATURE_LEN:
        msg.findings.append(Finding(f"{_path(where)}.signature", off + 2,
                                    f"ECCSI signature is {len(p.signature)} octets, RFC 6507 needs "
                                    f"{registry.ECCSI_SIGNATURE_LEN} (r, s, PVT); TS 33.180's '32' is a "
                                    f"known error"))
    if p.TYPE == 1 and p.encr_alg not in registry.KEMAC_ENCR_ALGS:
        msg.findings.append(Finding(f"{_path(where)}.encr_alg", off + 1, f"unknown KEMAC encryption "
                                                                 f"algorithm {p.encr_alg}"))


# ----------------------------------------------------------------------------------------------
# Slow path: find the failing field and its offset by walking the (uncompiled) schema.
class _Located(McsecError):
    def __init__(self, path, offset, reason):
        self.path, self.offset, self.reason = path, offset, reason
        self.partial = None  # the fields of the outermost structure decoded before the error


def _locate(schema, data: bytes, start: int, with_partial: bool = False):
    """(path, offset, reason) of the first field that does not parse; with ``with_partial``
    also the top-level fields decoded before it ({name: value}, bit fields flattened)."""
    stream = io.BytesIO(data)
    stream.seek(start)
    ctx = c.Container(_parsing=True, _building=False, _sizing=False, _params=c.Container())
    try:
        _walk(schema, stream, ctx, "")
    except _Located as e:
        found = e.path, e.offset, e.reason
        before = _flatten(e.partial)
    except Exception as e:  # noqa: BLE001 - the slow path must always produce a location
        found, before = ("", start, f"malformed ({type(e).__name__}: {e})"), {}
    else:
        found, before = ("", start, "inconsistent structure"), {}
    return (*found, before) if with_partial else found


def _flatten(partial) -> dict:
    out = {}
    for name, value in (partial or {}).items():
        if name.startswith("_") and isinstance(value, dict):  # a bit group: its members
            out.update({k: v for k, v in value.items() if not k.startswith("_")})
        elif not name.startswith("_"):
            out[name] = value
    return out


def _walk(sc, stream, ctx, path, starts=None):
    """Parse ``sc`` like construct does, remembering where each field starts."""
    if isinstance(sc, c.Renamed):
        if isinstance(sc.subcon, BitFields):  # a bit group is named by the fields it holds
            name = sc.subcon.members[0][0]
            return _walk(sc.subcon, stream, ctx, f"{path}.{name}", starts)
        return _walk(sc.subcon, stream, ctx, f"{path}.{sc.name}" if sc.name else path, starts)
    if isinstance(sc, c.Struct):
        obj = c.Container()
        sub = c.Container(_=ctx, _params=ctx.get("_params"), _root=None, _parsing=True,
                          _building=False, _sizing=False, _subcons=None, _io=stream,
                          _index=ctx.get("_index"))
        sub._root = ctx.get("_root", sub)
        mine = {}  # field name -> (path, offset) inside this struct
        for s in sc.subcons:
            if s.name:
                here = (f"{path}.{s.name}", stream.tell())
                mine[s.name] = here
                if isinstance(getattr(s, "subcon", None), BitFields):
                    for m_name, _w, _meta in s.subcon.members:
                        mine[m_name] = (f"{path}.{m_name}", here[1])
            try:
                v = _walk(s, stream, sub, path, mine)
            except _Located as e:
                e.partial = obj  # what this structure had decoded (outermost wins)
                raise
            if s.name:
                obj[s.name] = sub[s.name] = v
        return obj
    if isinstance(sc, c.Array):
        count = sc.count(ctx) if callable(sc.count) else sc.count
        out = []
        for i in range(count):
            ctx._index = i
            out.append(_walk(sc.subcon, stream, ctx, f"{path}[{i}]", starts))
        return out
    if isinstance(sc, c.Switch):
        key = sc.keyfunc(ctx) if callable(sc.keyfunc) else sc.keyfunc
        case = sc.cases.get(key, sc.default)
        if isinstance(case, Reject):  # report at the field whose value is unknown
            sel_path, sel_off = (starts or {}).get(case.selector_name(), (path, stream.tell()))
            raise _Located(sel_path, sel_off, f"unknown {case.what} {key}: the rest of the "
                                              f"payload cannot be parsed")
        return _walk(case, stream, ctx, path, starts)
    if isinstance(sc, c.IfThenElse):
        cond = sc.condfunc(ctx) if callable(sc.condfunc) else sc.condfunc
        return _walk(sc.thensubcon if cond else sc.elsesubcon, stream, ctx, path, starts)
    pos = stream.tell()
    try:
        if isinstance(sc, BitFields):
            return sc._parse(stream, ctx, path)
        return sc._parsereport(stream, ctx, path)
    except _Located:
        raise
    except _PARSE_ERRORS as e:
        reason = str(e).split("\n")[-1].strip()
        if isinstance(e, (c.StreamError, struct.error)):
            need = _wanted(sc, ctx)
            have = len(stream.getbuffer()) - pos
            reason = (f"needs {need} octet(s), {have} left" if need is not None
                      else f"truncated ({have} octet(s) left)")
        raise _Located(path or ".", pos, reason) from None


def _wanted(sc, ctx):
    try:
        if hasattr(sc, "_length"):
            return sc._length(ctx)
        return sc._sizeof(ctx, "")
    except Exception:
        return None


def _field_offset(schema, data, start, name):
    """Offset of field ``name`` within a structure that parsed successfully."""
    stream = io.BytesIO(data)
    stream.seek(start)
    ctx = c.Container(_parsing=True, _building=False, _sizing=False, _params=c.Container())
    sub = c.Container(_=ctx, _params=ctx._params, _root=None, _parsing=True, _building=False,
                      _sizing=False, _subcons=None, _io=stream, _index=None)
    for s in schema.subcons:
        if s.name == name:
            return stream.tell() - start
        v = s._parsereport(stream, sub, "")
        if s.name:
            sub[s.name] = v
    return 0
