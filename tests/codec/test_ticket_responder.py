"""The MIKEY-TICKET responder's view (RFC 6043 §4.2.2.2, §4.2.2.3, §4.2.3.6; issue 14 item 8).

The responder holds only the PSK it shares with the KMS.  It receives TRANSFER_INIT, sends
RESOLVE_INIT (with the ticket), gets RESOLVE_RESP (MPKi and the TGK under its PSK) and answers
TRANSFER_RESP.  The exchange is built here from the RFC formulas — PRF (RFC 3830 §4.1.2),
transport keys (§4.1.4), AES-CM IV (§4.2.3), TEK derivation (§4.1.3 / RFC 6043 §5.1.3), the
RFC 6043 §5.1.2 labels, the ticket protection key and MPKi (Appendix A.2.1, A.2.2) and the MAC
coverage of §5.5 — with hashlib/hmac/cryptography only; the codec's model is used for payload
framing alone.  Each message order goes through `mcsec decode` of several messages and
`mcsec dissect` on a capture written here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from codec.keyring import Keyring, Psk
from codec.mikey import encode, model
from codec.mikey.message import Message
from dissectors.cli import main
from tests.conftest import write_udp_pcap

KMS, ALICE, BOB, TPK_ID = "kms.example.org", "sip:alice@example.org", "sip:bob@example.org", \
    "tpk@kms.example.org"
T0 = 0xECA16480_00000000
PSK_BOB, TPK = bytes(range(16)), bytes(range(16, 32))
MPK, TGK = bytes(range(32, 48)), bytes(range(48, 64))
TICKET_RAND, RANDRI, RANDRR = b"\x11" * 16, b"\x22" * 16, b"\x33" * 16
SPI = b"\x00\x00\x00\x07"
CSB_TRANSFER, CSB_RESOLVE = 0x0000_0200, 0x0000_0300
TRANSFER_INIT, TRANSFER_RESP, RESOLVE_INIT_PSK, RESOLVE_RESP = 14, 15, 16, 18


# -- RFC 3830 / RFC 6043 written from the text ---------------------------------------------------
def prf(inkey: bytes, label: bytes, n: int) -> bytes:
    """RFC 3830 §4.1.2 with HMAC-SHA-256 (RFC 6043 §6.1): inkey in 256-bit slices, P(s, label, m)
    = HMAC(s, A_1 || label) || …, A_i = HMAC(s, A_{i-1}), outputs XORed."""
    m = (n + 31) // 32
    acc = 0
    for s in [inkey[i:i + 32] for i in range(0, len(inkey), 32)]:
        a, out = label, b""
        for _ in range(m):
            a = hmac.new(s, a, hashlib.sha256).digest()
            out += hmac.new(s, a + label, hashlib.sha256).digest()
        acc ^= int.from_bytes(out[:n], "big")
    return acc.to_bytes(n, "big")


def label_6043(csb, direction, ri=b"", rr=b""):
    """RFC 6043 §5.1.2: 0xFF || CSB ID || 0x01/0x02 || len RANDRi || RANDRi || len RANDRr || RANDRr."""
    return b"\xff" + csb.to_bytes(4, "big") + bytes([direction, len(ri)]) + ri + bytes([len(rr)]) + rr


def transport(inkey, tail):
    """RFC 3830 §4.1.4: encr_key 0x150533E1, auth_key 0x2D22AC75, salt_key 0x29B88916."""
    return (prf(inkey, bytes.fromhex("150533E1") + tail, 16),
            prf(inkey, bytes.fromhex("2D22AC75") + tail, 32),
            prf(inkey, bytes.fromhex("29B88916") + tail, 14))


def aes_cm(key, salt, csb, t, data):
    """RFC 3830 §4.2.3: IV = (S XOR (0x0000 || CSB ID || T)) || 0x0000."""
    iv = (int.from_bytes(salt, "big") ^ ((csb << 64) | t)).to_bytes(14, "big") + b"\0\0"
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def key_chain(keys):
    return b"".join(k.to_bytes(20 if i + 1 < len(keys) else 0) for i, k in enumerate(keys))


TPK_TAIL = b"\xff\xff\xff\xff\xff\x05" + bytes([16]) + TICKET_RAND  # Appendix A.2.1
MPKI = prf(MPK, bytes.fromhex("220E99A2") + b"\xff\xff\xff\xff\xff\x06" + bytes([16])
           + TICKET_RAND, 16)  # Appendix A.2.2
# RFC 6043 §5.1.3 with the H flag: TEK label 0x2AD01C64 || CS ID || 0xFFFFFFFF || 0x03 || RANDRi
TEK_CS1 = prf(TGK, bytes.fromhex("2AD01C64") + b"\x01" + b"\xff" * 4 + b"\x03" + bytes([16])
              + RANDRI + b"\x00", 16)
SALT_CS1 = prf(TGK, bytes.fromhex("39A2C14B") + b"\x01" + b"\xff" * 4 + b"\x03" + bytes([16])
               + RANDRI + b"\x00", 14)


def with_mac(payloads, hdr, auth_key, extra=b"", cut_initiator_len=False):
    """The message with its V MAC (HMAC-SHA-256, the last 32 octets) over the message without
    the MAC (and, for TRANSFER_INIT, without the ticket's Initiator Data and its length: the
    TICKET is the payload before V here) || extra (RFC 6043 §5.5)."""
    wire = bytearray(encode(Message(hdr, payloads + [model.V(auth_alg=2, ver_data=bytes(32))])))
    v_start = len(wire) - 34
    region = bytes(wire[:v_start - 2] if cut_initiator_len else wire[:v_start]) + \
        bytes(wire[v_start:-32]) + extra
    wire[-32:] = hmac.new(auth_key, region, hashlib.sha256).digest()
    return bytes(wire)


def build_ticket(tgk=TGK, mpk=MPK, rand=TICKET_RAND):
    """MIKEY base ticket (Appendix A): THDR, T, RAND, KEMAC(MPK, TGK under the TPK), IDRpsk, V."""
    tail = b"\xff\xff\xff\xff\xff\x05" + bytes([len(rand)]) + rand
    ek, ak, sk = transport(TPK, tail)
    plain = key_chain([model.KEY_DATA(type=6, kv=0, key_data=mpk),
                       model.KEY_DATA(type=0, kv=1, key_data=tgk, spi=SPI)])
    kemac = model.KEMAC(encr_alg=1, encr_data=aes_cm(ek, sk, 0xFFFFFFFF, T0, plain), mac_alg=0, mac=b"")
    data = [model.T(ts_type=0, ts_value=T0), model.RAND(rand=rand), kemac,
            model.IDR(id_role=4, id_type=1, id_data=TPK_ID.encode()), model.V(auth_alg=2, ver_data=bytes(32))]
    ticket = model.TICKET(ticket_type=1, subtype=1, version=1, prf_func=1, flag_d=1, flag_h=1,
                          flag_f=1, flag_o=1, flag_n=1, tp_data=b"",
                          ticket_data=encode(Message(model.THDR(thdr_data=b""), data)), initiator_data=b"")
    tb = ticket.to_bytes(0)
    region = tb[1:len(tb) - 2 - 32]  # the TICKET without NP, Initiator Data and the MAC itself
    ticket.ticket_data = ticket.ticket_data[:-32] + hmac.new(ak, region, hashlib.sha256).digest()
    return ticket


def build_exchange(ticket, tamper_transfer=False):
    cs = [model.GenericIdEntry(cs_id=1, prot_type=0, policies=[0], spi=SPI)]
    # TRANSFER_INIT (§4.2.2.2): V with MPKi over the message without Initiator Data || IDRi || IDRr
    _, ak, _ = transport(MPKI_OF[ticket_id(ticket)], label_6043(CSB_TRANSFER, 1, RANDRI))
    hdr = model.HDR(data_type=TRANSFER_INIT, v=1, prf_func=1, csb_id=CSB_TRANSFER, cs_id_map_type=2,
                    cs_id_map=cs)
    ti = with_mac([model.T(ts_type=0, ts_value=T0 + 1), model.RANDR(rand_role=1, rand=RANDRI),
                   model.IDR(id_role=1, id_type=1, id_data=ALICE.encode()),
                   model.IDR(id_role=2, id_type=1, id_data=BOB.encode()), ticket.copy()],
                  hdr, ak, ALICE.encode() + BOB.encode(), cut_initiator_len=True)
    if tamper_transfer:  # one bit of RANDRi: the MAC fails, the ticket is intact
        at = ti.index(RANDRI)
        ti = ti[:at] + bytes([ti[at] ^ 1]) + ti[at + 1:]
    # RESOLVE_INIT_PSK (§4.2.3): V with the responder's PSK over the message || IDRr || IDRkms
    _, ak, _ = transport(PSK_BOB, label_6043(CSB_RESOLVE, 1, b"", RANDRR))
    ri = with_mac([model.T(ts_type=0, ts_value=T0 + 2), model.RANDR(rand_role=2, rand=RANDRR),
                   model.IDR(id_role=2, id_type=1, id_data=BOB.encode()),
                   model.IDR(id_role=3, id_type=1, id_data=KMS.encode()), ticket.copy()],
                  model.HDR(data_type=RESOLVE_INIT_PSK, v=1, prf_func=1, csb_id=CSB_RESOLVE,
                            cs_id_map_type=1), ak, BOB.encode() + KMS.encode())
    # RESOLVE_RESP (§4.2.3.5): KEMAC = E(encr_key, MPKi || TGK); V over RESP || RESOLVE_INIT
    ek, ak, sk = transport(PSK_BOB, label_6043(CSB_RESOLVE, 2, b"", RANDRR))
    plain = key_chain([model.KEY_DATA(type=6, kv=0, key_data=MPKI_OF[ticket_id(ticket)]),
                       model.KEY_DATA(type=0, kv=1, key_data=TGK_OF[ticket_id(ticket)], spi=SPI)])
    rr = with_mac([model.T(ts_type=0, ts_value=T0 + 3), model.IDR(id_role=3, id_type=1, id_data=KMS.encode()),
                   model.KEMAC(encr_alg=1, encr_data=aes_cm(ek, sk, CSB_RESOLVE, T0 + 3, plain),
                               mac_alg=0, mac=b"")],
                  model.HDR(data_type=RESOLVE_RESP, v=0, prf_func=1, csb_id=CSB_RESOLVE,
                            cs_id_map_type=1), ak, ri)
    # TRANSFER_RESP (§4.2.2.3): V with MPKi (no forking, G flag unset) over RESP || TRANSFER_INIT
    _, ak, _ = transport(MPKI_OF[ticket_id(ticket)], label_6043(CSB_TRANSFER, 2, RANDRI))
    tr = with_mac([model.T(ts_type=0, ts_value=T0 + 4)],
                  model.HDR(data_type=TRANSFER_RESP, v=0, prf_func=1, csb_id=CSB_TRANSFER,
                            cs_id_map_type=2, cs_id_map=cs), ak, ti)
    return {"ti": ti, "ri": ri, "rr": rr, "tr": tr}


def ticket_id(ticket):
    return bytes(ticket.ticket_data)


TGK_OF, MPKI_OF = {}, {}


def register(ticket, tgk, mpk, rand):
    TGK_OF[ticket_id(ticket)] = tgk
    MPKI_OF[ticket_id(ticket)] = prf(mpk, bytes.fromhex("220E99A2") + b"\xff\xff\xff\xff\xff\x06"
                                     + bytes([len(rand)]) + rand, len(mpk))
    return ticket


MAIN_TICKET = register(build_ticket(), TGK, MPK, TICKET_RAND)
OTHER_RAND, OTHER_TGK, OTHER_MPK = b"\x44" * 16, b"\x55" * 16, b"\x66" * 16
OTHER_TICKET = register(build_ticket(OTHER_TGK, OTHER_MPK, OTHER_RAND), OTHER_TGK, OTHER_MPK,
                        OTHER_RAND)

WIRE_ORDER = ("ti", "ri", "rr", "tr")
RESOLVE_FIRST = ("ri", "rr", "ti", "tr")


def test_the_oracle_agrees_with_itself():
    assert MPKI_OF[ticket_id(MAIN_TICKET)] == MPKI
    assert MPKI != MPK and TEK_CS1 != TGK


# -- mcsec decode of several messages --------------------------------------------------------------
def _ring(tmp_path, *psks):
    ring = tmp_path / "bob.toml"
    ring.write_text(Keyring(psks=list(psks) or [Psk(key=PSK_BOB, identity=BOB)]).to_toml())
    return ring


def _decode(tmp_path, capsys, wires, ring, *extra):
    sdp = tmp_path / "msgs.sdp"
    sdp.write_text("".join(f"a=key-mgmt:mikey {base64.b64encode(w).decode()}\r\n" for w in wires))
    assert main(["decode", str(sdp), "--keys", str(ring), *extra]) in (0, 3)  # 3: a check failed
    out = capsys.readouterr().out
    return json.loads(out) if "json" in extra else out


def _payload(doc, name):
    return next(rec[name] for rec in doc["mikey"] if name in rec)


def _by_type(docs):
    return {d["mikey"][0]["mikey.hdr"]["mikey.type"]: d for d in docs}


def _check_responder_view(by_type):
    ti, tr = by_type[TRANSFER_INIT], by_type[TRANSFER_RESP]
    assert _payload(ti, "mikey.v")["mikey.v.verified"] is True
    ticket = _payload(ti, "mikey.ticket")
    assert ticket["mikey.ticket.verified"] is None  # no TPK: unchecked, not failed
    assert ticket["mikey.ticket.error"] == f"no key for {TPK_ID}"
    (sk,) = ti["mikey.ticket.session_keys"]
    assert sk["mikey.ticket.tek"] == TEK_CS1.hex() and sk["mikey.ticket.salt"] == SALT_CS1.hex()
    assert ti["mikey.ticket.replay"] == "accepted"
    assert _payload(tr, "mikey.v")["mikey.v.verified"] is True
    assert _payload(by_type[RESOLVE_RESP], "mikey.v")["mikey.v.verified"] is True


@pytest.mark.parametrize("order", [WIRE_ORDER, RESOLVE_FIRST], ids=["wire-order", "resolve-first"])
def test_decode_responder_view(tmp_path, capsys, order):
    ex = build_exchange(MAIN_TICKET)
    docs = _decode(tmp_path, capsys, [ex[k] for k in order], _ring(tmp_path), "--format", "json",
                   "--show-secrets")
    _check_responder_view(_by_type(docs))
    text = _decode(tmp_path, capsys, [ex[k] for k in order], _ring(tmp_path))
    assert f"Ticket: not checked: no key for {TPK_ID}" in text
    assert "does not verify" not in text and "FAILED" not in text


@pytest.mark.parametrize("order", [("ti", "ri", "rr", "ri2", "rr2", "tr"),
                                   ("ri", "rr", "ri2", "rr2", "ti", "tr"),
                                   ("ri2", "rr2", "ti", "ri", "rr", "tr")])
def test_decode_matches_the_resolve_of_the_same_ticket(tmp_path, capsys, order):
    """Another ticket resolved in between (or last) must not be taken for this one."""
    ex, other = build_exchange(MAIN_TICKET), build_exchange(OTHER_TICKET)
    wires = {**ex, "ri2": other["ri"], "rr2": other["rr"]}
    docs = _decode(tmp_path, capsys, [wires[k] for k in order], _ring(tmp_path), "--format",
                   "json", "--show-secrets")
    ti = next(d for d in docs if d["mikey"][0]["mikey.hdr"]["mikey.type"] == TRANSFER_INIT)
    tr = next(d for d in docs if d["mikey"][0]["mikey.hdr"]["mikey.type"] == TRANSFER_RESP)
    _check_responder_view({TRANSFER_INIT: ti, TRANSFER_RESP: tr,
                           RESOLVE_RESP: docs[order.index("rr")]})


@pytest.mark.parametrize("order", [WIRE_ORDER, RESOLVE_FIRST], ids=["wire-order", "resolve-first"])
def test_failed_transfer_init_releases_nothing_and_is_not_cached(tmp_path, capsys, order):
    ex = build_exchange(MAIN_TICKET, tamper_transfer=True)
    wires = [ex[k] for k in order if k != "tr"] + [ex["ti"]]  # and the same message again
    docs = _decode(tmp_path, capsys, wires, _ring(tmp_path), "--format", "json", "--show-secrets")
    tis = [d for d in docs if d["mikey"][0]["mikey.hdr"]["mikey.type"] == TRANSFER_INIT]
    assert len(tis) == 2
    for ti in tis:
        assert _payload(ti, "mikey.v")["mikey.v.verified"] is False
        assert "mikey.ticket.session_keys" not in ti
        assert ti["mikey.ticket.replay"] == "rejected"  # never "accepted", so never a "replay"


def test_transfer_init_alone_waits_and_says_why(tmp_path, capsys):
    ex = build_exchange(MAIN_TICKET)
    doc = _decode(tmp_path, capsys, [ex["ti"]], _ring(tmp_path), "--format", "json")
    assert _payload(doc, "mikey.v")["mikey.v.verified"] is None
    assert _payload(doc, "mikey.ticket")["mikey.ticket.verified"] is None
    assert any("RESOLVE_RESP" in n for n in doc["mikey.ticket.notes"])


def test_with_the_tpk_the_ticket_is_checked(tmp_path, capsys):
    ex = build_exchange(MAIN_TICKET)
    ring = _ring(tmp_path, Psk(key=TPK, identity=TPK_ID))
    doc = _decode(tmp_path, capsys, [ex["ti"]], ring, "--format", "json", "--show-secrets")
    assert _payload(doc, "mikey.ticket")["mikey.ticket.verified"] is True
    assert _payload(doc, "mikey.v")["mikey.v.verified"] is True
    assert doc["mikey.ticket.session_keys"][0]["mikey.ticket.tek"] == TEK_CS1.hex()
    wrong = _ring(tmp_path, Psk(key=bytes(16), identity=TPK_ID))  # the named TPK, wrong: fails
    doc = _decode(tmp_path, capsys, [ex["ti"]], wrong, "--format", "json")
    assert _payload(doc, "mikey.ticket")["mikey.ticket.verified"] is False


# -- mcsec dissect: the TRANSFER_INIT's record carries the verdict of the later RESOLVE_RESP --------
@pytest.mark.parametrize("order", [WIRE_ORDER, RESOLVE_FIRST], ids=["wire-order", "resolve-first"])
@pytest.mark.parametrize("fmt", ["json", "jsonl-records"])
def test_dissect_responder_view(tmp_path, capsys, order, fmt):
    ex = build_exchange(MAIN_TICKET)
    pcap = tmp_path / "ticket.pcap"
    write_udp_pcap(pcap, [ex[k] for k in order])
    assert main(["dissect", str(pcap), "--keys", str(_ring(tmp_path)), "--format", fmt,
                 "--show-secrets", "--no-progress"]) == 0
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    if fmt == "json":
        docs = [ln["layers"]["mikey"] for ln in lines]
        docs = [d[0] if isinstance(d, list) else d for d in docs]
        assert [ln["frame"] for ln in lines] == [1, 2, 3, 4]  # order kept
    else:
        docs = [ln["mikey"] for ln in lines if ln.get("kind") == "mikey"]
        assert [ln["frame"] for ln in lines if ln.get("kind") == "mikey"] == [1, 2, 3, 4]
    _check_responder_view(_by_type(docs))


def test_dissect_look_ahead_is_bounded(tmp_path, capsys, monkeypatch):
    """Records are held back at most MAX_HELD; past it (or at the end of the capture) the
    TRANSFER_INIT goes out unchecked, saying why, and nothing is lost or reordered."""
    from dissectors.pcap import dissect

    ex = build_exchange(MAIN_TICKET)
    monkeypatch.setattr(dissect, "MAX_HELD", 2)
    filler = build_exchange(OTHER_TICKET)["ri"]  # RESOLVE_INITs of another ticket
    pcap = tmp_path / "late.pcap"
    write_udp_pcap(pcap, [ex["ti"], filler, filler, filler, ex["ri"], ex["rr"]])
    assert main(["dissect", str(pcap), "--keys", str(_ring(tmp_path)), "--format",
                 "jsonl-records", "--no-progress"]) == 0
    recs = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert [r["frame"] for r in recs] == [1, 2, 3, 4, 5, 6]
    ti = recs[0]["mikey"]
    assert _payload(ti, "mikey.v")["mikey.v.verified"] is None
    assert any("look-ahead window" in n for n in ti["mikey.ticket.notes"])
    pcap = tmp_path / "alone.pcap"
    write_udp_pcap(pcap, [ex["ti"]])
    assert main(["dissect", str(pcap), "--keys", str(_ring(tmp_path)), "--format",
                 "jsonl-records", "--no-progress"]) == 0
    (rec,) = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert any("in the capture" in n for n in rec["mikey"]["mikey.ticket.notes"])
