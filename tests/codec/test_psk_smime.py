"""Seed 004 PSK S/MIME: a SIP MESSAGE body whose TRANSFER_INIT keys an AuthEnvelopedData."""

from __future__ import annotations

import os

import pytest

from codec import psk_smime
from codec.keyring import Keyring, Psk
from codec.mikey import ticket as mikey_ticket
from codec.mikey import ticket_build
from codec.mikey import ticket_keys

T = 0xECA16480 << 32
CONTENT = b"Content-Type: text/plain\r\n\r\nAll your base are belong to us.\r\n"


def _ticket(tpk, identity="tpk@kms.example.org"):
    mpk, tgk, spi = os.urandom(16), os.urandom(16), os.urandom(4)
    ticket = ticket_build.build_ticket(tpk, mpk, [ticket_build.key_data(ticket_keys.KEY_TGK, tgk, spi=spi)], t_value=T,
                                       tpk_identity=identity)
    return dict(ticket=ticket, mpk=mpk, tgk=tgk, spi=spi)


def _message(tpk, csb_id=0x42, proof=False, **kw):
    t = _ticket(tpk)
    body, ctype, ti = psk_smime.build(CONTENT, ticket=t["ticket"], mpk=t["mpk"], csb_id=csb_id,
                                      initiator="sip:user1@domain.com", responder="sip:user2@domain.com",
                                      t_value=T, spi=t["spi"], tgk=t["tgk"], proof_of_origin=proof, **kw)
    return body, ctype, ti


@pytest.fixture
def tpk():
    return os.urandom(16)


def _ring(tpk):
    return Keyring(psks=[Psk(key=tpk, identity="tpk@kms.example.org")])


def test_end_to_end_with_proof_of_origin(tpk):
    body, ctype, ti = _message(tpk, proof=True)
    assert ctype.startswith("multipart/mixed") and b"application/mikey" in body
    res = psk_smime.open_body(body, ctype, _ring(tpk))
    assert res.ok and res.content == CONTENT and res.proof_of_origin is True
    assert res.transfer.verified is True and res.transfer_init == ti
    assert res.kek_id == (0x42).to_bytes(4, "big") + b"\x01"


def test_without_proof_of_origin(tpk):
    body, ctype, _ = _message(tpk)
    res = psk_smime.open_body(body, ctype, _ring(tpk))
    assert res.ok and res.proof_of_origin is None


def test_list_server_reencryption_same_content_two_tickets(tpk):
    first = _message(tpk, csb_id=1)
    second = _message(tpk, csb_id=2)  # re-encrypted by the list server under another ticket
    assert first[0] != second[0]
    a, b = (psk_smime.open_body(m[0], m[1], _ring(tpk)) for m in (first, second))
    assert a.ok and b.ok and a.content == b.content == CONTENT
    assert a.transfer_init != b.transfer_init


def test_wrong_tpk_releases_nothing(tpk):
    body, ctype, _ = _message(tpk)
    res = psk_smime.open_body(body, ctype, _ring(os.urandom(16)))
    assert not res.ok and res.content is None and "not verified" in res.error


def test_tampered_ciphertext_fails_the_tag(tpk):
    body, ctype, _ = _message(tpk)
    import base64
    import re
    # flip one octet inside the base64 S/MIME part: decode, flip, re-encode
    m = list(re.finditer(rb"\r\n\r\n([A-Za-z0-9+/=\r\n]+)\r\n--", body))[-1]
    der = bytearray(base64.b64decode(re.sub(rb"\s", b"", m.group(1))))
    der[-20] ^= 1  # inside the encrypted content / mac
    tampered = body[:m.start(1)] + base64.encodebytes(bytes(der)).replace(b"\n", b"\r\n") + \
        body[m.end(1):]
    res = psk_smime.open_body(tampered, ctype, _ring(tpk))
    assert not res.ok and res.content is None and res.error


def test_proof_of_origin_mismatch(tpk, monkeypatch):
    real = psk_smime._mac_of
    monkeypatch.setattr(psk_smime, "_mac_of", lambda layer: bytes(16))  # the sender copies a wrong MAC
    body, ctype, _ = _message(tpk, proof=True)
    monkeypatch.setattr(psk_smime, "_mac_of", real)
    res = psk_smime.open_body(body, ctype, _ring(tpk))
    assert res.transfer.verified is True  # the TRANSFER_INIT itself is fine
    assert res.proof_of_origin is False and not res.ok and res.content is None
    assert "proof of origin" in res.error


