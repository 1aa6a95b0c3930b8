"""PSK MIKEY keying SRTP (issue 14 item 4): RFC 3830 §4.1.3–4.1.4, §6.10; RFC 3711; RFC 6188.

Oracles independent of the code under test:
- the RFC 3830 PRF (§4.1.2) and the TEK / salt labels (§4.1.3) written again here from the RFC's
  formulas derive the SRTP master keys libsrtp uses;
- libsrtp 2 (the copy pylibsrtp ships, through tests/support/libsrtp_oracle.py) protects the packets,
  for every transform, SRTP and SRTCP, with and without MKI;
- a nonzero key derivation rate (which libsrtp 2 does not implement) is checked against RFC 3711
  §4.1.1 / §4.2 / §4.3 written again here with cryptography's AES and hashlib's HMAC;
- tshark reads the RTP headers of the psk-call sample's media as mcsec decrypted them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from codec import srtp
from codec.keyring import Keyring, Psk
from codec.mikey import decode
from codec.mikey import model
from codec.mikey import ticket_build
from codec.mikey import ticket_keys
from dissectors.pcap.session import Session, Unit
from dissectors.pcap.render import records_json
from tests.support import libsrtp_oracle

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"


# -- RFC 3830 §4.1.2-§4.1.3, written from the RFC text -----------------------------------------
def rfc3830_prf(inkey: bytes, label: bytes, n: int) -> bytes:
    """PRF(inkey, label): inkey cut into 256-bit pieces s_1..s_k, P(s_i, label, m) with m =
    ceil(n*8 / 160), P(s, label, m) = HMAC(s, A_1 || label) || … || HMAC(s, A_m || label),
    A_0 = label, A_i = HMAC(s, A_{i-1}) (HMAC-SHA-1); the P's XOR-ed, truncated to n octets."""
    m = (n * 8 + 159) // 160
    pieces = [inkey[i:i + 32] for i in range(0, len(inkey), 32)] or [b""]
    acc = bytes(20 * m)
    for s in pieces:
        a, p = label, b""
        for _ in range(m):
            a = hmac.new(s, a, hashlib.sha1).digest()
            p += hmac.new(s, a + label, hashlib.sha1).digest()
        acc = bytes(x ^ y for x, y in zip(acc, p))
    return acc[:n]


def rfc3830_tek_salt(tgk, cs_id, csb_id, rand, key_len, salt_len=14):
    """TEK: constant 0x2AD01C64, salting key: 0x39A2C14B; label = constant || CS ID || CSB ID ||
    RAND (RFC 3830 §4.1.3)."""
    tail = bytes([cs_id]) + csb_id.to_bytes(4, "big") + rand
    return (rfc3830_prf(tgk, bytes.fromhex("2AD01C64") + tail, key_len),
            rfc3830_prf(tgk, bytes.fromhex("39A2C14B") + tail, salt_len))


def test_second_prf_matches_the_reference_check_values():
    """mikey.md §7.3's check values (TGK 00..0F, CS 1, CSB 0x12345678, RAND 10..1F)."""
    tek, salt = rfc3830_tek_salt(bytes(range(16)), 1, 0x12345678, bytes(range(16, 32)), 16)
    assert tek.hex() == "838f7dea3e6c733fb7755a665bfab763"
    assert salt.hex() == "c8512869cd0d1abaa797c728327b"


# -- the transforms under test: (name, SP parameters, libsrtp cipher, key len, tag, SRTCP tag) --
TRANSFORMS = [
    ("AES-CM-128/HMAC-SHA1-80", {}, "AES-CM", 16, 10, 10),  # RFC 3830 §6.10.1 defaults
    ("AES-CM-128/HMAC-SHA1-32", {11: 4}, "AES-CM", 16, 4, 4),
    ("AES-CM-256/HMAC-SHA1-80", {0: 1, 1: 32, 4: 14}, "AES-CM", 32, 10, 10),
    ("NULL/HMAC-SHA1-80", {0: 0, 2: 1, 11: 10}, "NULL", 16, 10, 10),
    ("AES-CM-128/NULL", {0: 1, 2: 0}, "AES-CM", 16, 0, 0),
    ("AES-CM-256/NULL", {0: 1, 1: 32, 2: 0}, "AES-CM", 32, 0, 0),
]
PSK = bytes.fromhex("00112233445566778899aabbccddeeff")
IDI = "sip:console-a@example.org"


