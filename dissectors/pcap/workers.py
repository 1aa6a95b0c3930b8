"""MIKEY-SAKKE crypto in worker processes, ahead of the (sequential) session.

The session state (dialogs, replay cache, media keys, keys learnt from KMS XML) must see the
capture in order, but verifying an ECCSI signature and decapsulating a SAKKE SSV depends only on
the message and the keyring.  :class:`Lookahead` therefore holds a bounded window of application
units: when a unit enters the window its MIKEY-SAKKE messages are sent to a process pool; when it
leaves, the session analyses it and takes the result computed in the meantime
(:meth:`CryptoPool.take`), falling back to computing it inline.  Messages go to the pool in
batches (one task for up to :data:`BATCH_SIZE`, alone while the workers have little to do), and
the messages of a unit are found by a byte scan (:func:`scan_mikey`) where it can read them: a
future per message and a second SIP/SDP parse cost the main process ~1 ms a message (issue 17).

A result is used only if the keyring has not changed since the message was sent out (keys found
in KMS XML make the pool restart with the larger keyring).  The pool starts with the second
message to decrypt: a capture with one I_MESSAGE never pays for a pool.
"""

from __future__ import annotations

import binascii
import multiprocessing
import os
import re
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Iterable, Iterator

from codec import rtsp as rtsp_codec
from codec import sip
from codec.errors import DecodeError
from codec.keyring import Keyring
from codec.mikey import decode as mikey_decode
from codec.mikey import sakke as mikey_sakke
from dissectors.pcap.session import MIKEY_PORT, Session, Unit

SAKKE_DATA_TYPE = 26  # RFC 6509 §4.1
BATCH_SIZE = 16  # messages per pool task
MAX_PENDING_PER_WORKER = 3 * BATCH_SIZE  # messages in flight per worker (three batches)
MAX_WINDOW = 4096  # units held back at most (memory stays bounded)

_WORKER_KEYRING: Keyring | None = None
_WORKER_DECRYPT_UNVERIFIED = False


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def keyring_generation(keyring: Keyring | None) -> tuple[int, int]:
    """Changes whenever the session adds KMS certificates or user keys (it only appends)."""
    return (len(keyring.kms), len(keyring.users)) if keyring is not None else (0, 0)


def can_decrypt(keyring: Keyring | None) -> bool:
    """Whether MIKEY-SAKKE messages cost anything with these keys (a KPAK or an RSK)."""
    return keyring is not None and (any(k.kpak for k in keyring.kms)
                                    or any(u.rsk for u in keyring.users))


def is_sakke_i_message(data: bytes) -> bool:
    """RFC 3830 §6.1: version 1, data type 26 (SAKKE) — a cheap test before decoding."""
    return len(data) > 2 and data[0] == 1 and data[1] == SAKKE_DATA_TYPE


def _init_worker(keyring: Keyring, decrypt_unverified: bool) -> None:
    global _WORKER_KEYRING, _WORKER_DECRYPT_UNVERIFIED
    _WORKER_KEYRING, _WORKER_DECRYPT_UNVERIFIED = keyring, decrypt_unverified


def _work(data: bytes):
    """In a worker: the :class:`~codec.mikey.sakke.SakkeResult` of one message, or None
    when it does not decode (the session reports the decode error itself)."""
    try:
        msg = mikey_decode(data)
    except DecodeError:
        return None
    return mikey_sakke.process(msg, data, _WORKER_KEYRING,
                               decrypt_unverified=_WORKER_DECRYPT_UNVERIFIED)


def _work_batch(messages: list[bytes]) -> list:
    """In a worker: :func:`_work` of each message of a batch, in order."""
    return [_work(data) for data in messages]


# RFC 4567 §3.1 (a=key-mgmt:<prot> <base64 data>) in an SDP body, RFC 3830 §7 (MIKEY on its own
# port); what a plain SIP message with SDP bodies holds is found without parsing it
_KEY_MGMT_MIKEY = re.compile(rb"\na=key-mgmt:mikey +([A-Za-z0-9+/]+={0,2})[ \t]*\r?$", re.M)
# bodies the scan cannot read (tested on the lower-cased message: a case-insensitive regex
# alternation costs ten times more): multipart (RFC 2046 §5.1), a transfer encoding (RFC 2045
# §6) or application/mikey (an RFC 3830 message as a MIME body, seed 004 Annex W): the
# session's parse decides
_NEEDS_PARSE = (b"multipart/", b"content-transfer-encoding", b"application/mikey")


