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
exchanges so tests and fuzzers can run a whole round.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field

from codec import srtp
from codec.crypto import prf
from codec.errors import DecodeError
from codec.keyring import Keyring
from codec.mikey import config
from codec.mikey import model
from codec.mikey import psk as mikey_psk
from codec.mikey.message import Message, decode_payloads, encode
from codec.mikey.render import decode_key_data_chain

PSK_INIT, PSK_VERIFY = 0, 1
REQUEST_INIT_PSK, REQUEST_INIT_PK, REQUEST_RESP = 11, 12, 13
TRANSFER_INIT, TRANSFER_RESP = 14, 15
RESOLVE_INIT_PSK, RESOLVE_INIT_PK, RESOLVE_RESP = 16, 17, 18
TICKET_DATA_TYPES = {11, 12, 13, 14, 15, 16, 17, 18}
MIKEY_BASE_TICKET = 1
MPKI_CONST, MPKR_CONST = 0x220E99A2, 0x1F4D675B  # RFC 6043 Table A.1
MPKR_FORK_CONST, TGK_FORK_CONST = 0x2B288856, 0x1512B54A  # RFC 6043 Table 5.1
KEY_TGK, KEY_TGK_SALT, KEY_TEK, KEY_TEK_SALT, KEY_GTGK, KEY_GTGK_SALT, KEY_MPK = range(7)
ROLE_I, ROLE_R, ROLE_KMS, ROLE_PSK = 1, 2, 3, 4


@dataclass
class SessionKey:
    """Keying material derived for one crypto session (RFC 6043 §5.1.3)."""

    cs_id: int
    prot_type: int
    spi: bytes
    tek: bytes
    salt: bytes | None = None
    tls_psk_identity: str | None = None  # set for the TLS Prot type (seed 004 Annex X.2)
    ssrc: int | None = None  # the SRTP stream the CS ID map names (RFC 3830 §6.1.1)
    roc: int | None = None
    transform: object = None  # codec.srtp.Transform of an SRTP crypto session (RFC 3830 §6.10)

    @property
    def is_tls(self) -> bool:
        return self.tls_psk_identity is not None


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


def _randr(msg, role):
    return next((p.rand for p in msg.find_all("RANDR") if p.rand_role == role), None)


def _text(b):
    try:
        return None if b is None else bytes(b).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _payload_index(msg, name):
    return next((i for i, p in enumerate(msg.payloads) if p.NAME == name), None)


def _region_without(wire: bytes, *cuts) -> bytes:
    """``wire`` without the (offset, length) ranges in ``cuts``."""
    out, pos = [], 0
    for off, n in sorted(cuts):
        out.append(wire[pos:off])
        pos = off + n
    out.append(wire[pos:])
    return b"".join(out)


def _ticket_layout(ticket: model.TICKET, ticket_off: int):
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
    region = _region_without(wire, (mac_off, len(kemac.mac)))
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


def sp_params(msg, policy_no: int) -> dict | None:
    """{type: value} of the SRTP SP payload with this Policy No (RFC 3830 §6.10), or None."""
    for sp in msg.find_all("SP"):
        if sp.policy_no == policy_no and sp.prot_type == 0 and isinstance(sp.policy_params, list):
            return {prm.type: bytes(prm.value) for prm in sp.policy_params}
    return None


def sp_tag_len_quirk(params: dict | None) -> int | None:
    """GStreamer's SP (gst_mikey_message_new_from_caps): the HMAC *tag* length (4 or 10) in
    parameter 3, the session auth *key* length (20 for HMAC-SHA1, RFC 3711 §8.2), and no
    parameter 11 (the tag length, RFC 3830 §6.10.1).  Returns that tag length, or None."""
    if not params or srtp.SP_TAG_LEN in params:
        return None
    if int.from_bytes(params.get(srtp.SP_AUTH, b"\x01"), "big") != srtp.AUTH_HMAC_SHA1:
        return None
    value = int.from_bytes(params.get(srtp.SP_AUTH_KEY_LEN, b""), "big")
    return value if value in (4, 10) else None


