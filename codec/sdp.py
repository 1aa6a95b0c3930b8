"""SDP (RFC 4566): the one line scanner (:func:`lines`, each line with its m= block) and the
key-management attributes on it (RFC 4567 §3): ``a=key-mgmt:<prot id> <base64 data>``.
RTSP's ``a=control`` URLs (:func:`codec.rtsp.sdp_controls`) and the dissector's ``sdp.*``
display fields read the same lines."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

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


@dataclass(frozen=True, slots=True)
class SdpLine:
    type: str  # the one-letter type (RFC 4566 §5)
    value: str  # what follows "="
    media_index: int | None  # None at session level, else the 0-based m= block (m= included)
    offset: int  # character offset of the line in the text


def lines(sdp: str) -> Iterator[SdpLine]:
    """The ``<type>=<value>`` lines of an SDP description (RFC 4566 §5: CRLF ends a line, LF
    alone is tolerated), with the m= block each belongs to; lines of another shape are skipped.
    Linear in the text whatever it holds."""
    return iter(_scan(sdp) if len(sdp) <= _CACHED_MAX else _scan.__wrapped__(sdp))


_CACHED_MAX = 1 << 16  # larger descriptions are scanned each time, not kept


@lru_cache(maxsize=2)  # the display fields and then the session read the same body
def _scan(sdp: str) -> tuple[SdpLine, ...]:
    out = []
    media = -1
    offset = 0
    for line in sdp.split("\n"):
        start = offset
        offset += len(line) + 1
        line = line.rstrip("\r")
        if len(line) < 2 or line[1] != "=":
            continue
        if line[0] == "m":
            media += 1
        out.append(SdpLine(line[0], line[2:], None if media < 0 else media, start))
    return tuple(out)


def key_mgmt_attributes(sdp: str) -> list[KeyMgmt]:
    """Every ``a=key-mgmt`` attribute of an SDP body (or a lone attribute line)."""
    out = []
    for line in lines(sdp):
        if line.type != "a" or not line.value.startswith("key-mgmt:"):
            continue
        prot, _, data = line.value[len("key-mgmt:"):].partition(" ")
        if not prot or not data.strip():
            continue
        data_at = line.offset + len(_KEY_MGMT_PREFIX) + len(prot) + 1
        blob = b64decode_strict(data.strip(), "a=key-mgmt", data_at)
        out.append(KeyMgmt(prot, blob, line.media_index, line.offset))
    return out
