"""Turn the forms users paste into MIKEY octets: raw, hex, base64 or an SDP key-mgmt line."""

from __future__ import annotations

import re
import string

from codec.errors import DecodeError
from codec.sdp import b64decode_strict, key_mgmt_attributes

FORMS = ("auto", "raw", "hex", "base64", "sdp")
_HEX = re.compile(r"^(0x)?[0-9a-fA-F:\s]+$")
_B64 = re.compile(r"^[A-Za-z0-9+/=\s]+$")
_PRINTABLE = set(string.printable.encode())


def detect_form(data: bytes) -> str:
    if not data or any(b not in _PRINTABLE for b in data):
        return "raw"  # a MIKEY message starts with version 0x01: never printable
    text = data.decode("ascii")
    if "key-mgmt:" in text:
        return "sdp"
    if _HEX.match(text.strip()) and len(re.sub(r"[\s:]|^0x", "", text.strip())) % 2 == 0:
        return "hex"
    if _B64.match(text.strip()):
        return "base64"
    return "raw"


def mikey_messages(data: bytes, form: str = "auto") -> list[bytes]:
    """The MIKEY message(s) in ``data`` given in ``form`` (several for an SDP body)."""
    if form not in FORMS:
        raise ValueError(f"unknown input form {form!r}")
    if form == "auto":
        form = detect_form(data)
    if form == "raw":
        return [bytes(data)]
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("input", 0, f"{form} input is not text") from None
    if form == "hex":
        compact = re.sub(r"[\s:]", "", text.strip())
        if compact.startswith(("0x", "0X")):
            compact = compact[2:]
        try:
            return [bytes.fromhex(compact)]
        except ValueError:
            raise DecodeError("input", 0, "invalid hex") from None
    if form == "base64":
        return [b64decode_strict(text, "input")]
    attrs = [a for a in key_mgmt_attributes(text) if a.protocol == "mikey"]
    if not attrs:
        raise DecodeError("input", 0, "no a=key-mgmt:mikey attribute found")
    return [a.data for a in attrs]
