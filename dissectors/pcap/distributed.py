"""`mcsec dissect --engine dask [--scheduler ADDRESS]`: a capture set dissected on a Dask cluster,
with the very records of the sequential run (issue 19 item 2).

A ring buffer's files are not independent: keys arrive in one file and protect media in the next,
a TCP connection runs on across a cut, a dialog's INVITE and its media sit in different files.
The sequential engine (:mod:`dissectors.pcap.captureset`) reads them as one capture.  This engine
splits the work in three phases, all of them Dask tasks (futures; ``retries`` so that a lost
worker's task runs again elsewhere):

1. **index** — per file, in parallel (:mod:`~dissectors.pcap.distributed_index`): read the
   file's records and, at fixed offsets of the link/IP/UDP headers, without the flow table, tell
   *media* frames (one whole UDP datagram holding RTP/RTCP version 2, RFC 3550 §5.1, not on the
   MIKEY port) from every other frame.  Media only changes the SRTP state (the stream a key
   opened, the rollover counter and highest sequence number, RFC 3711 §3.3.1); everything else —
   SIP/SDP, MIKEY, CMS, KMS XML, RTSP, any TCP segment, IP fragments, whatever the fast path is
   unsure of — may change the session.  The index returns the non-media frames themselves
   (small: the signalling) plus, per media stream of the file, its *key frames*: the first and
   last packet, and the packets on both sides of each sequence-number wrap.  It costs a few
   microseconds a frame, 5–12 % of dissecting the file.
2. **timeline** — one task (:mod:`~dissectors.pcap.distributed_phases`): the non-media frames and
   media key frames of all files, in capture order, through the same flow table and
   :class:`~dissectors.pcap.session.Session` as the sequential run. Each key-management message is
   decoded, verified and decrypted here once in capture order (MIKEY-SAKKE results are kept and
   handed to phase 3, which does not redo the ECCSI/SAKKE work); KMS XML grows the keyring, MIKEY
   gives SRTP keys, dialogs, replay caches and the TCP reassembly state (a connection split across
   files included) move on. At each file boundary the whole analysis state (flow table, framers,
   session) is pickled: the state in force at the first packet of the next file.
3. **dissect** — per file, in parallel (:mod:`~dissectors.pcap.distributed_phases`): the
   file's every frame, from its boundary state, frame numbers running on across files; the
   records, the SIP fields of the JSON packets and the state at the end of the file come back.

What the phases share — file specs, the picklable pipeline, the state pickler, the media
digest — is in :mod:`~dissectors.pcap.distributed_state`; this module is the client.

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

import os
import sys
from dataclasses import dataclass, field
from typing import Iterator

from dissectors.pcap.capture import CaptureFault
from dissectors.pcap.process_signals import ProcessSignals
from dissectors.pcap.distributed_index import (FileIndex, index_file, index_summary,
                                               media_datagram)
from dissectors.pcap.distributed_phases import (SegmentResult, Timeline, build_timeline,
                                                dissect_segment)
from dissectors.pcap.distributed_state import (MIKEY_PORT, SEQ_WRAP, FileSpec, dumps, loads,
                                               media_digest)

DEFAULT_WORKERS = 2
RETRIES = 3  # attempts of a task whose worker was lost, after the first


class EngineError(Exception):
    """The Dask engine cannot run (not installed, scheduler unreachable, a task failed for good)."""


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
    signals = ProcessSignals()
    if own:
        try:
            client, cluster = connect(scheduler, workers)
        except BaseException:
            signals.restore()
            raise
    return _run(source, session, client, cluster if own else None, own, tls_keylog,
                max_stream_memory, progress, report if report is not None else Report(), signals)


def _run(source, session, client, cluster, own, tls_keylog, max_stream_memory, progress, report,
         signals):
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
        # what the client needs of each index is three numbers: the frames themselves go from
        # worker to worker (phase 2), not through this process
        summary_futures = [client.submit(index_summary, f, pure=False, retries=RETRIES,
                                         key=f"mcsec-summary-{token}-{i}")
                           for i, f in enumerate(index_futures)]
        summaries = client.gather(summary_futures)
        t1 = time.perf_counter()
        tl = timeline_future.result()
        t2 = time.perf_counter()
        # phase 2 has them all: let the workers forget the indexes (memory stays flat with
        # the number of files)
        del index_futures, summary_futures, timeline_future
        report.phase_seconds = {"index": t1 - t0, "timeline": t2 - t1}
        report.timeline_messages, report.timeline_seconds = tl.messages, tl.seconds
        report.sakke_messages = sum(idx.sakke for idx in summaries)
        report.sakke_seconds = sum(idx.sakke_seconds for idx in summaries)
        sequential = tl.sequential or (tls_keylog is not None and "a TLS key log was given")
        if sequential:
            report.sequential = sequential
            print(f"mcsec: --engine dask: {sequential}; dissected sequentially",
                  file=sys.stderr)
            yield from _sequential(source, session, tls_keylog, max_stream_memory)
            return
        bases, n = [], 0
        for idx in summaries:
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
        tl.states.clear()  # submitted: the tasks hold them now
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
            signals.restore()


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
           "dissect_segment", "media_digest", "dumps", "loads", "FileSpec", "FileIndex",
           "Timeline", "SegmentResult", "media_datagram", "MIKEY_PORT", "SEQ_WRAP"]
