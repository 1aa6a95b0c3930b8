"""PSK MIKEY (RFC 3830) and MIKEY-TICKET (RFC 6043): recover and check every key of an exchange.

:func:`process` handles, given the pre-shared keys of the keyring (``[[psk]]``):

- RFC 3830 PSK I_MESSAGEs (data type 0): KEMAC decrypted, MAC checked (RFC 3830 §5.2);
- REQUEST_RESP / RESOLVE_RESP (with their INIT message): the KMS's KEMAC (MPKi, [MPKr], TGKs)
  decrypted with keys from the PSK (RFC 6043 §5.1.2, response label 0x02), V checked over
  RESP || INIT (§5.5);
- TRANSFER_INIT: the MIKEY base ticket (Appendix A) opened with the ticket protection key (TPK:
  a ``[[psk]]`` whose identity is the ticket's IDRpsk, or any PSK whose ticket MAC verifies), MPK →
  MPKi/MPKr (A.2.2), the V MAC of the TRANSFER_INIT checked with MPKi over the message without the
  Initiator Data, then || Identity_i || Identity_r (§5.5); TEKs per crypto session (§5.1.3),
  including the TLS-PSK of a TLS crypto session (seed 004 Annex X);
- REQUEST_INIT / RESOLVE_INIT / TRANSFER_RESP: V checked when the key is at hand.

Failures are fields of the result, never exceptions.  Builders make every message of the three
exchanges (:mod:`codec.mikey.ticket_build`) so tests and fuzzers can run a whole round; the key
derivations are in :mod:`codec.mikey.ticket_keys`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from codec.crypto import prf
from codec.errors import DecodeError
from codec.keyring import Keyring
from codec.mikey import config
from codec.mikey import model
from codec.mikey import psk as mikey_psk
from codec.mikey.message import Message, decode_payloads
from codec.mikey.render import decode_key_data_chain
from codec.mikey.ticket_keys import (
    KEY_GTGK, KEY_GTGK_SALT, KEY_MPK, KEY_TEK, KEY_TEK_SALT, KEY_TGK, KEY_TGK_SALT, MPKI_CONST,
    MPKR_CONST, MPKR_FORK_CONST, derive_mpk, fork_key, psk_session_keys, ticket_session_keys)

PSK_INIT, PSK_VERIFY = 0, 1
REQUEST_INIT_PSK, REQUEST_INIT_PK, REQUEST_RESP = 11, 12, 13
TRANSFER_INIT, TRANSFER_RESP = 14, 15
RESOLVE_INIT_PSK, RESOLVE_INIT_PK, RESOLVE_RESP = 16, 17, 18
TICKET_DATA_TYPES = {11, 12, 13, 14, 15, 16, 17, 18}
MIKEY_BASE_TICKET = 1
ROLE_I, ROLE_R, ROLE_KMS, ROLE_PSK = 1, 2, 3, 4


@dataclass
class TicketInfo:
    ticket_type: int
    verified: bool | None = None  # the ticket's own V MAC (Appendix A.1)
    error: str | None = None
    tpk_identity: str | None = None
    mpk: bytes | None = None
    mpk_i: bytes | None = None
    mpk_r: bytes | None = None
    keys: list = field(default_factory=list)  # KEY_DATA from the ticket (MPK excluded)
    data: Message | None = None  # the decoded Ticket Data chain


@dataclass
class TicketResult:
    mode: str  # "psk" | "ticket"
    verified: bool | None = None  # KEMAC MAC (PSK) or V payload MAC (MIKEY-TICKET)
    error: str | None = None
    psk_identity: str | None = None
    kemac_keys: list = field(default_factory=list)  # decrypted KEY_DATA of the message's KEMAC
    kemac_error: str | None = None
    ticket: TicketInfo | None = None
    session_keys: list = field(default_factory=list)
    notes: list = field(default_factory=list)


# -- small helpers -----------------------------------------------------------------------------
def _idr(msg, role):
    return next((p.id_data for p in msg.find_all("IDR") if p.id_role == role), None)


def randr_of(msg, role):
    return next((p.rand for p in msg.find_all("RANDR") if p.rand_role == role), None)


def _text(b):
    try:
        return None if b is None else bytes(b).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _payload_index(msg, name):
    return next((i for i, p in enumerate(msg.payloads) if p.NAME == name), None)


def region_without(wire: bytes, *cuts) -> bytes:
    """``wire`` without the (offset, length) ranges in ``cuts``."""
    out, pos = [], 0
    for off, n in sorted(cuts):
        out.append(wire[pos:off])
        pos = off + n
    out.append(wire[pos:])
    return b"".join(out)


def ticket_layout(ticket: model.TICKET, ticket_off: int):
    """Offsets of the TICKET's Initiator Data length field and the end of its Ticket Data."""
    init_len_off = ticket_off + 10 + len(ticket.tp_data) + 2 + len(ticket.ticket_data)
    return init_len_off, 2 + len(ticket.initiator_data)


