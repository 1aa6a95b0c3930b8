"""What the analysis of a capture produces: one typed record per object found.

:meth:`dissectors.pcap.session.Session.analyze` returns these, :func:`dissectors.pcap.dissect.records`
yields them in capture order, and only the output edge turns them into JSON dicts, text and brief
lines (:mod:`dissectors.pcap.render`) — the keylog reads them directly
(:mod:`dissectors.pcap.keylog`).  A record holds the decoded objects and the crypto results as the
codec returned them (secrets included: hiding them is the renderer's job, ``--show-secrets``).

Every record of an application unit carries its :class:`Origin` (frame, addresses, transport)
and, when it came in a SIP or RTSP message, that message's :class:`SipContext` /
:class:`RtspContext`.  Records not tied to one unit (stream anomalies, TLS notes) have no origin;
a capture that cannot be read gives :class:`dissectors.pcap.capture.CaptureFault` as its record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from dissectors.pcap.capture import CaptureFault

__all__ = ["Origin", "SipContext", "RtspContext", "Failure", "Record", "MikeyRecord",
           "PskSmimeRecord", "CmsRecord", "MediaRecord", "MsrpRecord", "KmsRecord",
           "CarrierErrorRecord", "RtspStreamsRecord", "AnomalyRecord", "NoteRecord",
           "CaptureFault", "Revision", "OpenedJson"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an application unit came from: the frame that completes it (``frame``), every frame
    it spans, the capture time and the endpoints; ``channel``: RTSP interleaved channel
    (RFC 2326 §10.12)."""

    frame: int
    frames: tuple
    time: float
    transport: str  # "udp" | "tcp" | "tls" | "tls-psk" | "rtsp-interleaved"
    src: str
    sport: int
    dst: str
    dport: int
    channel: int | None = None


@dataclass(frozen=True, slots=True)
class SipContext:
    """The SIP message (RFC 3261) whose body carried the record's object."""

    start_line: str
    call_id: str | None
    cseq: str | None
    from_: str | None
    to: str | None


@dataclass(frozen=True, slots=True)
class RtspContext:
    """The RTSP message (RFC 2326) that carried the record's object; ``request``: the request a
    response answers (by CSeq)."""

    start_line: str
    cseq: str | None
    request: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """Why something did not decode: ``path`` and ``offset`` when the decoder located it
    (:class:`codec.errors.DecodeError`), the reason alone otherwise."""

    reason: str
    path: str | None = None
    offset: int | None = None
    located: bool = False

    @classmethod
    def of(cls, e) -> "Failure":
        return cls(e.reason, e.path, e.offset, True)


@dataclass(slots=True, kw_only=True)
class Record:
    """A record of one application unit (see the module docstring)."""

    KIND: ClassVar[str] = ""
    origin: Origin
    context: SipContext | RtspContext | None = None

    @property
    def kind(self) -> str:
        return self.KIND

    @property
    def frame(self) -> int:
        return self.origin.frame


@dataclass(frozen=True, slots=True)
class Revision:
    """A later verdict on a PSK MIKEY / MIKEY-TICKET message (a TRANSFER_INIT checked once its
    RESOLVE_RESP came, RFC 6043 §4.2.3.6)."""

    result: Any  # codec.mikey.ticket.TicketResult
    replay: str | None


@dataclass(slots=True, kw_only=True)
class MikeyRecord(Record):
    """One MIKEY message (RFC 3830) and what the keyring made of it.

    ``message`` is None when the octets do not decode (``error``; ``partial`` then holds what
    decoded before the failure).  ``sakke``: the MIKEY-SAKKE result (RFC 6509, TS 33.180);
    ``ticket`` / ``ticket_replay``: the PSK / MIKEY-TICKET result of the exchange tracker and its
    replay-cache verdict, revised later in ``revisions``; ``clear``: SRTP keys of a NULL-encrypted
    KEMAC (:mod:`codec.mikey.clear_keys`), ``clear_used`` when they were the message's keys and
    ``clear_key_error`` the first key the media analysis refused; ``replay_of`` / ``clock_skew``:
    RFC 3830 §5.4."""

    KIND: ClassVar[str] = "mikey"
    carrier: str
    call_id: str | None = None
    wire: bytes = b""
    message: Any = None  # codec.mikey.message.Message
    error: Failure | None = None
    partial: Any = None
    sakke: Any = None  # codec.mikey.sakke.SakkeResult
    ticket: Any = None  # codec.mikey.ticket.TicketResult
    ticket_replay: str | None = None
    revisions: list = field(default_factory=list)  # [Revision]
    clear: Any = None  # codec.mikey.clear_keys.ClearKeys
    clear_used: bool = False
    clear_key_error: str | None = None
    replay_of: int | None = None
    clock_skew: float | None = None

    @property
    def ticket_final(self):
        """(result, replay) of the latest verdict on a PSK / MIKEY-TICKET message."""
        if self.revisions:
            return self.revisions[-1].result, self.revisions[-1].replay
        return self.ticket, self.ticket_replay

    def session_keys(self) -> list:
        """(CS ID, SSRC or None) of the crypto sessions keyed at analysis time: the keyring's
        PSK session keys, else the NULL-encrypted KEMAC's."""
        if self.ticket is not None and self.ticket.session_keys:
            return [(s.cs_id, None) for s in self.ticket.session_keys]
        if self.clear_used:
            return [(s.cs_id, s.ssrc) for s in self.clear.sessions]
        return []


