"""`mcsec keylog`: the secrets a dissection recovered, in a line format for the Wireshark plugin.

Format (one record per line, fields separated by single spaces, ``#`` starts a comment)::

    # mcsec keylog 1
    MSG <message-id> octets=<hex>
    MIKEY <message-id> frame=<n> csb=<8 hex> type=<key type> id=<8 hex> [guk=<8 hex>]
          [verified=<0|1>] [ssv=<hex>] [region=<name>] [period=<n>] [kp.<name>=<value>...]
          [sender_uid=<hex>] [receiver_uid=<hex>] [period_no=<n>] [sender_uri_b64=<b64>]
          [receiver_uri_b64=<b64>] [unverified=<0|1>] [sign_error_b64=<b64>]
          [sakke_error_b64=<b64>] [kp_error_b64=<b64>] [notes_b64=<b64>,...]
    SRTP <mki hex> cs=<cs id> key=<hex> salt=<hex> frame=<n> [mid=<message-id>] [use_b64=<b64>]
    TEK <message-id> cs=<cs id> spi=<hex> tek=<hex> [tls_psk_identity_b64=<base64>]
          [prot=<prot type>] [salt=<hex>]
    TICKET <message-id> frame=<n> [kemac_verified=<0|1>] [kemac_error_b64=<b64>]
          [v_verified=<0|1>] [v_error_b64=<b64>] [ticket_verified=<0|1>]
          [ticket_error_b64=<b64>] [tpk_identity_b64=<b64>] [mpk=<hex>] [mpk_i=<hex>]
          [mpk_r=<hex>] [error_b64=<b64>] [replay=<verdict>] [notes_b64=<b64>,...]
    KEYDATA <message-id> in=<kemac|ticket> n=<index> <JSON key>=<value>...

``message-id`` is the first 16 hex digits of SHA-256 over the MIKEY message octets as captured
(the record's wire octets, trailing octets included).  A consumer
with SHA-256 finds a message's lines by it.  The Wireshark plugin has no SHA-256 (Lua 5.2/5.4
without libraries), so each message also gets one ``MSG`` line with its full octets: the plugin
matches a dissected message by exact octet equality (no hash to collide or forge) and reaches
the MIKEY, TEK and SRTP lines through the message-id.  Fields added after version 1 (``MSG``,
``mid=``, ``region=``, ``period=``, ``kp.*``, the UIDs, errors, ``TICKET`` and ``KEYDATA``) are
optional; consumers ignore what they do not know.  Together the lines carry every value that
``mcsec dissect --keys`` adds to a MIKEY message's JSON (``verified`` is absent when the signature
could not be checked), so the plugin shows the same fields.

``TICKET`` carries the MIKEY-TICKET / PSK verdicts (RFC 6043, RFC 3830 §5.2) and ``KEYDATA`` the
decrypted Key data sub-payloads of a KEMAC or ticket (RFC 3830 §6.13), one line each, their
fields named by their JSON keys (``mikey.key.type=0 mikey.key.data=<hex> …``).

``kp.*`` are the decrypted TS 33.180 §E.6 key parameters of GEN_EXT type 7, named after the JSON
keys ``mikey.3gpp.kp.*``: integers in decimal, octets in hex, ``kp.text_b64`` (base64 of the text)
and ``kp.group_id_list_b64`` (comma-separated base64 of each MC group ID), ``kp.legacy=<0|1>``.

The file holds secrets: it is written with mode 0600 and never printed unless the output is
standard output on request.
"""

from __future__ import annotations

import base64
import hashlib

from dissectors.pcap import dissect, render
from dissectors.pcap.records import MikeyRecord, PskSmimeRecord
from dissectors.pcap.session import Session

HEADER = "# mcsec keylog 1\n"


def message_id(octets: bytes) -> str:
    return hashlib.sha256(octets).hexdigest()[:16]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode()


def _key_params_fields(kp: dict) -> str:
    """`` kp.<name>=<value>`` for the decrypted key parameters (JSON ``mikey.3gpp.kp.*``)."""
    out = ""
    for key, value in kp.items():
        name = key.removeprefix("mikey.3gpp.")
        if key.endswith("_name") or not name.startswith("kp."):
            continue
        if name == "kp.text":
            out += f" kp.text_b64={_b64(value)}"
        elif name == "kp.group_id_list":
            if value:
                out += f" kp.group_id_list_b64={','.join(_b64(g) for g in value)}"
        elif isinstance(value, bool):
            out += f" {name}={1 if value else 0}"
        elif isinstance(value, int):
            out += f" {name}={value}"
        elif isinstance(value, str) and value and all(ch in "0123456789abcdef" for ch in value):
            out += f" {name}={value}"
    return out


