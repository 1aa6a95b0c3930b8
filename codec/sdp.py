"""SDP key-management attributes (RFC 4567 §3): ``a=key-mgmt:<prot id> <base64 data>``."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from codec.errors import DecodeError

_KEY_MGMT = re.compile(r"^a=key-mgmt:(?P<prot>[^\s]+)[ \t]+(?P<data>[A-Za-z0-9+/=\s]*?)\s*$",
                       re.MULTILINE)


@dataclass(frozen=True)
class KeyMgmt:
    protocol: str  # "mikey" (RFC 4567 protocol identifiers are case-sensitive, lower case)
    data: bytes  # the decoded key-management message
    media_index: int | None  # None = session level, else the 0-based m= block it belongs to
    offset: int  # character offset of the attribute in the SDP text


def b64decode_strict(text: str, where: str = "base64", offset: int = 0) -> bytes:
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as e:
        raise DecodeError(where, offset, f"invalid base64: {e}") from None


def key_mgmt_attributes(sdp: str) -> list[KeyMgmt]:
    """Every ``a=key-mgmt`` attribute of an SDP body (or a lone attribute line)."""
    out = []
    text = sdp.replace("\r\n", "\n")
    media_starts = [m.start() for m in re.finditer(r"^m=", text, re.MULTILINE)]
    for m in _KEY_MGMT.finditer(text):
        media = sum(1 for s in media_starts if s < m.start()) - 1
        data = b64decode_strict(m.group("data"), "a=key-mgmt", m.start("data"))
        out.append(KeyMgmt(m.group("prot"), data, None if media < 0 else media, m.start()))
    return out