def _crypto_session_list(msg, notes):
    """(CS ID, Policy No, SSRC, ROC, SPI) of each crypto session the HDR's CS ID map names."""
    hdr = msg.hdr
    if hdr.cs_id_map_type == 0:  # SRTP-ID: the i-th entry is CS i (RFC 3830 §6.1.1)
        return [(i + 1, e.policy_no, e.ssrc, e.roc, b"") for i, e in enumerate(hdr.cs_id_map)]
    if hdr.cs_id_map_type == 2:  # GENERIC-ID (RFC 6043 §6.1.1)
        out = []
        for e in hdr.cs_id_map:
            if e.prot_type != 0:
                continue
            from codec.mikey.render import srtp_session_data

            sd = srtp_session_data(e)
            out.append((e.cs_id, e.policies[0] if e.policies else 0, sd.ssrc if sd else None,
                        sd.roc if sd else None, bytes(e.spi)))
        return out
    if hdr.cs_id_map_type == 1:  # Empty map (RFC 4563 §5): no per-CS data
        if hdr.n_cs:
            return [(i + 1, 0, None, None, b"") for i in range(hdr.n_cs)]
        notes.append("Empty CS ID map with #CS 0: one SRTP crypto session assumed, CS ID 1, "
                     "policy 0 (UNCONFIRMED)")
        return [(1, 0, None, None, b"")]
    return []


def psk_session_keys(msg, key_data: list, notes: list) -> list:
    """TEK and salt of every SRTP crypto session of an RFC 3830 I_MESSAGE: from a TGK with the
    PRF (const || CS ID || CSB ID || RAND, RFC 3830 §4.1.3) at the SP's key and salt lengths, or a
    TEK carried as such (a transported salt is the master salt, §6.13); the SP (or §6.10.1's
    defaults) chooses the transform, the key data's SPI (KV 1) or GENERIC-ID SPI is the MKI."""
    rand_p = msg.find("RAND")
    rand = bytes(rand_p.rand) if rand_p is not None else b""
    sessions = _crypto_session_list(msg, notes)
    keys = [k for k in key_data if k.type in (KEY_TGK, KEY_TGK_SALT, KEY_TEK, KEY_TEK_SALT)]
    out = []
    for n, (cs_id, policy_no, ssrc, roc, spi) in enumerate(sessions):
        key = next((k for k in keys if spi and k.kv == 1 and bytes(k.spi) == spi), None)
        if key is None:
            key = keys[n] if len(keys) == len(sessions) else (keys[0] if keys else None)
        if key is None:
            continue
        mki = spi or (bytes(key.spi) if key.kv == 1 else b"")
        params = sp_params(msg, policy_no)
        if params is None and msg.find("SP") is not None:
            notes.append(f"CS {cs_id}: no SRTP SP payload with Policy No {policy_no}: "
                         "RFC 3830 §6.10.1 defaults")
        tag = sp_tag_len_quirk(params)
        if tag is not None:  # GStreamer: parameter 3 is the tag length (reference/mikey.md §9.3)
            params = dict(params)
            params[srtp.SP_AUTH_KEY_LEN], params[srtp.SP_TAG_LEN] = bytes([20]), bytes([tag])
            notes.append(f"CS {cs_id}: SP parameter 3 = {tag} without parameter 11 read as the "
                         "HMAC tag length (GStreamer), auth key length 20")
        try:
            t = srtp.transform_from_sp(params, len(mki))
        except srtp.TransformError as e:
            notes.append(f"CS {cs_id}: SRTP policy {policy_no} not usable: {e}")
            t = None
        key_len = t.key_len if t else 16
        salt_len = t.salt_len if t else srtp.AES_CM_SALT_LEN
        if key.type in (KEY_TEK, KEY_TEK_SALT):
            tek, salt = bytes(key.key_data), (bytes(key.salt) if key.salt is not None else None)
            if salt is None and len(tek) == key_len + salt_len:  # master key || master salt
                tek, salt = tek[:key_len], tek[key_len:]
                notes.append(f"CS {cs_id}: TEK of {key_len + salt_len} octets read as SRTP "
                             f"master key ({key_len}) || master salt ({salt_len})")
        else:
            tek = prf.derive_from_tgk(bytes(key.key_data), prf.TEK, cs_id, msg.hdr.csb_id, rand,
                                      key_len, msg.hdr.prf_func)
            salt = (bytes(key.salt) if key.salt is not None else
                    prf.derive_from_tgk(bytes(key.key_data), prf.SALT, cs_id, msg.hdr.csb_id, rand,
                                        salt_len, msg.hdr.prf_func))
        if t is not None and (len(tek) != t.key_len or salt is None or len(salt) != t.salt_len):
            notes.append(f"CS {cs_id}: key of {len(tek)} / salt of {len(salt or b'')} octets do "
                         f"not fit {t.name}")
            t = None
        if t is not None:
            notes.append(f"CS {cs_id}: SRTP {t.name}" + (f", MKI {mki.hex()}" if mki else "")
                         + (f", SSRC 0x{ssrc:08x} ROC {roc}" if ssrc is not None else ""))
        out.append(SessionKey(cs_id, 0, mki, tek, salt, None, ssrc, roc, t))
    return out


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
    init_off, init_len = _ticket_layout(ticket, 0)
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