def _v_mac_offset(msg, index):
    return msg.offsets[index + 1] + 2  # V: Next Payload, Auth alg, Ver data


def _kemac_keys(kemac, keys, csb_id, t, where, res_errors):
    try:
        plain = mikey_psk.decrypt_encr_data(kemac.encr_alg, kemac.encr_data, keys, csb_id, t)
    except mikey_psk.PskError as e:
        res_errors.append(f"{where}: {e}")
        return None
    chain = decode_key_data_chain(plain)
    if isinstance(chain, DecodeError):
        res_errors.append(f"{where}: decrypted key data does not decode ({chain}); wrong key?")
        return None
    return chain


def _psk_candidates(keys: Keyring, identities, csb_id):
    out, seen = [], set()
    for ident in identities:
        if ident is None:
            continue
        for p in keys.psk_for(identity=ident):
            if id(p) not in seen:
                out.append(p)
                seen.add(id(p))
    for p in keys.psk_for(csb_id=csb_id):
        if id(p) not in seen:
            out.append(p)
            seen.add(id(p))
    return out


# -- RFC 3830 PSK ------------------------------------------------------------------------------
def _process_psk(msg, wire, keys, res: TicketResult):
    kemac_i = _payload_index(msg, "KEMAC")
    if kemac_i is None:
        res.error = "no KEMAC payload"
        return
    kemac = msg.payloads[kemac_i]
    rand = msg.find("RAND")
    rand = rand.rand if rand is not None else b""
    idents = [_text(p.id_data) for p in msg.find_all("ID")] + \
             [_text(p.id_data) for p in msg.find_all("IDR")]
    cands = _psk_candidates(keys, reversed(idents), msg.hdr.csb_id)
    if not cands:
        res.error = "no key: no [[psk]] for the identities or CSB ID of this message"
        return
    mac_off = msg.offsets[kemac_i + 1] + 4 + len(kemac.encr_data) + 1
    region = region_without(wire, (mac_off, len(kemac.mac)))
    errors = []
    for cand in cands:
        try:
            tk = mikey_psk.transport_keys(cand.key, mikey_psk.label_rfc3830(msg.hdr.csb_id, rand),
                                          msg.hdr.prf_func, kemac.encr_alg, kemac.mac_alg)
        except (mikey_psk.PskError, prf.PrfError) as e:
            res.error = str(e)
            return
        ok = None if kemac.mac_alg == mikey_psk.MAC_NULL else mikey_psk.mac_ok(kemac.mac_alg,
                                                                               tk.auth_key, region,
                                                                               kemac.mac)
        if ok is False:
            errors.append(f"MAC does not match with the PSK of {cand.identity or cand.csb_id}")
            continue
        res.verified, res.psk_identity = ok, cand.identity
        chain = _kemac_keys(kemac, tk, msg.hdr.csb_id, mikey_psk.ts64(msg.find("T")), "KEMAC", errors)
        if chain is not None:
            res.kemac_keys = chain
        else:
            res.kemac_error = errors[-1]
        if ok is None:
            res.notes.append("MAC algorithm NULL: the key data is not integrity protected")
        if chain is not None:
            res.session_keys = psk_session_keys(msg, chain, res.notes)
        return
    res.verified, res.error = False, errors[0] if errors else "MAC does not verify"


