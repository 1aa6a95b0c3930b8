"""Crafting helpers: real MIKEY-SAKKE and MIKEY-TICKET messages in a few lines, and re-signing.

The most useful malformed message is a correctly signed one: mutate a message (with the scapy
layer, :mod:`dissectors.fuzz.scapy_mikey`, or as octets), then :func:`resign` it with the sender's SSK
so a target's ECCSI check passes and its parser sees the mutation.

>>> lab = Lab()                                         # a test KMS (never real keys)
>>> alice, bob = lab.identity("sip:alice@example.org"), lab.identity("sip:bob@example.org")
>>> wire = sakke_i_message(alice, bob, key_type="PCK")  # signed, encapsulated to bob
>>> pkt = MIKEY(wire); pkt[MIKEY_RAND].rand_len = 200   # a lie ...
>>> mutant = resign(pkt, alice.ssk, alice.pvt, alice.kpak, alice.identifier)  # ... signed

Everything here wraps the codec's builders (:func:`codec.mikey.sakke.build_i_message`,
:class:`codec.kms.Kms`, :mod:`codec.mikey.ticket`); nothing re-implements them.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field

from codec.crypto import eccsi, mcx
from codec.keyring import Keyring, KmsKeys, Psk, UserKeys
from codec.kms import Kms
from codec.mikey import model
from codec.mikey import sakke as mikey_sakke
from codec.mikey import ticket as mikey_ticket
from codec.mikey import ticket_build
from codec.mikey import ticket_keys

NTP_UNIX_OFFSET = 2208988800
REGIONS = (mikey_sakke.REGION_RFC, mikey_sakke.REGION_SHORT)


def ntp_now() -> int:
    """NTP seconds now."""
    return int(time.time()) + NTP_UNIX_OFFSET


# ----------------------------------------------------------------------------------------------
# MIKEY-SAKKE identities
@dataclass
class Identity(mikey_sakke.Party):
    """A :class:`~codec.mikey.sakke.Party` that also knows a time inside its key period."""

    ntp_seconds: int | None = None


def _mid_period(kms: KmsKeys, period: int | None) -> int | None:
    if period is None:
        return None
    length = kms.user_key_period or mikey_sakke.DEFAULT_KEY_PERIOD
    return (kms.user_key_offset or 0) + period * length + length // 2


def identity(keyring: Keyring, uri: str, *, period: int | None = None,
             kms_uri: str | None = None) -> Identity:
    """The identity of ``uri`` from a keyring (its KMS's KPAK and Z, its SSK/PVT when it has them).

    ``period`` picks one key period when the keyring holds several; default: the latest.
    """
    users = [u for u in keyring.users_by_uri(uri) if period is None or u.period == period]
    if not users:
        raise KeyError(f"no key set for {uri}" + (f" in period {period}" if period else ""))
    user: UserKeys = max(users, key=lambda u: u.period or 0)
    kms = keyring.kms_by_uri(kms_uri or user.kms or "") or (keyring.kms[0] if keyring.kms else None)
    if kms is None:
        raise KeyError(f"no KMS for {uri}")
    ident = user.uid
    if ident is None and user.period is not None:
        ident = mcx.uid(uri, kms.uri, kms.user_key_period or mikey_sakke.DEFAULT_KEY_PERIOD,
                        kms.user_key_offset or 0, user.period)
    return Identity(uri, kms.uri, ident, kms.kpak, kms.z, user.ssk, user.pvt,
                    ntp_seconds=_mid_period(kms, user.period))


class Lab:
    """A test KMS that issues key sets on demand (fixed secrets give stable keys)."""

    def __init__(self, kms_uri: str = "kms.example.org", *, ntp_seconds: int | None = None,
                 ksak: int | None = None, z_s: int | None = None, key_period: int = 2592000):
        self.kms = Kms(kms_uri, ksak=ksak, z_s=z_s, user_key_period=key_period)
        self.ntp_seconds = ntp_now() if ntp_seconds is None else ntp_seconds
        self.period = self.kms.period_no(self.ntp_seconds)
        self.users: dict[str, UserKeys] = {}

    def user(self, uri: str) -> UserKeys:
        if uri not in self.users:
            self.users[uri] = self.kms.issue(uri, self.period)
        return self.users[uri]

    def identity(self, uri: str) -> Identity:
        u = self.user(uri)
        return Identity(uri, self.kms.uri, u.uid, self.kms.kpak, self.kms.z, u.ssk, u.pvt,
                        ntp_seconds=self.ntp_seconds)

    def keyring(self, *uris: str) -> Keyring:
        """The KMS certificate and the key sets of ``uris`` (all issued users by default)."""
        return Keyring(kms=[self.kms.public()],
                       users=[self.user(u) for u in (uris or list(self.users))])


def sakke_i_message(initiator: mikey_sakke.Party, responder: mikey_sakke.Party, *, key_type: str = "PCK",
                    key: bytes | None = None, key_id: int | None = None,
                    ntp_seconds: int | None = None, **kw) -> bytes:
    """A signed, SAKKE-encapsulated I_MESSAGE (TS 33.180 §E) from ``initiator`` to ``responder``.

    Defaults: a random 16-octet key and key ID of ``key_type``; the time is the initiator's key
    period (an :class:`Identity`) or now.  Other keywords go to ``build_i_message`` (``rand``,
    ``map_style``, ``key_params``, ``region``, ``sp``, ``sakke_to_self``, ...).
    """
    key = os.urandom(16) if key is None else key
    if key_id is None:
        key_id = mcx.make_key_id(key_type, secrets.randbits(28))
    if ntp_seconds is None:
        ntp_seconds = getattr(initiator, "ntp_seconds", None) or ntp_now()
    return mikey_sakke.build_i_message(key_type, key, key_id, initiator, responder,
                                       ntp_time=ntp_seconds << 32, **kw)


# ----------------------------------------------------------------------------------------------
# Re-signing (RFC 3830 §5.2, RFC 6509 §4.3)
def sign_offsets(wire_or_packet) -> tuple[int, int]:
    """(offset of the SIGN payload, length of its Signature field) in the message octets.

    A packet says it itself (its SIGN layer's ``sign_data``).  Octets are dissected with the
    scapy layer, which tolerates mutants the codec rejects.  When the Signature len says 129 and
    129 octets follow (a proper ECCSI signature), octets after it stay trailing octets; otherwise
    (a lying or odd length) the signature is taken to run to the end of the message.
    """
    from dissectors.fuzz.scapy_mikey import MIKEY, MIKEY_SIGN

    is_packet = not isinstance(wire_or_packet, (bytes, bytearray))
    pkt = wire_or_packet if is_packet else MIKEY(bytes(wire_or_packet))
    wire = bytes(pkt)
    sign = pkt.getlayer(MIKEY_SIGN)
    if sign is None:
        raise ValueError("the message has no SIGN payload to re-sign")
    start = len(wire) - len(bytes(sign))  # bytes(sign): SIGN header, signature, what follows
    sig_len = len(sign.sign_data)
    if not is_packet and not sign.sign_len == sig_len == eccsi.SIGNATURE_LEN:
        sig_len = len(wire) - start - 2
    return start, sig_len


def resign(wire_or_packet, ssk: bytes, pvt: bytes, kpak: bytes, identifier: bytes,
           region: str = mikey_sakke.REGION_RFC, *, j: int | None = None):
    """Replace the SIGN payload's signature with a fresh ECCSI signature of the message.

    The signed region is everything before the Signature field (RFC 3830 §5.2, ``"rfc3830"``) or
    the message without the SIGN header (``"without_sign_header"``, Alea/Softil).  The SIGN header
    is kept as it is — a lying Signature len stays a lie, covered by the signature — and the new
    signature is the 129 octets r || s || PVT whatever the old one's length was (see
    :func:`sign_offsets`).  Returns octets for octets, a MIKEY packet for a packet.  ``j`` fixes
    the ephemeral of RFC 6507 §5.2.1 (reproducible fuzzing; never reuse it for real keys).
    """
    if region not in REGIONS:
        raise ValueError(f"region must be one of {REGIONS}")
    from dissectors.fuzz.scapy_mikey import MIKEY

    as_packet = not isinstance(wire_or_packet, (bytes, bytearray))
    wire = bytes(wire_or_packet)
    start, old_len = sign_offsets(wire_or_packet)
    sig_at = start + 2
    signed = wire[:sig_at] if region == mikey_sakke.REGION_RFC else wire[:start]
    signature = eccsi.sign(signed, identifier, ssk, pvt, kpak, j=j)
    out = wire[:sig_at] + signature + wire[sig_at + old_len:]
    return MIKEY(out) if as_packet else out


def resign_as(wire_or_packet, signer: mikey_sakke.Party, region: str = mikey_sakke.REGION_RFC, *,
              j: int | None = None):
    """:func:`resign` with the keys of an :class:`Identity` / Party."""
    return resign(wire_or_packet, signer.ssk, signer.pvt, signer.kpak, signer.identifier, region,
                  j=j)


# ----------------------------------------------------------------------------------------------
# MIKEY-TICKET (RFC 6043): a whole round in one call
@dataclass
class TicketRound:
    """The messages of a REQUEST → TRANSFER → RESOLVE round and the keys that open them."""

    kms: str
    initiator: str
    responder: str
    psk_initiator: bytes
    psk_responder: bytes
    tpk: bytes
    mpk: bytes
    mpk_i: bytes
    tgk: bytes
    messages: dict = field(default_factory=dict)  # name -> octets

    def keyring(self, who: str = "kms") -> Keyring:
        """Keys of the initiator, the responder or the KMS (which holds the TPK)."""
        if who == "initiator":
            return Keyring(psks=[Psk(key=self.psk_initiator, identity=self.initiator)])
        if who == "responder":
            return Keyring(psks=[Psk(key=self.psk_responder, identity=self.responder)])
        return Keyring(psks=[Psk(key=self.tpk, identity="tpk@" + self.kms)])


def ticket_round(initiator: str = "sip:alice@example.org", responder: str = "sip:bob@example.org",
                 kms: str = "kms.example.org", *, t_value: int | None = None,
                 csb_id: int = 0x100, spi: bytes = b"\x00\x00\x00\x01", cs_entries=None,
                 psk_initiator: bytes | None = None, psk_responder: bytes | None = None,
                 tpk: bytes | None = None, mpk: bytes | None = None,
                 tgk: bytes | None = None) -> TicketRound:
    """REQUEST_INIT/RESP, TRANSFER_INIT/RESP and RESOLVE_INIT/RESP for one MIKEY base ticket."""
    rnd = lambda v: os.urandom(16) if v is None else v  # noqa: E731
    psk_i, psk_r, tpk, mpk, tgk = map(rnd, (psk_initiator, psk_responder, tpk, mpk, tgk))
    t_value = (ntp_now() << 32) if t_value is None else t_value
    ticket = ticket_build.build_ticket(
        tpk, mpk, [ticket_build.key_data(ticket_keys.KEY_TGK, tgk, spi=spi)], t_value=t_value,
        tpk_identity="tpk@" + kms)
    mpk_i = ticket_keys.derive_mpk(mpk, ticket_keys.MPKI_CONST, ticket_build.rand_of_ticket(ticket),
                                   ticket.prf_func)
    keys = [ticket_build.key_data(ticket_keys.KEY_MPK, mpk_i),
            ticket_build.key_data(ticket_keys.KEY_TGK, tgk, spi=spi)]
    tp = model.TP(ticket_type=mikey_ticket.MIKEY_BASE_TICKET, subtype=1, version=1, prf_func=1, flag_h=1)
    req_init = ticket_build.build_request_init(psk_i, csb_id=csb_id, initiator=initiator, kms=kms,
                                               t_value=t_value, tp=tp)
    req_resp = ticket_build.build_response(req_init, psk_i, data_type=mikey_ticket.REQUEST_RESP, kms=kms,
                                           t_value=t_value, ticket=ticket, kemac_keys=keys)
    cs = cs_entries or [model.GenericIdEntry(cs_id=1, prot_type=0, policies=[0], spi=spi)]
    transfer = ticket_build.build_transfer_init(ticket, mpk, csb_id=csb_id + 1, cs_entries=cs,
                                                initiator=initiator, responder=responder, t_value=t_value)
    res_init = ticket_build.build_resolve_init(psk_r, ticket, csb_id=csb_id + 2, responder=responder,
                                               kms=kms, t_value=t_value)
    res_resp = ticket_build.build_response(res_init, psk_r, data_type=mikey_ticket.RESOLVE_RESP, kms=kms,
                                           t_value=t_value, kemac_keys=keys)
    transfer_resp = ticket_build.build_transfer_resp(transfer, mpk_i, t_value=t_value + 1)
    return TicketRound(kms, initiator, responder, psk_i, psk_r, tpk, mpk, mpk_i, tgk, {
        "request_init": req_init, "request_resp": req_resp, "transfer_init": transfer,
        "transfer_resp": transfer_resp, "resolve_init": res_init, "resolve_resp": res_resp})


def psk_i_message(psk: bytes, *, tek: bytes | None = None, csb_id: int = 1,
                  initiator: str | None = None, responder: str | None = None,
                  t_value: int | None = None, **kw) -> bytes:
    """An RFC 3830 PSK I_MESSAGE carrying one TEK (random by default)."""
    tek = os.urandom(16) if tek is None else tek
    return ticket_build.build_psk_i_message(
        psk, [ticket_build.key_data(ticket_keys.KEY_TEK, tek)], csb_id=csb_id,
        t_value=(ntp_now() << 32) if t_value is None else t_value,
        initiator=initiator, responder=responder, **kw)


__all__ = ["Identity", "Lab", "identity", "sakke_i_message", "resign", "resign_as",
           "sign_offsets", "TicketRound", "ticket_round", "psk_i_message", "ntp_now"]