@dataclass(slots=True, kw_only=True)
class PskSmimeRecord(Record):
    """A seed 004 PSK S/MIME body: multipart with a TRANSFER_INIT and the CMS it keys
    (:class:`codec.psk_smime.PskSmimeResult`); ``message`` the decoded TRANSFER_INIT,
    ``transfer`` its ticket result when a keyring was given."""

    KIND: ClassVar[str] = "psk-smime"
    result: Any
    message: Any = None
    message_error: Failure | None = None
    transfer: Any = None
    replay_of: int | None = None
    clock_skew: float | None = None

    def __getstate__(self):
        """Pickled without the result's CMS layers (pyasn1-modules objects; not rendered)."""
        from dataclasses import replace

        result = self.result
        if getattr(result, "cms", None) is not None:
            result = replace(result, cms=None)
        return (self.origin, self.context, result, self.message, self.message_error,
                self.transfer, self.replay_of, self.clock_skew)

    def __setstate__(self, state):
        (self.origin, self.context, self.result, self.message, self.message_error,
         self.transfer, self.replay_of, self.clock_skew) = state


@dataclass(slots=True, kw_only=True)
class CmsRecord(Record):
    """One CMS object of an S/MIME entity (RFC 5652, RFC 8551): the decoded layer, and with key
    material the result of opening / verifying it."""

    KIND: ClassVar[str] = "cms"
    smime_type: str | None
    layer: Any = None  # codec.cms layer (or, pickled, its JSON: codec.cms.render.to_json)
    opened: Any = None  # codec.cms open result (or OpenedJson), None without keys
    findings: tuple = ()
    error: Failure | None = None

    def __getstate__(self):
        """pyasn1-modules objects do not all pickle (two classes of one name): between
        processes the layer and the open result travel as the CMS codec's JSON views."""
        from codec.cms import render as cms_render

        layer, opened = self.layer, self.opened
        if layer is not None and not isinstance(layer, dict):
            layer = cms_render.to_json(layer)
        if opened is not None and not isinstance(opened, OpenedJson):
            opened = OpenedJson(cms_render.result_json(opened, False),
                                cms_render.result_json(opened, True))
        return (self.origin, self.context, self.smime_type, layer, opened, self.findings,
                self.error)

    def __setstate__(self, state):
        (self.origin, self.context, self.smime_type, self.layer, self.opened, self.findings,
         self.error) = state


@dataclass(frozen=True, slots=True)
class OpenedJson:
    """A CMS open result as its JSON, secrets hidden and shown (a pickled :class:`CmsRecord`)."""

    hidden: dict
    shown: dict


@dataclass(slots=True, kw_only=True)
class MediaRecord(Record):
    """One SRTP/SRTCP packet matched to keys (:class:`codec.media.MediaResult`), with floor
    control (TS 24.380); ``wire``: the payload it was opened from."""

    result: Any  # codec.media.MediaResult
    wire: bytes = b""
    rtsp_stream: dict | None = None
    keyed_by: str | None = None

    @property
    def kind(self) -> str:
        return self.result.kind


@dataclass(slots=True, kw_only=True)
class MsrpRecord(Record):
    """One MSRP message (RFC 4975): its fields (Wireshark names, body apart in ``data``)."""

    KIND: ClassVar[str] = "msrp"
    fields: dict | None = None
    data: bytes | None = None
    decrypted: str | None = None
    error: Failure | None = None


@dataclass(slots=True, kw_only=True)
class KmsRecord(Record):
    """A KMS XML document (TS 33.180 §D): a request, or the keys provisioned
    (:class:`codec.kms.KmsDocument`)."""

    KIND: ClassVar[str] = "kms-xml"
    document: Any = None
    error: Failure | None = None


@dataclass(slots=True, kw_only=True)
class CarrierErrorRecord(Record):
    """A SIP message, MIME entity or RTSP message that does not parse (``layer``)."""

    layer: str  # "sip" | "mime" | "rtsp"
    error: Failure

    @property
    def kind(self) -> str:
        return self.layer


@dataclass(slots=True, kw_only=True)
class RtspStreamsRecord(Record):
    """The streams a SETUP reply's Transport ties to ports and keys (RFC 2326 §12.39)."""

    KIND: ClassVar[str] = "rtsp"
    streams: list


@dataclass(frozen=True, slots=True)
class AnomalyRecord:
    """Something odd in the transport or framing (a TCP gap, an incomplete message, octets
    given up); ``flow``/``direction`` for a TCP stream, ``frames`` for octets given up."""

    layer: str | None
    what: str
    frame: int | None = None
    flow: Any = None
    direction: int | None = None
    frames: list | None = None
    kind: ClassVar[str] = "anomaly"


@dataclass(frozen=True, slots=True)
class NoteRecord:
    """A remark about the capture (e.g. TLS present but not decrypted)."""

    layer: str
    message: str
    frame: int | None = None
    kind: ClassVar[str] = "note"
