"""`mcsec dissect --engine dask [--scheduler ADDRESS]`: a capture set dissected on a Dask cluster,
with the very records of the sequential run (issue 19 item 2).

A ring buffer's files are not independent: keys arrive in one file and protect media in the next,
a TCP connection runs on across a cut, a dialog's INVITE and its media sit in different files.
The sequential engine (:mod:`dissectors.pcap.captureset`) reads them as one capture.  This engine
splits the work in three phases, all of them Dask tasks (futures; ``retries`` so that a lost
worker's task runs again elsewhere):

1. **index** — per file, in parallel: read the file, tell *media* frames (UDP datagrams holding
   RTP/RTCP version 2, RFC 3550 §5.1, not on the MIKEY port) from every other frame.  Media only
   changes the SRTP state (the stream a key opened, the rollover counter and highest sequence
   number, RFC 3711 §3.3.1); everything else — SIP/SDP, MIKEY, CMS, KMS XML, RTSP, any TCP segment
   — may change the session.  The index returns the non-media frames themselves (small: the
   signalling) plus, per media stream of the file, its *key frames*: the first and last packet,
   and the packets on both sides of each sequence-number wrap.
2. **timeline** — one task: the non-media frames and media key frames of all files, in capture
   order, through the same flow table and :class:`~dissectors.pcap.session.Session` as the
   sequential run.  Each key-management message is decoded, verified and decrypted here once in
   capture order (MIKEY-SAKKE results are kept and handed to phase 3, which does not redo the
   ECCSI/SAKKE work); KMS XML grows the keyring, MIKEY gives SRTP keys, dialogs, replay caches and
   the TCP reassembly state (a connection split across files included) move on.  At each file
   boundary the whole analysis state (flow table, framers, session) is pickled: the state in
   force at the first packet of the next file.
3. **dissect** — per file, in parallel: the file's every frame, from its boundary state, frame
   numbers running on across files; the records, the SIP fields of the JSON packets and the state
   at the end of the file come back.

The client checks each boundary: the media state at the end of file *i* (phase 3) must equal the
media state phase 2 predicted from the key frames for the start of file *i+1* (streams, keys
bound to them, rollover counters, highest sequence numbers).  A stream that lost packets to
failed tags, re-keyed twice between key frames or was reordered across a wrap can break the
prediction: file *i+1* is then dissected again from file *i*'s actual end state (exact; serial
for that file).  So the result equals the sequential run record for record, by construction for
the non-media state and by this check for the media state.

What is run sequentially instead, in the client (a note on stderr says so): a set with TLS
streams, Decryption Secrets Blocks, a TLS key log or a MIKEY-TICKET TLS-PSK (tshark decrypts SIP
over TLS, and MSRP over TLS-PSK, from the whole capture: :mod:`dissectors.pcap.tls`).  Pipes and
live capture are not files: the command refuses them with this engine.  A TRANSFER_INIT still
awaiting its RESOLVE_RESP at a file boundary (RFC 6043 §4.2.3.6: its record is revised later)
joins the two files into one phase-3 task.

TCP: phase 2 feeds every TCP segment of every file, so a connection (and a SIP message) cut by a
file boundary is in the flow table and framer state pickled at that boundary: phase 3 carries
the reassembly on, no fallback is needed.  Known limit: the sequential run gives up waiting for
a RESOLVE_RESP after ``dissect.MAX_HELD`` records, media records included; phase 2 sees no media
records, so a TRANSFER_INIT answered more than 512 records later could get a verdict here that
the sequential run gives up on (not met in the sample captures).

Without ``--scheduler`` a :class:`distributed.LocalCluster` of ``--workers`` processes (default
2, one thread each) is started and closed by the command; with it, an existing cluster (``dask
scheduler`` / ``dask worker``, dask-kubernetes) is used — its workers must be able to open the
capture files by the paths given (a shared file system) and to import mcsec.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
from dataclasses import dataclass, field, replace
from typing import Iterator

from codec import rtp
from codec.sip import is_sip
from dissectors.pcap.capture import CaptureFault, CaptureReader, Frame

MIKEY_PORT = 2269  # RFC 3830 §7 (raw MIKEY), never media
DEFAULT_WORKERS = 2
RETRIES = 3  # attempts of a task whose worker was lost, after the first
SEQ_WRAP = 0x8000  # RFC 3711 §3.3.1: a sequence number this far below the highest one wrapped


class EngineError(Exception):
    """The Dask engine cannot run (not installed, scheduler unreachable, a task failed for good)."""


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
    RTSP ports, GMK sender keys derived): equal digests, equal media state."""
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