def _psk_message(params, *, mki=b"", ssrcs=(0x1111, 0x2222), csb_id=0x0BADCAFE, tgk=None,
                 rand=None, map_type=0):
    tgk = tgk or os.urandom(16)
    rand = rand or os.urandom(16)
    sp = model.SP(policy_no=0, prot_type=0,
                  policy_params=[model.SpParam(type=t, value=bytes([v])) for t, v in params.items()])
    cs_map = [model.SrtpIdEntry(policy_no=0, ssrc=s, roc=0) for s in ssrcs] if map_type == 0 else []
    wire = ticket_build.build_psk_i_message(PSK, [ticket_build.key_data(ticket_keys.KEY_TGK, tgk, spi=mki or None)],
                                            csb_id=csb_id, t_value=0xE8000000 << 32, initiator=IDI,
                                            rand=rand, cs_id_map=cs_map, sp=[sp])
    if map_type == 1:  # Empty map (RFC 4563), #CS 0: the HDR rewritten, the MAC made again
        from codec.mikey.message import encode

        msg = decode(wire)
        msg.hdr.cs_id_map_type = 1
        wire = _resign(msg, encode, tgk)
    return wire, tgk, rand, csb_id


def _resign(msg, encode, tgk):
    """Recompute the KEMAC MAC after an HDR change (RFC 3830 §5.2) with the test's own PRF."""
    from codec.mikey.psk import label_rfc3830

    rand = msg.find("RAND").rand
    auth_key = rfc3830_prf(PSK, bytes.fromhex("2D22AC75") + label_rfc3830(msg.hdr.csb_id, rand), 20)
    kemac = msg.find("KEMAC")
    wire = encode(msg)
    kemac.mac = hmac.new(auth_key, wire[:len(wire) - 20], hashlib.sha1).digest()
    return encode(msg)


def _session():
    ring = Keyring()
    ring.psks.append(Psk(key=PSK, identity=IDI))
    return Session(keyring=ring, show_secrets=True)


def _unit(data):
    return Unit([1], 0.0, "udp", "192.0.2.1", 40000, "192.0.2.2", 40002, data)


def _keyed(session, wire: bytes) -> dict:
    """The JSON record of a MIKEY message given to ``session`` (raw, on port 2269)."""
    (rec,) = records_json(session.analyze(Unit([1], 0.0, "udp", "192.0.2.1", 2269, "192.0.2.2",
                                                2269, wire)), session.show_secrets)
    return rec


def _analyzed(session, data: bytes) -> list[dict]:
    """The JSON records (dissectors/pcap/render.py) of one UDP datagram."""
    return records_json(session.analyze(_unit(data)), session.show_secrets)


def _rtcp_sr(ssrc):
    return (bytes([0x80, 200, 0, 6]) + ssrc.to_bytes(4, "big") + os.urandom(8)
            + os.urandom(4) + (3).to_bytes(4, "big") + (480).to_bytes(4, "big"))


@pytest.mark.parametrize("mki", [b"", bytes.fromhex("c0ffee01")], ids=["no-mki", "mki"])
@pytest.mark.parametrize("name,params,cipher,key_len,tag,rtcp_tag", TRANSFORMS,
                         ids=[t[0] for t in TRANSFORMS])
def test_libsrtp_protected_media_opens_with_psk_mikey_keys(name, params, cipher, key_len, tag,
                                                           rtcp_tag, mki):
    wire, tgk, rand, csb = _psk_message(params, mki=mki)
    session = _session()
    rec = _keyed(session, wire)
    keys = rec["mikey"]["mikey.ticket.session_keys"]
    notes = rec["mikey"]["mikey.ticket.notes"]
    assert [k["mikey.ticket.cs_id"] for k in keys] == [1, 2]
    for cs_id, ssrc in ((1, 0x1111), (2, 0x2222)):
        master_key, master_salt = rfc3830_tek_salt(tgk, cs_id, csb, rand, key_len)
        assert keys[cs_id - 1]["mikey.ticket.tek"] == master_key.hex()
        assert keys[cs_id - 1]["mikey.ticket.salt"] == master_salt.hex()
        assert keys[cs_id - 1]["mikey.ticket.spi"] == mki.hex()
        assert any(n.startswith(f"CS {cs_id}: SRTP {name}") for n in notes), notes
        sender = libsrtp_oracle.Sender(master_key, master_salt, libsrtp_oracle.crypto_policy(cipher, key_len, tag),
                                       libsrtp_oracle.crypto_policy(cipher, key_len, rtcp_tag), mki, ssrc=ssrc)
        try:
            for seq in (1, 2, 3):
                rtp = srtp.rtp_packet(ssrc, seq, 160 * seq, os.urandom(50 + seq))
                (res,) = _analyzed(session, sender.protect(rtp))
                assert res["kind"] == "srtp" and res["ok"] is True, res
                assert bytes.fromhex(res["plaintext"]) == rtp
                assert res["mki"] == mki.hex() and name in res["keys"]
            rtcp = _rtcp_sr(ssrc)
            (res,) = _analyzed(session, sender.protect_rtcp(rtcp))
            assert res["kind"] == "srtcp" and res["ok"] is True, res
            assert bytes.fromhex(res["plaintext"]) == rtcp
        finally:
            sender.close()


