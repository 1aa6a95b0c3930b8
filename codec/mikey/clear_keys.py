"""SRTP master keys that travel in the clear: MIKEY messages whose KEMAC is NULL-encrypted
(RFC 3830 §4.2.3, §6.2), as RTSP stacks send them (GStreamer, gortsplib, LIVE555).

No keyring is needed: the Key data sub-payloads (RFC 3830 §6.13) of such a KEMAC are readable by
anyone.  The crypto sessions, their TEK/salt, MKI and SRTP transform come from
:func:`codec.mikey.ticket_keys.psk_session_keys` (the PSK MIKEY reading, RFC 3830 §4.1.3, §6.10.1);
this module adds the quirks met on the way as findings with their place in the message
(reference/mikey.md §9):

- NULL encryption with a NULL MAC: the keys have no confidentiality and no integrity;
- a TEK key data (type 2) holding master key ‖ 14-octet master salt instead of TEK+SALT (type 3);
- SP parameter 3 (session *auth key* length) holding the HMAC *tag* length (4 or 10) and no
  parameter 11 (GStreamer's ``gst_mikey_message_new_from_caps``): read as the tag length with the
  20-octet HMAC-SHA1 key of RFC 3711 §8.2;
- HMAC-SHA1 with a 4-octet tag: RFC 3711 has one tag length for SRTP and SRTCP, and GStreamer
  tags SRTCP with 4 octets, where RFC 4568 §6.2.1 and libsrtp's _32 suites keep 10 on SRTCP.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codec import srtp
from codec.errors import DecodeError, Finding
from codec.mikey.render import decode_key_data_chain
from codec.mikey.ticket_keys import psk_session_keys, sp_params, sp_tag_len_quirk

KEY_TEK = 2  # RFC 3830 §6.13 Key data type


@dataclass
class ClearKeys:
    sessions: list = field(default_factory=list)  # [codec.mikey.ticket_keys.SessionKey]
    findings: list = field(default_factory=list)  # [codec.errors.Finding]
    notes: list = field(default_factory=list)  # psk_session_keys' notes (one line per CS)
    error: str | None = None


def _offset(msg, name: str) -> int:
    i = next((i for i, p in enumerate(msg.payloads) if p.NAME == name), None)
    return msg.offsets[i + 1] if i is not None and i + 1 < len(msg.offsets) else 0


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
    out.sessions = [s for s in psk_session_keys(msg, chain, out.notes)
                    if s.transform is not None]
    if not out.sessions:
        out.error = "no usable SRTP crypto session: " + "; ".join(out.notes or ["no TEK or TGK"])
        return out
    sp_at = _offset(msg, "SP")
    for sp in msg.find_all("SP"):
        tag = sp_tag_len_quirk(sp_params(msg, sp.policy_no))
        if tag is not None:
            out.findings.append(Finding(
                "SP.policy_params[3]", sp_at,
                f"parameter 3 (session auth key length) is {tag} and there is no parameter 11: "
                f"GStreamer writes the HMAC tag length there; taken as a {tag}-octet tag with a "
                "20-octet HMAC-SHA1 key (RFC 3830 §6.10.1, RFC 3711 §8.2)"))
            break
    t = out.sessions[0].transform
    for i, k in enumerate(chain):
        if k.type == KEY_TEK and k.salt is None and len(k.key_data) == t.key_len + t.salt_len:
            out.findings.append(Finding(
                f"KEMAC.key_data[{i}]", at, f"TEK of {len(k.key_data)} octets holds master key "
                f"({t.key_len}) ‖ master salt ({t.salt_len}): key data type 2 (TEK) used where "
                "type 3 (TEK+SALT) carries a salt (RFC 3830 §6.13)"))
            break
    if any(s.transform.auth == srtp.AUTH_HMAC_SHA1 and s.transform.rtp_tag_len == 4
           for s in out.sessions):
        out.findings.append(Finding(
            "SP", sp_at, "HMAC-SHA1 with a 4-octet tag: RFC 3711 §4.2 has one tag length, so "
            "SRTCP is taken with 4 octets as GStreamer sends it; RFC 4568 §6.2.1 and libsrtp keep "
            "10 octets on SRTCP (both are tried)"))
    return out
