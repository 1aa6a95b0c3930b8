"""JSON text of the renderer: ``json.dumps``' very text, made faster.

- :func:`dumps`: ``--format json`` / ``jsonl-records`` (json.dumps' defaults: ASCII, ``", "``
  and ``": "`` separators), with the rendered payload lists of cached MIKEY messages spliced in
  as text;
- :func:`dumps_compact`: ``separators=(",", ":")`` by orjson where its text is the same.
"""

from __future__ import annotations

import json


class RenderedList(list):
    """The payload list of a message's JSON doc kept in :data:`message_cache.RENDERED`, shared
    by every record of those octets (never modified) and carrying its own JSON text
    (``json_text``: ``json.dumps`` of the list), which :func:`dumps` splices in."""

    __slots__ = ("json_text", "flags")


try:
    import orjson
except ImportError:  # pragma: no cover - declared; json.dumps gives the same text
    orjson = None


def dumps(obj) -> str:
    """The JSON text of ``--format json`` / ``jsonl-records``: ``json.dumps`` (ASCII, ``", "``
    and ``": "`` separators, insertion order).  orjson has no such separators; re-spacing its
    indented output gives the same bytes but cost as much time as it saved (0.21 s either way
    for the 1,772 packets of the sample captures), so json.dumps it is.

    The MIKEY payload lists rendered once per distinct message (:class:`RenderedList`) are not
    encoded again: the object is dumped with a placeholder string in their place, and their
    ``json_text`` replaces the placeholders (the same bytes ``json.dumps`` gives; should the
    placeholder occur elsewhere in the text, the object is dumped as is)."""
    spliced = _rendered_in(obj)
    if not spliced:
        return _json_dumps(obj)
    try:  # the placeholder in place of each list, in dicts made for this output alone
        for holder, _ in spliced:
            holder["mikey"] = _PLACEHOLDER
        parts = _json_dumps(obj).split(_PLACEHOLDER_JSON)
    finally:
        for holder, payloads in spliced:
            holder["mikey"] = payloads
    if len(parts) != len(spliced) + 1:
        return json.dumps(obj)
    out = [parts[0]]
    for (_, payloads), part in zip(spliced, parts[1:]):
        out.append(payloads.json_text)
        out.append(part)
    return "".join(out)


def _not_serializable(o):
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


# json.dumps(obj) with its defaults is JSONEncoder().encode(obj): the C encoder made anew for
# each call with these arguments (markers: the circular-reference check, which these trees
# never need).  Made once here: the same C code, the same text, ~8 us a packet less.
_C_ENCODER = (json.encoder.c_make_encoder(None, _not_serializable,
                                          json.encoder.encode_basestring_ascii, None, ": ", ", ",
                                          False, False, True)
              if json.encoder.c_make_encoder is not None else None)


def _json_dumps(obj) -> str:
    if _C_ENCODER is None:
        return json.dumps(obj)
    return "".join(_C_ENCODER(obj, 0))


_PLACEHOLDER = "\x00mcsec.rendered\x00"  # json.dumps writes it as "\u0000mcsec.rendered\u0000"
_PLACEHOLDER_JSON = json.dumps(_PLACEHOLDER)


def _rendered_in(obj) -> list:
    """(dict, :class:`RenderedList`) for each rendered payload list of ``obj`` — a packet of
    ``--format json`` (its mikey layer's entries: fresh dicts of :func:`add_layers`) or a
    MIKEY record of ``jsonl-records`` (its message doc: a fresh copy, :func:`mikey_json`) —
    in the order ``json.dumps`` meets them."""
    if not isinstance(obj, dict):
        return []
    layers = obj.get("layers")
    if isinstance(layers, dict):
        entries = layers.get("mikey")
        if not entries or not isinstance(entries, list):
            return []
    else:
        entries = (obj.get("mikey"),)
    return [(e, e["mikey"]) for e in entries
            if isinstance(e, dict) and type(e.get("mikey")) is RenderedList]


def dumps_compact(obj) -> str:
    """``json.dumps(obj, separators=(",", ":"))``, by orjson (3 times faster) where the text is
    the same: ASCII output (json.dumps escapes the rest, orjson writes UTF-8 and DEL as is) and
    no float that repr() writes with an exponent (orjson writes ``1e-7`` for ``1e-07`` and
    ``0.000015`` for ``1.5e-05``: a digit-``e±``-digit or ``0.0000`` anywhere sends the object
    to json.dumps; hex strings have neither).  What orjson refuses (an integer beyond 64 bits, a
    non-string key) goes to json.dumps too."""
    if orjson is not None:
        try:
            raw = orjson.dumps(obj)
        except TypeError:
            raw = None
        if (raw is not None and raw.isascii() and b"\x7f" not in raw and b"0.0000" not in raw
                and not _exponent(raw)):
            return raw.decode("ascii")
    return json.dumps(obj, separators=(",", ":"))


def _exponent(raw: bytes) -> bool:
    """Whether ``raw`` holds ``<digit>e-<digit>`` or ``<digit>e+<digit>`` (a float in exponent
    form, or text that looks like one)."""
    for mark in (b"e-", b"e+"):
        i = raw.find(mark)
        while i >= 0:
            if 0 < i < len(raw) - 2 and raw[i - 1] in _DIGITS and raw[i + 2] in _DIGITS:
                return True
            i = raw.find(mark, i + 2)
    return False


_DIGITS = frozenset(b"0123456789")