@pytest.mark.parametrize("name,params,cipher,key_len,tag,rtcp_tag",
                         [t for t in TRANSFORMS if t[4]], ids=[t[0] for t in TRANSFORMS if t[4]])
def test_tampered_packets_fail_authentication(name, params, cipher, key_len, tag, rtcp_tag):
    wire, tgk, rand, csb = _psk_message(params)
    session = _session()
    _keyed(session, wire)
    master_key, master_salt = rfc3830_tek_salt(tgk, 1, csb, rand, key_len)
    sender = libsrtp_oracle.Sender(master_key, master_salt, libsrtp_oracle.crypto_policy(cipher, key_len, tag),
                                   libsrtp_oracle.crypto_policy(cipher, key_len, rtcp_tag), ssrc=0x1111)
    try:
        good = sender.protect(srtp.rtp_packet(0x1111, 9, 0, bytes(40)))
        bad = good[:20] + bytes([good[20] ^ 1]) + good[21:]
        (res,) = _analyzed(session, bad)
        assert res["ok"] is False and "tag" in res["error"]["reason"]
        rtcp = sender.protect_rtcp(_rtcp_sr(0x1111))
        (res,) = _analyzed(session, rtcp[:12] + bytes([rtcp[12] ^ 1]) + rtcp[13:])
        assert res["ok"] is False and "tag" in res["error"]["reason"]
    finally:
        sender.close()


def test_hmac_sha1_32_srtcp_with_libsrtps_80_bit_tag_opens_too():
    """RFC 3711 §4.2 has one tag length; libsrtp and RFC 4568 §6.2.1 put 80 bits on SRTCP for the
    _32 suite: both forms open."""
    wire, tgk, rand, csb = _psk_message({11: 4})
    session = _session()
    _keyed(session, wire)
    master_key, master_salt = rfc3830_tek_salt(tgk, 2, csb, rand, 16)
    sender = libsrtp_oracle.Sender(master_key, master_salt, libsrtp_oracle.crypto_policy("AES-CM", 16, 4),
                                   libsrtp_oracle.crypto_policy("AES-CM", 16, 10), ssrc=0x2222)
    try:
        rtcp = _rtcp_sr(0x2222)
        (res,) = _analyzed(session, sender.protect_rtcp(rtcp))
        assert res["ok"] is True and bytes.fromhex(res["plaintext"]) == rtcp
    finally:
        sender.close()


def test_empty_map_keys_the_stream_it_authenticates():
    """Empty CS ID map, #CS 0: one crypto session (CS 1) bound to the first SSRC whose tag
    verifies (no SSRC, no MKI to match by)."""
    wire, tgk, rand, csb = _psk_message({}, map_type=1)
    session = _session()
    assert decode(wire).hdr.cs_id_map_type == 1 and decode(wire).hdr.n_cs == 0
    rec = _keyed(session, wire)
    assert rec["mikey"]["mikey.kemac.verified"] if "mikey.kemac.verified" in rec["mikey"] else \
        rec["mikey"]["mikey"][-1]["mikey.kemac"]["mikey.kemac.verified"] is True
    (key,) = rec["mikey"]["mikey.ticket.session_keys"]
    master_key, master_salt = rfc3830_tek_salt(tgk, 1, csb, rand, 16)
    assert key["mikey.ticket.tek"] == master_key.hex()
    sender = libsrtp_oracle.Sender(master_key, master_salt, libsrtp_oracle.crypto_policy("AES-CM", 16, 10),
                                   libsrtp_oracle.crypto_policy("AES-CM", 16, 10), ssrc=0x5555)
    try:
        rtp = srtp.rtp_packet(0x5555, 7, 0, os.urandom(30))
        (res,) = _analyzed(session, sender.protect(rtp))
        assert res["ok"] is True and bytes.fromhex(res["plaintext"]) == rtp
        (res,) = _analyzed(session, sender.protect(srtp.rtp_packet(0x5555, 8, 0, b"x")))
        assert res["ok"] is True
    finally:
        sender.close()
    other = srtp.rtp_packet(0x7777, 1, 0, os.urandom(30)) + os.urandom(10)
    assert _analyzed(session, other) == []  # no key authenticates it: not claimed


