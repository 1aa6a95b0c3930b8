"""PSK MIKEY (RFC 3830) and MIKEY-TICKET (RFC 6043): every derivation re-computed here from the
RFC formulas (own HMAC-based PRF, own AES-CTR IV, own labels), a full REQUEST → TRANSFER →
RESOLVE round, and the negative cases."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from codec.keyring import Keyring, Psk
from codec.mikey import decode, model
from codec.mikey import psk as mikey_psk
from codec.mikey import ticket as mikey_ticket
from codec.mikey import ticket_build
from codec.mikey import ticket_keys
from codec.mikey.render import decode_key_data_chain

T_VALUE = 0xECA16480_12345678
KMS = "kms.example.org"
ALICE, BOB = "sip:alice@example.org", "sip:bob@example.org"


# -- a second implementation of the RFC formulas -----------------------------------------------
def ref_prf(inkey: bytes, label: bytes, n: int, sha256: bool) -> bytes:
    """RFC 3830 §4.1.2 written from the text: XOR of P(s_i, label, m) over 256-bit slices."""
    h = hashlib.sha256 if sha256 else hashlib.sha1
    hl = h().digest_size
    m = (n * 8 + hl * 8 - 1) // (hl * 8)
    acc = 0
    slices = [inkey[i:i + 32] for i in range(0, len(inkey), 32)] or [b""]
    for s in slices:
        a, out = label, b""
        for _ in range(m):
            a = hmac.HMAC(s, a, h).digest()
            out += hmac.HMAC(s, a + label, h).digest()
        acc ^= int.from_bytes(out[:n], "big")
    return acc.to_bytes(n, "big")


def ref_label_6043(const, csb_id, direction, ri=b"", rr=b""):
    return (const.to_bytes(4, "big") + b"\xff" + csb_id.to_bytes(4, "big") + bytes([direction])
            + bytes([len(ri)]) + ri + bytes([len(rr)]) + rr)


def ref_aes_cm(key, salt, csb_id, t, data):
    iv_int = int.from_bytes(salt, "big") ^ ((csb_id << 64) | t)
    iv = iv_int.to_bytes(14, "big") + b"\0\0"
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


# -- derivations -------------------------------------------------------------------------------
@pytest.mark.parametrize("prf_func", [0, 1])
@pytest.mark.parametrize("inkey_len", [16, 20, 32, 48, 70])
def test_transport_keys_rfc3830_label(prf_func, inkey_len):
    inkey, rand, csb = os.urandom(inkey_len), os.urandom(16), 0xA1B2C3D4
    tk = mikey_psk.transport_keys(inkey, mikey_psk.label_rfc3830(csb, rand), prf_func, mikey_psk.ENCR_AES_CM_128,
                                  mikey_psk.MAC_HMAC_SHA1 if prf_func == 0 else mikey_psk.MAC_HMAC_SHA256)
    tail = b"\xff" + csb.to_bytes(4, "big") + rand
    assert tk.encr_key == ref_prf(inkey, (0x150533E1).to_bytes(4, "big") + tail, 16, prf_func)
    assert tk.salt_key == ref_prf(inkey, (0x29B88916).to_bytes(4, "big") + tail, 14, prf_func)
    alen = 20 if prf_func == 0 else 32
    assert tk.auth_key == ref_prf(inkey, (0x2D22AC75).to_bytes(4, "big") + tail, alen, prf_func)


def test_rfc6043_labels_and_mpk_derivations():
    ri, rr = os.urandom(16), os.urandom(8)
    assert mikey_psk.label_rfc6043(7, 2, ri, rr) == ref_label_6043(0, 7, 2, ri, rr)[4:]
    assert mikey_psk.label_rfc6043(7, 1, None, None) == b"\xff\x00\x00\x00\x07\x01\x00\x00"
    mpk, rand = os.urandom(16), os.urandom(16)
    expect = ref_prf(mpk, bytes.fromhex("220E99A2") + b"\xff" * 5 + b"\x06" + bytes([16]) + rand,
                     16, True)
    assert ticket_keys.derive_mpk(mpk, ticket_keys.MPKI_CONST, rand, 1) == expect
    tgk = os.urandom(16)
    tek = ticket_keys.derive_session_key(tgk, 0x2AD01C64, 3, ri, None, 16, 1)
    label = bytes.fromhex("2AD01C64") + b"\x03" + b"\xff" * 4 + b"\x03" + bytes([16]) + ri + b"\x00"
    assert tek == ref_prf(tgk, label, 16, True)


def test_aes_cm_kemac_matches_reference_iv():
    keys = mikey_psk.TransportKeys(os.urandom(16), b"", os.urandom(14))
    data = os.urandom(45)
    assert mikey_psk.decrypt_encr_data(mikey_psk.ENCR_AES_CM_128, data, keys, 0x01020304, T_VALUE) == \
        ref_aes_cm(keys.encr_key, keys.salt_key, 0x01020304, T_VALUE, data)


# -- RFC 3830 PSK ------------------------------------------------------------------------------
@pytest.mark.parametrize("encr,mac,prf_func", [(1, 1, 0), (2, 1, 0), (3, 2, 1), (0, 1, 0)])
def test_psk_i_message_round_trip(encr, mac, prf_func):
    psk = os.urandom(20)
    tek, salt = os.urandom(16), os.urandom(14)
    keys = [ticket_build.key_data(ticket_keys.KEY_TEK_SALT, tek, salt=salt, spi=b"\x00\x00\x00\x2f"),
            ticket_build.key_data(ticket_keys.KEY_TGK, os.urandom(16))]
    if encr == 2:  # RFC 3394 wraps multiples of 8 octets: 4 + 16 + 2 + 14 + 1 + 4 + 4 + 19 = 64
        keys[1] = ticket_build.key_data(ticket_keys.KEY_TGK, os.urandom(19))
    wire = ticket_build.build_psk_i_message(psk, keys, csb_id=0x55, t_value=T_VALUE, initiator=ALICE,
                                            responder=BOB, encr_alg=encr, mac_alg=mac, prf_func=prf_func)
    msg = decode(wire)
    res = mikey_ticket.process(msg, wire, Keyring(psks=[Psk(key=psk, identity=BOB)]))
    assert res.verified is True and res.error is None
    assert [k.key_data for k in res.kemac_keys] == [tek, keys[1].key_data]
    assert res.kemac_keys[0].salt == salt and res.kemac_keys[0].spi == b"\x00\x00\x00\x2f"
    # the MAC is HMAC over the message without the MAC field, keyed with the derived auth_key
    kemac = msg.find("KEMAC")
    rand = msg.find("RAND").rand
    tail = b"\xff" + (0x55).to_bytes(4, "big") + rand
    alen = 20 if mac == 1 else 32
    auth = ref_prf(psk, (0x2D22AC75).to_bytes(4, "big") + tail, alen, prf_func)
    h = hashlib.sha1 if mac == 1 else hashlib.sha256
    assert kemac.mac == hmac.new(auth, wire[:-alen], h).digest()
    if encr == 1:
        encr_key = ref_prf(psk, (0x150533E1).to_bytes(4, "big") + tail, 16, prf_func)
        salt_key = ref_prf(psk, (0x29B88916).to_bytes(4, "big") + tail, 14, prf_func)
        plain = ref_aes_cm(encr_key, salt_key, 0x55, T_VALUE, kemac.encr_data)
        assert decode_key_data_chain(plain)[0].key_data == tek


def test_psk_wrong_key_and_tampering():
    psk = os.urandom(16)
    wire = ticket_build.build_psk_i_message(psk, [ticket_build.key_data(ticket_keys.KEY_TGK, os.urandom(16))], csb_id=1,
                                            t_value=T_VALUE, responder=BOB)
    wrong = mikey_ticket.process(decode(wire), wire, Keyring(psks=[Psk(key=os.urandom(16), identity=BOB)]))
    assert wrong.verified is False and "MAC" in wrong.error and not wrong.kemac_keys
    bad = bytearray(wire)
    bad[25] ^= 0x80
    res = mikey_ticket.process(decode(bytes(bad)), bytes(bad), Keyring(psks=[Psk(key=psk, identity=BOB)]))
    assert res.verified is False
    none = mikey_ticket.process(decode(wire), wire, Keyring())
    assert none.verified is None and "no key" in none.error


def test_psk_found_by_csb_id():
    psk = os.urandom(16)
    wire = ticket_build.build_psk_i_message(psk, [ticket_build.key_data(ticket_keys.KEY_TGK, b"k" * 16)], csb_id=0x12345678,
                                            t_value=T_VALUE)
    res = mikey_ticket.process(decode(wire), wire, Keyring(psks=[Psk(key=psk, csb_id=0x12345678)]))
    assert res.verified and res.kemac_keys[0].key_data == b"k" * 16


# -- the whole MIKEY-TICKET round --------------------------------------------------------------
@pytest.fixture
def round_trip():
    psk_alice, psk_bob, tpk = os.urandom(16), os.urandom(16), os.urandom(16)
    mpk, tgk = os.urandom(16), os.urandom(16)
    spi = b"\x00\x00\x00\x09"
    ticket = ticket_build.build_ticket(tpk, mpk, [ticket_build.key_data(ticket_keys.KEY_TGK, tgk, spi=spi)], t_value=T_VALUE,
                                       tpk_identity="tpk@" + KMS)
    ticket_rand = ticket_build.rand_of_ticket(ticket)
    mpk_i = ticket_keys.derive_mpk(mpk, ticket_keys.MPKI_CONST, ticket_rand, 1)
    tp = model.TP(ticket_type=1, subtype=1, version=1, prf_func=1, flag_h=1)
    req_init = ticket_build.build_request_init(psk_alice, csb_id=0x100, initiator=ALICE, kms=KMS,
                                               t_value=T_VALUE, tp=tp)
    req_resp = ticket_build.build_response(req_init, psk_alice, data_type=mikey_ticket.REQUEST_RESP, kms=KMS,
                                           t_value=T_VALUE, ticket=ticket,
                                           kemac_keys=[ticket_build.key_data(ticket_keys.KEY_MPK, mpk_i),
                                                       ticket_build.key_data(ticket_keys.KEY_TGK, tgk, spi=spi)])
    cs = [model.GenericIdEntry(cs_id=1, prot_type=0, policies=[0], spi=spi),
          model.GenericIdEntry(cs_id=2, prot_type=model.PAYLOAD_CLASSES and __import__(
              "codec.mikey", fromlist=["x"]).DEFAULT_TLS_PROT_TYPE, spi=spi)]
    transfer = ticket_build.build_transfer_init(ticket, mpk, csb_id=0x200, cs_entries=cs, initiator=ALICE,
                                                responder=BOB, t_value=T_VALUE)
    res_init = ticket_build.build_resolve_init(psk_bob, ticket, csb_id=0x300, responder=BOB, kms=KMS,
                                               t_value=T_VALUE)
    res_resp = ticket_build.build_response(res_init, psk_bob, data_type=mikey_ticket.RESOLVE_RESP, kms=KMS,
                                           t_value=T_VALUE,
                                           kemac_keys=[ticket_build.key_data(ticket_keys.KEY_MPK, mpk_i),
                                                       ticket_build.key_data(ticket_keys.KEY_TGK, tgk, spi=spi)])
    return dict(psk_alice=psk_alice, psk_bob=psk_bob, tpk=tpk, mpk=mpk, mpk_i=mpk_i, tgk=tgk,
                req_init=req_init, req_resp=req_resp, transfer=transfer, res_init=res_init,
                res_resp=res_resp, ticket=ticket)


def test_request_exchange(round_trip):
    r = round_trip
    alice = Keyring(psks=[Psk(key=r["psk_alice"], identity=ALICE)])
    init = mikey_ticket.process(decode(r["req_init"]), r["req_init"], alice)
    assert init.verified is True
    resp = mikey_ticket.process(decode(r["req_resp"]), r["req_resp"], alice,
                                init=(decode(r["req_init"]), r["req_init"]))
    assert resp.verified is True
    assert [k.key_data for k in resp.kemac_keys] == [r["mpk_i"], r["tgk"]]
    # the response's MAC covers RESP || INIT: another INIT breaks it
    other = ticket_build.build_request_init(r["psk_alice"], csb_id=0x100, initiator=ALICE, kms=KMS,
                                            t_value=T_VALUE, tp=model.TP(ticket_type=1))
    assert mikey_ticket.process(decode(r["req_resp"]), r["req_resp"], alice,
                                init=(decode(other), other)).verified is False


def test_transfer_with_the_tpk_and_via_resolve(round_trip):
    r = round_trip
    with_tpk = Keyring(psks=[Psk(key=r["tpk"], identity="tpk@" + KMS)])
    res = mikey_ticket.process(decode(r["transfer"]), r["transfer"], with_tpk)
    assert res.verified is True and res.ticket.verified is True
    assert res.ticket.mpk == r["mpk"] and res.ticket.mpk_i == r["mpk_i"]
    # TEK of CS 1 per RFC 6043 §5.1.3 with RANDRi (H flag set by default in build_ticket)
    rand_i = next(p.rand for p in decode(r["transfer"]).find_all("RANDR") if p.rand_role == 1)
    label = (bytes.fromhex("2AD01C64") + b"\x01" + b"\xff" * 4 + b"\x03" + bytes([16]) + rand_i
             + b"\x00")
    srtp, tls = res.session_keys
    assert srtp.tek == ref_prf(r["tgk"], label, 16, True) and not srtp.is_tls
    tls_label = bytes.fromhex("2AD01C64") + b"\x02" + label[5:]
    assert tls.is_tls and tls.tls_psk_identity == "" and tls.tek == ref_prf(r["tgk"], tls_label, 16, True)

    # the responder's way: RESOLVE_INIT/RESP with its own PSK, then the TRANSFER_INIT
    bob = Keyring(psks=[Psk(key=r["psk_bob"], identity=BOB)])
    assert mikey_ticket.process(decode(r["res_init"]), r["res_init"], bob).verified is True
    known = mikey_ticket.process(decode(r["res_resp"]), r["res_resp"], bob,
                                 init=(decode(r["res_init"]), r["res_init"]))
    assert known.verified is True
    via_resolve = mikey_ticket.process(decode(r["transfer"]), r["transfer"], bob, known=known)
    assert via_resolve.verified is True
    assert [s.tek for s in via_resolve.session_keys] == [srtp.tek, tls.tek]  # both sides agree


def test_transfer_negative(round_trip):
    r = round_trip
    wrong = Keyring(psks=[Psk(key=os.urandom(16), identity="tpk@" + KMS)])
    res = mikey_ticket.process(decode(r["transfer"]), r["transfer"], wrong)
    assert res.ticket.verified is False and res.verified is None and res.session_keys == []
    good = Keyring(psks=[Psk(key=r["tpk"], identity="tpk@" + KMS)])
    bad = bytearray(r["transfer"])
    bad[decode(r["transfer"]).offsets[1] + 5] ^= 1  # inside T's value: V fails, ticket intact
    res = mikey_ticket.process(decode(bytes(bad)), bytes(bad), good)
    assert res.ticket.verified is True and res.verified is False


def test_unknown_ticket_type_is_opaque_and_flagged(round_trip):
    ticket = round_trip["ticket"].copy()
    ticket.ticket_type = 2  # 3GPP base ticket
    info = mikey_ticket.open_ticket(ticket, ticket.to_bytes(0), Keyring())
    assert info.verified is None and "opaque" in info.error


def test_truncated_ticket_data():
    ticket = model.TICKET(ticket_type=1, subtype=1, version=1, ticket_data=b"\x05\x00\x10abc")
    info = mikey_ticket.open_ticket(ticket, ticket.to_bytes(0), Keyring())
    assert info.verified is None and "does not decode" in info.error


def test_replay_cache_policy():
    cache = mikey_ticket.ReplayCache(size=2)
    assert cache.check(b"a", 10) == "accepted"
    assert cache.check(b"a", 10) == "replay"
    assert cache.check(b"b", 20) == "accepted"
    assert cache.check(b"c", 5) == "stale"  # full, older than the oldest (10)
    assert cache.check(b"d", 30) == "accepted" and len(cache) == 2  # evicts a (10)
    assert cache.check(b"a", 40) == "accepted"  # a was evicted: no longer known
    with pytest.raises(ValueError):
        mikey_ticket.ReplayCache(0)


def test_cli_shows_ticket_keys_and_flags_replays(round_trip, tmp_path, capsys):
    import base64
    import json

    from dissectors.cli import main

    r = round_trip
    ring = tmp_path / "ring.toml"
    ring.write_text(Keyring(psks=[Psk(key=r["tpk"], identity="tpk@" + KMS)]).to_toml())
    line = "a=key-mgmt:mikey " + base64.b64encode(r["transfer"]).decode() + "\r\n"
    sdp = tmp_path / "x.sdp"
    sdp.write_text(line * 2)  # the same TRANSFER_INIT twice: the second is a replay
    assert main(["decode", str(sdp), "--keys", str(ring), "--format", "json"]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert [d["mikey.ticket.replay"] for d in docs] == ["accepted", "replay"]
    v = next(rec["mikey.v"] for rec in docs[0]["mikey"] if "mikey.v" in rec)
    assert v["mikey.v.verified"] is True
    ticket = next(rec["mikey.ticket"] for rec in docs[0]["mikey"] if "mikey.ticket" in rec)
    assert ticket["mikey.ticket.verified"] is True and ticket["mikey.ticket.mpk"] == "<hidden>"
    sessions = docs[0]["mikey.ticket.session_keys"]
    assert sessions[1]["mikey.ticket.tls_psk_identity"] == "" and \
        sessions[1]["mikey.ticket.tls_psk"] == "<hidden>"
    assert main(["decode", str(sdp), "--keys", str(ring), "--format", "json",
                 "--show-secrets"]) == 0
    docs = json.loads(capsys.readouterr().out)
    ticket = next(rec["mikey.ticket"] for rec in docs[0]["mikey"] if "mikey.ticket" in rec)
    assert ticket["mikey.ticket.mpk"] == r["mpk"].hex()
    # the annotated JSON still encodes to the original octets
    from codec.mikey import encode, render
    assert encode(render.from_json(docs[0])) == r["transfer"]


def test_cli_psk_kemac_fields_use_wireshark_names(tmp_path, capsys):
    import json

    from dissectors.cli import main

    psk, tek = os.urandom(16), os.urandom(16)
    wire = ticket_build.build_psk_i_message(psk, [ticket_build.key_data(ticket_keys.KEY_TEK, tek)], csb_id=3, t_value=T_VALUE,
                                            responder=BOB)
    f = tmp_path / "m.hex"
    f.write_text(wire.hex())
    ring = tmp_path / "r.toml"
    ring.write_text(Keyring(psks=[Psk(key=psk, identity=BOB)]).to_toml())
    assert main(["decode", str(f), "--keys", str(ring), "--format", "json", "--show-secrets"]) == 0
    doc = json.loads(capsys.readouterr().out)
    kemac = next(rec["mikey.kemac"] for rec in doc["mikey"] if "mikey.kemac" in rec)
    assert kemac["mikey.kemac.verified"] is True
    assert kemac["mikey.kemac.keys"][0]["mikey.key.type"] == 2
    assert kemac["mikey.kemac.keys"][0]["mikey.key.data"] == tek.hex()


def test_transfer_resp_checked_with_mpki(round_trip):
    r = round_trip
    ring = Keyring(psks=[Psk(key=r["tpk"], identity="tpk@" + KMS)])
    init = (decode(r["transfer"]), r["transfer"])
    opened = mikey_ticket.process(*init, ring)
    resp = ticket_build.build_transfer_resp(r["transfer"], r["mpk_i"], t_value=T_VALUE + 1)
    ok = mikey_ticket.process(decode(resp), resp, ring, init=init, known=opened)
    assert ok.verified is True
    forged = ticket_build.build_transfer_resp(r["transfer"], os.urandom(16), t_value=T_VALUE + 1)
    assert mikey_ticket.process(decode(forged), forged, ring, init=init, known=opened).verified is False
    assert "TRANSFER_INIT" in mikey_ticket.process(decode(resp), resp, ring).error


def test_forked_key_label():
    mpk_r, id_data, randr = os.urandom(16), b"sip:bob@example.org", os.urandom(16)
    label = (bytes.fromhex("2B288856") + b"\xff" * 5 + b"\x00" + len(id_data).to_bytes(2, "big")
             + id_data + bytes([16]) + randr)
    assert ticket_keys.fork_key(mpk_r, ticket_keys.MPKR_FORK_CONST, id_data, randr, 1) == ref_prf(mpk_r, label, 16, True)


def test_exchange_tracker_initiator_view(round_trip):
    """The initiator with only its PSK: MPKi and the TGK come in its REQUEST_RESP, whose TICKET
    is the one it transfers (codec/mikey/exchange.py matches them by ticket identity)."""
    from codec.mikey.exchange import ExchangeTracker

    r = round_trip
    tracker = ExchangeTracker(Keyring(psks=[Psk(key=r["psk_alice"], identity=ALICE)]))
    for name in ("req_init", "req_resp"):
        assert tracker.feed(decode(r[name]), r[name]).entry.result.verified is True
    res = tracker.feed(decode(r["transfer"]), r["transfer"]).entry.result
    assert res.verified is True and res.ticket.verified is None  # no TPK: the ticket unchecked
    with_tpk = mikey_ticket.process(decode(r["transfer"]), r["transfer"],
                                    Keyring(psks=[Psk(key=r["tpk"], identity="tpk@" + KMS)]))
    assert [s.tek for s in res.session_keys] == [s.tek for s in with_tpk.session_keys]
