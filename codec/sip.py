"""SIP (RFC 3261): the one test for "is this SIP", the one message parser, stream framing.

:func:`is_sip` says whether octets begin with a SIP request or status line (§7.1, §7.2); every
part of mcsec that must tell SIP from other traffic asks it.  :func:`parse` reads a message into a
:class:`codec.mime.Entity` (start line, header fields with folding §7.3.1 and compact forms
§7.3.3, body limited by Content-Length §20.14); the MIME tree below it (SDP, multipart, S/MIME)
is walked by :func:`codec.mime.find_key_material`.

:class:`StreamFramer` is sans-I/O: feed it the contiguous bytes of one TCP direction, take the
complete messages it yields (several per segment, or one across many).  After garbage (a capture
gap) it resynchronises at the next line that begins with a SIP start line.  A message ends after
its headers and Content-Length octets (compact form ``l``); a stream message without
Content-Length is an error of the sender (§18.3) and is framed as header-only with a finding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from codec.errors import DecodeError, Finding

MAX_HEADER = 64 * 1024
MAX_BODY = 4 * 1024 * 1024
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*\r?$",
                             re.IGNORECASE | re.MULTILINE)
# RFC 3261 §7.1 Request-Line (Method SP Request-URI SP SIP-Version) and §7.2 Status-Line
# (SIP-Version SP Status-Code SP Reason-Phrase).  Start lines are only looked for at line starts,
# with bounded tokens, so a long run of capitals or of non-space octets cannot make the search
# quadratic.  The framer searches with it; is_sip matches it at the first octet.
_START = re.compile(rb"(?m)^(?:[A-Z]{1,32} \S{1,4096} SIP/2\.0|SIP/2\.0 \d{3})")
# RFC 3261 §7.3.3 compact forms (and those later RFCs registered: RFC 3515 r, RFC 3892 b,
# RFC 3841 a, RFC 4028 x, RFC 3265 o, u)
COMPACT_FORMS = {"i": "Call-ID", "f": "From", "t": "To", "v": "Via", "m": "Contact",
                 "c": "Content-Type", "l": "Content-Length", "s": "Subject", "k": "Supported",
                 "e": "Content-Encoding", "o": "Event", "u": "Allow-Events", "r": "Refer-To",
                 "b": "Referred-By", "a": "Accept-Contact", "x": "Session-Expires"}
HTTP_START = re.compile(rb"(?m)^(?:HTTP/1\.[01] \d{3}|[A-Z]{1,32} \S{1,4096} HTTP/1\.[01])")


@dataclass
class Framed:
    data: bytes
    offset: int  # stream offset of the first octet
    findings: list = field(default_factory=list)


class StreamFramer:
    """Cut a SIP byte stream into messages."""

    # one per TCP direction carrying SIP: slots keep the many idle ones small (issue 15)
    __slots__ = ("start", "buffer", "offset", "max_buffer", "dropped", "length_required")

    def __init__(self, max_buffer: int = MAX_HEADER + MAX_BODY, start=_START):
        self.start = start  # start-line pattern: SIP, or HTTP/1.x (same framing by Content-Length)
        self.buffer = bytearray()
        self.offset = 0  # stream offset of buffer[0]
        self.max_buffer = max_buffer
        self.dropped = 0
        self.length_required = True  # SIP §18.3; RTSP (RFC 2326 §4.3): no Content-Length, no body

    def feed(self, data: bytes) -> list[Framed]:
        self.buffer += data
        out = []
        while True:
            msg = self._next()
            if msg is None:
                break
            out.append(msg)
        if len(self.buffer) > self.max_buffer:  # bounded memory: give up on this data
            self.dropped += len(self.buffer)
            out.append(Framed(b"", self.offset, [Finding("SIP", self.offset,
                                                         f"{len(self.buffer)} octet(s) without a "
                                                         "complete SIP message dropped")]))
            self.offset += len(self.buffer)
            self.buffer.clear()
        return out

    def skip_line_breaks(self) -> None:
        """Drop the CRs and LFs between messages (SIP keep-alives, RFC 5626 §3.5.1)."""
        buf = self.buffer
        lead = 0
        while lead < len(buf) and buf[lead] in (13, 10):
            lead += 1
        if lead:
            del buf[:lead]
            self.offset += lead

    def _next(self) -> Framed | None:
        buf = self.buffer
        # skip keep-alive CRLFs and resynchronise on a start line
        self.skip_line_breaks()
        if not buf:
            return None
        findings = []
        m = self.start.search(buf, 0, min(len(buf), MAX_HEADER))
        if m is None:
            if len(buf) > MAX_HEADER:
                findings.append(Finding("SIP", self.offset, "no SIP start line: octets skipped"))
                self.offset += len(buf)
                buf.clear()
                return Framed(b"", self.offset, findings)
            return None
        if m.start():
            findings.append(Finding("SIP", self.offset, f"{m.start()} octet(s) before a SIP start "
                                                        "line skipped"))
            self.offset += m.start()
            del buf[:m.start()]
        end = buf.find(b"\r\n\r\n")
        sep = 4
        if end < 0:
            end = buf.find(b"\n\n")
            sep = 2
        if end < 0:
            if len(buf) > MAX_HEADER:
                findings.append(Finding("SIP", self.offset, "header section longer than "
                                                            f"{MAX_HEADER} octets"))
                self.offset += len(buf)
                buf.clear()
                return Framed(b"", self.offset, findings)
            return None
        head = bytes(buf[:end])
        cl = _CONTENT_LENGTH.search(head)
        if cl is None and not self.length_required:
            length = 0
        elif cl is None:
            findings.append(Finding("SIP.Content-Length", self.offset,
                                    "no Content-Length on a stream transport (RFC 3261 §18.3): "
                                    "body taken as empty"))
            length = 0
        else:
            length = int(cl.group(1))
            if length > MAX_BODY:  # refuse to buffer it: report and drop the header section
                findings.append(Finding("SIP.Content-Length", self.offset,
                                        f"Content-Length {length} exceeds {MAX_BODY}: message "
                                        "dropped"))
                del buf[:end + sep]
                self.offset += end + sep
                return Framed(b"", self.offset, findings)
        total = end + sep + length
        if len(buf) < total:
            return None
        data = bytes(buf[:total])
        del buf[:total]
        framed = Framed(data, self.offset, findings)
        self.offset += total
        return framed


def is_sip(data: bytes) -> bool:
    """Whether ``data`` begins with a SIP request line or status line (RFC 3261 §7.1, §7.2)."""
    return _START.match(data) is not None


def parse(data: bytes, *, tolerant: bool = False):
    """A SIP request or response (RFC 3261 §7) as a :class:`codec.mime.Entity` with
    ``start_line`` set: header fields (folded lines joined, §7.3.1; ``Entity.header`` knows the
    compact forms, §7.3.3) and the body limited by Content-Length (§20.14; octets after it are a
    finding).  Raises :class:`DecodeError` with the field path and offset; ``tolerant`` (for
    display fields) turns what is wrong below the start line into findings instead."""
    from codec import mime

    if not is_sip(data):
        raise DecodeError("SIP.start_line", 0, "not a SIP request or status line")
    nl = data.find(b"\n")
    if nl < 0:
        nl = len(data)
    start_line = data[:nl].rstrip(b"\r").decode("utf-8", "replace")
    findings: list = []
    headers, body_start = mime.parse_headers(data, nl + 1, len(data), "SIP", findings,
                                             tolerant=tolerant)
    ent = mime.Entity(headers, data[body_start:], data, 0, body_start, "SIP", start_line,
                      findings)
    length = ent.header("content-length")
    if length is None:
        return ent
    left = len(data) - body_start
    error = None
    n = int(length.strip()) if re.fullmatch(r"[0-9]{1,12}", length.strip()) else None
    if n is None:
        error = DecodeError("SIP.Content-Length", body_start, f"not a number: {length!r}")
    elif n > left:
        error = DecodeError("SIP.body", body_start, f"Content-Length {n} but {left} octet(s) "
                                                    "left: truncated body")
    if error is not None:
        if not tolerant:
            raise error
        findings.append(Finding(error.path, error.offset, error.reason))
        return ent
    if n < left:
        findings.append(Finding("SIP.body", body_start + n,
                                f"{left - n} octet(s) after Content-Length ignored"))
    ent.body = data[body_start:body_start + n]
    ent.raw = data[:body_start + n]
    return ent
