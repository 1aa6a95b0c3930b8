"""Builders of every message of the three MIKEY-TICKET exchanges and of RFC 3830 PSK I_MESSAGEs.

- the MIKEY base ticket protected with the TPK (RFC 6043 Appendix A);
- REQUEST_INIT_PSK / REQUEST_RESP (§4.2.1), TRANSFER_INIT / TRANSFER_RESP (§4.2.2),
  RESOLVE_INIT_PSK / RESOLVE_RESP (§4.2.3), each with its V MAC (§5.5) and KEMAC (§5.2);
- the RFC 3830 PSK I_MESSAGE with its KEMAC MAC (RFC 3830 §3.1, §5.2).

Tests, the fuzzers and ``mcsec synth`` build whole rounds with these; :mod:`codec.mikey.ticket`
opens and checks what they build.
"""

from __future__ import annotations

import os

from codec.mikey import model
from codec.mikey import psk as mikey_psk
from codec.mikey.message import Message, decode_payloads, encode
from codec.mikey.ticket import (
    MIKEY_BASE_TICKET, PSK_INIT, REQUEST_INIT_PSK, RESOLVE_INIT_PSK, ROLE_I, ROLE_KMS, ROLE_PSK,
    ROLE_R, TRANSFER_INIT, TRANSFER_RESP, randr_of, region_without, ticket_layout)
from codec.mikey.ticket_keys import KEY_MPK, MPKI_CONST, derive_mpk


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
    region = region_without(wire, (v_off, len(v.ver_data)), *cuts) + extra
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
    init_off, _ = ticket_layout(ticket, 0)
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
        return [ticket_layout(ticket, offsets[t_index + 1])]

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
    rand_i, rand_r = randr_of(init, 1), randr_of(init, 2)
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
    rand_i = randr_of(init, 1)
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