def scan_mikey(unit: Unit) -> list[bytes] | None:
    """The MIKEY messages of a unit found by a byte scan, in the order the session finds them
    (:meth:`Session.analyze`'s order of carriers: MSRP, port 2269, SIP, RTSP, HTTP, media), or
    None when only the session's analysis can tell (RTSP; SIP with multipart, encoded or
    application/mikey bodies)."""
    data = unit.data
    if unit.transport == "tls-psk" or data.startswith(b"MSRP "):
        return []  # MSRP carries no MIKEY-SAKKE I_MESSAGE
    if sip.is_sip(data):
        lowered = data.lower()
        if b"mikey" not in lowered:
            return []
        if any(marker in lowered for marker in _NEEDS_PARSE):
            return None
        found = []
        for b64 in _KEY_MGMT_MIKEY.findall(data):
            try:
                found.append(binascii.a2b_base64(b64, strict_mode=True))
            except binascii.Error:
                return None
        return found
    if MIKEY_PORT in (unit.sport, unit.dport):
        return [bytes(data)]
    if rtsp_codec.is_rtsp(data):
        return None
    return []  # HTTP (KMS XML: keys, not MIKEY) and media


class _Collector(Session):
    """A session that only lists the MIKEY messages a unit carries (no state, no crypto)."""

    def __init__(self):
        super().__init__(keyring=None)
        self.found: list[bytes] = []

    def _mikey(self, base, data, carrier, call_id, info=None):
        self.found.append(bytes(data))
        return None

    def _media(self, base, data):
        return []

    def _msrp(self, base, unit):
        return []

    def _http(self, base, data):
        return []

    def _cms(self, base, ent, info=None):
        return []

    def _psk_smime(self, base, ent, call_id, info=None):
        return []

    def mikey_messages(self, unit: Unit) -> list[bytes]:
        """The MIKEY messages of ``unit``, in the order the session will meet them.  What this
        finds only decides what is computed ahead: a message missed here is computed by the
        session itself, one found in excess is discarded (:meth:`CryptoPool.discard_upto`), so
        the records are the same either way.  The common shapes are found by a byte scan
        (:func:`scan_mikey`); the rest by the session's own analysis, without state or crypto."""
        found = scan_mikey(unit)
        return self.analyzed(unit) if found is None else found

    def analyzed(self, unit: Unit) -> list[bytes]:
        self.found = []
        try:
            self.analyze(unit)
        except Exception:  # the real analysis reports what went wrong; here it only costs a miss
            return []
        return self.found


class _Batch:
    """Messages sent to a worker together, as one task (issue 17: one future per message cost
    the main process ~0.8 ms in the executor's manager thread and submit/take); ``results``
    once the task is done, matched back by position."""

    __slots__ = ("messages", "future", "generation", "results")

    def __init__(self):
        self.messages: list[bytes] = []
        self.future: Future | None = None  # None: not sent yet
        self.generation = None  # keyring generation of the workers that computed it
        self.results: list | None = None