def derive_mpk(mpk: bytes, const: int, rand: bytes, prf_func: int) -> bytes:
    """MPKi / MPKr from the MPK (RFC 6043 Appendix A.2.2)."""
    label = const.to_bytes(4, "big") + b"\xff\xff\xff\xff\xff\x06" + bytes([len(rand)]) + rand
    return prf.prf(mpk, label, len(mpk), prf_func)


def fork_key(inkey: bytes, const: int, id_data: bytes, randr_kms: bytes, prf_func: int) -> bytes:
    """MPKr' / TGK' (RFC 6043 §5.1.1): label const || 0xFF || 0xFFFFFFFF || 0x00 || len16 ID Data
    || ID Data || len8 RANDRkms || RANDRkms, outkey_len = inkey_len."""
    label = (const.to_bytes(4, "big") + b"\xff\xff\xff\xff\xff\x00"
             + len(id_data).to_bytes(2, "big") + id_data + bytes([len(randr_kms)]) + randr_kms)
    return prf.prf(inkey, label, len(inkey), prf_func)


def derive_session_key(tgk: bytes, const: int, cs_id: int, rand_i: bytes | None,
                       rand_r: bytes | None, out_len: int, prf_func: int) -> bytes:
    """TEK / salt from a TGK or GTGK (RFC 6043 §5.1.3)."""
    rand_i, rand_r = rand_i or b"", rand_r or b""
    label = (const.to_bytes(4, "big") + bytes([cs_id]) + b"\xff\xff\xff\xff\x03"
             + bytes([len(rand_i)]) + rand_i + bytes([len(rand_r)]) + rand_r)
    return prf.prf(tgk, label, out_len, prf_func)


def _session_keys(msg, tgks, policy: model.TICKET | None, rand_i, rand_r, tls_prot_type: int):
    """TEKs of every crypto session; the TLS Prot type's TEK is its TLS-PSK (seed 004 X.2)."""
    hdr = msg.hdr
    use_ri = policy is None or policy.flag_h
    use_rr = policy is not None and policy.flag_g
    out = []
    entries = hdr.cs_id_map if hdr.cs_id_map_type == 2 else []
    for e in entries:
        match = next((k for k in tgks if k.kv == 1 and k.spi == e.spi), None)
        key = match or (tgks[0] if tgks else None)
        if key is None:
            continue
        tls = e.prot_type == tls_prot_type
        if key.type in (KEY_TEK, KEY_TEK_SALT):  # the SPI names a TEK directly
            tek, salt = bytes(key.key_data), key.salt
        else:
            n = len(key.key_data) if tls else 16
            tek = derive_session_key(key.key_data, prf.TEK, e.cs_id, rand_i if use_ri else None,
                                     rand_r if use_rr else None, n, hdr.prf_func)
            salt = key.salt if key.type in (KEY_TGK_SALT, KEY_GTGK_SALT) else (
                None if tls else derive_session_key(key.key_data, prf.SALT, e.cs_id,
                                                    rand_i if use_ri else None,
                                                    rand_r if use_rr else None, 14, hdr.prf_func))
        out.append(SessionKey(e.cs_id, e.prot_type, bytes(e.spi), tek, salt,
                              "" if tls else None))
    return out