# -- the MIKEY base ticket (RFC 6043 Appendix A) ------------------------------------------------
def open_ticket(ticket: model.TICKET, ticket_bytes: bytes, keys: Keyring) -> TicketInfo:
    """Decrypt and check a MIKEY base ticket with a TPK from the keyring."""
    info = TicketInfo(ticket.ticket_type)
    if ticket.ticket_type != MIKEY_BASE_TICKET or ticket.subtype != 1:
        info.error = (f"ticket type {ticket.ticket_type} subtype {ticket.subtype} is not the MIKEY "
                      f"base ticket: kept as opaque octets")
        return info
    try:
        data = decode_payloads(ticket.ticket_data, first=model.THDR)
    except DecodeError as e:
        info.error = f"Ticket Data does not decode: {e}"
        return info
    info.data = data
    t, rand, kemac = data.find("T"), data.find("RAND"), data.find("KEMAC")
    v_i = _payload_index(data, "V")
    if rand is None or kemac is None or v_i is None:
        info.error = "Ticket Data lacks RAND, KEMAC or V (Appendix A: THDR, T, RAND, KEMAC, [IDRpsk], V)"
        return info
    v = data.payloads[v_i]
    idrpsk = next((p.id_data for p in data.find_all("IDR") if p.id_role == ROLE_PSK), None)
    tpk_name = _text(idrpsk) or (idrpsk.hex() if idrpsk else None)
    named = _psk_candidates(keys, [tpk_name], None) if tpk_name else []
    cands = named or list(keys.psks)  # no PSK of that name: any PSK whose ticket MAC verifies
    missing = f"no key for {tpk_name}" if tpk_name else \
        "no key for the ticket protection key (TPK): no [[psk]] opens the ticket"
    if not cands:
        info.error = missing
        return info
    # MAC over the TICKET payload without its Next Payload, the Initiator Data and the MAC itself
    init_off, init_len = ticket_layout(ticket, 0)
    mac_end = init_off - len(v.ver_data)
    region = ticket_bytes[1:mac_end]
    for cand in cands:
        try:
            tk = mikey_psk.transport_keys(cand.key, mikey_psk.label_tpk(rand.rand), ticket.prf_func,
                                          kemac.encr_alg, v.auth_alg)
        except (mikey_psk.PskError, prf.PrfError) as e:
            info.error = str(e)
            return info
        if v.auth_alg != mikey_psk.MAC_NULL and not mikey_psk.mac_ok(v.auth_alg, tk.auth_key,
                                                                     region, v.ver_data):
            continue
        info.verified = v.auth_alg != mikey_psk.MAC_NULL or None
        info.tpk_identity = cand.identity
        errors = []
        chain = _kemac_keys(kemac, tk, 0xFFFFFFFF, mikey_psk.ts64(t), "ticket KEMAC", errors)
        if chain is None:
            info.error = errors[-1]
            return info
        mpks = [k for k in chain if k.type == KEY_MPK]
        info.keys = [k for k in chain if k.type != KEY_MPK]
        if not mpks:
            info.error = "ticket KEMAC carries no MPK"
            return info
        info.mpk = bytes(mpks[0].key_data)
        info.mpk_i = derive_mpk(info.mpk, MPKI_CONST, rand.rand, ticket.prf_func)
        info.mpk_r = derive_mpk(info.mpk, MPKR_CONST, rand.rand, ticket.prf_func)
        return info
    if named:  # the TPK the ticket names (IDRpsk) is in the keyring and the MAC fails
        info.verified = False
        info.error = f"ticket MAC does not verify with the TPK of {tpk_name}"
    else:  # none of the keyring's PSKs is the TPK: unchecked, not failed
        info.error = missing
    return info


