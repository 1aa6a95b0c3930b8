"""MSRP (RFC 4975) messages: framing a byte stream and decoding each message.

MCData and seed 004 carry MSRP over TLS (here: TLS-PSK, the PSK from a MIKEY-TICKET TLS crypto
session).  RFC 4975 §7.1: ``MSRP SP transact-id SP method CRLF`` (or ``… SP status-code
[SP comment] CRLF``), header lines, an optional ``CRLF`` + body, then the end-line
``"-------" transact-id continuation-flag CRLF`` with the flag ``$`` (complete), ``+`` (more
chunks) or ``#`` (aborted).  JSON names are Wireshark's (``msrp.*``).
"""

from __future__ import annotations

import re
from typing import Any

from codec.errors import DecodeError

START = re.compile(rb"MSRP ([A-Za-z0-9][A-Za-z0-9.+%=-]{3,31}) ([A-Z]+|\d{3})(?: ([^\r\n]*))?\r\n")
MAX_MESSAGE = 1 << 20  # an MSRP chunk larger than this is not waited for (bounded memory)

# RFC 4975 §9 header names -> Wireshark field names
HEADERS = {
    "to-path": "msrp.to.path", "from-path": "msrp.from.path", "message-id": "msrp.messageid",
    "success-report": "msrp.success.report", "failure-report": "msrp.failure.report",
    "byte-range": "msrp.byte.range", "status": "msrp.status", "content-type": "msrp.content.type",
    "content-id": "msrp.content.id", "content-description": "msrp.content.description",
    "content-disposition": "msrp.content.disposition", "use-path": "msrp.use.path",
}


def split_messages(data: bytes) -> tuple[list[tuple[int, bytes]], bytes, list[DecodeError]]:
    """Complete MSRP messages at the front of ``data``: ([(offset, octets)], the incomplete
    rest, errors for octets that are not MSRP and were skipped up to the next start line)."""
    out, errors = [], []
    pos = 0
    while pos < len(data):
        m = START.match(data, pos)
        if m is None:
            nxt = data.find(b"MSRP ", pos + 1)
            if nxt < 0 and len(data) - pos < 64:
                break  # maybe the start of a start line: wait for more
            skip_to = nxt if nxt >= 0 else len(data)
            errors.append(DecodeError("msrp", pos, f"{skip_to - pos} octet(s) that are not an "
                                                   f"MSRP start line skipped"))
            pos = skip_to
            continue
        end_line = b"\r\n-------" + m.group(1)
        end = data.find(end_line, m.end() - 2)
        if end < 0 or end + len(end_line) + 3 > len(data):
            if len(data) - pos > MAX_MESSAGE:
                errors.append(DecodeError("msrp.end.line", pos, f"no end-line within "
                                                                f"{MAX_MESSAGE} octets"))
                pos = len(data)
            break
        stop = end + len(end_line) + 3  # flag + CRLF
        out.append((pos, data[pos:stop]))
        pos = stop
    return out, data[pos:], errors


def decode(message: bytes) -> dict[str, Any]:
    """One framed MSRP message as JSON (Wireshark's names); the body is ``msrp.data`` octets."""
    m = START.match(message)
    if m is None:
        raise DecodeError("msrp.request.line", 0, "not an MSRP start line")
    tid, what, comment = (g.decode("latin-1") if g is not None else None for g in m.groups())
    out: dict[str, Any] = {"msrp.transaction.id": tid}
    first = message[:m.end() - 2].decode("latin-1")
    if what.isdigit():
        out.update({"msrp.response.line": first, "msrp.status.code": int(what)})
    else:
        out.update({"msrp.request.line": first, "msrp.method": what})
    end_line = b"\r\n-------" + m.group(1)
    end = message.find(end_line, m.end() - 2)
    if end < 0:
        raise DecodeError("msrp.end.line", len(message), "no end-line")
    flag = message[end + len(end_line):end + len(end_line) + 1].decode("latin-1")
    if flag not in ("$", "+", "#"):
        raise DecodeError("msrp.cnt.flg", end + len(end_line), f"continuation flag {flag!r} is "
                                                               f"not $, + or #")
    out["msrp.end.line"] = f"-------{tid}{flag}"
    out["msrp.cnt.flg"] = flag
    inner = message[m.end():end + 2]  # header lines (each with CRLF), then CRLF + body
    head, sep, body = inner.partition(b"\r\n\r\n") if b"\r\n\r\n" in inner else (inner, b"", b"")
    pos = m.end()
    for line in head.split(b"\r\n"):
        if not line:
            pos += 2
            continue
        name, colon, value = line.decode("utf-8", "replace").partition(":")
        if not colon:
            raise DecodeError("msrp.hdr", pos, f"header line without a colon: {line[:40]!r}")
        key = HEADERS.get(name.strip().lower())
        if key is None:
            out.setdefault("msrp.hdr", []).append(line.decode("utf-8", "replace"))
        else:
            out[key] = value.strip()
        pos += len(line) + 2
    if sep:
        out["msrp.data"] = body[:-2] if body.endswith(b"\r\n") else body
    return out
