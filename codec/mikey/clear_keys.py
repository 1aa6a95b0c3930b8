"""SRTP master keys that travel in the clear: MIKEY messages whose KEMAC is NULL-encrypted
(RFC 3830 §4.2.3, §6.2), as RTSP stacks send them (GStreamer, gortsplib, LIVE555).

No keyring is needed: the Key data sub-payloads (RFC 3830 §6.13) of such a KEMAC are readable by
anyone.  Each crypto session of the CS ID map (SRTP-ID map, RFC 3830 §6.1.1, or an Empty map) gets
its master key, master salt, MKI and the SRTP transform of its Security Policy (RFC 3830
§6.10.1), and the quirks met on the way are reported as findings (reference/mikey.md §9):

- NULL encryption with a NULL MAC: the keys have no confidentiality and no integrity;
- a TEK key data (type 2) holding master key ‖ 14-octet master salt instead of TEK+SALT (type 3);
- SP parameter 3 (session *auth key* length) holding the HMAC *tag* length (4 or 10) and no
  parameter 11 (GStreamer's ``gst_mikey_message_new_from_caps``): read as the tag length with the
  20-octet HMAC-SHA1 key of RFC 3711 §8.2;
- HMAC-SHA1 with a 4-octet tag: RFC 3711 has one tag length for SRTP and SRTCP and GStreamer
  tags SRTCP with 4 octets, where RFC 4568 §6.2.1 and libsrtp's _32 suites keep 10 on SRTCP.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codec import srtp
from codec.errors import DecodeError, Finding
from codec.mikey.render import decode_key_data_chain

KEY_TEK, KEY_TEK_SALT = 2, 3  # RFC 3830 §6.13 Key data types
KV_SPI = 1  # RFC 3830 §6.13: the key is tied to the SPI (MKI)
MAP_SRTP_ID, MAP_EMPTY = 0, 1  # RFC 3830 §6.1, RFC 4563
PROT_SRTP = 0  # RFC 3830 §6.10


@dataclass
class ClearCryptoSession:
    cs_no: int  # 1-based position in the CS ID map (RFC 3830 §6.1.1)
    policy_no: int | None
    ssrc: int | None  # None: an Empty map names no stream
    roc: int | None
    master_key: bytes
    master_salt: bytes
    mki: bytes
    transform: srtp.Transform | None
    error: str | None = None  # why the keys cannot key SRTP (unsupported transform …)


@dataclass
class ClearKeys:
    sessions: list = field(default_factory=list)  # [ClearCryptoSession]
    findings: list = field(default_factory=list)  # [codec.errors.Finding]
    error: str | None = None


def _offset(msg, name: str) -> int:
    i = next((i for i, p in enumerate(msg.payloads) if p.NAME == name), None)
    return msg.offsets[i + 1] if i is not None and i + 1 < len(msg.offsets) else 0


def sp_params(msg, policy_no: int | None) -> dict[int, bytes] | None:
    """{type: value} of the SRTP Security Policy ``policy_no`` (None: the message has none)."""
    for sp in msg.find_all("SP"):
        if sp.prot_type == PROT_SRTP and (policy_no is None or sp.policy_no == policy_no):
            return {p.type: bytes(p.value) for p in sp.policy_params}
    return None


def gstreamer_tag_quirk(params: dict[int, bytes]) -> int | None:
    """The tag length GStreamer wrote in SP parameter 3 (RFC 3830 §6.10.1 type 3 is the session
    auth *key* length, 20 for HMAC-SHA1; type 11 the tag length), or None without the quirk."""
    auth_key_len = int.from_bytes(params.get(srtp.SP_AUTH_KEY_LEN, b""), "big")
    if srtp.SP_TAG_LEN in params or auth_key_len not in (4, 10):
        return None
    if int.from_bytes(params.get(srtp.SP_AUTH, b"\x01"), "big") != srtp.AUTH_HMAC_SHA1:
        return None
    return auth_key_len


def clear_srtp_keys(msg) -> ClearKeys | None:
    """The SRTP keys of a message with a NULL-encrypted KEMAC (None when it has none)."""
    kemac = msg.find("KEMAC")
    if kemac is None or kemac.encr_alg != 0 or msg.hdr is None:
        return None
    out = ClearKeys()
    at = _offset(msg, "KEMAC")
    if kemac.mac_alg == 0:
        out.findings.append(Finding("KEMAC", at, "NULL encryption and NULL MAC: the keys travel in "
                                    "the clear with no integrity protection (RFC 3830 §4.2.3, "
                                    "§4.2.4: only where a lower layer protects the message)"))
    else:
        out.findings.append(Finding("KEMAC", at, "NULL encryption: the keys travel in the clear "
                                    "(RFC 3830 §4.2.3); the MAC needs the pre-shared key"))
    chain = decode_key_data_chain(kemac.encr_data)
    if isinstance(chain, DecodeError):
        out.error = f"KEMAC key data: {chain}"
        return out
    teks = [k for k in chain if k.type in (KEY_TEK, KEY_TEK_SALT)]
    if not teks:
        out.error = "no TEK in the KEMAC (a TGK needs the RFC 3830 §4.1.3 derivation)"
        return out
    hdr = msg.hdr
    if hdr.cs_id_map_type == MAP_SRTP_ID:
        streams = [(e.policy_no, e.ssrc, e.roc) for e in hdr.cs_id_map]
    elif hdr.cs_id_map_type == MAP_EMPTY:
        streams = [(None, None, None)]
    else:
        out.error = f"CS ID map type {hdr.cs_id_map_type}: only SRTP-ID and Empty maps are keyed here"
        return out
    if len(teks) not in (1, len(streams)):
        out.findings.append(Finding("KEMAC", at, f"{len(teks)} TEKs for {len(streams)} crypto "
                                    "sessions: the first TEK keys every crypto session"))
        teks = teks[:1]
    noted: set = set()
    for n, (policy_no, ssrc, roc) in enumerate(streams, 1):
        tek = teks[n - 1] if len(teks) == len(streams) else teks[0]
        params = sp_params(msg, policy_no)
        if params is None:
            params = {}
            if "sp" not in noted:
                out.findings.append(Finding("SP", 0, f"no SRTP security policy {policy_no}: RFC "
                                            "3830 §6.10.1 defaults (AES-CM-128, HMAC-SHA1-80)"))
                noted.add("sp")
        tag = gstreamer_tag_quirk(params)
        if tag is not None:
            params = dict(params)
            params[srtp.SP_AUTH_KEY_LEN] = bytes([20])
            params[srtp.SP_TAG_LEN] = bytes([tag])
            if "tag" not in noted:
                out.findings.append(Finding(
                    "SP.policy_params[3]", _offset(msg, "SP"),
                    f"parameter 3 (session auth key length) is {tag} and there is no parameter 11"
                    f": GStreamer writes the HMAC tag length there; taken as a {tag}-octet tag "
                    "with a 20-octet HMAC-SHA1 key (RFC 3830 §6.10.1, RFC 3711 §8.2)"))
                noted.add("tag")
        mki = bytes(tek.spi) if tek.kv == KV_SPI and tek.spi else b""
        key, salt, error, transform = bytes(tek.key_data), bytes(tek.salt or b""), None, None
        try:
            transform = srtp.transform_from_sp(params, len(mki))
        except srtp.TransformError as e:
            error = str(e)
        if transform is not None and tek.type == KEY_TEK:
            if len(key) == transform.key_len + transform.salt_len:
                key, salt = key[:transform.key_len], key[transform.key_len:]
                if "glued" not in noted:
                    out.findings.append(Finding(
                        "KEMAC.key_data[0]", at, f"TEK of {len(tek.key_data)} octets holds master "
                        f"key ({transform.key_len}) ‖ master salt ({transform.salt_len}): key data "
                        "type 2 (TEK) used where type 3 (TEK+SALT) carries a salt (RFC 3830 "
                        "§6.13)"))
                    noted.add("glued")
            elif len(key) != transform.key_len:
                error = (f"TEK of {len(key)} octets fits neither a {transform.key_len}-octet master "
                         f"key nor key ‖ {transform.salt_len}-octet salt ({transform.name})")
        if transform is not None and error is None and len(salt) != transform.salt_len:
            error = f"master salt of {len(salt)} octets, {transform.name} needs {transform.salt_len}"
        if (transform is not None and error is None and transform.auth == srtp.AUTH_HMAC_SHA1
                and transform.rtp_tag_len == 4 and "srtcp" not in noted):
            out.findings.append(Finding(
                "SP", _offset(msg, "SP"), "HMAC-SHA1 with a 4-octet tag: RFC 3711 §4.2 has one tag "
                "length, so SRTCP is taken with 4 octets as GStreamer sends it; RFC 4568 §6.2.1 and "
                "libsrtp keep 10 octets on SRTCP (both are tried)"))
            noted.add("srtcp")
        out.sessions.append(ClearCryptoSession(n, policy_no, ssrc, roc, key, salt, mki,
                                               transform, error))
    return out