# -- MIKEY-TICKET messages ---------------------------------------------------------------------
def _v_check(msg, wire, tk_key, label_tail, extra: bytes, cuts=()):
    """(verified, error) of the V payload over msg (minus ``cuts`` and the MAC) || extra."""
    v_i = _payload_index(msg, "V")
    if v_i is None:
        return False, "no V payload"
    v = msg.payloads[v_i]
    keys = mikey_psk.transport_keys(tk_key, label_tail, msg.hdr.prf_func, 0, v.auth_alg)
    region = region_without(wire, (_v_mac_offset(msg, v_i), len(v.ver_data)), *cuts) + extra
    if v.auth_alg == mikey_psk.MAC_NULL:
        return None, "V payload uses the NULL MAC"
    ok = mikey_psk.mac_ok(v.auth_alg, keys.auth_key, region, v.ver_data)
    return ok, None if ok else "V MAC does not verify"


def _process_transfer_init(msg, wire, keys, res: TicketResult, known, tls_prot_type: int):
    t_i = _payload_index(msg, "TICKET")
    if t_i is None:
        res.error = "TRANSFER_INIT without TICKET (a CSB update needs the earlier exchange's MPK)"
        return
    ticket = msg.payloads[t_i]
    t_off = msg.offsets[t_i + 1]
    t_bytes = wire[t_off:(msg.offsets[t_i + 2] if t_i + 2 < len(msg.offsets) else len(wire))]
    res.ticket = info = open_ticket(ticket, t_bytes, keys)
    if info.mpk_i is None and known is not None and known.kemac_keys:
        # the responder's way in: MPKi and the TGKs from the KMS's RESOLVE_RESP (§4.2.3.6)
        mpks = [k for k in known.kemac_keys if k.type == KEY_MPK]
        if mpks:
            info.mpk_i = bytes(mpks[0].key_data)
            info.keys = [k for k in known.kemac_keys if k.type != KEY_MPK]
            res.notes.append("MPKi and TGKs taken from the RESOLVE_RESP/REQUEST_RESP KEMAC")
    if info.mpk_i is None:
        res.error = info.error or "the ticket could not be opened"
        return
    rand_i = randr_of(msg, 1)
    idents = (_idr(msg, ROLE_I) or b"") + (_idr(msg, ROLE_R) or b"")
    init_off, init_len = ticket_layout(ticket, t_off)
    res.verified, res.error = _v_check(
        msg, wire, info.mpk_i, mikey_psk.label_rfc6043(msg.hdr.csb_id, 1, rand_i, None), idents,
        cuts=[(init_off, init_len)])
    if res.verified is False:  # RFC 6043 §4.2.2.2: a message that fails is not used
        res.notes.append("V MAC does not verify: no session keys released")
        return
    tgks = [k for k in info.keys if k.type in (KEY_TGK, KEY_TGK_SALT, KEY_GTGK, KEY_GTGK_SALT,
                                                 KEY_TEK, KEY_TEK_SALT)]
    kemac = msg.find("KEMAC")
    if kemac is not None:  # RFC 6043 §5.2: encr_key from MPKi, KEMAC = E(encr_key, TEK|TGK|GTGK)
        tk = mikey_psk.transport_keys(info.mpk_i,
                                      mikey_psk.label_rfc6043(msg.hdr.csb_id, 1, rand_i, None),
                                      msg.hdr.prf_func, kemac.encr_alg, mikey_psk.MAC_NULL)
        errs = []
        chain = _kemac_keys(kemac, tk, msg.hdr.csb_id, mikey_psk.ts64(msg.find("T")), "KEMAC", errs)
        if chain is not None:
            res.kemac_keys = chain
            tgks = chain + tgks
        else:
            res.kemac_error = errs[-1]
    if ticket.flag_i:
        res.notes.append("key forking (I flag): TGKs in the ticket are forked for the responder")
    res.session_keys = ticket_session_keys(msg, tgks, ticket, rand_i, None, tls_prot_type)


