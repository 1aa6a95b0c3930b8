"""JSON and text for what :func:`codec.mikey.sakke.process` found.

JSON keys (derived: ``encode`` ignores them) are added to the payload they belong to:

- HDR: ``mikey.3gpp.key_type``, ``mikey.3gpp.key_id``, ``mikey.3gpp.guk_id``,
  ``mikey.3gpp.period`` and ``mikey.3gpp.period_no`` (the key period number the identities
  matched), ``mikey.3gpp.sender_uid``, ``mikey.3gpp.receiver_uid``, and for UIDs sent in the
  IDRs the URIs of the keyring users they belong to, ``mikey.3gpp.sender_uri`` and
  ``mikey.3gpp.receiver_uri`` (TS 33.180 §F.2.1);
- SIGN: ``mikey.sign.verified`` (true/false/null), ``mikey.sign.region``, ``mikey.sign.error``;
- SAKKE: ``mikey.sakke.ssv`` (secret), ``mikey.sakke.error``, ``mikey.sakke.unverified``;
- GEN_EXT type 7: ``mikey.3gpp.key_params`` (the decrypted key parameters) or
  ``mikey.3gpp.key_params_error``;
- top level: ``mikey.3gpp.crypto_sessions`` (``cs_id``, ``mki``, ``srtp_master_key`` and
  ``srtp_master_salt`` — secrets) and ``mikey.3gpp.notes``.
"""

from __future__ import annotations

from codec.mikey.message import Message
from codec.mikey.sakke import SakkeResult

HIDDEN = "<hidden>"


def _secret(value: bytes | None, show: bool):
    if value is None:
        return None
    return value.hex() if show else HIDDEN


def annotate_json(doc: dict, msg: Message, res: SakkeResult, show_secrets: bool) -> dict:
    from codec.mikey.render import structure_json

    records = doc["mikey"]
    hdr = records[0]["mikey.hdr"]
    hdr["mikey.3gpp.key_type"] = res.key_type
    if res.key_id is not None:
        hdr["mikey.3gpp.key_id"] = res.key_id
    if res.guk_id is not None:
        hdr["mikey.3gpp.guk_id"] = res.guk_id
    if res.period_no is not None:
        hdr["mikey.3gpp.period"] = res.period_no
        hdr["mikey.3gpp.period_no"] = res.period_no
    if res.sender_uid is not None:
        hdr["mikey.3gpp.sender_uid"] = res.sender_uid.hex()
    if res.receiver_uid is not None:
        hdr["mikey.3gpp.receiver_uid"] = res.receiver_uid.hex()
    if res.sender_uri is not None:
        hdr["mikey.3gpp.sender_uri"] = res.sender_uri
    if res.receiver_uri is not None:
        hdr["mikey.3gpp.receiver_uri"] = res.receiver_uri
    for rec, p in zip(records[1:], msg.payloads):
        (obj,) = rec.values()
        if p.NAME == "SIGN":
            obj["mikey.sign.verified"] = res.verified
            if res.region:
                obj["mikey.sign.region"] = res.region
            if res.sign_error:
                obj["mikey.sign.error"] = res.sign_error
        elif p.NAME == "SAKKE":
            if res.ssv is not None:
                obj["mikey.sakke.ssv"] = _secret(res.ssv, show_secrets)
                obj["mikey.sakke.unverified"] = res.decrypted_unverified
            if res.decrypt_error:
                obj["mikey.sakke.error"] = res.decrypt_error
        elif p.NAME == "GEN_EXT" and p.type == 7 and res.key_params is not None:
            kp = res.key_params
            if kp.params is not None:
                d = structure_json(kp.params)
                d["mikey.3gpp.kp.group_id_list"] = kp.params.group_id_list()
                d["mikey.3gpp.kp.legacy"] = kp.legacy
                obj["mikey.3gpp.key_params"] = d
            elif kp.single_octet_key_type is not None:  # the single-octet legacy form
                obj["mikey.3gpp.key_params"] = {"mikey.3gpp.kp.key_type": kp.single_octet_key_type,
                                                "mikey.3gpp.kp.legacy": True}
            if kp.error:
                obj["mikey.3gpp.key_params_error"] = kp.error
    if res.crypto_sessions:
        doc["mikey.3gpp.crypto_sessions"] = [
            {"mikey.3gpp.cs_id": cs.cs_id, "mikey.3gpp.cs_use": cs.use, "mikey.3gpp.mki": cs.mki.hex(),
             "mikey.3gpp.srtp_master_key": _secret(cs.master_key, show_secrets),
             "mikey.3gpp.srtp_master_salt": _secret(cs.master_salt, show_secrets)}
            for cs in res.crypto_sessions]
    notes = list(res.notes) + (list(res.key_params.notes) if res.key_params else [])
    if notes:
        doc["mikey.3gpp.notes"] = notes
    return doc


def text_lines(res: SakkeResult, show_secrets: bool) -> list[str]:
    pad = "    "
    out = [f"{pad}[MIKEY-SAKKE with provisioned keys]"]
    add = lambda k, v: out.append(f"{pad * 2}{k}: {v}")  # noqa: E731
    add("Key type", res.key_type)
    if res.key_id is not None:
        add("Key ID", f"0x{res.key_id:08x}")
    if res.guk_id is not None:
        add("GUK-ID", f"0x{res.guk_id:08x}")
    add("Initiator", res.initiator if res.sender_uri is None
        else f"{res.sender_uri} (by its UID {res.sender_uid.hex() if res.sender_uid else '?'})")
    add("Responder", res.responder if res.receiver_uri is None
        else f"{res.receiver_uri} (by its UID {res.receiver_uid.hex() if res.receiver_uid else '?'})")
    if res.period_no is not None:
        add("Key period", res.period_no)
    if res.verified is True:
        add("Signature", f"verified ({res.region})")
    elif res.verified is False:
        add("Signature", f"FAILED: {res.sign_error}")
    else:
        add("Signature", f"not checked: {res.sign_error}")
    if res.ssv is not None:
        add("SSV (key)", _secret(res.ssv, show_secrets)
            + ("  [decrypted WITHOUT a verified signature]" if res.decrypted_unverified else ""))
    if res.decrypt_error:
        add("Decryption", res.decrypt_error)
    if res.key_params is not None:
        kp = res.key_params
        if kp.params is not None:
            p = kp.params
            add("Key parameters", f"key type {p.key_type}, status 0x{p.status:08x}, activation "
                                  f"{p.activation_time}, expiry {p.expiry_time}, text "
                                  f"{p.text.decode('utf-8', 'replace')!r}, groups "
                                  f"{p.group_id_list()}" + (" (legacy, unencrypted)" if kp.legacy else ""))
        elif kp.single_octet_key_type is not None:
            add("Key parameters", f"key type {kp.single_octet_key_type} (legacy single octet)")
        if kp.error:
            add("Key parameters", f"FAILED: {kp.error}")
    for cs in res.crypto_sessions:
        add(f"Crypto session {cs.cs_id}", f"{cs.use}; MKI {cs.mki.hex() or '-'}; master key "
                                          f"{_secret(cs.master_key, show_secrets)}; master salt "
                                          f"{_secret(cs.master_salt, show_secrets)}")
    for n in res.notes + (res.key_params.notes if res.key_params else []):
        out.append(f"{pad * 2}[Note: {n}]")
    return out