# -- MIKEY-TICKET messages ---------------------------------------------------------------------
def _v_check(msg, wire, tk_key, label_tail, extra: bytes, cuts=()):
    """(verified, error) of the V payload over msg (minus ``cuts`` and the MAC) || extra."""
    v_i = _payload_index(msg, "V")
    if v_i is None:
        return False, "no V payload"
    v = msg.payloads[v_i]
    keys = mikey_psk.transport_keys(tk_key, label_tail, msg.hdr.prf_func, 0, v.auth_alg)
    region = _region_without(wire, (_v_mac_offset(msg, v_i), len(v.ver_data)), *cuts) + extra
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
    rand_i = _randr(msg, 1)
    idents = (_idr(msg, ROLE_I) or b"") + (_idr(msg, ROLE_R) or b"")
    init_off, init_len = _ticket_layout(ticket, t_off)
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
    res.session_keys = _session_keys(msg, tgks, ticket, rand_i, None, tls_prot_type)


def _process_response(msg, wire, keys, init: tuple[Message, bytes] | None, res: TicketResult):
    """REQUEST_RESP / RESOLVE_RESP: KEMAC from the KMS, keys from the INIT's PSK."""
    if init is None:
        res.error = "the response needs its INIT message (RANDs, identities, MAC coverage)"
        return
    init_msg, init_wire = init
    rand_i, rand_r = _randr(init_msg, 1), _randr(init_msg, 2)
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
    rand_i, rand_r = _randr(init_msg, 1), _randr(msg, 2)
    key = known.ticket.mpk_i
    if t is not None and t.flag_i:  # key forking: MPKr' from MPKr with the modifier
        modifier_id, randr_kms = _idr(msg, ROLE_R), _randr(msg, 3)
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
    rand_i, rand_r = _randr(msg, 1), _randr(msg, 2)
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


# ----------------------------------------------------------------------------------------------
# Builders
def key_data(ktype: int, key: bytes, spi: bytes | None = None, salt: bytes | None = None):
    d = dict(type=ktype, key_data=key, kv=1 if spi is not None else 0)
    if spi is not None:
        d["spi"] = spi
    if salt is not None:
        d["salt"] = salt
    return model.KEY_DATA(**d)


def _chain(keys_list) -> bytes:
    return b"".join(k.to_bytes(20 if i + 1 < len(keys_list) else 0)
                    for i, k in enumerate(keys_list))


def _kemac(plain_keys, tk, csb_id, t, encr_alg):
    plain = _chain(plain_keys)
    return model.KEMAC(encr_alg=encr_alg,
                       encr_data=mikey_psk.encrypt_encr_data(encr_alg, plain, tk, csb_id, t),
                       mac_alg=mikey_psk.MAC_NULL, mac=b"")


def _finish_v(msg: Message, key: bytes, label_tail: bytes, extra: bytes, auth_alg: int,
              cuts_fn=None) -> bytes:
    """Fill in the V payload's MAC (the last payload) and return the octets."""
    v = msg.payloads[-1]
    v.ver_data = bytes(mikey_psk.AUTH_KEY_LEN[auth_alg])
    wire = encode(msg)
    d = msg.copy()
    decoded_offsets = _offsets(d, wire)
    v_off = decoded_offsets[len(msg.payloads)] + 2
    cuts = cuts_fn(decoded_offsets) if cuts_fn else ()
    tk = mikey_psk.transport_keys(key, label_tail, msg.hdr.prf_func, 0, auth_alg)
    region = _region_without(wire, (v_off, len(v.ver_data)), *cuts) + extra
    v.ver_data = mikey_psk.mac(auth_alg, tk.auth_key, region)
    return encode(msg)