def test_roc_from_the_srtp_id_map():
    """A stream whose SRTP-ID map entry says ROC 3 (RFC 3830 §6.1.1) opens from that ROC."""
    tgk, rand = os.urandom(16), os.urandom(16)
    wire = ticket_build.build_psk_i_message(PSK, [ticket_build.key_data(ticket_keys.KEY_TGK, tgk)], csb_id=7, t_value=1 << 40,
                                            initiator=IDI, rand=rand,
                                            cs_id_map=[model.SrtpIdEntry(policy_no=0, ssrc=0x3333, roc=3)])
    session = _session()
    _keyed(session, wire)
    mk, ms = rfc3830_tek_salt(tgk, 1, 7, rand, 16)
    sender = libsrtp_oracle.Sender(mk, ms, libsrtp_oracle.crypto_policy("AES-CM", 16, 10), libsrtp_oracle.crypto_policy("AES-CM", 16, 10),
                                   ssrc=0x3333)
    try:
        sender.set_roc(0x3333, 3)
        rtp = srtp.rtp_packet(0x3333, 100, 0, os.urandom(20))
        (res,) = _analyzed(session, sender.protect(rtp))
        assert res["ok"] is True and bytes.fromhex(res["plaintext"]) == rtp
    finally:
        sender.close()


# -- transform selection ------------------------------------------------------------------------
def test_select_transform_names_and_layouts():
    t = srtp.select_transform(srtp.ENCR_AES_CM, srtp.AUTH_HMAC_SHA1, 32, 14, 4, 2,
                              rtcp_tag_len=4)
    assert t.name == "AES-CM-256/HMAC-SHA1-32" and t.mki_len == 2 and t.rtcp_tag_len == 4
    assert srtp.mki_offset(t, 100, False) == 100 - 4 - 2  # MKI before the tag (RFC 3711 §3.1)
    g = srtp.select_transform(srtp.ENCR_AES_GCM, srtp.AUTH_NULL, 16, 12, 16, 4)
    assert g.gcm and srtp.mki_offset(g, 100, False) == 96  # after the GCM tag
    assert srtp.select_transform(1, 1, 16, 14, 4).rtcp_tag_len == 4  # RFC 3711 §4.2 default
    assert srtp.select_transform(0, 0, 16, 14, 10).name == "NULL/NULL"


@pytest.mark.parametrize("args,match", [
    ((2, 1, 16, 14, 10), "encryption algorithm 2"),  # AES-F8
    ((1, 4, 16, 14, 10), "authentication algorithm 4"),  # RCCm3
    ((1, 1, 20, 14, 10), "master key of 20"),
    ((1, 1, 16, 12, 10), "salt of 12"),
    ((1, 1, 16, 14, 0), "tag"),
    ((6, 0, 16, 14, 16), "AES-GCM"),
])
def test_select_transform_refuses(args, match):
    with pytest.raises(srtp.TransformError, match=match):
        srtp.select_transform(*args)


def test_sp_defaults_are_rfc3711s():
    """RFC 3830 §6.10.1 leaves absent parameters to SRTP's defaults (RFC 3711 §8.2)."""
    t = srtp.transform_from_sp({})
    assert (t.encr, t.auth, t.key_len, t.salt_len, t.auth_key_len, t.rtp_tag_len, t.kdr) == \
        (srtp.ENCR_AES_CM, srtp.AUTH_HMAC_SHA1, 16, 14, 20, 10, 0)
    assert srtp.transform_from_sp({6: (1 << 16).to_bytes(4, "big")}).kdr == 1 << 16
    assert srtp.transform_from_sp({0: b"\x06"}).name == "AEAD_AES_128_GCM"
    with pytest.raises(srtp.TransformError, match="derivation rate"):
        srtp.transform_from_sp({6: b"\x03"})
    assert not srtp.transform_from_sp({7: b"\x00"}).rtp_encrypted


