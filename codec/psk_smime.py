"""Seed 004: the pre-shared-key variant of S/MIME for SIP MESSAGE, keyed by MIKEY-TICKET.

Seed 004 §8.3.1.1 says the MIME content is encrypted and authenticated "using a symmetric key that
is transported inside a TRANSFER_INIT message", with an optional proof-of-origin extension payload
carrying "a copy of the MAC calculated over the MIME entity"; the Annex that fixes the binding is
not in the seeds.  mcsec uses this binding (UNCONFIRMED, documented in the README):

- the SIP MESSAGE body is ``multipart/mixed``: an ``application/mikey`` part (base64) with the
  TRANSFER_INIT, and the ``application/pkcs7-mime; smime-type=auth-enveloped-data`` entity;
- the TRANSFER_INIT has a GENERIC-ID crypto session whose Prot type is :data:`SMIME_PROT_TYPE`
  (#P = 0, no session data, the SPI naming the TGK); its TEK (RFC 6043 §5.1.3) is the KEK;
- the AuthEnvelopedData (RFC 5083, AES-GCM) has one KEKRecipientInfo whose key identifier is
  CSB ID (4 octets) || CS ID (1 octet), wrapped with AES key wrap (RFC 3394);
- proof of origin: a GEN_EXT of type :data:`PROOF_OF_ORIGIN_TYPE` in the TRANSFER_INIT whose data
  is the AuthEnvelopedData's MAC (the GCM tag over the MIME entity); since the TRANSFER_INIT's own
  MAC is checked, an equal tag proves the origin of the content.

Both numbers are private-use values until the binding is specified; change them with the module
attributes if a peer uses others.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field

from codec.crypto import prf
from codec.errors import DecodeError
from codec.keyring import Kek, Keyring
from codec.mikey import decode as mikey_decode
from codec.mikey import model
from codec.mikey import ticket as mikey_ticket
from codec.mikey import ticket_build
from codec.mikey import ticket_keys

SMIME_PROT_TYPE = 241  # private use (RFC 3830 §10): "S/MIME KEK" crypto session (mcsec convention)
PROOF_OF_ORIGIN_TYPE = 241  # GEN_EXT private use: copy of the MIME entity's MAC (seed 004)
KEK_LEN = 16  # AES-128 key wrap


def kek_id(csb_id: int, cs_id: int) -> bytes:
    return csb_id.to_bytes(4, "big") + bytes([cs_id])


@dataclass
class PskSmimeResult:
    transfer: mikey_ticket.TicketResult | None = None
    transfer_init: bytes | None = None
    content: bytes | None = None  # the decrypted MIME entity, only when everything checked out
    ok: bool = False
    error: str | None = None
    proof_of_origin: bool | None = None  # None: no extension payload
    kek_id: bytes | None = None
    replay: str | None = None
    cms: object = None  # codec.cms.peel.OpenResult
    notes: list = field(default_factory=list)


def build(content_entity: bytes, *, ticket: model.TICKET, mpk: bytes, csb_id: int, initiator: str,
          responder: str, t_value: int, spi: bytes, cs_id: int = 1, proof_of_origin: bool = False,
          tgk: bytes, rand_i: bytes | None = None,
          boundary: str | None = None) -> tuple[bytes, str, bytes]:
    """(SIP MESSAGE body, its Content-Type, the TRANSFER_INIT) for ``content_entity``.

    ``tgk`` must be the ticket's TGK named by ``spi`` (the builder derives the same KEK a receiver
    will)."""
    from codec.cms import build as cms_build
    from codec.mime import build_pkcs7_mime

    rand_i = rand_i if rand_i is not None else os.urandom(16)
    entry = model.GenericIdEntry(cs_id=cs_id, prot_type=SMIME_PROT_TYPE, spi=spi)
    kek = ticket_keys.derive_session_key(tgk, prf.TEK, cs_id, rand_i if ticket.flag_h else None, None,
                                         KEK_LEN, 1)
    der = cms_build.auth_envelope(content_entity, [cms_build.KekRecipient(kek_id(csb_id, cs_id), kek)])
    ext = None
    if proof_of_origin:
        from codec.cms.decode import decode as cms_decode

        ext = model.GEN_EXT(type=PROOF_OF_ORIGIN_TYPE, data=_mac_of(cms_decode(der)))
    transfer = ticket_build.build_transfer_init(ticket, mpk, csb_id=csb_id, cs_entries=[entry],
                                                initiator=initiator, responder=responder, t_value=t_value,
                                                rand_i=rand_i, prf_func=1, extension=ext)
    smime = build_pkcs7_mime(der, "authEnveloped-data")
    boundary = boundary or "mcsec-" + os.urandom(8).hex()
    body = (f"--{boundary}\r\nContent-Type: application/mikey\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n").encode()
    body += base64.encodebytes(transfer).replace(b"\n", b"\r\n")
    body += f"\r\n--{boundary}\r\n".encode() + smime + f"\r\n--{boundary}--\r\n".encode()
    return body, f'multipart/mixed; boundary="{boundary}"', transfer


def _mac_of(layer) -> bytes:
    """The mac field of a decoded AuthEnvelopedData layer (RFC 5083 §2.1)."""
    if layer.kind != "AuthEnvelopedData":
        raise ValueError(f"not an AuthEnvelopedData but {layer.kind}")
    return bytes(layer.value["mac"])


def open_message(data: bytes, keyring: Keyring,
                 replay_cache: mikey_ticket.ReplayCache | None = None) -> PskSmimeResult:
    """A whole SIP MESSAGE (or a MIME entity with its headers) carrying the seed 004 body."""
    from codec import mime

    try:
        ent = mime.parse(data)
    except DecodeError as e:
        return PskSmimeResult(error=f"not a SIP message or MIME entity: {e}")
    value = ent.header("content-type")
    if value is None:
        return PskSmimeResult(error="no Content-Type")
    return open_body(ent.body, value, keyring, replay_cache)


def open_body(body: bytes, content_type: str, keyring: Keyring,
              replay_cache: mikey_ticket.ReplayCache | None = None) -> PskSmimeResult:
    """Recover the key from the TRANSFER_INIT and decrypt/authenticate the S/MIME entity."""
    from codec import mime
    from codec.cms import peel

    res = PskSmimeResult()
    try:
        entity = mime.parse(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    except DecodeError as e:
        res.error = f"body does not parse as MIME: {e}"
        return res
    try:
        parts = entity.parts() or [entity]
        smime_parts = mime.find_smime(entity)
    except DecodeError as e:
        res.error = f"body does not parse as MIME: {e}"
        return res
    mikey_part = next((p for p in parts if p.content_type[0] == "application/mikey"), None)
    if mikey_part is None or not smime_parts:
        res.error = "the body needs an application/mikey part and an S/MIME entity (seed 004)"
        return res
    try:
        transfer = mikey_part.decoded_body()
        msg = mikey_decode(transfer)
    except (DecodeError, ValueError) as e:
        res.error = f"TRANSFER_INIT does not decode: {e}"
        return res
    res.transfer_init = transfer
    if msg.hdr.data_type != mikey_ticket.TRANSFER_INIT:
        res.error = f"the MIKEY part is data type {msg.hdr.data_type}, not TRANSFER_INIT (14)"
        return res
    res.transfer = tr = mikey_ticket.process(msg, transfer, keyring)
    if replay_cache is not None:  # a TRANSFER_INIT whose MAC fails is never cached as accepted
        t = msg.find("T")
        res.replay = "rejected" if tr.verified is False else replay_cache.check(
            transfer, t.ts_value if t else 0)
    if tr.verified is not True:
        res.error = f"TRANSFER_INIT not verified: {tr.error or 'no key'}"
        return res
    ring = Keyring(keks=[Kek(id=kek_id(msg.hdr.csb_id, s.cs_id), key=s.tek[:KEK_LEN],
                             source="TRANSFER_INIT")
                         for s in tr.session_keys if s.prot_type == SMIME_PROT_TYPE])
    if not ring.keks:
        res.error = f"the TRANSFER_INIT has no crypto session of Prot type {SMIME_PROT_TYPE}"
        return res
    part = smime_parts[0]
    res.notes.extend(f.message for f in part.findings)
    try:
        opened = peel.open_layers(part.der, ring, smime_type=part.smime_type)
    except DecodeError as e:  # the entity's CMS object itself does not decode
        res.error = f"S/MIME entity does not decode: {e}"
        return res
    res.cms = opened
    res.kek_id = ring.keks[0].id
    if not opened.ok:
        res.error = f"S/MIME entity does not open: {opened.error}"
        return res
    ext = next((p for p in msg.find_all("GEN_EXT") if p.type == PROOF_OF_ORIGIN_TYPE), None)
    if ext is not None:
        from codec.cms.decode import decode as cms_decode

        res.proof_of_origin = ext.data == _mac_of(cms_decode(part.der))
        if not res.proof_of_origin:
            res.error = "proof of origin: the MAC in the TRANSFER_INIT differs from the entity's"
            return res
    res.content, res.ok = opened.content, True
    return res