def _offsets(msg: Message, wire: bytes):
    from codec.mikey.message import decode

    return decode(wire).offsets


def build_ticket(tpk: bytes, mpk: bytes, session_keys: list, *, prf_func: int = 1,
                 t_value: int, rand: bytes | None = None, tpk_identity: str | None = None,
                 flags: dict | None = None, tp_data: bytes = b"", encr_alg: int = mikey_psk.ENCR_AES_CM_128,
                 auth_alg: int = mikey_psk.MAC_HMAC_SHA256, initiator_data: bytes = b"") -> model.TICKET:
    """A MIKEY base ticket (RFC 6043 Appendix A) protected with the TPK."""
    rand = rand if rand is not None else os.urandom(16)
    ticket = model.TICKET(ticket_type=MIKEY_BASE_TICKET, subtype=1, version=1, prf_func=prf_func,
                          tp_data=tp_data, ticket_data=b"", initiator_data=initiator_data,
                          **{f"flag_{k}": v for k, v in (flags or {"d": 1, "h": 1, "o": 1,
                                                                  "n": 1}).items()})
    tk = mikey_psk.transport_keys(tpk, mikey_psk.label_tpk(rand), prf_func, encr_alg, auth_alg)
    t = model.T(ts_type=0, ts_value=t_value)
    kemac = _kemac([key_data(KEY_MPK, mpk)] + list(session_keys), tk, 0xFFFFFFFF, t_value, encr_alg)
    payloads = [t, model.RAND(rand=rand), kemac]
    if tpk_identity is not None:
        payloads.append(model.IDR(id_role=ROLE_PSK, id_type=1, id_data=tpk_identity.encode()))
    v = model.V(auth_alg=auth_alg, ver_data=bytes(mikey_psk.AUTH_KEY_LEN[auth_alg]))
    payloads.append(v)
    data_msg = Message(model.THDR(thdr_data=b""), payloads)
    ticket.ticket_data = encode(data_msg)
    tb = ticket.to_bytes(0)
    init_off, _ = _ticket_layout(ticket, 0)
    region = tb[1:init_off - len(v.ver_data)]
    v.ver_data = mikey_psk.mac(auth_alg, tk.auth_key, region)
    ticket.ticket_data = encode(data_msg)
    return ticket


def build_transfer_init(ticket: model.TICKET, mpk: bytes, *, csb_id: int, cs_entries: list,
                        initiator: str, responder: str, t_value: int, rand_i: bytes | None = None,
                        prf_func: int = 1, auth_alg: int = mikey_psk.MAC_HMAC_SHA256,
                        sp: list | None = None, kemac_keys: list | None = None,
                        extension: model.GEN_EXT | None = None) -> bytes:
    """TRANSFER_INIT = HDR, T, RANDRi, [IDRi], [IDRr], {SP}, TICKET, [KEMAC], V (RFC 6043 §4.2.2)."""
    rand_i = rand_i if rand_i is not None else os.urandom(16)
    ticket_rand = rand_of_ticket(ticket)
    mpk_i = derive_mpk(mpk, MPKI_CONST, ticket_rand, ticket.prf_func)
    hdr = model.HDR(data_type=TRANSFER_INIT, v=ticket.flag_f, prf_func=prf_func, csb_id=csb_id,
                    cs_id_map_type=2, cs_id_map=list(cs_entries))
    payloads = [model.T(ts_type=0, ts_value=t_value), model.RANDR(rand_role=1, rand=rand_i),
                model.IDR(id_role=ROLE_I, id_type=1, id_data=initiator.encode()),
                model.IDR(id_role=ROLE_R, id_type=1, id_data=responder.encode())]
    payloads += list(sp or [])
    payloads.append(ticket.copy())
    label = mikey_psk.label_rfc6043(csb_id, 1, rand_i, None)
    if kemac_keys:
        tk = mikey_psk.transport_keys(mpk_i, label, prf_func, mikey_psk.ENCR_AES_CM_128,
                                      mikey_psk.MAC_NULL)
        payloads.append(_kemac(kemac_keys, tk, csb_id, t_value, mikey_psk.ENCR_AES_CM_128))
    if extension is not None:
        payloads.append(extension)
    payloads.append(model.V(auth_alg=auth_alg))
    msg = Message(hdr, payloads)
    t_index = next(i for i, p in enumerate(payloads) if p.NAME == "TICKET")

    def cuts(offsets):
        return [_ticket_layout(ticket, offsets[t_index + 1])]

    return _finish_v(msg, mpk_i, label, initiator.encode() + responder.encode(), auth_alg, cuts)


