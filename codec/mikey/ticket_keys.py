"""Session keys of PSK MIKEY (RFC 3830) and MIKEY-TICKET (RFC 6043): from key data to TEKs.

- the KEY_DATA types (RFC 3830 §6.13, RFC 6043 §6.13) and the RFC 6043 PRF constants
  (Table A.1, Table 5.1);
- MPKi / MPKr from a ticket's MPK (RFC 6043 Appendix A.2.2), key forking (§5.1.1), TEK and salt
  from a TGK or GTGK (§5.1.3), the TLS-PSK of a TLS crypto session (seed 004 Annex X.2);
- the SRTP crypto sessions of an RFC 3830 I_MESSAGE: CS ID map (§6.1.1, RFC 6043 §6.1.1,
  RFC 4563 §5), SP policy (§6.10), TEK and salt from a TGK (§4.1.3) or carried (§6.13).

I/O-free; :mod:`codec.mikey.ticket` opens messages and calls these.
"""

from __future__ import annotations

from dataclasses import dataclass

from codec import srtp
from codec.crypto import prf
from codec.mikey import model

MPKI_CONST, MPKR_CONST = 0x220E99A2, 0x1F4D675B  # RFC 6043 Table A.1
MPKR_FORK_CONST, TGK_FORK_CONST = 0x2B288856, 0x1512B54A  # RFC 6043 Table 5.1
KEY_TGK, KEY_TGK_SALT, KEY_TEK, KEY_TEK_SALT, KEY_GTGK, KEY_GTGK_SALT, KEY_MPK = range(7)


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



# -- RFC 3830 PSK I_MESSAGE: SRTP crypto sessions -------------------------------------------
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


# -- RFC 6043 key derivation ---------------------------------------------------------------
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


def ticket_session_keys(msg, tgks, policy: model.TICKET | None, rand_i, rand_r, tls_prot_type: int):
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