def test_unusable_sp_is_a_note_not_a_crash():
    wire, *_ = _psk_message({0: 2})  # AES-F8
    rec = _keyed(_session(), wire)
    assert any("not usable" in n and "algorithm 2" in n for n in rec["mikey"]["mikey.ticket.notes"])


# -- nonzero key derivation rate: RFC 3711 §4.3 written here --------------------------------------
def _aes_ctr(key, iv_int, data):
    c = Cipher(algorithms.AES(key), modes.CTR(iv_int.to_bytes(16, "big"))).encryptor()
    return c.update(data) + c.finalize()


def _rfc3711_kdf(mk, ms, label, index, kdr, n):
    """key_id = label || r, r = index DIV kdr; x = key_id XOR master_salt; AES-CM(mk, x * 2^16)."""
    r = index // kdr if kdr else 0
    x = ((label << 48) | r) ^ int.from_bytes(ms, "big")
    return _aes_ctr(mk, x << 16, bytes(n))


def _rfc3711_protect(mk, ms, packet, roc, kdr, tag_len=10):
    seq, ssrc = int.from_bytes(packet[2:4], "big"), int.from_bytes(packet[8:12], "big")
    index = (roc << 16) | seq
    ke = _rfc3711_kdf(mk, ms, 0, index, kdr, 16)
    ka = _rfc3711_kdf(mk, ms, 1, index, kdr, 20)
    ks = int.from_bytes(_rfc3711_kdf(mk, ms, 2, index, kdr, 14), "big")
    iv = (ks << 16) ^ (ssrc << 64) ^ (index << 16)  # RFC 3711 §4.1.1
    out = packet[:12] + _aes_ctr(ke, iv, packet[12:])
    return out + hmac.new(ka, out + roc.to_bytes(4, "big"), hashlib.sha1).digest()[:tag_len]


def test_nonzero_key_derivation_rate():
    """KDR 2^4: session keys change every 16 packets; packets on both sides of a change (and of a
    ROC rollover) open; with KDR 0 they would not."""
    tgk, rand = os.urandom(16), os.urandom(16)
    wire, tgk, rand, csb = _psk_message({6: 16}, ssrcs=(0x4444,), tgk=tgk, rand=rand)
    session = _session()
    rec = _keyed(session, wire)
    assert any("KDR 16" in n for n in rec["mikey"]["mikey.ticket.notes"])
    mk, ms = rfc3830_tek_salt(tgk, 1, csb, rand, 16)
    for index in range(65530, 65560, 3):
        roc, seq = index >> 16, index & 0xFFFF
        rtp = srtp.rtp_packet(0x4444, seq, index, os.urandom(24))
        (res,) = _analyzed(session, _rfc3711_protect(mk, ms, rtp, roc, 16))
        assert res["ok"] is True and bytes.fromhex(res["plaintext"]) == rtp, index
    ctx0 = srtp.Context(srtp.select_transform(1, 1, 16, 14, 10), mk, ms)
    late = srtp.rtp_packet(0x4444, 40, 0, bytes(10))
    with pytest.raises(srtp.AuthError):
        ctx0.unprotect_rtp(_rfc3711_protect(mk, ms, late, 0, 16))


def test_kdr_srtcp_uses_the_srtcp_index():
    mk, ms = os.urandom(16), os.urandom(14)
    t = srtp.select_transform(1, 1, 16, 14, 10, kdr=4)
    ctx = srtp.Context(t, mk, ms)
    rtcp = _rtcp_sr(0x99)
    for index in (1, 5, 9):
        wire = ctx.protect_rtcp(rtcp, index)
        # RFC 3711 §4.3.2: labels 3, 4, 5 with r = SRTCP index DIV kdr
        ke = _rfc3711_kdf(mk, ms, 3, index, 4, 16)
        ks = int.from_bytes(_rfc3711_kdf(mk, ms, 5, index, 4, 14), "big")
        ka = _rfc3711_kdf(mk, ms, 4, index, 4, 20)
        body = _aes_ctr(ke, (ks << 16) ^ (0x99 << 64) ^ (index << 16), rtcp[8:])
        want = rtcp[:8] + body + (0x80000000 | index).to_bytes(4, "big")
        assert wire == want + hmac.new(ka, want, hashlib.sha1).digest()[:10]
        assert ctx.unprotect_rtcp(wire) == rtcp


