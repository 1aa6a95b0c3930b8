"""SIP requests and responses (RFC 3261) and SDP bodies (RFC 4566, RFC 4567 key-mgmt) for the
generated ladders.  Every value that varies (tags, branches, Call-IDs) comes from the Rng."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from dissectors.synth.net import Host
from dissectors.synth.rng import Rng

UA = "mcsec-synth/1.0"


def _lines(start: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode() + b"\r\n" + body


@dataclass
class Dialog:
    """One SIP dialog (or a non-dialog transaction like MESSAGE/REGISTER) between two hosts."""

    rng: Rng
    caller: Host
    callee: Host
    from_uri: str
    to_uri: str
    transport: str = "UDP"
    port: int = 5060
    call_id: str = ""
    from_tag: str = ""
    to_tag: str = ""
    cseq: int = 0
    branch: str = ""
    extra: list = field(default_factory=list)

    def __post_init__(self):
        self.call_id = self.call_id or f"{self.rng.token(10)}@{self.caller.uri_host()}"
        self.from_tag = self.from_tag or self.rng.token(4)

    def _via(self, host: Host, branch: str) -> str:
        return f"SIP/2.0/{self.transport} {host.uri_host()}:{self.port};branch=z9hG4bK{branch}"

    def request(self, method: str, body: bytes = b"", content_type: str | None = None,
                request_uri: str | None = None, headers: list | None = None,
                new_cseq: bool = True, to_tag: bool | None = None) -> bytes:
        if new_cseq and method not in ("ACK", "CANCEL"):
            self.cseq += 1
        if method != "ACK" or not self.branch:
            self.branch = self.rng.token(6)
        ruri = request_uri or self.to_uri
        to = f"<{self.to_uri}>"
        if (to_tag if to_tag is not None else bool(self.to_tag)) and self.to_tag:
            to += f";tag={self.to_tag}"
        hs = [("Via", self._via(self.caller, self.branch)), ("Max-Forwards", "70"),
              ("From", f"<{self.from_uri}>;tag={self.from_tag}"), ("To", to),
              ("Call-ID", self.call_id), ("CSeq", f"{self.cseq} {method}")]
        if method in ("INVITE", "REGISTER", "SUBSCRIBE"):
            user = self.from_uri.split(":", 1)[1].split("@")[0]
            hs.append(("Contact", f"<sip:{user}@{self.caller.uri_host()}:{self.port};"
                                  f"transport={self.transport.lower()}>"))
        hs.append(("User-Agent", UA))
        hs += list(self.extra) + list(headers or [])
        if body:
            hs.append(("Content-Type", content_type or "application/octet-stream"))
        hs.append(("Content-Length", str(len(body))))
        return _lines(f"{method} {ruri} SIP/2.0", hs, body)

    def response(self, code: int, reason: str, method: str, body: bytes = b"",
                 content_type: str | None = None, headers: list | None = None) -> bytes:
        if code > 100 and not self.to_tag:
            self.to_tag = self.rng.token(4)
        to = f"<{self.to_uri}>" + (f";tag={self.to_tag}" if code > 100 else "")
        hs = [("Via", self._via(self.caller, self.branch)),
              ("From", f"<{self.from_uri}>;tag={self.from_tag}"), ("To", to),
              ("Call-ID", self.call_id), ("CSeq", f"{self.cseq} {method}")]
        if method == "INVITE" and 200 <= code < 300:
            user = self.to_uri.split(":", 1)[1].split("@")[0]
            hs.append(("Contact", f"<sip:{user}@{self.callee.uri_host()}:{self.port};"
                                  f"transport={self.transport.lower()}>"))
        hs.append(("Server", UA))
        hs += list(headers or [])
        if body:
            hs.append(("Content-Type", content_type or "application/octet-stream"))
        hs.append(("Content-Length", str(len(body))))
        return _lines(f"SIP/2.0 {code} {reason}", hs, body)


def sdp(host: Host, session_id: int, media: list[str], session_attrs: list[str] = (),
        user: str = "-") -> bytes:
    """An SDP body; ``media`` holds complete m= sections (lines joined with CRLF)."""
    af = "IP6" if host.v6 else "IP4"
    lines = ["v=0", f"o={user} {session_id} {session_id} IN {af} {host.ip}", "s=-",
             f"c=IN {af} {host.ip}", "t=0 0", *session_attrs]
    return ("\r\n".join(lines) + "\r\n" + "".join(m + "\r\n" for m in media)).encode()


def audio_media(port: int, attrs: list[str] = ()) -> str:
    return "\r\n".join([f"m=audio {port} RTP/SAVP 96", "a=rtpmap:96 AMR-WB/16000",
                        "a=fmtp:96 mode-change-capability=2; max-red=0",
                        f"a=rtcp:{port + 1}", *attrs])


def key_mgmt(mikey: bytes) -> str:
    return "a=key-mgmt:mikey " + base64.b64encode(mikey).decode()