# ------------------------------------------------------------------------------------------
# Phase 1: the index of one file
# ------------------------------------------------------------------------------------------
@dataclass
class FileIndex:
    frames: int = 0  # frames in the file
    state: list = field(default_factory=list)  # (local number, ts_ns, linktype, orig_len, data)
    media_frames: int = 0
    key_frames: int = 0
    has_secrets: bool = False  # Decryption Secrets Blocks (TLS: run sequentially)
    # MIKEY-SAKKE results (ECCSI verified, SAKKE decapsulated) with the keyring given, by wire
    sakke: dict = field(default_factory=dict)
    sakke_seconds: float = 0.0


def _stream_headers():
    """Compiled readers of what phase 1 needs of a media packet (the hot path of the index:
    every media packet of every file): RFC 3550 §5.1 RTP fixed header, §6.4.1 RTCP header with
    the sender's SSRC."""
    global _READERS
    if _READERS is None:
        import construct as c

        from codec.constructs import BitFields, Layout

        rtp_fixed = Layout("RtpFixed", BitFields(c.Int16ub, [
            ("version", 2), ("padding", 1), ("extension", 1), ("csrc_count", 4), ("marker", 1),
            ("payload_type", 7)]), "sequence_number" / c.Int16ub, "timestamp" / c.Int32ub,
            "ssrc" / c.Int32ub)
        rtcp_head = Layout("RtcpHeader", BitFields(c.Int8ub, [
            ("version", 2), ("padding", 1), ("count", 5)]), "pt" / c.Int8ub,
            "length" / c.Int16ub, "ssrc" / c.Int32ub)
        _READERS = (rtp_fixed.reader(), rtcp_head.reader())
    return _READERS


_READERS = None


def _is_media(ev) -> bool:
    from dissectors.pcap.flows import Datagram

    return (isinstance(ev, Datagram) and MIKEY_PORT not in (ev.sport, ev.dport)
            and rtp.is_rtp_v2(ev.payload))


