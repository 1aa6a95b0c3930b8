"""One I/O-free tracker of PSK MIKEY and MIKEY-TICKET exchanges (in the spirit of h11's _state.py).

Fed the MIKEY messages of an input or a capture in order (:meth:`ExchangeTracker.feed`), it keeps
the message history, matches every RESP with its INIT and every TRANSFER_INIT with the RESOLVE
exchange that resolved *its* ticket, runs :func:`codec.mikey.ticket.process` with what the match
gives, keeps the replay cache of TRANSFER_INITs and collects the TLS-PSKs learnt.  ``mcsec decode``
and the dissector's session both use it, so they cannot disagree.

Matching (RFC 6043 §4.2):

- REQUEST_RESP ↔ REQUEST_INIT, RESOLVE_RESP ↔ RESOLVE_INIT, TRANSFER_RESP ↔ TRANSFER_INIT: same
  CSB ID; among several candidates the newest whose V MAC verifies over RESP || INIT (§5.5).
- TRANSFER_INIT ↔ RESOLVE_RESP (the responder's view, §4.2.2.2, §4.2.3.6): the RESOLVE_INIT the
  RESOLVE_RESP answers carries the same ticket (type and Ticket Data) as the TRANSFER_INIT.  The
  responder sends RESOLVE_INIT *after* it got the TRANSFER_INIT, so in wire order the
  TRANSFER_INIT's MAC can be checked only when the RESOLVE_RESP arrives: the TRANSFER_INIT is
  then *pending*, and the RESOLVE_RESP's :class:`Outcome` lists it as revised.
- TRANSFER_RESP: V checked with the MPKi of its TRANSFER_INIT's result (from the ticket, or from
  the RESOLVE_RESP; §4.2.2.3).

Replay cache (RFC 3830 §5.4; seed 004 §8.3.1.1): every TRANSFER_INIT whose MAC does not fail
enters it; one whose MAC fails is ``rejected`` (and taken out again when a pending one fails
later).  A TRANSFER_INIT whose MAC fails releases no session keys (:mod:`codec.mikey.ticket`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from codec.keyring import Keyring
from codec.mikey import ticket as mikey_ticket
from codec.mikey.config import DEFAULT_TLS_PROT_TYPE
from codec.mikey.message import Message

REJECTED = "rejected"  # replay verdict of a TRANSFER_INIT whose V MAC fails: not cached
MAX_HISTORY = 256  # messages remembered (bounded memory)
MAX_PENDING = 64  # TRANSFER_INITs waiting for their RESOLVE_RESP
MAX_CANDIDATES = 8  # INITs tried for one RESP

_RESP_INIT = {mikey_ticket.REQUEST_RESP: (mikey_ticket.REQUEST_INIT_PSK,),
              mikey_ticket.RESOLVE_RESP: (mikey_ticket.RESOLVE_INIT_PSK,),
              mikey_ticket.TRANSFER_RESP: (mikey_ticket.TRANSFER_INIT,)}


@dataclass
class Entry:
    """One message the tracker has seen and what is known about it so far."""

    seq: int
    msg: Message
    wire: bytes
    result: mikey_ticket.TicketResult | None = None
    replay: str | None = None  # TRANSFER_INIT only: "accepted", "replay", "stale", "rejected"
    pending: bool = False  # a TRANSFER_INIT waiting for the RESOLVE_RESP of its ticket
    init: "Entry | None" = None  # the INIT a RESP answers, when found


@dataclass
class Outcome:
    """What one :meth:`ExchangeTracker.feed` found: the message's entry (``None`` when the tracker
    does not handle its data type) and earlier entries whose verdict changed with it."""

    entry: Entry | None
    revised: list = field(default_factory=list)


def handles(msg: Message) -> bool:
    """PSK MIKEY (RFC 3830 data types 0, 1) and MIKEY-TICKET (RFC 6043) messages."""
    dt = msg.hdr.data_type
    return dt in (mikey_ticket.PSK_INIT, mikey_ticket.PSK_VERIFY) or dt in mikey_ticket.TICKET_DATA_TYPES


def ticket_identity(msg: Message) -> tuple | None:
    """What names a ticket across TRANSFER_INIT and RESOLVE_INIT: its type and Ticket Data
    (RFC 6043 §6.10; the Initiator Data may be added or dropped on the way)."""
    t = msg.find("TICKET")
    return None if t is None else (t.ticket_type, t.subtype, bytes(t.ticket_data))


class ExchangeTracker:
    def __init__(self, keyring: Keyring, replay_cache: mikey_ticket.ReplayCache | None = None,
                 tls_psks: list | None = None, history: int = MAX_HISTORY, *,
                 tls_prot_type: int = DEFAULT_TLS_PROT_TYPE):
        self.keyring = keyring
        self.tls_prot_type = tls_prot_type  # the Prot type number that means TLS (mikey/config.py)
        self.replay_cache = replay_cache if replay_cache is not None else mikey_ticket.ReplayCache(1024)
        self.tls_psks = tls_psks if tls_psks is not None else []  # shared with the TLS hook
        self.history: deque[Entry] = deque(maxlen=history)
        self.pending: deque[Entry] = deque()
        self._seq = 0

    def _process(self, msg: Message, wire: bytes, **kw) -> mikey_ticket.TicketResult:
        return mikey_ticket.process(msg, wire, self.keyring, tls_prot_type=self.tls_prot_type, **kw)

    # -- matching ------------------------------------------------------------------------------
    def _inits(self, resp: Message) -> list[Entry]:
        wanted = _RESP_INIT.get(resp.hdr.data_type, ())
        return [e for e in reversed(self.history) if e.msg.hdr.data_type in wanted
                and e.msg.hdr.csb_id == resp.hdr.csb_id][:MAX_CANDIDATES]

    def _resolution(self, transfer: Message) -> mikey_ticket.TicketResult | None:
        """The newest verified RESOLVE_RESP (or REQUEST_RESP) result for this ticket."""
        ident = ticket_identity(transfer)
        for e in reversed(self.history):
            if (e.msg.hdr.data_type in (mikey_ticket.RESOLVE_RESP,
                                        mikey_ticket.REQUEST_RESP) and e.init is not None
                    and e.result is not None and e.result.kemac_keys
                    and ticket_identity(e.init.msg if e.msg.hdr.data_type == mikey_ticket.RESOLVE_RESP
                                        else e.msg) == ident):
                return e.result
        return None

    # -- processing ----------------------------------------------------------------------------
    def _answer(self, entry: Entry) -> None:
        """A RESP: the newest INIT of the right type and CSB ID whose V verifies over RESP || INIT,
        else the newest one."""
        first = None
        for init in self._inits(entry.msg):
            known = init.result if entry.msg.hdr.data_type == mikey_ticket.TRANSFER_RESP else None
            res = self._process(entry.msg, entry.wire, init=(init.msg, init.wire), known=known)
            if first is None:
                first = (init, res)
            if res.verified is True:
                entry.init, entry.result = init, res
                return
        if first is not None:
            entry.init, entry.result = first
        else:
            entry.result = self._process(entry.msg, entry.wire)

    def _transfer_init(self, entry: Entry, known) -> None:
        res = entry.result = self._process(entry.msg, entry.wire, known=known)
        entry.pending = (known is None and res.verified is None and res.ticket is not None
                         and res.ticket.mpk_i is None and ticket_identity(entry.msg) is not None)
        if entry.pending:
            res.notes.append("V MAC not checked yet: MPKi comes with the RESOLVE_RESP of this "
                             "ticket (RFC 6043 §4.2.3.6)")

    def _replay(self, entry: Entry) -> None:
        if entry.result.verified is False:
            entry.replay = REJECTED
            return
        t = entry.msg.find("T")
        entry.replay = self.replay_cache.check(mikey_ticket.replay_key(entry.msg, entry.wire),
                                               t.ts_value if t else 0)

    def _learn(self, res) -> None:
        for s in getattr(res, "session_keys", None) or ():
            if s.is_tls and s.tek and s.tek not in self.tls_psks:
                self.tls_psks.append(s.tek)

    def feed(self, msg: Message, wire: bytes) -> Outcome:
        """Process one message (see module docstring)."""
        if not handles(msg):
            return Outcome(None)
        self._seq += 1
        entry = Entry(self._seq, msg, bytes(wire))
        dt = msg.hdr.data_type
        revised = []
        if dt in _RESP_INIT:
            self._answer(entry)
        elif dt == mikey_ticket.TRANSFER_INIT:
            self._transfer_init(entry, self._resolution(msg))
            self._replay(entry)
        else:
            entry.result = self._process(msg, entry.wire)
        self._learn(entry.result)
        if dt in (mikey_ticket.RESOLVE_RESP, mikey_ticket.REQUEST_RESP) and entry.result.kemac_keys:
            revised = self._resolve_pending(entry)
        self.history.append(entry)
        if entry.pending:
            self.pending.append(entry)
            while len(self.pending) > MAX_PENDING:
                self.pending.popleft().pending = False  # bounded: given up on
        return Outcome(entry, revised)

    def _resolve_pending(self, resp: Entry) -> list[Entry]:
        """Pending TRANSFER_INITs of the ticket this RESOLVE_RESP resolved, checked now, and the
        TRANSFER_RESPs that answered them meanwhile (RFC 6043 §4.2.3.6)."""
        ident = ticket_identity(resp.init.msg if resp.msg.hdr.data_type == mikey_ticket.RESOLVE_RESP
                                else resp.msg)
        revised = []
        for e in list(self.pending):
            if ident is None or ticket_identity(e.msg) != ident:
                continue
            self.pending.remove(e)
            self._transfer_init(e, resp.result)
            e.pending = False
            if e.result.verified is False and e.replay != REJECTED:
                if e.replay == "accepted":
                    self.replay_cache.discard(mikey_ticket.replay_key(e.msg, e.wire))
                e.replay = REJECTED
            self._learn(e.result)
            revised.append(e)
            for r in self.history:  # a TRANSFER_RESP seen before the resolution
                if r.msg.hdr.data_type == mikey_ticket.TRANSFER_RESP and r.init is e:
                    r.result = self._process(r.msg, r.wire, init=(e.msg, e.wire), known=e.result)
                    revised.append(r)
        return revised

    def close(self, why: str = "in the input") -> list[Entry]:
        """Stop waiting: the entries still pending (never resolved), with a note saying so."""
        out = list(self.pending)
        for e in out:
            e.pending = False
            e.result.notes = [n for n in e.result.notes if "not checked yet" not in n] + [
                f"V MAC not checked: no RESOLVE_RESP of this ticket (with MPKi) {why}"]
        self.pending.clear()
        return out