def _process_response(msg, wire, keys, init: tuple[Message, bytes] | None, res: TicketResult):
    """REQUEST_RESP / RESOLVE_RESP: KEMAC from the KMS, keys from the INIT's PSK."""
    if init is None:
        res.error = "the response needs its INIT message (RANDs, identities, MAC coverage)"
        return
    init_msg, init_wire = init
    rand_i, rand_r = randr_of(init_msg, 1), randr_of(init_msg, 2)
    ident = _text(_idr(init_msg, ROLE_PSK)) or _text(_idr(init_msg, ROLE_I)) or \
        _text(_idr(init_msg, ROLE_R))
    cands = _psk_candidates(keys, [ident], init_msg.hdr.csb_id)
    if not cands:
        res.error = f"no key: no [[psk]] for {ident or 'the initiator'}"
        return
    label = mikey_psk.label_rfc6043(msg.hdr.csb_id, 2, rand_i, rand_r)
    for cand in cands:
        ok, err = _v_check(msg, wire, cand.key, label, init_wire)
        if ok is False:
            continue
        res.verified, res.error, res.psk_identity = ok, err, cand.identity
        kemac = msg.find("KEMAC")
        if kemac is not None:
            tk = mikey_psk.transport_keys(cand.key, label, msg.hdr.prf_func, kemac.encr_alg,
                                          mikey_psk.MAC_NULL)
            errs = []
            chain = _kemac_keys(kemac, tk, msg.hdr.csb_id, mikey_psk.ts64(msg.find("T")), "KEMAC", errs)
            if chain is not None:
                res.kemac_keys = chain
            else:
                res.kemac_error = errs[-1]
        return
    res.verified, res.error = False, "V MAC does not verify with any matching PSK"


def _process_transfer_resp(msg, wire, init, known, res: TicketResult):
    """TRANSFER_RESP: V with MPKi, or MPKr' under key forking, over RESP || INIT (§4.2.2.3)."""
    if init is None or known is None or known.ticket is None or known.ticket.mpk_i is None:
        res.error = "the TRANSFER_RESP needs its TRANSFER_INIT opened first (MPKi / MPKr)"
        return
    init_msg, init_wire = init
    t = next((p for p in init_msg.payloads if p.NAME == "TICKET"), None)
    rand_i, rand_r = randr_of(init_msg, 1), randr_of(msg, 2)
    key = known.ticket.mpk_i
    if t is not None and t.flag_i:  # key forking: MPKr' from MPKr with the modifier
        modifier_id, randr_kms = _idr(msg, ROLE_R), randr_of(msg, 3)
        if known.ticket.mpk_r is None or modifier_id is None or randr_kms is None:
            res.error = "key forking without MPKr, IDRr or RANDRkms"
            return
        key = fork_key(known.ticket.mpk_r, MPKR_FORK_CONST, modifier_id, randr_kms,
                       t.prf_func)
        res.notes.append("V checked with the forked MPKr' (I flag)")
    use_rr = t is not None and t.flag_g
    res.verified, res.error = _v_check(
        msg, wire, key, mikey_psk.label_rfc6043(msg.hdr.csb_id, 2, rand_i, rand_r if use_rr else None),
        bytes(init_wire))