def test_replay_of_a_stored_message(tpk):
    body, ctype, _ = _message(tpk)
    cache = mikey_ticket.ReplayCache(8)
    assert psk_smime.open_body(body, ctype, _ring(tpk), cache).replay == "accepted"
    assert psk_smime.open_body(body, ctype, _ring(tpk), cache).replay == "replay"


def test_seed_spelling_of_smime_type_is_accepted_and_flagged(tpk):
    body, ctype, _ = _message(tpk)
    body = body.replace(b"smime-type=authEnveloped-data", b"smime-type=auth-enveloped-data")
    res = psk_smime.open_body(body, ctype, _ring(tpk))
    assert res.ok and any("auth-enveloped-data" in n for n in res.notes)


def test_body_without_mikey_part(tpk):
    body, ctype, _ = _message(tpk)
    parts = body.split(b"\r\n--")
    only_smime = b"\r\n--".join([parts[0].split(b"\r\n")[0]] + parts[2:])
    res = psk_smime.open_body(only_smime, ctype, _ring(tpk))
    assert not res.ok and "application/mikey" in res.error


def test_cli_opens_a_sip_message(tpk, tmp_path, capsys):
    from dissectors.cli import main

    body, ctype, _ = _message(tpk, proof=True)
    sip = (b"MESSAGE sip:user2@domain.com SIP/2.0\r\nFrom: sip:user1@domain.com;tag=49583\r\n"
           b"To: sip:user2@domain.com\r\nCall-ID: asd88asd77a@1.2.3.4\r\nCSeq: 1 MESSAGE\r\n"
           b"Content-Type: " + ctype.encode() + b"\r\nContent-Length: " + str(len(body)).encode()
           + b"\r\n\r\n" + body)
    f = tmp_path / "message.sip"
    f.write_bytes(sip)
    ring = tmp_path / "ring.toml"
    ring.write_text(_ring(tpk).to_toml())
    out = tmp_path / "content.txt"
    assert main(["psk-smime", str(f), "--keys", str(ring), "--out", str(out)]) == 0
    assert out.read_bytes() == CONTENT
    text = capsys.readouterr().out
    assert "proof_of_origin: True" in text and "transfer_init_verified: True" in text
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(_ring(os.urandom(16)).to_toml())
    out2 = tmp_path / "none.txt"
    assert main(["psk-smime", str(f), "--keys", str(wrong), "--out", str(out2)]) == 3
    assert not out2.exists()  # no plaintext from a message that did not check out
    assert "ticket_verified: False" in capsys.readouterr().out  # the failed check, exit 3
    cut = tmp_path / "cut.sip"
    cut.write_bytes(sip[: len(sip) // 2])  # no MAC was checked: the input does not decode, 1
    assert main(["psk-smime", str(cut), "--keys", str(ring), "--out", str(out2)]) == 1


def test_brief_flags_tell_an_unchecked_mac_from_a_failed_one():
    from dissectors.pcap.render import mikey_flags

    def flags(verdict):
        return mikey_flags({"mikey": [{"mikey.kemac": {"mikey.kemac.verified": verdict}}]})
    assert (flags(True), flags(False), flags(None)) == ("kemac ok", "kemac FAILED",
                                                        "kemac not checked")


def test_transfer_init_whose_mac_fails_is_never_cached(tpk):
    """RFC 3830 §5.4 / seed 004 §8.3.1.1: only a message that verifies enters the replay cache."""
    import base64

    body, ctype, ti = _message(tpk)
    bad = bytearray(ti)
    bad[-1] ^= 1  # the last octet of the V MAC
    b64, bad_b64 = base64.b64encode(ti), base64.b64encode(bytes(bad))
    if b64 not in body:  # folded base64
        b64, bad_b64 = (base64.encodebytes(x).replace(b"\n", b"\r\n").strip()
                        for x in (ti, bytes(bad)))
    assert b64 in body
    tampered = body.replace(b64, bad_b64)
    cache = mikey_ticket.ReplayCache(8)
    for _ in range(2):
        res = psk_smime.open_body(tampered, ctype, _ring(tpk), cache)
        assert not res.ok and res.transfer.verified is False and res.replay == "rejected"
    assert len(cache) == 0
    assert psk_smime.open_body(body, ctype, _ring(tpk), cache).replay == "accepted"
