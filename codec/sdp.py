"""SDP key-management attributes (RFC 4567 §3): ``a=key-mgmt:<prot id> <base64 data>``."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from codec.errors import DecodeError

_KEY_MGMT_PREFIX = "a=key-mgmt:"


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
    """Every ``a=key-mgmt`` attribute of an SDP body (or a lone attribute line).

    A line scan (RFC 4566 §5: one attribute per line), linear in the text whatever it holds."""
    out = []
    media = -1
    offset = 0
    for line in sdp.split("\n"):
        start = offset
        offset += len(line) + 1
        line = line.rstrip("\r")
        if line.startswith("m="):
            media += 1
            continue
        if not line.startswith(_KEY_MGMT_PREFIX):
            continue
        prot, _, data = line[len(_KEY_MGMT_PREFIX):].partition(" ")
        if not prot or not data.strip():
            continue
        data_at = start + len(_KEY_MGMT_PREFIX) + len(prot) + 1
        blob = b64decode_strict(data.strip(), "a=key-mgmt", data_at)
        out.append(KeyMgmt(prot, blob, None if media < 0 else media, start))
    return out