def _process_init_psk(msg, wire, keys, res: TicketResult, peer_role):
    rand_i, rand_r = randr_of(msg, 1), randr_of(msg, 2)
    ident = _text(_idr(msg, ROLE_PSK)) or _text(_idr(msg, peer_role))
    cands = _psk_candidates(keys, [ident], msg.hdr.csb_id)
    if not cands:
        res.error = f"no key: no [[psk]] for {ident or 'the sender'}"
        return
    extra = (_idr(msg, peer_role) or b"") + (_idr(msg, ROLE_KMS) or b"")
    label = mikey_psk.label_rfc6043(msg.hdr.csb_id, 1, rand_i, rand_r)
    for cand in cands:
        ok, err = _v_check(msg, wire, cand.key, label, extra)
        if ok is not False:
            res.verified, res.error, res.psk_identity = ok, err, cand.identity
            return
    res.verified, res.error = False, "V MAC does not verify with any matching PSK"


def process(msg: Message, wire: bytes, keys: Keyring,
            init: tuple[Message, bytes] | None = None,
            known: TicketResult | None = None, *,
            tls_prot_type: int = config.DEFAULT_TLS_PROT_TYPE) -> TicketResult:
    """Recover and check the keys of a PSK or MIKEY-TICKET message (see module docstring).

    ``init``: the INIT message a RESP answers; ``known``: the result of the RESOLVE_RESP or
    REQUEST_RESP that gave this party the MPKi and TGKs of a TRANSFER_INIT's ticket;
    ``tls_prot_type``: the Prot type number that means TLS (TLS-PSKs take the TGK's length)."""
    wire = bytes(wire[:len(wire) - len(msg.trailing)]) if msg.trailing else bytes(wire)
    dt = msg.hdr.data_type
    if dt in (PSK_INIT, PSK_VERIFY):
        res = TicketResult("psk")
        if dt == PSK_INIT:
            _process_psk(msg, wire, keys, res)
        else:
            res.error = "PSK verification messages are not processed yet"
        return res
    res = TicketResult("ticket")
    try:
        if dt == TRANSFER_INIT:
            _process_transfer_init(msg, wire, keys, res, known, tls_prot_type)
        elif dt in (REQUEST_RESP, RESOLVE_RESP):
            _process_response(msg, wire, keys, init, res)
        elif dt == TRANSFER_RESP:
            _process_transfer_resp(msg, wire, init, known, res)
        elif dt == REQUEST_INIT_PSK:
            _process_init_psk(msg, wire, keys, res, ROLE_I)
        elif dt == RESOLVE_INIT_PSK:
            _process_init_psk(msg, wire, keys, res, ROLE_R)
        else:
            res.error = f"data type {dt} is not processed (public-key variants need the PKE keys)"
    except (mikey_psk.PskError, prf.PrfError) as e:
        res.error = str(e)
    return res


# -- replay cache (seed 004 §8.3.1.1, deferred delivery) -----------------------------------------
class ReplayCache:
    """Bounded cache of TRANSFER_INITs keyed by their octets, ordered by timestamp.

    An entry is accepted while the cache has room, or when its timestamp is newer than the oldest
    entry (which is then evicted); a message already cached is a replay; an older one when the
    cache is full is stale.
    """

    def __init__(self, size: int = 1024):
        if size < 1:
            raise ValueError("the replay cache needs room for at least one entry")
        self.size = size
        self._entries: OrderedDict[bytes, int] = OrderedDict()

    def check(self, key: bytes, timestamp: int) -> str:
        """'accepted', 'replay' or 'stale'."""
        key = bytes(key)
        if key in self._entries:
            return "replay"
        if len(self._entries) >= self.size:
            oldest_key = min(self._entries, key=self._entries.__getitem__)
            if timestamp <= self._entries[oldest_key]:
                return "stale"
            del self._entries[oldest_key]
        self._entries[key] = timestamp
        return "accepted"

    def discard(self, key: bytes) -> None:
        """Take an entry out again (a message accepted before its MAC could be checked, which
        then failed)."""
        self._entries.pop(bytes(key), None)

    def __len__(self):
        return len(self._entries)


def replay_key(msg: Message, wire: bytes) -> bytes:
    """What identifies a TRANSFER_INIT for the replay cache: the whole message."""
    return bytes(wire)