def index_file(spec: FileSpec, keyring: bytes | None = None,
               decrypt_unverified: bool = False) -> FileIndex:
    """Phase 1: the frames of one file that may change the session, and its media key frames;
    with a (pickled) ``keyring`` that can decrypt, the file's MIKEY-SAKKE messages verified and
    decrypted too — the costly public-key work, done here in parallel; phase 2 takes these
    results while the keyring has not grown (KMS XML), as the look-ahead workers of the
    sequential engine do (dissectors/pcap/workers.py)."""
    import time

    from dissectors.pcap import workers
    from dissectors.pcap.session import Unit

    ring = loads(keyring) if keyring is not None else None
    collector = workers._Collector() if workers.can_decrypt(ring) else None
    pipe = _Pipeline()
    read_rtp, read_rtcp = _stream_headers()
    reader = CaptureReader(spec.path)
    frames: dict = {}  # local number -> Frame (non-media and key frames)
    media: set = set()
    streams: dict = {}  # (addresses, ports, SSRC, RTCP) -> [first, last, last seq]
    keep: set = set()
    idx = FileIndex()
    try:
        for rec in reader:
            if isinstance(rec, CaptureFault):
                continue
            idx.frames = rec.number
            rec.data = bytes(rec.data)
            frames[rec.number] = rec
            if collector is None:
                events = pipe.table.feed(rec)
            else:  # the application units too: their MIKEY-SAKKE messages
                events = []
                pipe.on_events = events.extend
                for item in pipe.feed(rec):
                    if isinstance(item, Unit) and not (item.transport == "udp"
                                                       and rtp.is_rtp_v2(item.data)):
                        t0 = time.perf_counter()
                        for data in collector.mikey_messages(item):
                            if workers.is_sakke_i_message(data) and data not in idx.sakke:
                                idx.sakke[data] = _sakke(data, ring, decrypt_unverified)
                        idx.sakke_seconds += time.perf_counter() - t0
            for ev in events:
                if not _is_media(ev):
                    continue
                media.update(ev.frames)
                payload = bytes(ev.payload)
                rtcp = rtp.is_rtcp(payload)  # RFC 5761 §4
                try:
                    h = (read_rtcp if rtcp else read_rtp)(io.BytesIO(payload))
                except Exception:  # (is_rtp_v2: 12 octets at least) odd packets: to phase 2
                    keep.update(ev.frames)
                    continue
                ssrc, seq = h.ssrc, None if rtcp else h.sequence_number
                key = (ev.src, ev.sport, ev.dst, ev.dport, ssrc, rtcp)
                s = streams.get(key)
                if s is None:
                    streams[key] = [ev.frames, ev.frames, seq]
                    keep.update(ev.frames)
                    continue
                if seq is not None and s[2] is not None and seq < s[2] and s[2] - seq > SEQ_WRAP:
                    keep.update(s[1])  # RFC 3711 §3.3.1: both sides of a wrap
                    keep.update(ev.frames)
                for n in s[1]:  # the stream's previous packet: no key frame after all
                    if n not in keep:
                        frames.pop(n, None)
                s[1] = ev.frames
                if seq is not None:
                    s[2] = seq
    except OSError:
        pass  # phase 3 reports it, reading the file again
    for s in streams.values():
        keep.update(s[1])
    idx.has_secrets = bool(reader.secrets)
    idx.media_frames = len(media)
    for n, fr in sorted(frames.items()):
        if n in media and n not in keep:
            continue
        idx.key_frames += n in media
        idx.state.append((n, fr.ts_ns, fr.linktype, fr.orig_len, fr.data))
    return idx


def _sakke(data: bytes, ring, decrypt_unverified: bool):
    """A MIKEY-SAKKE message's result (codec.mikey.sakke.process), None if it does not decode."""
    from codec.errors import DecodeError
    from codec.mikey import decode as mikey_decode
    from codec.mikey import sakke as mikey_sakke

    try:
        msg = mikey_decode(data)
    except DecodeError:
        return None
    return mikey_sakke.process(msg, data, ring, decrypt_unverified=decrypt_unverified)


# ------------------------------------------------------------------------------------------
# Phase 2: the key timeline, and the state at every file boundary
# ------------------------------------------------------------------------------------------
@dataclass
class Timeline:
    segments: list  # [[file index, ...]] dissected by one phase-3 task each
    states: list  # pickled (pipeline, session) at the start of each segment
    digests: list  # media_digest of each segment's start state
    sakke: list  # per segment: {(keyring generation, wire): MIKEY-SAKKE result}
    sequential: str | None = None  # why the set must be dissected sequentially instead
    messages: int = 0  # key-management messages processed (MIKEY, CMS, KMS XML)
    seconds: float = 0.0


def _sakke_recorder(session, cache: dict, indexed: dict, generation):
    """``session.precomputed`` of phase 2: phase 1's result while the keyring is the one phase
    1 had, else computed here; either way kept in ``cache`` for phase 3."""
    from codec.mikey import decode as mikey_decode
    from codec.mikey import sakke as mikey_sakke
    from dissectors.pcap.workers import keyring_generation

    def compute(data):
        data, gen = bytes(data), keyring_generation(session.keyring)
        res = indexed.get(data) if gen == generation else None
        if res is None:
            res = mikey_sakke.process(mikey_decode(data), data, session.keyring,
                                      decrypt_unverified=session.decrypt_unverified)
        cache[(gen, data)] = res
        return res

    return compute


def _sakke_lookup(session, cache: dict):
    from dissectors.pcap.workers import keyring_generation

    return lambda data: cache.get((keyring_generation(session.keyring), bytes(data)))