def _flag(value) -> str:
    return "1" if value else "0"


def _opt(name: str, value) -> str:
    """`` name=value`` for an optional field (booleans 0/1, text base64 in ``name_b64``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return f" {name}={_flag(value)}"
    if name.endswith("_b64"):
        return f" {name}={_b64(str(value))}"
    return f" {name}={value}"


def _opts(pairs) -> str:
    return "".join(_opt(name, value) for name, value in pairs)


def _payload(doc: dict, key: str) -> dict:
    return next((p[key] for p in doc["mikey"] if key in p), {})


def _has_crypto_results(doc: dict, msg) -> bool:
    """Whether the message's JSON (``doc``: the derived fields, :func:`render.mikey_skeleton`;
    then the message's own JSON) has a derived field, i.e. something ``--keys`` adds to it or
    the plugin shows from the keylog."""
    from codec.mikey.render import is_derived_key, to_json

    if any(k in doc for k in ("mikey.3gpp.crypto_sessions", "mikey.ticket.session_keys",
                              "mikey.ticket.error", "mikey.ticket.replay")):
        return True

    def derived(d):
        return any(is_derived_key(k) and not k.endswith("_name")
                   and not k.startswith("mikey.ticket.payl")
                   for p in d["mikey"] for obj in p.values() for k in obj)
    return derived(doc) or derived(to_json(msg, show_secrets=True))


def _sakke_line(mid: str, frame, doc: dict) -> str:
    hdr = doc["mikey"][0]["mikey.hdr"]
    sign, sakke = _payload(doc, "mikey.sign"), _payload(doc, "mikey.sakke")
    line = (f"MIKEY {mid} frame={frame} csb={hdr['mikey.csb_id']:08x} "
            f"type={hdr['mikey.3gpp.key_type']}")
    if "mikey.3gpp.key_id" in hdr:
        line += f" id={hdr['mikey.3gpp.key_id']:08x}"
    if "mikey.3gpp.guk_id" in hdr:
        line += f" guk={hdr['mikey.3gpp.guk_id']:08x}"
    ssv = sakke.get("mikey.sakke.ssv")
    line += _opts((
        ("verified", sign.get("mikey.sign.verified")),
        ("ssv", ssv if ssv != "<hidden>" else None),
        ("region", sign.get("mikey.sign.region") or None),
        ("period", hdr.get("mikey.3gpp.period")),
        ("sender_uid", hdr.get("mikey.3gpp.sender_uid")),
        ("receiver_uid", hdr.get("mikey.3gpp.receiver_uid")),
        ("period_no", hdr.get("mikey.3gpp.period_no")),
        ("sender_uri_b64", hdr.get("mikey.3gpp.sender_uri")),
        ("receiver_uri_b64", hdr.get("mikey.3gpp.receiver_uri")),
        ("unverified", sakke.get("mikey.sakke.unverified")),
        ("sign_error_b64", sign.get("mikey.sign.error")),
        ("sakke_error_b64", sakke.get("mikey.sakke.error"))))
    for p in doc["mikey"]:
        ext = p.get("mikey.ext", {})
        if "mikey.3gpp.key_params" in ext:
            line += _key_params_fields(ext["mikey.3gpp.key_params"])
        line += _opt("kp_error_b64", ext.get("mikey.3gpp.key_params_error"))
    if doc.get("mikey.3gpp.notes"):
        line += f" notes_b64={','.join(_b64(n) for n in doc['mikey.3gpp.notes'])}"
    return line


def _ticket_lines(mid: str, frame, doc: dict) -> list[str]:
    """TICKET and KEYDATA lines: what MIKEY-TICKET / PSK processing found (render_ticket.py)."""
    kemac, v, t = _payload(doc, "mikey.kemac"), _payload(doc, "mikey.v"), _payload(doc, "mikey.ticket")
    line = f"TICKET {mid} frame={frame}" + _opts((
        ("kemac_verified", kemac.get("mikey.kemac.verified")),
        ("kemac_error_b64", kemac.get("mikey.kemac.error")),
        ("v_verified", v.get("mikey.v.verified")),
        ("v_error_b64", v.get("mikey.v.error")),
        ("ticket_verified", t.get("mikey.ticket.verified")),
        ("ticket_error_b64", t.get("mikey.ticket.error")),
        ("tpk_identity_b64", t.get("mikey.ticket.tpk_identity")),
        *((name, t.get(f"mikey.ticket.{name}")) for name in ("mpk", "mpk_i", "mpk_r")),
        ("error_b64", doc.get("mikey.ticket.error")),
        ("replay", doc.get("mikey.ticket.replay"))))
    if doc.get("mikey.ticket.notes"):
        line += f" notes_b64={','.join(_b64(n) for n in doc['mikey.ticket.notes'])}"
    out = [line] if line != f"TICKET {mid} frame={frame}" else []
    for where, keys in (("kemac", kemac.get("mikey.kemac.keys")),
                        ("ticket", t.get("mikey.ticket.keys"))):
        for n, key in enumerate(keys or []):
            fields = "".join(f" {k}={v}" for k, v in key.items()
                             if not k.endswith("_name") and isinstance(v, (int, str)))
            out.append(f"KEYDATA {mid} in={where} n={n}{fields}")
    return out


def lines_from_records(records) -> list[str]:
    """The keylog lines of the MIKEY messages among ``records`` (typed records,
    :mod:`dissectors.pcap.records`): their captured octets, and the values the analysis found
    under the JSON names ``dissect --keys --show-secrets`` gives them."""
    out = []
    seen = set()
    for rec in records:
        if isinstance(rec, MikeyRecord) and rec.message is not None and rec.error is None:
            octets = rec.wire
        elif isinstance(rec, PskSmimeRecord) and rec.message is not None:
            octets = rec.result.transfer_init  # the TRANSFER_INIT of a seed 004 body
        else:
            continue  # a message that does not decode has nothing to decrypt
        doc = render.annotate_mikey(render.mikey_skeleton(rec.message), rec, True)
        frame = rec.frame
        mid = message_id(octets)
        if mid not in seen and _has_crypto_results(doc, rec.message):
            seen.add(mid)
            out.append(f"MSG {mid} octets={octets.hex()}")
        hdr = doc["mikey"][0]["mikey.hdr"]
        if "mikey.3gpp.key_type" in hdr:
            out.append(_sakke_line(mid, frame, doc))
        out.extend(_ticket_lines(mid, frame, doc))
        for cs in doc.get("mikey.3gpp.crypto_sessions", []):
            if cs["mikey.3gpp.srtp_master_key"] != "<hidden>":
                out.append(f"SRTP {cs['mikey.3gpp.mki']} cs={cs['mikey.3gpp.cs_id']} "
                           f"key={cs['mikey.3gpp.srtp_master_key']} "
                           f"salt={cs['mikey.3gpp.srtp_master_salt']} frame={frame} "
                           f"mid={mid}" + _opt("use_b64", cs.get("mikey.3gpp.cs_use")))
        for sk in doc.get("mikey.ticket.session_keys", []):
            if sk["mikey.ticket.tek"] != "<hidden>":
                line = (f"TEK {mid} cs={sk['mikey.ticket.cs_id']} spi={sk['mikey.ticket.spi']} "
                        f"tek={sk['mikey.ticket.tek']}")
                if "mikey.ticket.tls_psk_identity" in sk:
                    ident = base64.b64encode(sk["mikey.ticket.tls_psk_identity"].encode())
                    line += f" tls_psk_identity_b64={ident.decode()}"
                line += _opt("prot", sk.get("mikey.ticket.prot_type"))
                line += _opt("salt", sk.get("mikey.ticket.salt"))
                out.append(line)
    return out


def write_keylog(capture, keyring, output: str, *, tls_keylog=None, **session_kw) -> int:
    """Dissect ``capture`` with ``keyring`` (and ``tls_keylog`` for SIP over TLS, as
    ``mcsec dissect --tls-keylog``) and write the keylog; returns the number of lines."""
    session = Session(keyring=keyring, show_secrets=True, **session_kw)
    lines = lines_from_records(dissect.records(capture, session, tls_keylog=tls_keylog))
    text = HEADER + "".join(line + "\n" for line in lines)
    if output == "-":
        import sys

        sys.stdout.write(text)
    else:
        from dissectors.safefile import write_secret

        write_secret(output, text)  # 0600, never through a symlink (raises an OSError)
    return len(lines)
