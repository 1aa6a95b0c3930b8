"""What the phases of ``--engine dask`` share (:mod:`dissectors.pcap.distributed`): the capture
files of a set (:class:`FileSpec`) and their frames numbered on across files, the pipeline of
:func:`dissectors.pcap.dissect.records` as one picklable object (:class:`_Pipeline`), the
pickling of the analysis state at a file boundary (keys as DER, SRTP contexts as master key and
salt) and the digest of the media state the client compares at each boundary.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, replace
from typing import Iterator

from codec.sip import is_sip
from dissectors.pcap.capture import CaptureFault, CaptureReader

MIKEY_PORT = 2269  # RFC 3830 §7 (raw MIKEY), never media
SEQ_WRAP = 0x8000  # RFC 3711 §3.3.1: a sequence number this far below the highest one wrapped


# ------------------------------------------------------------------------------------------
# State snapshots: the analysis state pickled at a file boundary
# ------------------------------------------------------------------------------------------
def _private_key(der: bytes):
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_private_key(der, None)


def _public_key(der: bytes):
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_public_key(der)


def _certificate(der: bytes):
    from cryptography import x509

    return x509.load_der_x509_certificate(der)


def _srtp_context(transform, master_key, master_salt):
    from codec.srtp import Context

    return Context(transform, master_key, master_salt)


def _flow_table(limits):
    from dissectors.pcap.flows import FlowTable

    return FlowTable(limits)


class _StatePickler(pickle.Pickler):
    """Pickles the session and flow table: keys held by ``cryptography`` objects travel as DER,
    an SRTP context as its master key and salt (its session keys are a cache, RFC 3711 §4.3), a
    flow table without its compiled header readers (made again on the other side)."""

    def reducer_override(self, obj):
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization as ser
        from cryptography.hazmat.primitives.asymmetric import types

        from codec.srtp import Context
        from dissectors.pcap.flows import FlowTable

        if isinstance(obj, Context):
            return _srtp_context, (obj.transform, obj.master_key, obj.master_salt)
        if isinstance(obj, FlowTable):
            state = {k: v for k, v in vars(obj).items() if not k.startswith("_r_")}
            return _flow_table, (obj.limits,), state
        if isinstance(obj, x509.Certificate):
            return _certificate, (obj.public_bytes(ser.Encoding.DER),)
        if isinstance(obj, types.PrivateKeyTypes.__args__):
            return _private_key, (obj.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8,
                                                    ser.NoEncryption()),)
        if isinstance(obj, types.PublicKeyTypes.__args__):
            return _public_key, (obj.public_bytes(ser.Encoding.DER,
                                                  ser.PublicFormat.SubjectPublicKeyInfo),)
        return NotImplemented


def dumps(obj) -> bytes:
    buf = io.BytesIO()
    _StatePickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


def loads(data: bytes):
    return pickle.loads(data)


def media_digest(session) -> tuple:
    """What media frames change in a session (RFC 3711 §3.3.1 rollover counters and highest
    sequence numbers, the key each stream was opened with, keys bound to streams by trial or by
    RTSP ports): equal digests, equal media state.  The GMK sender keys derived from packets'
    MKIs (``m.derived``) are left out: a bounded cache of what the GMKs give, derived again when
    needed."""
    m = session.media
    return (sorted(m.roc.items()),
            sorted((k, e.label) for k, e in m.by_ssrc.items()),
            sorted((k, tuple(e.label for e in v)) for k, v in m.sessions.items()),
            sorted((k, tuple(e.label for e in v)) for k, v in m.ssrc_sessions.items()),
            sorted(getattr(session, "rtsp_bound_ssrcs", ())))


# ------------------------------------------------------------------------------------------
# The pipeline of dissect.records with its state in one object (picklable)
# ------------------------------------------------------------------------------------------
@dataclass
class FileSpec:
    """One file of the set: path, the name its capture errors carry ("" for a lone file)."""

    path: str
    name: str = ""


class _Pipeline:
    """Frames → flow table → SIP/HTTP/RTSP framing → Units and ready records: the loop of
    :func:`dissectors.pcap.dissect._items` (without the TLS hook), its state kept here so that it
    can be pickled at a file boundary and resumed in another process."""

    def __init__(self, max_stream_memory=None):
        from dissectors.pcap.flows import FlowTable, Limits

        self.table = FlowTable(None if max_stream_memory is None
                               else Limits(max_total_buffer=max_stream_memory))
        self.flows: dict = {}
        self.directions: dict = {}
        self.times: dict = {}
        self.ended: dict = {}
        self.watch_tls = False  # phase 2: note the TCP streams the TLS hook would claim
        self.tls_seen = False
        self.tls_plain: set = set()
        self.tls_starts: dict = {}  # flow id -> StreamStart, while watching
        self.on_events = None  # phase 1: sees the flow table's events

    def feed(self, rec) -> Iterator:
        from dissectors.pcap import dissect

        if isinstance(rec, CaptureFault):  # its own record, as in dissect._items
            yield rec
            return
        times = self.times
        times[rec.number] = rec.timestamp
        if len(times) > 40_000:  # bounded, as in dissect._items
            for k in sorted(times)[:20_000]:
                del times[k]
        budget = self.table.budget
        events = self.table.feed(rec)
        if self.watch_tls:
            self._watch_tls(events)
        if self.on_events is not None:
            self.on_events(events)
        for ev in events:
            yield from dissect._event(ev, self.flows, self.directions, times, budget, self.ended)
        if budget.total > budget.limit:
            for ev in self.table.enforce_budget():
                yield from dissect._event(ev, self.flows, self.directions, times, budget,
                                          self.ended)

    def _watch_tls(self, events) -> None:
        """As :meth:`dissectors.pcap.tls.TlsHook.claim` decides: a stream that is not SIP and
        looks like TLS or uses the SIPS port (RFC 3261 §26.2.2)."""
        from dissectors.pcap.flows import StreamData, StreamStart
        from dissectors.pcap.tls import SIPS_PORT, looks_like_tls

        for ev in events:
            if isinstance(ev, StreamStart):
                self.tls_starts[ev.flow_id] = ev
                continue
            if not isinstance(ev, StreamData) or ev.flow_id in self.tls_plain:
                continue
            start = self.tls_starts.get(ev.flow_id)
            data = bytes(ev.data)
            if start is None or is_sip(data.lstrip(b"\r\n")) or not (
                    looks_like_tls(data) or SIPS_PORT in (start.sport, start.dport)):
                self.tls_plain.add(ev.flow_id)
            else:
                self.tls_seen = True

    def flush(self) -> Iterator:
        from dissectors.pcap import dissect

        budget = self.table.budget
        for ev in self.table.iter_flush():
            yield from dissect._event(ev, self.flows, self.directions, self.times, budget,
                                      self.ended)


def _file_frames(spec: FileSpec, base_number: int) -> Iterator:
    """A file's frames numbered on from ``base_number`` and its capture errors (named by the
    file, as :class:`dissectors.pcap.captureset.ChainedReader` does)."""
    reader = CaptureReader(spec.path)
    number = base_number
    try:
        for rec in reader:
            if isinstance(rec, CaptureFault):
                what = f"{spec.name}: {rec.what}" if spec.name else rec.what
                yield replace(rec, what=what, after_frame=rec.after_frame + base_number)
                continue
            number = rec.number = base_number + rec.number
            yield rec
    except OSError as e:
        what = f"cannot read: {e.strerror or e}"
        yield CaptureFault(0, f"{spec.name}: {what}" if spec.name else what, number, True)


