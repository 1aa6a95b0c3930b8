"""Phases 2 and 3 of ``--engine dask`` (:mod:`dissectors.pcap.distributed`, whose docstring
tells the whole design): the key timeline — one task that runs the signalling and the media key
frames of every file through the one session and pickles the analysis state at each file
boundary — and the dissection of one segment (usually one file) from its boundary state.
"""

from __future__ import annotations

from dataclasses import dataclass

from dissectors.pcap.capture import Frame
from dissectors.pcap.distributed_state import _file_frames, _Pipeline, dumps, loads, media_digest


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


def _snapshot(pipe, session, want_fields) -> bytes:
    """The state at a boundary, without what only phase 2 uses (its TLS watch, its SAKKE
    recorder, its display fields turned off) or what the JSON packets of earlier frames needed
    (SIP fields)."""
    fields, part_of, pre = session.sip_fields, session.part_of, session.precomputed
    watch, starts = pipe.watch_tls, pipe.tls_starts
    session.sip_fields, session.part_of, session.precomputed = {}, {}, None
    pipe.watch_tls, pipe.tls_starts = False, {}
    if want_fields is not None:
        session.want_fields = want_fields
    try:
        return dumps((pipe, session))
    finally:
        session.sip_fields, session.part_of, session.precomputed = fields, part_of, pre
        pipe.watch_tls, pipe.tls_starts = watch, starts
        if want_fields is not None:
            session.want_fields = False


def build_timeline(base_state: bytes, indexes: list, max_stream_memory=None) -> Timeline:
    """Phase 2 (one task): see the module docstring."""
    import time

    from dissectors.pcap.session import Unit

    t0 = time.perf_counter()
    session = loads(base_state)
    # the SIP/SDP display fields of output.PacketSession are for the JSON packets of phase 3:
    # phase 2 only moves the state on (the fields it would make are dropped at each file)
    want_fields = getattr(session, "want_fields", None)
    if want_fields is not None:
        session.want_fields = False
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
            tl.states.append(_snapshot(pipe, session, want_fields))
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