def rand_of_ticket(ticket: model.TICKET) -> bytes:
    data = decode_payloads(ticket.ticket_data, first=model.THDR)
    return data.find("RAND").rand


def build_request_init(psk: bytes, *, csb_id: int, initiator: str, kms: str, t_value: int,
                       tp: model.TP, rand_i: bytes | None = None, prf_func: int = 1,
                       auth_alg: int = mikey_psk.MAC_HMAC_SHA256) -> bytes:
    """REQUEST_INIT_PSK = HDR, T, RANDRi, [IDRi], [IDRkms], TP, [IDRpsk], V (RFC 6043 §4.2.1)."""
    rand_i = rand_i if rand_i is not None else os.urandom(16)
    msg = Message(model.HDR(data_type=REQUEST_INIT_PSK, v=1, prf_func=prf_func, csb_id=csb_id,
                            cs_id_map_type=1),
                  [model.T(ts_type=0, ts_value=t_value), model.RANDR(rand_role=1, rand=rand_i),
                   model.IDR(id_role=ROLE_I, id_type=1, id_data=initiator.encode()),
                   model.IDR(id_role=ROLE_KMS, id_type=1, id_data=kms.encode()), tp,
                   model.V(auth_alg=auth_alg)])
    return _finish_v(msg, psk, mikey_psk.label_rfc6043(csb_id, 1, rand_i, None),
                     initiator.encode() + kms.encode(), auth_alg)


def build_response(init_wire: bytes, psk: bytes, *, data_type: int, kms: str, t_value: int,
                   kemac_keys: list, ticket: model.TICKET | None = None,
                   auth_alg: int = mikey_psk.MAC_HMAC_SHA256) -> bytes:
    """REQUEST_RESP (with TICKET) or RESOLVE_RESP: KEMAC = E(encr_key, MPKi || … ) and V over
    RESP || INIT (RFC 6043 §4.2.1.5, §4.2.3.5, §5.5)."""
    from codec.mikey.message import decode

    init = decode(init_wire)
    rand_i, rand_r = _randr(init, 1), _randr(init, 2)
    label = mikey_psk.label_rfc6043(init.hdr.csb_id, 2, rand_i, rand_r)
    tk = mikey_psk.transport_keys(psk, label, init.hdr.prf_func, mikey_psk.ENCR_AES_CM_128,
                                  mikey_psk.MAC_NULL)
    payloads = [model.T(ts_type=0, ts_value=t_value),
                model.IDR(id_role=ROLE_KMS, id_type=1, id_data=kms.encode())]
    if ticket is not None:
        payloads.append(ticket.copy())
    payloads.append(_kemac(kemac_keys, tk, init.hdr.csb_id, t_value, mikey_psk.ENCR_AES_CM_128))
    payloads.append(model.V(auth_alg=auth_alg))
    msg = Message(model.HDR(data_type=data_type, v=0, prf_func=init.hdr.prf_func,
                            csb_id=init.hdr.csb_id, cs_id_map_type=1), payloads)
    return _finish_v(msg, psk, label, bytes(init_wire), auth_alg)