# -- the psk-call sample through the CLI --------------------------------------------------------
def _dissect_json(*args):
    from dissectors.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["dissect", str(PCAPS / "psk-call.pcapng"), "--format", "json",
                     "--filter", "all", "--no-progress", *args]) == 0
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_dissect_decrypts_every_media_packet_of_the_psk_call():
    manifest = json.loads((PCAPS / "manifest.json").read_text())
    media = {e["frame"]: e for e in manifest["entries"]
             if e["capture"] == "psk-call.pcapng" and e["kind"] in ("srtp", "srtcp")}
    assert len(media) == 20
    packets = _dissect_json("--keys", str(PCAPS / "keyring.toml"), "--show-secrets")
    seen = 0
    for p in packets:
        e = media.get(p["frame"])
        if e is None:
            continue
        (rec,) = p["layers"][e["kind"]]
        assert rec["ok"] is True, (p["frame"], rec)
        assert rec["plaintext"] == e["rtp" if e["kind"] == "srtp" else "rtcp"]
        assert e["profile"] in rec["keys"] and rec["mki"] == e["mki"]
        seen += 1
    assert seen == len(media)
    hidden = _dissect_json("--keys", str(PCAPS / "keyring.toml"))
    secrets = []
    for p in hidden:
        for rec in p["layers"].get("srtp", []) + p["layers"].get("srtcp", []):
            secrets.append(rec["plaintext"])
        for m in p["layers"].get("mikey", []):
            for k in m.get("mikey.ticket.session_keys", []):
                secrets += [k["mikey.ticket.tek"], k["mikey.ticket.salt"]]
    assert len(secrets) == 20 + 2 * 4
    assert all(x == "<hidden>" or "--show-secrets" in x for x in secrets)


def test_decode_shows_tek_and_salt_only_with_show_secrets(tmp_path):
    from dissectors.cli import main

    manifest = json.loads((PCAPS / "manifest.json").read_text())
    e = next(e for e in manifest["entries"] if e["kind"] == "mikey-psk")
    f = tmp_path / "m.hex"
    f.write_text(e["mikey"])
    for secrets in (False, True):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["decode", str(f), "--keys", str(PCAPS / "keyring.toml"),
                         *(["--show-secrets"] if secrets else [])]) == 0
        text = buf.getvalue()
        for s in e["expect"]["crypto_sessions"]:
            assert (s["master_key"] in text) is secrets and (s["master_salt"] in text) is secrets
        assert "SRTP AES-CM-128/HMAC-SHA1-80" in text and "Crypto session 2" in text


def test_tshark_reads_the_rtp_headers_mcsec_decrypted():
    """tshark (RTP forced on the media ports) reads SSRC and sequence number of every SRTP
    packet as the RTP header mcsec's plaintext starts with."""
    from tests.conftest import TSHARK

    assert TSHARK, "tshark is needed (make test installs it)"
    decode_as = [a for p in (40010, 42010, 40020, 42020) for a in ("-d", f"udp.port=={p},rtp")]
    out = subprocess.run([TSHARK, "-r", str(PCAPS / "psk-call.pcapng"), *decode_as,
                          "-Y", "rtp", "-T", "fields", "-e",
                          "frame.number", "-e", "rtp.ssrc", "-e", "rtp.seq"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    theirs = {int(n): (int(s, 16), int(q)) for n, s, q in
              (line.split("\t") for line in out.splitlines())}
    ours = {}
    for p in _dissect_json("--keys", str(PCAPS / "keyring.toml"), "--show-secrets"):
        for rec in p["layers"].get("srtp", []):
            plain = bytes.fromhex(rec["plaintext"])
            ours[p["frame"]] = (int.from_bytes(plain[8:12], "big"),
                                int.from_bytes(plain[2:4], "big"))
    assert len(ours) == 16 and theirs == ours


def test_rfc3711_b2_aes_cm_keystream():
    """RFC 3711 Appendix B.2: session key 2B7E1516…, salt F0F1…FD, SSRC 0, index 0."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
    keys = srtp._Keys(key, int("F0F1F2F3F4F5F6F7F8F9FAFBFCFD", 16), None,
                      Cipher(algorithms.AES(key), modes.ECB()).encryptor())
    assert srtp.Context._ctr(keys, 0, 0, bytes(48)).hex() == (
        "e03ead0935c95e80e166b16dd92b4eb4" "d23513162b02d0f72a43a2fe4a5f97ab"
        "41e95b3bb0a2e8dd477901e4fca894c0")