def _snapshot(pipe, session) -> bytes:
    """The state at a boundary, without what only phase 2 uses (its TLS watch, its SAKKE
    recorder) or what the JSON packets of earlier frames needed (SIP fields)."""
    fields, part_of, pre = session.sip_fields, session.part_of, session.precomputed
    watch, starts = pipe.watch_tls, pipe.tls_starts
    session.sip_fields, session.part_of, session.precomputed = {}, {}, None
    pipe.watch_tls, pipe.tls_starts = False, {}
    try:
        return dumps((pipe, session))
    finally:
        session.sip_fields, session.part_of, session.precomputed = fields, part_of, pre
        pipe.watch_tls, pipe.tls_starts = watch, starts


def build_timeline(base_state: bytes, indexes: list, max_stream_memory=None) -> Timeline:
    """Phase 2 (one task): see the module docstring."""
    import time

    from dissectors.pcap.session import Unit

    t0 = time.perf_counter()
    session = loads(base_state)
    pipe = _Pipeline(max_stream_memory)
    pipe.watch_tls = True
    tl = Timeline([], [], [], [])
    base = 0
    counted = ("mikey", "cms", "kms_xml")
    before = sum(session.stats.get(k, 0) for k in counted)
    from dissectors.pcap.workers import keyring_generation

    generation = keyring_generation(session.keyring)  # the keyring phase 1 used
    indexed: dict = {}
    for idx in indexes:
        indexed.update(idx.sakke)
    for i, idx in enumerate(indexes):
        if i > 0 and session.awaiting():  # a verdict still awaited: one task for both files
            tl.segments[-1].append(i)
        else:
            tl.segments.append([i])
            tl.states.append(_snapshot(pipe, session))
            tl.digests.append(media_digest(session))
            tl.sakke.append({})
        if idx.has_secrets:
            tl.sequential = "Decryption Secrets Blocks (TLS) in the capture"
        session.precomputed = _sakke_recorder(session, tl.sakke[-1], indexed, generation)
        for n, ts_ns, linktype, orig_len, data in idx.state:
            frame = Frame(base + n, ts_ns, 0, linktype, orig_len, data, 0)
            for item in pipe.feed(frame):
                if isinstance(item, Unit):
                    session.analyze(item)
        session.precomputed = None
        base += idx.frames
        session.sip_fields.clear()
        session.part_of.clear()
    pipe.watch_tls, pipe.tls_starts = False, {}
    if pipe.tls_seen:
        tl.sequential = "TLS streams in the capture (tshark reads the whole capture)"
    elif session.tls_psks:
        tl.sequential = "a MIKEY-TICKET TLS crypto session (TLS-PSK: tshark reads the capture)"
    tl.messages = sum(session.stats.get(k, 0) for k in counted) - before
    tl.seconds = time.perf_counter() - t0
    return tl


# ------------------------------------------------------------------------------------------
# Phase 3: one segment (usually one file) from its boundary state
# ------------------------------------------------------------------------------------------
@dataclass
class SegmentResult:
    records: list
    sip_fields: dict
    part_of: dict
    stats: dict  # the session counters this segment added
    end_state: bytes
    digest: tuple
    open_verdict: bool  # a record still awaits a verdict at its end


def dissect_segment(specs: list, bases: list, state: bytes, sakke: dict, last: bool,
                    leading: list | None = None) -> SegmentResult:
    """Phase 3: every frame of the segment's files from the state at its start."""
    from dissectors.pcap.dissect import MAX_HELD
    from dissectors.pcap.session import Unit

    pipe, session = loads(state)
    session.precomputed = _sakke_lookup(session, sakke)
    start_stats = dict(session.stats)
    fields: dict = {}
    records: list = list(leading or ())
    held: list = []

    def emit(out):
        nonlocal held
        if not held and not session.awaiting():
            records.append(out)
            return
        held.append(out)
        if len(held) > MAX_HELD:
            session.stop_waiting("within the look-ahead window")
        if not session.awaiting():
            records.extend(held)
            held = []

    def run(items):
        for item in items:
            for out in (session.analyze(item) if isinstance(item, Unit) else (item,)):
                emit(out)
            if len(session.sip_fields) > 50_000:  # kept here, not pruned by the session
                fields.update(session.sip_fields)
                session.sip_fields.clear()

    for spec, base in zip(specs, bases):
        for rec in _file_frames(spec, base):
            run(pipe.feed(rec))
    if last:
        run(pipe.flush())
        if held:
            session.stop_waiting()
            records.extend(held)
            held = []
    open_verdict = bool(held)
    records.extend(held)
    fields.update(session.sip_fields)
    part_of = dict(session.part_of)
    stats = {k: v - start_stats.get(k, 0) for k, v in session.stats.items()}
    session.precomputed = None
    session.sip_fields, session.part_of = {}, {}
    end = b"" if last else dumps((pipe, session))
    return SegmentResult(records, fields, part_of, stats, end, media_digest(session),
                         open_verdict)


