"""Turn the forms users paste into MIKEY octets: raw, hex, base64 or an SDP key-mgmt line.

The ``sdp`` form is any carrier: an SDP body, a whole SIP message or MIME entity (MIKEY in SDP
``a=key-mgmt`` lines and ``application/mikey`` bodies, found by the one MIME-tree walk,
:func:`codec.mime.find_key_material`, that ``dissect`` uses too), or the attribute *value* SIP
stacks' APIs pass around (``mikey <base64>``, or ``key-mgmt:mikey <base64>`` without the
``a=``; RFC 4567 §3.1).
Base64 without its ``=`` padding is accepted with a finding; a hex file with one message per line
(or per blank-line separated block) gives several messages.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from dataclasses import dataclass, field

from codec import mime
from codec.errors import DecodeError, Finding
from codec.sdp import b64decode_strict

FORMS = ("auto", "raw", "hex", "base64", "sdp")
_HEX = re.compile(r"^(0x)?[0-9a-fA-F:\s]+$")
_B64 = re.compile(r"^[A-Za-z0-9+/=\s]+$")
# RFC 4567 §3.1: key-mgmt-attribute value = prtcl-id SP keymgmt-data (base64)
_ATTR_VALUE = re.compile(r"^(?:a=)?(?:key-mgmt:)?(mikey)[ \t]+([A-Za-z0-9+/=]+)[ \t]*$")
_PRINTABLE = set(string.printable.encode())


@dataclass
class Carried:
    """One MIKEY message taken from the input, with what was tolerated to get it."""

    data: bytes
    findings: list = field(default_factory=list)  # codec.errors.Finding


def _attribute_values(text: str) -> list[tuple[str, int]]:
    """(base64, character offset) of every bare ``mikey <base64>`` key-mgmt value in ``text``."""
    out, offset = [], 0
    for line in text.split("\n"):
        m = _ATTR_VALUE.match(line.rstrip("\r").strip())
        if m:
            out.append((m.group(2), offset + line.index(m.group(2))))
        offset += len(line) + 1
    return out


def detect_form(data: bytes) -> str:
    if not data or any(b not in _PRINTABLE for b in data):
        return "raw"  # a MIKEY message starts with version 0x01: never printable
    text = data.decode("ascii")
    if "key-mgmt:" in text or _attribute_values(text) or mime.looks_like_mime(data):
        return "sdp"
    if _HEX.match(text.strip()) and len(re.sub(r"[\s:]|^0x", "", text.strip())) % 2 == 0:
        return "hex"
    if _B64.match(text.strip()):
        return "base64"
    return "raw"


def b64decode_tolerant(text: str, where: str, offset: int = 0) -> Carried:
    """Base64 (RFC 4648 §4); without its padding it is still read, with a finding."""
    compact = "".join(text.split())
    try:
        return Carried(b64decode_strict(compact, where, offset))
    except DecodeError as strict_error:
        missing = -len(compact) % 4
        if "=" in compact or missing == 3:
            raise strict_error from None
        try:
            data = base64.b64decode(compact + "=" * missing, validate=True)
        except (binascii.Error, ValueError):
            raise strict_error from None
    return Carried(data, [Finding(where, offset, f"base64 without its padding ({missing} '=' "
                                                 f"missing, RFC 4648 §4): accepted")])


def _hex_octets(text: str) -> bytes:
    compact = re.sub(r"[\s:]", "", text.strip())
    if compact.startswith(("0x", "0X")):
        compact = compact[2:]
    try:
        return bytes.fromhex(compact)
    except ValueError:
        raise DecodeError("input", 0, "invalid hex") from None


def _decodes_alone(data: bytes) -> bool:
    from codec.mikey.message import decode

    try:
        return not decode(data).trailing
    except DecodeError:
        return False


def _hex_messages(text: str) -> list[bytes]:
    """One message per blank-line separated block; within one block one per line when the lines
    are whole messages (``xxd -p`` style wrapping of one message stays one message)."""
    blocks = [b for b in re.split(r"\n[ \t\r]*\n", text.strip()) if b.strip()]
    if len(blocks) > 1:
        return [_hex_octets(b) for b in blocks]
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    joined = _hex_octets(text)
    if len(lines) > 1 and not _decodes_alone(joined) and _decodes_alone(_hex_octets(lines[0])):
        return [_hex_octets(ln) for ln in lines]
    return [joined]


def mikey_inputs(data: bytes, form: str = "auto") -> list[Carried]:
    """The MIKEY message(s) in ``data`` given in ``form`` (several for an SDP body or a file of
    hex lines), each with the findings its carrier gave."""
    if form not in FORMS:
        raise ValueError(f"unknown input form {form!r}")
    if form == "auto":
        form = detect_form(data)
    if form == "raw":
        return [Carried(bytes(data))]
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("input", 0, f"{form} input is not text") from None
    if form == "hex":
        return [Carried(m) for m in _hex_messages(text)]
    if form == "base64":
        return [b64decode_tolerant(text, "input")]
    strict_error = None
    out = []
    tree = _carrier_entity(bytes(data))
    items = mime.find_key_material(tree)
    if not items and tree.path != "SDP":  # a message without an SDP Content-Type: its lines
        items = mime.find_key_material(_sdp_text(bytes(data)))
    for item in items:
        if isinstance(item, (mime.MikeyInSdp, mime.MikeyBody)):
            out.append(Carried(item.data))
        elif isinstance(item, mime.KeyMaterialError) and strict_error is None:
            strict_error = item.error  # e.g. base64 without padding: read again, tolerantly
    if not out:  # also the attribute value alone, as SIP stacks' APIs pass it (RFC 4567 §3.1)
        out = [b64decode_tolerant(b64, "a=key-mgmt", off) for b64, off in _attribute_values(text)]
    if strict_error is not None and len(out) < text.count("key-mgmt:mikey"):
        raise strict_error  # an attribute that is not base64 even without padding
    if not out:
        raise DecodeError("input", 0, "no a=key-mgmt:mikey attribute found")
    return out


def _carrier_entity(data: bytes) -> mime.Entity:
    """The input as a MIME tree: a SIP message, a MIME entity (it begins with Content-Type or
    MIME-Version), else an SDP body on its own (or bare attribute lines)."""
    if mime.looks_like_mime(data):
        try:
            return mime.parse(data)
        except DecodeError:
            pass  # not a well-formed message: read it as SDP text, line by line
    return _sdp_text(data)


def _sdp_text(data: bytes) -> mime.Entity:
    return mime.Entity([("Content-Type", "application/sdp")], data, data, 0, 0, "SDP")


def mikey_messages(data: bytes, form: str = "auto") -> list[bytes]:
    """The MIKEY message(s) in ``data`` given in ``form`` (several for an SDP body)."""
    return [c.data for c in mikey_inputs(data, form)]
