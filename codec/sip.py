"""SIP message framing over a byte stream (RFC 3261 §18.3) and key-material discovery in SIP.

:class:`StreamFramer` is sans-I/O: feed it the contiguous bytes of one TCP direction, take the
complete messages it yields (several per segment, or one across many).  After garbage (a capture
gap) it resynchronises at the next line that begins with a SIP start line.  A message ends after
its headers and Content-Length octets (compact form ``l``); a stream message without
Content-Length is an error of the sender (§18.3) and is framed as header-only with a finding.

:func:`key_material` finds what a SIP message carries: MIKEY in SDP ``a=key-mgmt`` (session and
media level), ``application/mikey`` bodies, S/MIME entities, seed 004 PSK S/MIME bodies, and
multipart combinations of these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from codec.errors import Finding

MAX_HEADER = 64 * 1024
MAX_BODY = 4 * 1024 * 1024
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*\r?$",
                             re.IGNORECASE | re.MULTILINE)
# Start lines are only looked for at line starts, with bounded tokens, so a long run of
# capitals or of non-space octets cannot make the search quadratic.
_START = re.compile(rb"(?m)^(?:[A-Z]{1,32} \S{1,4096} SIP/2\.0|SIP/2\.0 \d{3})")
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


RTSP_START = re.compile(rb"(?m)^(?:RTSP/[12]\.0 \d{3}|[A-Z_]{1,32} \S{1,4096} RTSP/[12]\.0)")


def looks_like_sip(data: bytes) -> bool:
    return bool(_START.match(data[:64]))


def looks_like_rtsp(data: bytes) -> bool:
    return bool(RTSP_START.match(data[:128]))