# ------------------------------------------------------------------------------------------
# The client: cluster, futures, boundary checks
# ------------------------------------------------------------------------------------------
def _import_distributed():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise EngineError("--engine dask needs dask.distributed: pip install 'mcsec[dask]' "
                          "(or 'dask[distributed]')") from None
    return distributed


def connect(scheduler: str | None, workers: int | None, timeout: float = 10.0):
    """A Client of the cluster at ``scheduler``, or of a LocalCluster started here (processes,
    one thread each); returns (client, cluster or None)."""
    distributed = _import_distributed()
    import logging

    for name in ("distributed", "distributed.worker", "distributed.scheduler",
                 "distributed.nanny", "distributed.core", "distributed.comm"):
        logging.getLogger(name).setLevel(logging.ERROR)  # a quiet command line
    if scheduler is not None:
        try:
            return distributed.Client(scheduler, timeout=timeout), None
        except (OSError, TimeoutError, ValueError) as e:
            raise EngineError(f"--scheduler {scheduler}: cannot reach the Dask scheduler "
                              f"({type(e).__name__}: {e})") from None
    try:
        cluster = distributed.LocalCluster(n_workers=workers or DEFAULT_WORKERS,
                                           threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        return distributed.Client(cluster), cluster
    except (OSError, TimeoutError, RuntimeError) as e:
        raise EngineError(f"cannot start a local Dask cluster: {e}") from None


def _specs(source) -> tuple[list, list]:
    """(files, leading capture-error records) of a path or a CaptureSet."""
    files = getattr(source, "files", None)
    if files is None:
        return [FileSpec(os.path.abspath(os.fspath(source)))], []
    leading = [CaptureFault(0, f"{bad.name}: {bad.error}; the file is left out", 0)
               for bad in source.bad]
    return [FileSpec(os.path.abspath(f.path), f.name) for f in files], leading


@dataclass
class Report:
    """What the engine did (``--engine dask`` with ``-v``-like curiosity; the benchmark)."""

    files: int = 0
    segments: int = 0
    rerun: int = 0
    sequential: str | None = None
    timeline_messages: int = 0
    timeline_seconds: float = 0.0
    sakke_messages: int = 0  # MIKEY-SAKKE messages verified/decrypted in phase 1
    sakke_seconds: float = 0.0
    phase_seconds: dict = field(default_factory=dict)


def records(source, session, *, scheduler: str | None = None, workers: int | None = None,
            tls_keylog=None, max_stream_memory=None, progress: bool = False,
            client=None, report: Report | None = None) -> Iterator:
    """The records of :func:`dissectors.pcap.dissect.records` for ``source`` (a path or a
    :class:`~dissectors.pcap.captureset.CaptureSet`), computed on a Dask cluster; ``session``
    (the CLI's :class:`~dissectors.pcap.output.PacketSession`) is the starting state and, as the
    records come, gets the SIP fields and counters the JSON packets and ``--stats`` read.
    Connects before returning (an unreachable scheduler raises :class:`EngineError` here)."""
    own = client is None
    cluster = None
    if own:
        client, cluster = connect(scheduler, workers)
    return _run(source, session, client, cluster if own else None, own, tls_keylog,
                max_stream_memory, progress, report if report is not None else Report())


def _run(source, session, client, cluster, own, tls_keylog, max_stream_memory, progress, report):
    import time
    import uuid


    token = uuid.uuid4().hex[:8]
    try:
        specs, leading = _specs(source)
        report.files = len(specs)
        if not specs:  # only unreadable files: their records, nothing to distribute
            yield from leading
            return
        t0 = time.perf_counter()
        from dissectors.pcap.workers import can_decrypt

        ring = dumps(session.keyring) if can_decrypt(session.keyring) else None
        index_futures = [client.submit(index_file, spec, ring, session.decrypt_unverified,
                                       retries=RETRIES, pure=False,
                                       key=f"mcsec-index-{token}-{i}")
                         for i, spec in enumerate(specs)]
        if progress:
            _progress(index_futures)
        base_state = dumps(session)
        timeline_future = client.submit(build_timeline, base_state, index_futures,
                                        max_stream_memory, retries=RETRIES, pure=False,
                                        key=f"mcsec-timeline-{token}")
        indexes = client.gather(index_futures)
        t1 = time.perf_counter()
        tl = timeline_future.result()
        t2 = time.perf_counter()
        report.phase_seconds = {"index": t1 - t0, "timeline": t2 - t1}
        report.timeline_messages, report.timeline_seconds = tl.messages, tl.seconds
        report.sakke_messages = sum(len(idx.sakke) for idx in indexes)
        report.sakke_seconds = sum(idx.sakke_seconds for idx in indexes)
        sequential = tl.sequential or (tls_keylog is not None and "a TLS key log was given")
        if sequential:
            report.sequential = sequential
            print(f"mcsec: --engine dask: {sequential}; dissected sequentially",
                  file=sys.stderr)
            yield from _sequential(source, session, tls_keylog, max_stream_memory)
            return
        bases, n = [], 0
        for idx in indexes:
            bases.append(n)
            n += idx.frames
        report.segments = len(tl.segments)
        last = len(tl.segments) - 1
        futures = []
        for k, seg in enumerate(tl.segments):
            futures.append(client.submit(
                dissect_segment, [specs[i] for i in seg], [bases[i] for i in seg],
                tl.states[k], tl.sakke[k], k == last, leading if k == 0 else None,
                retries=RETRIES, pure=False, key=f"mcsec-dissect-{token}-{k}"))
        if progress:
            _progress(futures)
        previous = None
        for k, seg in enumerate(tl.segments):
            # in order, one segment's records at a time in this process (memory): the later
            # segments' results wait on their workers meanwhile
            res = futures[k].result()
            if previous is not None and (previous.open_verdict
                                         or previous.digest != tl.digests[k]):
                # the media state predicted from key frames is not the actual one: this file
                # again, from the previous file's actual end state (exact, serial)
                report.rerun += 1
                fut = client.submit(dissect_segment, [specs[i] for i in seg],
                                    [bases[i] for i in seg], previous.end_state, tl.sakke[k],
                                    k == last, None, retries=RETRIES, pure=False,
                                    key=f"mcsec-redissect-{token}-{k}")
                res = fut.result()
            futures[k] = None  # the result is here: let the cluster forget it
            session.sip_fields.update(res.sip_fields)
            session.part_of.update(res.part_of)
            for key, v in res.stats.items():
                session.stats[key] = session.stats.get(key, 0) + v
            yield from res.records
            previous = res
        report.phase_seconds["dissect"] = time.perf_counter() - t2
    except EngineError:
        raise
    except Exception as e:  # a task that failed for good (KilledWorker, a lost scheduler …)
        if type(e).__module__.startswith(("distributed", "tornado", "asyncio")) or isinstance(
                e, (OSError, TimeoutError)):
            raise EngineError(f"the Dask cluster failed: {type(e).__name__}: {e}") from None
        raise
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()


def _progress(futures) -> None:
    """Dask's own progress bar, on a terminal."""
    import contextlib

    from distributed import progress

    with contextlib.redirect_stdout(sys.stderr):  # the records go to standard output
        progress(futures, notebook=False)
        print()


def _sequential(source, session, tls_keylog, max_stream_memory) -> Iterator:
    from dissectors.pcap import dissect

    yield from dissect.records(source, session, tls_keylog=tls_keylog, workers=1,
                               max_stream_memory=max_stream_memory)


__all__ = ["records", "connect", "EngineError", "Report", "index_file", "build_timeline",
           "dissect_segment", "media_digest", "dumps", "loads", "FileSpec"]