def build_transfer_resp(init_wire: bytes, mpk_i: bytes, *, t_value: int,
                        rand_r: bytes | None = None, auth_alg: int = mikey_psk.MAC_HMAC_SHA256) -> bytes:
    """TRANSFER_RESP = HDR, T, [RANDRr], [IDRr], {SP}, [KEMAC], V without key forking."""
    from codec.mikey.message import decode

    init = decode(init_wire)
    rand_i = _randr(init, 1)
    hdr = init.hdr.copy()
    hdr.data_type, hdr.v = TRANSFER_RESP, 0
    hdr.make_auto()
    payloads = [model.T(ts_type=0, ts_value=t_value)]
    if rand_r is not None:
        payloads.append(model.RANDR(rand_role=2, rand=rand_r))
    payloads.append(model.V(auth_alg=auth_alg))
    msg = Message(hdr, payloads)
    return _finish_v(msg, mpk_i, mikey_psk.label_rfc6043(hdr.csb_id, 2, rand_i, rand_r), bytes(init_wire),
                     auth_alg)


def build_resolve_init(psk: bytes, ticket: model.TICKET, *, csb_id: int, responder: str, kms: str,
                       t_value: int, rand_r: bytes | None = None, prf_func: int = 1,
                       auth_alg: int = mikey_psk.MAC_HMAC_SHA256) -> bytes:
    """RESOLVE_INIT_PSK = HDR, T, RANDRr, [IDRr], [IDRkms], TICKET, [IDRpsk], V (§4.2.3)."""
    rand_r = rand_r if rand_r is not None else os.urandom(16)
    msg = Message(model.HDR(data_type=RESOLVE_INIT_PSK, v=1, prf_func=prf_func, csb_id=csb_id,
                            cs_id_map_type=1),
                  [model.T(ts_type=0, ts_value=t_value), model.RANDR(rand_role=2, rand=rand_r),
                   model.IDR(id_role=ROLE_R, id_type=1, id_data=responder.encode()),
                   model.IDR(id_role=ROLE_KMS, id_type=1, id_data=kms.encode()), ticket.copy(),
                   model.V(auth_alg=auth_alg)])
    return _finish_v(msg, psk, mikey_psk.label_rfc6043(csb_id, 1, None, rand_r),
                     responder.encode() + kms.encode(), auth_alg)


def build_psk_i_message(psk: bytes, keys_list: list, *, csb_id: int, t_value: int,
                        initiator: str | None = None, responder: str | None = None,
                        rand: bytes | None = None, prf_func: int = 0,
                        encr_alg: int = mikey_psk.ENCR_AES_CM_128, mac_alg: int = mikey_psk.MAC_HMAC_SHA1,
                        cs_id_map: list | None = None, sp: list | None = None) -> bytes:
    """RFC 3830 PSK I_MESSAGE = HDR, T, RAND, [IDi], [IDr], {SP}, KEMAC (§3.1)."""
    rand = rand if rand is not None else os.urandom(16)
    hdr = model.HDR(data_type=PSK_INIT, v=0, prf_func=prf_func, csb_id=csb_id,
                    cs_id_map_type=0, cs_id_map=list(cs_id_map or []))
    payloads = [model.T(ts_type=0, ts_value=t_value), model.RAND(rand=rand)]
    if initiator:
        payloads.append(model.ID(id_type=1, id_data=initiator.encode()))
    if responder:
        payloads.append(model.ID(id_type=1, id_data=responder.encode()))
    payloads += list(sp or [])
    tk = mikey_psk.transport_keys(psk, mikey_psk.label_rfc3830(csb_id, rand), prf_func, encr_alg, mac_alg)
    kemac = model.KEMAC(encr_alg=encr_alg,
                        encr_data=mikey_psk.encrypt_encr_data(encr_alg, _chain(keys_list), tk,
                                                              csb_id, t_value),
                        mac_alg=mac_alg, mac=bytes(mikey_psk.AUTH_KEY_LEN[mac_alg]))
    payloads.append(kemac)
    msg = Message(hdr, payloads)
    wire = encode(msg)
    kemac.mac = mikey_psk.mac(mac_alg, tk.auth_key, wire[:len(wire) - len(kemac.mac)])
    return encode(msg)
