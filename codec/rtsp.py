"""RTSP (RFC 2326; RFC 7826 for 2.0) as far as key management needs it: framing a TCP stream,
the headers that carry or place keys (RFC 4567 §3.3 ``KeyMgmt``; §12.39 ``Transport``;
``Content-Base``/``Content-Location`` for SDP ``a=control`` URLs), and SDP bodies.

:class:`RtspFramer` is sans-I/O like :class:`codec.sip.StreamFramer`: messages end after their
headers and Content-Length octets (RFC 2326 §4.3: no Content-Length means no body, which is not an
error in RTSP); interleaved binary data (RFC 2326 §10.12: ``$`` ‖ channel ‖ 16-bit length ‖ data,
RTP/RTCP over the RTSP connection) is cut out as frames of its own with their channel.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from codec.errors import DecodeError
from codec.sdp import key_mgmt_attributes
from codec.sdp import lines as sdp_lines
from codec.sip import Framed, StreamFramer

INTERLEAVED_MARK = 0x24  # "$" (RFC 2326 §10.12)
# RFC 2326 §6.1 Request-Line / §7.1 Status-Line (RFC 7826 §8 for RTSP/2.0), bounded tokens
RTSP_START = re.compile(rb"(?m)^(?:RTSP/[12]\.0 \d{3}|[A-Z_]{1,32} \S{1,4096} RTSP/[12]\.0)")


def is_rtsp(data: bytes) -> bool:
    """Whether ``data`` begins with an RTSP request or status line (RFC 2326 §6.1, §7.1)."""
    return RTSP_START.match(data) is not None


@dataclass
class RtspFramed(Framed):
    channel: int | None = None  # interleaved channel (RFC 2326 §10.12), None for a message


class RtspFramer(StreamFramer):
    """Cut an RTSP byte stream into messages and interleaved frames."""

    def __init__(self, max_buffer: int | None = None):
        super().__init__(start=RTSP_START, **({"max_buffer": max_buffer} if max_buffer else {}))
        self.length_required = False

    def _next(self):
        buf = self.buffer
        self.skip_line_breaks()
        if buf[:1] == b"$":
            if len(buf) < 4:
                return None
            channel, size = buf[1], int.from_bytes(buf[2:4], "big")
            if len(buf) < 4 + size:
                return None
            data = bytes(buf[4:4 + size])
            del buf[:4 + size]
            framed = RtspFramed(data, self.offset, [], channel)
            self.offset += 4 + size
            return framed
        nxt = super()._next()
        if nxt is not None and not isinstance(nxt, RtspFramed):
            nxt = RtspFramed(nxt.data, nxt.offset, nxt.findings)
        return nxt


@dataclass
class RtspMessage:
    start_line: str
    headers: list = field(default_factory=list)  # [(name, value)] in wire order
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        return self.start_line.startswith("RTSP/")

    @property
    def method(self) -> str | None:
        return None if self.is_response else self.start_line.split(" ", 1)[0]

    @property
    def url(self) -> str | None:
        return None if self.is_response else self.start_line.split(" ")[1]

    @property
    def status(self) -> int | None:
        if not self.is_response:
            return None
        parts = self.start_line.split(" ")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for n, v in self.headers if n.lower() == name), None)

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]


def parse(data: bytes) -> RtspMessage:
    """Start line, header fields and body (RFC 2326 §4: the RFC 822 message format).  The
    header fields are read by the one MIME/SIP header parser (:func:`codec.mime.parse_headers`,
    continuation lines folded), tolerantly: a malformed line is skipped."""
    from codec import mime

    if not is_rtsp(data):
        raise DecodeError("RTSP.start_line", 0, "not an RTSP start line")
    nl = data.find(b"\n")
    if nl < 0:
        nl = len(data)
    start_line = data[:nl].rstrip(b"\r").decode("utf-8", "replace")
    headers, body_start = mime.parse_headers(data, nl + 1, len(data), "RTSP", [], tolerant=True)
    return RtspMessage(start_line, headers, data[body_start:])


def _params(spec: str) -> dict[str, str]:
    """``a=b;c;d="e;f"`` → {a: b, c: "", d: "e;f"} (quoted values may hold ';' and ',')."""
    out = {}
    for m in re.finditer(r'\s*([^=;\s]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;]*))?\s*(?:;|$)', spec):
        value = m.group(2) or ""
        out[m.group(1).lower()] = value[1:-1] if value.startswith('"') else value.strip()
    return out


def _split_specs(value: str) -> list[str]:
    """Comma-separated specs, commas inside quotes kept (RFC 2326 §12.39, RFC 4567 §3.3)."""
    return [s for s in re.findall(r'(?:[^,"]|"(?:[^"\\]|\\.)*")+', value) if s.strip()]


@dataclass
class KeyMgmtSpec:
    prot: str
    uri: str | None
    data: bytes | None
    error: str | None = None


def key_mgmt(value: str) -> list[KeyMgmtSpec]:
    """The key-management specs of a ``KeyMgmt`` header (RFC 4567 §3.3):
    ``prot=mikey; uri="…"; data="<base64>"``, several separated by commas."""
    out = []
    for spec in _split_specs(value):
        p = _params(spec)
        item = KeyMgmtSpec(p.get("prot", ""), p.get("uri"), None)
        if "data" not in p:
            item.error = "no data parameter"
        else:
            try:
                item.data = base64.b64decode("".join(p["data"].split()), validate=True)
            except (binascii.Error, ValueError) as e:
                item.error = f"invalid base64 in data: {e}"
        out.append(item)
    return out


def _port_range(text: str | None) -> tuple[int, ...] | None:
    """``5000-5001`` or ``5000`` (RFC 2326 §12.39 port ranges)."""
    if not text:
        return None
    parts = text.split("-")
    if len(parts) > 2 or not all(p.isdigit() and len(p) <= 5 and int(p) < 65536 for p in parts):
        return None
    return tuple(int(p) for p in parts)


@dataclass
class TransportSpec:
    protocol: str  # "RTP/AVP", "RTP/SAVP", "RTP/SAVP/UDP", …
    client_port: tuple | None = None
    server_port: tuple | None = None
    interleaved: tuple | None = None
    ssrc: int | None = None
    mode: str | None = None
    params: dict = field(default_factory=dict)


def transport(value: str) -> list[TransportSpec]:
    """The transport specs of a ``Transport`` header (RFC 2326 §12.39)."""
    out = []
    for spec in _split_specs(value):
        proto, _, rest = spec.strip().partition(";")
        p = _params(rest)
        ssrc = p.get("ssrc")
        try:
            ssrc_value = int(ssrc, 16) if ssrc else None
        except ValueError:
            ssrc_value = None
        out.append(TransportSpec(proto.strip(), _port_range(p.get("client_port")),
                                 _port_range(p.get("server_port")),
                                 _port_range(p.get("interleaved")),
                                 ssrc_value if ssrc_value is None or ssrc_value < 1 << 32 else None,
                                 p.get("mode", "").strip('"') or None, p))
    return out


def sdp_controls(sdp: str, base: str | None) -> list[str | None]:
    """The absolute ``a=control`` URL of each m= block of an SDP body (RFC 2326 §C.1.1, §C.1.3:
    relative to Content-Base, or to the session-level control; ``*`` is the base itself)."""
    session = None
    media: list = []
    for line in sdp_lines(sdp):
        if line.type == "m":
            media.append(None)
        elif line.type == "a" and line.value.startswith("control:"):
            url = line.value[len("control:"):].strip()
            if media:
                media[-1] = url
            else:
                session = url
    root = base
    if session and session != "*":
        root = session if "://" in session else _join(base, session)
    return [None if c is None else c if "://" in c else root if c == "*" else _join(root, c)
            for c in media]


def _join(base: str | None, rel: str) -> str:
    if not base:
        return rel
    return base + rel if base.endswith("/") else f"{base}/{rel}"


def same_stream(a: str | None, b: str | None) -> bool:
    """URLs of one stream: equal but for a trailing slash."""
    return a is not None and b is not None and a.rstrip("/") == b.rstrip("/")


# -- key material in an RTSP message (RFC 4567 §3.3 KeyMgmt header, §4 SDP key-mgmt) ----------
@dataclass(frozen=True)
class RtspMikey:
    """A MIKEY message an RTSP message carries, and the stream URL its keys are for."""

    data: bytes
    carrier: str  # "rtsp KeyMgmt", "rtsp sdp session", "rtsp sdp media N"
    stream: str | None  # KeyMgmt ``uri`` (else the request URL), or the m= block's a=control


@dataclass(frozen=True)
class RtspKeyMgmtError:
    """A KeyMgmt header or SDP key-mgmt attribute that could not be read."""

    error: DecodeError


def find_key_material(msg: RtspMessage, url: str | None) -> list:
    """MIKEY in ``KeyMgmt`` headers (SETUP, ANNOUNCE replies …; RFC 4567 §3.3) and in SDP bodies
    (DESCRIBE reply, ANNOUNCE; RFC 4567 §4), in that order, each with the stream URL it keys:
    the header's ``uri``, else ``url`` (the request's); for SDP the m= block's ``a=control``
    (RFC 2326 §C.1.1) relative to Content-Base / Content-Location / ``url``."""
    out: list = []
    for value in msg.all("keymgmt"):
        for spec in key_mgmt(value):
            if spec.error:
                out.append(RtspKeyMgmtError(DecodeError("RTSP.KeyMgmt", 0,
                                                        f"bad KeyMgmt: {spec.error}")))
            elif spec.prot == "mikey":
                out.append(RtspMikey(spec.data, "rtsp KeyMgmt", spec.uri or url))
    ctype = (msg.header("content-type") or "").split(";")[0].strip().lower()
    if msg.body and ctype == "application/sdp":
        text = msg.body.decode("utf-8", "replace")
        content_base = msg.header("content-base") or msg.header("content-location") or url
        controls = sdp_controls(text, content_base)
        try:
            attrs = key_mgmt_attributes(text)
        except DecodeError as e:
            return out + [RtspKeyMgmtError(e)]
        for attr in attrs:
            if attr.protocol != "mikey":
                continue
            media = attr.media_index
            where = "sdp session" if media is None else f"sdp media {media}"
            stream = (controls[media] if media is not None and media < len(controls)
                      else content_base)
            out.append(RtspMikey(attr.data, f"rtsp {where}", stream))
    return out
