"""`mcsec keylog`: the secrets a dissection recovered, in a line format for the Wireshark plugin.

Format (one record per line, fields separated by single spaces, ``#`` starts a comment)::

    # mcsec keylog 1
    MSG <message-id> octets=<hex>
    MIKEY <message-id> frame=<n> csb=<8 hex> type=<key type> id=<8 hex> [guk=<8 hex>]
          verified=<0|1> [ssv=<hex>] [region=<name>] [period=<n>] [kp.<name>=<value>...]
    SRTP <mki hex> cs=<cs id> key=<hex> salt=<hex> frame=<n> [mid=<message-id>]
    TEK <message-id> cs=<cs id> spi=<hex> tek=<hex> [tls_psk_identity_b64=<base64>]

``message-id`` is the first 16 hex digits of SHA-256 over the MIKEY message octets (as
re-encoded from the record: byte-identical to the wire, trailing octets included).  A consumer
with SHA-256 finds a message's lines by it.  The Wireshark plugin has no SHA-256 (Lua 5.2/5.4
without libraries), so each message also gets one ``MSG`` line with its full octets: the plugin
matches a dissected message by exact octet equality (no hash to collide or forge) and reaches
the MIKEY, TEK and SRTP lines through the message-id.  Fields added after version 1 (``MSG``,
``mid=``, ``region=``, ``period=``, ``kp.*``) are optional; consumers ignore what they do not know.

``kp.*`` are the decrypted TS 33.180 §E.6 key parameters of GEN_EXT type 7, named after the JSON
keys ``mikey.3gpp.kp.*``: integers in decimal, octets in hex, ``kp.text_b64`` (base64 of the text)
and ``kp.group_id_list_b64`` (comma-separated base64 of each MC group ID), ``kp.legacy=<0|1>``.

The file holds secrets: it is written with mode 0600 and never printed unless the output is
standard output on request.
"""

from __future__ import annotations

import base64
import hashlib
import os

from dissectors import dissect
from dissectors.session import Session

HEADER = "# mcsec keylog 1\n"


def message_id(octets: bytes) -> str:
    return hashlib.sha256(octets).hexdigest()[:16]


def _mikey_octets(doc: dict) -> bytes:
    from codec.mikey import encode, render

    return encode(render.from_json(doc))


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


def lines_from_records(records) -> list[str]:
    out = []
    seen = set()
    for rec in records:
        doc = rec.get("mikey")
        if rec.get("kind") in ("mikey", "psk-smime") and doc and "error" not in rec:
            try:
                mid = message_id(_mikey_octets(doc))
            except Exception:  # noqa: BLE001 - a record that does not re-encode has no id
                continue
            if mid not in seen and (doc.get("mikey.3gpp.crypto_sessions")
                                    or doc.get("mikey.ticket.session_keys")
                                    or "mikey.3gpp.key_type" in doc["mikey"][0]["mikey.hdr"]):
                seen.add(mid)
                out.append(f"MSG {mid} octets={_mikey_octets(doc).hex()}")
            hdr = doc["mikey"][0]["mikey.hdr"]
            if "mikey.3gpp.key_type" in hdr:
                sign = next((p["mikey.sign"] for p in doc["mikey"] if "mikey.sign" in p), {})
                sakke = next((p["mikey.sakke"] for p in doc["mikey"] if "mikey.sakke" in p), {})
                line = (f"MIKEY {mid} frame={rec['frame']} csb={hdr['mikey.csb_id']:08x} "
                        f"type={hdr['mikey.3gpp.key_type']}")
                if "mikey.3gpp.key_id" in hdr:
                    line += f" id={hdr['mikey.3gpp.key_id']:08x}"
                if "mikey.3gpp.guk_id" in hdr:
                    line += f" guk={hdr['mikey.3gpp.guk_id']:08x}"
                line += f" verified={1 if sign.get('mikey.sign.verified') else 0}"
                if sakke.get("mikey.sakke.ssv") not in (None, "<hidden>"):
                    line += f" ssv={sakke['mikey.sakke.ssv']}"
                if sign.get("mikey.sign.region"):
                    line += f" region={sign['mikey.sign.region']}"
                if "mikey.3gpp.period" in hdr:
                    line += f" period={hdr['mikey.3gpp.period']}"
                ext = next((p["mikey.ext"] for p in doc["mikey"]
                            if "mikey.3gpp.key_params" in p.get("mikey.ext", {})), None)
                if ext is not None:
                    line += _key_params_fields(ext["mikey.3gpp.key_params"])
                out.append(line)
            for cs in doc.get("mikey.3gpp.crypto_sessions", []):
                if cs["mikey.3gpp.srtp_master_key"] != "<hidden>":
                    out.append(f"SRTP {cs['mikey.3gpp.mki']} cs={cs['mikey.3gpp.cs_id']} "
                               f"key={cs['mikey.3gpp.srtp_master_key']} "
                               f"salt={cs['mikey.3gpp.srtp_master_salt']} frame={rec['frame']} mid={mid}")
            for sk in doc.get("mikey.ticket.session_keys", []):
                if sk["mikey.ticket.tek"] != "<hidden>":
                    line = (f"TEK {mid} cs={sk['mikey.ticket.cs_id']} spi={sk['mikey.ticket.spi']} "
                            f"tek={sk['mikey.ticket.tek']}")
                    if "mikey.ticket.tls_psk_identity" in sk:
                        ident = base64.b64encode(sk["mikey.ticket.tls_psk_identity"].encode())
                        line += f" tls_psk_identity_b64={ident.decode()}"
                    out.append(line)
    return out


def write_keylog(capture, keyring, output: str, **session_kw) -> int:
    """Dissect ``capture`` with ``keyring`` and write the keylog; returns the number of lines."""
    session = Session(keyring=keyring, show_secrets=True, **session_kw)
    lines = lines_from_records(dissect.records(capture, session))
    text = HEADER + "".join(line + "\n" for line in lines)
    if output == "-":
        import sys

        sys.stdout.write(text)
    else:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    return len(lines)