class CryptoPool:
    """MIKEY-SAKKE results computed in worker processes, keyed by message octets; sent in
    batches of up to ``batch_size`` messages (one pool task each)."""

    def __init__(self, session: Session, workers: int, batch_size: int = BATCH_SIZE):
        self.session, self.workers, self.batch_size = session, workers, batch_size
        self.executor: ProcessPoolExecutor | None = None
        self.generation = None
        # message -> (unit sequence number, batch, index in the batch), one per occurrence
        self.futures: dict[bytes, deque[tuple[int, _Batch, int]]] = {}
        # (unit sequence number, message) in the order sent: what discard_upto looks at
        self.order: deque[tuple[int, bytes]] = deque()
        self.batch = _Batch()  # filling; sent when full or when one of its results is taken
        self.in_flight = 0
        self.seen = 0
        self.stats = {"submitted": 0, "used": 0, "inline": 0, "batches": 0}

    @property
    def pending(self) -> int:
        return self.in_flight

    def _executor(self) -> ProcessPoolExecutor:
        gen = keyring_generation(self.session.keyring)
        if self.executor is not None and gen != self.generation:
            # wait=True: a pool left to wind down alone races the interpreter's exit hook
            # (concurrent.futures' wakeup pipe written after it was closed: EBADF traceback)
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None
        if self.executor is None:
            ring = self.session.keyring
            ring = Keyring(kms=list(ring.kms), users=list(ring.users))  # what SAKKE uses
            self.executor = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("fork"),
                initializer=_init_worker, initargs=(ring, self.session.decrypt_unverified))
            self.generation = gen
        return self.executor

    def submit(self, data: bytes, unit_seq: int) -> bool:
        if not is_sakke_i_message(data):
            return False
        self.seen += 1
        if self.seen == 1:
            return False  # one message alone is decrypted inline
        batch = self.batch
        self.futures.setdefault(data, deque()).append((unit_seq, batch, len(batch.messages)))
        self.order.append((unit_seq, data))
        batch.messages.append(data)
        self.in_flight += 1
        self.stats["submitted"] += 1
        # full, or the workers have little else to do (the first messages, a sparse capture):
        # a message does not wait for batch-mates that may be far ahead in the capture
        if (len(batch.messages) >= self.batch_size
                or self.in_flight - len(batch.messages) < self.workers * self.batch_size):
            self.flush()
        return True

    def flush(self) -> None:
        """Send the batch being filled (if any) to the workers."""
        batch = self.batch
        if not batch.messages:
            return
        self.batch = _Batch()
        batch.future = self._executor().submit(_work_batch, batch.messages)
        batch.generation = self.generation
        self.stats["batches"] += 1

    def discard_upto(self, unit_seq: int) -> None:
        """Forget what was sent for units already analysed but never taken (a message the
        session could not decode, say), so that nothing stays in flight forever."""
        order, futures = self.order, self.futures
        while order and order[0][0] <= unit_seq:
            data = order.popleft()[1]
            queue = futures.get(data)
            while queue and queue[0][0] <= unit_seq:  # not taken
                queue.popleft()
                self.in_flight -= 1
            if queue is not None and not queue:
                del futures[data]

    def take(self, data: bytes):
        """The result computed for ``data`` with the current keyring, or None."""
        data = bytes(data)
        queue = self.futures.get(data)
        if not queue:
            self.stats["inline"] += 1
            return None
        _, batch, index = queue.popleft()
        self.in_flight -= 1
        if not queue:
            del self.futures[data]
        if batch.future is None:  # still filling: send it now, its other messages come later
            self.flush()
        if batch.generation != keyring_generation(self.session.keyring):
            self.stats["inline"] += 1
            return None
        if batch.results is None:
            try:
                batch.results = batch.future.result()
            except Exception:  # a dead worker: compute them here instead
                batch.results = [None] * len(batch.messages)
            batch.messages = None  # the octets are keys of self.futures already; not kept twice
        res = batch.results[index]
        self.stats["used" if res is not None else "inline"] += 1
        return res

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)  # see _executor
            self.executor = None
        self.futures.clear()
        self.order.clear()
        self.batch = _Batch()
        self.in_flight = 0


def multiprocessing_usable() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class Lookahead:
    """Analyse a stream of units and ready records in order, with the crypto of the units in
    the window running in ``workers`` processes meanwhile."""

    def __init__(self, session: Session, workers: int | None = None):
        self.session = session
        workers = default_workers() if workers is None else workers
        self.enabled = (workers > 1 and can_decrypt(session.keyring)
                        and multiprocessing_usable())
        self.pool = CryptoPool(session, workers) if self.enabled else None
        self.collector = _Collector() if self.enabled else None
        if self.enabled:
            session.precomputed = self.pool.take

    def run(self, items: Iterable) -> Iterator:
        """``items``: Units (analysed by the session) and ready records, in order; yields the
        records (:mod:`dissectors.pcap.records`)."""
        if not self.enabled:
            for item in items:
                if isinstance(item, Unit):
                    yield from self.session.analyze(item)
                else:
                    yield item
            return
        window: deque = deque()  # (unit sequence number or None, item)
        limit = MAX_PENDING_PER_WORKER * self.pool.workers
        seq = 0
        try:
            for item in items:
                tag = None
                if isinstance(item, Unit):
                    seq += 1
                    sent = [self.pool.submit(data, seq)
                            for data in self.collector.mikey_messages(item)]
                    tag = seq if any(sent) else None
                window.append((tag, item))
                while window and (self.pool.pending > limit or len(window) > MAX_WINDOW
                                  or not self.pool.pending):
                    yield from self._release(window.popleft())
            while window:
                yield from self._release(window.popleft())
        finally:
            self.pool.close()
            self.session.precomputed = None

    def _release(self, entry) -> Iterator:
        tag, item = entry
        if isinstance(item, Unit):
            out = self.session.analyze(item)
            if tag is not None:
                self.pool.discard_upto(tag)
            yield from out
        else:
            yield item
