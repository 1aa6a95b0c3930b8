"""Crafting helpers: real MIKEY-SAKKE / MIKEY-TICKET messages, and mutants re-signed so that the
codec's own ECCSI check (and RFC 6507 step by step) accepts them."""

from __future__ import annotations

from pathlib import Path

import pytest

from codec import DecodeError
from codec.crypto import eccsi
from codec.keyring import from_toml
from codec.mikey import decode
from codec.mikey import sakke as mikey_sakke
from codec.mikey import ticket as mikey_ticket
from dissectors.fuzz import craft
from dissectors.fuzz import scapy_mikey
from dissectors.fuzz.scapy_mikey import MIKEY

ROOT = Path(__file__).resolve().parents[2]
ALICE, BOB = "sip:alice@mcptt.example.org", "sip:bob@mcptt.example.org"
NTP = 3_970_000_000


@pytest.fixture(scope="module")
def lab():
    lab = craft.Lab(ntp_seconds=NTP, ksak=0x1234567, z_s=0x7654321)
    lab.identity(ALICE), lab.identity(BOB)
    return lab


def _process(wire, keyring):
    return mikey_sakke.process(decode(wire), wire, keyring)


def test_sakke_i_message_from_lab_identities(lab):
    key = bytes(range(16))
    wire = craft.sakke_i_message(lab.identity(ALICE), lab.identity(BOB), key_type="PCK", key=key)
    res = _process(wire, lab.keyring(BOB))
    assert res.verified is True and res.region == mikey_sakke.REGION_RFC
    assert res.ssv == key and res.key_type == "PCK"
    assert res.initiator == ALICE and res.responder == BOB


def test_identity_from_a_keyring_file():
    ring = from_toml((ROOT / "pcaps/messages/bob.keyring.toml").read_text())
    bob = craft.identity(ring, "sip:bob@mcptt.example.org")
    assert bob.identifier == ring.users[0].uid and bob.ssk == ring.users[0].ssk
    # bob's keys sign a message to himself; the KMS of the keyring verifies it
    wire = craft.sakke_i_message(bob, bob, key_type="PCK")
    res = _process(wire, ring)
    assert res.verified is True and res.ssv is not None


@pytest.mark.parametrize("region", [mikey_sakke.REGION_RFC, mikey_sakke.REGION_SHORT])
def test_mutated_message_resigned_verifies(lab, region):
    alice, bob = lab.identity(ALICE), lab.identity(BOB)
    key = b"K" * 16
    wire = craft.sakke_i_message(alice, bob, key=key, rand=bytes(16))
    pkt = MIKEY(wire)
    pkt[scapy_mikey.MIKEY_RAND].rand_data = b"\xff" * 40  # mutate: the old signature no longer fits
    pkt[scapy_mikey.MIKEY_RAND].rand_len = None
    mutant = bytes(pkt)
    assert _process(mutant, lab.keyring(BOB)).verified is False
    resigned = craft.resign(mutant, alice.ssk, alice.pvt, alice.kpak, alice.identifier,
                            region=region)
    assert len(resigned) == len(mutant) and resigned[:-129] == mutant[:-129]
    start, sig_len = craft.sign_offsets(resigned)
    region_bytes = resigned[:start + 2] if region == mikey_sakke.REGION_RFC else resigned[:start]
    sig = resigned[start + 2:start + 2 + sig_len]
    assert eccsi.verify(region_bytes, sig, alice.identifier, alice.kpak)
    assert eccsi.verify_reference(region_bytes, sig, alice.identifier, alice.kpak)
    res = _process(resigned, lab.keyring(BOB))
    assert res.verified is True and res.region == region
    assert decode(resigned).find("RAND").rand == b"\xff" * 40


def test_resign_keeps_a_lying_sign_len_and_returns_a_packet(lab):
    alice, bob = lab.identity(ALICE), lab.identity(BOB)
    pkt = MIKEY(craft.sakke_i_message(alice, bob))
    pkt[scapy_mikey.MIKEY_SIGN].sign_len = 32  # the TS 33.180 error, signed
    out = craft.resign_as(pkt, alice)
    assert isinstance(out, MIKEY)
    wire = bytes(out)
    assert out[scapy_mikey.MIKEY_SIGN].sign_len == 32
    with pytest.raises(DecodeError):  # our decoder: 32 octets, then 97 trailing
        decode(wire, strict=True)
    start = len(wire) - 129 - 2
    assert eccsi.verify(wire[:start + 2], wire[start + 2:], alice.identifier, alice.kpak)


def test_resign_with_the_wrong_key_does_not_verify(lab):
    alice, bob = lab.identity(ALICE), lab.identity(BOB)
    wire = craft.sakke_i_message(alice, bob)
    forged = craft.resign_as(wire, bob)  # bob's SSK, alice's IDRi
    assert _process(forged, lab.keyring(BOB)).verified is False


def test_resign_needs_a_sign_payload():
    with pytest.raises(ValueError):
        craft.resign(bytes(MIKEY() / scapy_mikey.MIKEY_RAND()), b"", b"", b"", b"")


def test_ticket_round_messages_verify():
    r = craft.ticket_round(t_value=0xECA16480_00000000)
    m = r.messages
    assert set(m) == {"request_init", "request_resp", "transfer_init", "transfer_resp",
                      "resolve_init", "resolve_resp"}
    res = mikey_ticket.process(decode(m["transfer_init"]), m["transfer_init"], r.keyring("kms"))
    assert res.verified is True and res.ticket.verified is True and res.ticket.mpk == r.mpk
    init = mikey_ticket.process(decode(m["request_init"]), m["request_init"], r.keyring("initiator"))
    assert init.verified is True
    resp = mikey_ticket.process(decode(m["request_resp"]), m["request_resp"], r.keyring("initiator"),
                                init=(decode(m["request_init"]), m["request_init"]))
    assert resp.verified is True and [k.key_data for k in resp.kemac_keys] == [r.mpk_i, r.tgk]
    for wire in m.values():  # and the scapy layer rebuilds every one of them
        pkt = MIKEY(wire)
        pkt.clear_cache()
        assert bytes(pkt) == wire


def test_psk_i_message():
    from codec.keyring import Keyring, Psk

    psk, tek = b"p" * 16, b"t" * 16
    wire = craft.psk_i_message(psk, tek=tek, responder=BOB, t_value=1 << 32)
    res = mikey_ticket.process(decode(wire), wire, Keyring(psks=[Psk(key=psk, identity=BOB)]))
    assert res.verified is True
