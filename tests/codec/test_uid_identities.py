"""Issue 14 items 1, 2, 3 and 5: what real networks send that our own samples did not.

1. UID-form identities (TS 33.180 §F.2.1) matched against a keyring that knows users only by URI,
   across key periods, with the KMS's UserKeyPeriod / UserKeyOffset;
2. the GMK-ID of a GMK sent to a UID recipient (§F.1.3 needs the member's URI);
3. legacy GEN_EXT type 7 key parameters whose key type disagrees with the CSB ID;
5. replayed I_MESSAGEs (RFC 3830 §5.4) and T payloads far from the capture time.

Oracles, independent of the code under test: the UID re-implemented here from §F.2.1 and checked
against the TS 33.180 §F.2.1.2 vector; an I_MESSAGE assembled here octet by octet from the RFC
6509 / RFC 3830 layouts (only ECCSI signing and SAKKE encapsulation come from the codec); the
GUK-ID / GMK-ID and the SRTP master keys recomputed here from the spec formulas (HMAC-SHA-256);
and the keys and IDs the test itself chose.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import struct

import pytest

from codec.crypto import eccsi, sakke
from codec.keyring import Keyring, KmsKeys, UserKeys
from codec.kms import Kms
from codec.mikey import decode
from codec.mikey import keyparams
from codec.mikey import sakke as mikey_sakke
from codec.mikey import render, render_sakke

NTP_UNIX = 2208988800
KMS_URI = "kms.mcx.example.net"
ALICE, BOB, GMS = "sip:alice@mcx.example.net", "sip:bob@mcx.example.net", "sip:gms@mcx.example.net"
# a KMS with weekly key periods starting one hour into the week (UserKeyPeriod/UserKeyOffset)
PERIOD_S, OFFSET_S = 604800, 3600
NTP_T = 3_990_000_000  # 2026-06-09 (NTP seconds)
RAND = bytes(range(0x40, 0x50))


# -- the oracle: TS 33.180 §F.2.1 re-implemented here -------------------------------------------
def _p(value) -> bytes:
    if isinstance(value, str):
        value = value.encode()
    elif isinstance(value, int):
        value = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return value + struct.pack(">H", len(value))


def uid_f21(uri: str, kms: str, period: int, offset: int, period_no: int) -> bytes:
    """SHA-256(0x00 || P0 L0 .. P5 L5), integers minimal big-endian (TS 33.220 Annex B)."""
    s = b"\x00" + b"".join(_p(x) for x in ("MIKEY-SAKKE-UID", uri, kms, period, offset, period_no))
    return hashlib.sha256(s).digest()


def period_no(ntp: int) -> int:
    return (ntp - OFFSET_S) // PERIOD_S


def test_uid_oracle_matches_the_ts_33_180_vector():
    # TS 33.180 §F.2.1.2 (reference/mcptt-security.md §2.3)
    assert period_no_example() == 1388
    assert uid_f21("sip:user@example.org", "kms.example.org", 2592000, 0, 1388).hex() == \
        "3a81fb14c3b1d0fe43c9c577104d55a6d81788bfd2f09743c4557746a5a0353b"


def period_no_example():
    return (3599719634 - 0) // 2592000


# -- a KMS and users, keys issued for the oracle's UIDs --------------------------------------------
class Net:
    def __init__(self):
        self.kms = Kms(KMS_URI, ksak=0x5EED_1234_5678, z_s=0xA11CE_B0B, user_key_period=PERIOD_S,
                       user_key_offset=OFFSET_S)
        self.keys = {}

    def uid(self, uri, n):
        return uid_f21(uri, KMS_URI, PERIOD_S, OFFSET_S, n)

    def user(self, uri, n):
        """(SSK, PVT, RSK) of ``uri`` for period ``n``, issued for the oracle's UID."""
        if (uri, n) not in self.keys:
            ident = self.uid(uri, n)
            ssk, pvt = eccsi.issue_user_keys(self.kms.ksak, self.kms.kpak, ident)
            self.keys[uri, n] = (ssk, pvt, sakke.issue_rsk(self.kms.z_s, ident))
        return self.keys[uri, n]

    def kms_public(self):
        return KmsKeys(uri=KMS_URI, kpak=self.kms.kpak, z=self.kms.z, user_key_period=PERIOD_S,
                       user_key_offset=OFFSET_S)

    def uri_only(self, uri, n, state_period=False, keys=True):
        """A keyring user entry as a KMS provisions it: URI (and KeyPeriodNo), no UID."""
        ssk, pvt, rsk = self.user(uri, n)
        return UserKeys(uri=uri, kms=KMS_URI, rsk=rsk if keys else None,
                        ssk=ssk if keys else None, pvt=pvt if keys else None,
                        period=n if state_period else None)

    def ring(self, *users):
        return Keyring(kms=[self.kms_public()], users=list(users))


@pytest.fixture(scope="module")
def net():
    return Net()


# -- an I_MESSAGE assembled here from the RFC 6509 / RFC 3830 layouts -------------------------------
def _idr(next_payload, role, id_type, data: bytes) -> bytes:
    return bytes([next_payload, role, id_type]) + struct.pack(">H", len(data)) + data  # RFC 6043 §6.6


def hand_built(net, *, sender, receiver, ntp, n_sender, n_receiver, ssv, csb_id,
               uid_roles=(1, 2), cs_map: bytes = b"\x00\x01", gen_ext7: bytes | None = None):
    """HDR T RAND IDRi IDRr IDRkmsi IDRkmsr SAKKE [GEN_EXT 7] SIGN, UIDs in the IDRs as byte
    strings (ID type 2); ``cs_map`` = #CS, CS ID map type and map info."""
    uid_s, uid_r = net.uid(sender, n_sender), net.uid(receiver, n_receiver)
    hdr = bytes([1, 26, 5, 0x01]) + struct.pack(">I", csb_id) + cs_map  # RFC 3830 §6.1, PRF 1
    t = bytes([11, 0]) + struct.pack(">Q", ntp << 32)  # T: NTP-UTC (§6.6)
    rand = bytes([14, len(RAND)]) + RAND  # RAND (§6.11)
    kms = KMS_URI.encode()
    idrs = (_idr(14, uid_roles[0], 2, uid_s) + _idr(14, uid_roles[1], 2, uid_r)
            + _idr(14, 6, 1, kms) + _idr(26, 7, 1, kms))
    sakke_data = sakke.encapsulate(ssv, uid_r, net.kms.z)  # RFC 6508 §6.2.1
    after_sakke = 21 if gen_ext7 is not None else 4
    sakke_p = bytes([after_sakke, 1, 2]) + struct.pack(">H", len(sakke_data)) + sakke_data
    ext = b"" if gen_ext7 is None else (bytes([4, 7]) + struct.pack(">H", len(gen_ext7))
                                        + gen_ext7)  # RFC 3830 §6.15
    sign_hdr = bytes([0x20 | (129 >> 8), 129 & 0xFF])  # S type 2 (ECCSI), length 129
    signed = hdr + t + rand + idrs + sakke_p + ext + sign_hdr  # RFC 3830 §5.2: incl. SIGN header
    ssk, pvt, _ = net.user(sender, n_sender)
    return signed + eccsi.sign(signed, uid_s, ssk, pvt, net.kms.kpak)


def _prf256(key: bytes, label: bytes, n: int) -> bytes:
    a, out = label, b""
    while len(out) < n:
        a = hmac.new(key, a, hashlib.sha256).digest()
        out += hmac.new(key, a + label, hashlib.sha256).digest()
    return out[:n]


def srtp_master_oracle(key, cs_id, csb_id, rand):
    """RFC 3830 §4.1.3 with PRF-HMAC-SHA-256 (RFC 6043 §6.1), master key and salt of AES-GCM."""
    tail = bytes([cs_id]) + struct.pack(">I", csb_id) + rand
    return _prf256(key, bytes.fromhex("2AD01C64") + tail, 16), \
        _prf256(key, bytes.fromhex("39A2C14B") + tail, 12)


def guk_id_oracle(gmk_id: int, gmk: bytes, member_uri: str) -> int:
    """TS 33.180 §F.1.3: salt = 28 LSBs of HMAC-SHA-256(GMK, 0x50 || URI || len)."""
    s = b"\x50" + member_uri.encode() + struct.pack(">H", len(member_uri.encode()))
    salt = int.from_bytes(hmac.new(gmk, s, hashlib.sha256).digest()[28:32], "big") & 0x0FFFFFFF
    return (gmk_id & 0xF0000000) | ((gmk_id & 0x0FFFFFFF) ^ salt)


PCK = bytes.fromhex("5a5b5c5d5e5f60616263646566676869")
PCK_ID = 0x1357_9BDF
GMK = bytes.fromhex("00ff11ee22dd33cc44bb55aa66997788")
GMK_ID = 0x0246_8ACE


# == 1. UID-form identities, keyring by URI ======================================================
@pytest.mark.parametrize("roles", [(1, 2), (8, 9)], ids=["IDRi/IDRr", "roles 8/9"])
def test_hand_built_uid_message_matches_uri_only_keyring(net, roles):
    n = period_no(NTP_T)
    wire = hand_built(net, sender=ALICE, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                      ssv=PCK, csb_id=PCK_ID, uid_roles=roles)
    ring = net.ring(net.uri_only(ALICE, n, keys=False), net.uri_only(BOB, n))
    msg = decode(wire)
    res = mikey_sakke.process(msg, wire, ring)
    assert res.verified is True, res.sign_error
    assert res.ssv == PCK, res.decrypt_error
    assert (res.sender_uri, res.receiver_uri, res.period_no) == (ALICE, BOB, n)
    assert res.sender_uid == net.uid(ALICE, n) and res.receiver_uid == net.uid(BOB, n)
    doc = render_sakke.annotate_json(render.to_json(msg), msg, res, False)
    hdr = doc["mikey"][0]["mikey.hdr"]
    assert hdr["mikey.3gpp.sender_uri"] == ALICE and hdr["mikey.3gpp.receiver_uri"] == BOB
    assert hdr["mikey.3gpp.period_no"] == n
    mk, ms = srtp_master_oracle(PCK, 0, PCK_ID, RAND)
    assert {(s.cs_id, s.master_key, s.master_salt) for s in res.crypto_sessions} >= {(0, mk, ms)}


def test_two_key_periods_and_the_kms_period_parameters(net):
    n = period_no(NTP_T)
    t2 = (n + 1) * PERIOD_S + OFFSET_S + 10  # ten seconds into the next period
    assert period_no(t2) == n + 1
    ring = net.ring(net.uri_only(ALICE, n, keys=False), net.uri_only(BOB, n, state_period=True),
                    net.uri_only(BOB, n + 1))
    for ntp, period in ((NTP_T, n), (t2, n + 1)):
        wire = hand_built(net, sender=ALICE, receiver=BOB, ntp=ntp, n_sender=period,
                          n_receiver=period, ssv=PCK, csb_id=PCK_ID)
        res = mikey_sakke.process(decode(wire), wire, ring)
        assert res.ssv == PCK and res.receiver_uri == BOB and res.period_no == period, \
            res.decrypt_error
    # the same UIDs computed with the default period (30 days, offset 0) would not match
    wrong = Keyring(kms=[KmsKeys(uri=KMS_URI, kpak=net.kms.kpak, z=net.kms.z)],
                    users=ring.users)
    wire = hand_built(net, sender=ALICE, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                      ssv=PCK, csb_id=PCK_ID)
    res = mikey_sakke.process(decode(wire), wire, wrong)
    assert res.ssv is None and res.receiver_uri is None
    assert "no keyring user" in res.decrypt_error and "has the UID" in res.decrypt_error


def test_a_period_the_user_entry_states_is_tried(net):
    n = period_no(NTP_T)
    far = n + 4  # keys of a period far from T: found only because the entry states it
    wire = hand_built(net, sender=ALICE, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=far,
                      ssv=PCK, csb_id=PCK_ID)
    stated = mikey_sakke.process(decode(wire), wire,
                                 net.ring(net.uri_only(BOB, far, state_period=True)))
    assert stated.ssv == PCK and stated.period_no in (n, far)
    assert stated.receiver_uri == BOB
    silent = mikey_sakke.process(decode(wire), wire, net.ring(net.uri_only(BOB, far)))
    assert silent.ssv is None and "no key" in silent.decrypt_error


def test_signer_named_without_any_receiver_keys(net):
    n = period_no(NTP_T)
    wire = hand_built(net, sender=ALICE, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                      ssv=PCK, csb_id=PCK_ID)
    res = mikey_sakke.process(decode(wire), wire, net.ring(net.uri_only(ALICE, n, keys=False)))
    assert res.verified is True and res.sender_uri == ALICE and res.period_no == n
    assert res.ssv is None


def test_decode_cli_shows_uris_and_period(tmp_path, net):
    from dissectors.cli import main

    n = period_no(NTP_T)
    wire = hand_built(net, sender=ALICE, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                      ssv=PCK, csb_id=PCK_ID)
    (tmp_path / "m.hex").write_text(wire.hex() + "\n")
    (tmp_path / "ring.toml").write_text(net.ring(net.uri_only(ALICE, n, keys=False),
                                                 net.uri_only(BOB, n)).to_toml())
    out = _run(main, ["decode", str(tmp_path / "m.hex"), "--keys", str(tmp_path / "ring.toml"),
                      "--format", "json"])
    hdr = json.loads(out)["mikey"][0]["mikey.hdr"]
    assert (hdr["mikey.3gpp.sender_uri"], hdr["mikey.3gpp.receiver_uri"],
            hdr["mikey.3gpp.period_no"]) == (ALICE, BOB, n)
    text = _run(main, ["decode", str(tmp_path / "m.hex"), "--keys", str(tmp_path / "ring.toml")])
    assert f"Responder: {BOB}" in text and f"Initiator: {ALICE}" in text


def test_uid_cache_hashes_each_user_once_per_period(net, monkeypatch):
    from codec.crypto import mcx

    n = period_no(NTP_T)
    wire = hand_built(net, sender=ALICE, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                      ssv=PCK, csb_id=PCK_ID)
    ring = net.ring(net.uri_only(ALICE, n, keys=False), net.uri_only(BOB, n))
    mikey_sakke.cached_uid.cache_clear()
    calls = []
    real = mcx.uid
    monkeypatch.setattr(mcx, "uid", lambda *a: calls.append(a) or real(*a))
    for _ in range(20):
        assert mikey_sakke.process(decode(wire), wire, ring).ssv == PCK
    assert 0 < len(calls) <= 2 * 3 + 2  # two users, at most three periods each (plus slack)


# == 2. GMK-ID with UID recipients ================================================================
def _gmk_to_bob(net, n):
    """A GMK I_MESSAGE from the GMS to BOB with a GENERIC-ID map: (GUK-ID, SPI = MKI, wire)."""
    guk = guk_id_oracle(GMK_ID, GMK, BOB)
    spi = struct.pack(">II", GMK_ID, guk)
    # GENERIC-ID map (RFC 6043 §6.1.1): CS ID 4, prot 0, S 0 #P 1, policy 0, no session data
    cs_map = b"\x01\x02" + bytes([4, 0, 1, 0]) + b"\x00\x00" + bytes([len(spi)]) + spi
    wire = hand_built(net, sender=GMS, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                      ssv=GMK, csb_id=guk, cs_map=cs_map)
    return guk, spi, wire


def test_gmk_to_a_uid_recipient_gives_the_gmk_id(net):
    n = period_no(NTP_T)
    guk, spi, wire = _gmk_to_bob(net, n)
    res = mikey_sakke.process(decode(wire), wire, net.ring(net.uri_only(BOB, n)))
    assert res.ssv == GMK and res.key_type == "GMK"
    assert res.receiver_uri == BOB and res.key_id == GMK_ID and res.guk_id == guk
    mk, ms = srtp_master_oracle(GMK, 4, guk, RAND)
    assert [(s.cs_id, s.mki, s.master_key, s.master_salt) for s in res.crypto_sessions] == \
        [(4, spi, mk, ms)]
    # an Empty map: the MKI is built from the recovered GMK-ID (TS 33.180 §E.2)
    wire = hand_built(net, sender=GMS, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                      ssv=GMK, csb_id=guk)
    res = mikey_sakke.process(decode(wire), wire, net.ring(net.uri_only(BOB, n)))
    assert res.key_id == GMK_ID and [s.mki for s in res.crypto_sessions] == [spi]


def test_gmk_id_from_the_mki_when_no_uri_is_known(net):
    n = period_no(NTP_T)
    guk, spi, wire = _gmk_to_bob(net, n)
    _, _, rsk = net.user(BOB, n)
    by_uid_only = net.ring(UserKeys(uid=net.uid(BOB, n), kms=KMS_URI, rsk=rsk))
    res = mikey_sakke.process(decode(wire), wire, by_uid_only)
    assert res.ssv == GMK and res.key_id == GMK_ID
    assert any("taken from the MKI" in note for note in res.notes)


@pytest.mark.parametrize("key_type,key_id,cs", [("PCK", PCK_ID, 0), ("CSK", 0x2468_ACE0, 6)])
def test_key_id_present_for_every_key_type_with_uids(net, key_type, key_id, cs):
    n = period_no(NTP_T)
    wire = hand_built(net, sender=ALICE, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                      ssv=PCK, csb_id=key_id)
    msg = decode(wire)
    res = mikey_sakke.process(msg, wire, net.ring(net.uri_only(BOB, n)))
    assert res.ssv == PCK and res.key_type == key_type and res.key_id == key_id
    hdr = render_sakke.annotate_json(render.to_json(msg), msg, res, False)["mikey"][0]["mikey.hdr"]
    assert hdr["mikey.3gpp.key_id"] == key_id


# == 3. Legacy key parameters =====================================================================
def test_single_octet_legacy_key_type_disagrees_and_the_csb_id_wins(net):
    n = period_no(NTP_T)
    guk = guk_id_oracle(GMK_ID, GMK, BOB)
    # the older layout: one octet, key type + 1; 2 = PCK while the CSB ID's purpose tag says GMK
    wire = hand_built(net, sender=GMS, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                      ssv=GMK, csb_id=guk, gen_ext7=b"\x02")
    msg = decode(wire)
    res = mikey_sakke.process(msg, wire, net.ring(net.uri_only(BOB, n)))
    assert res.key_params is not None and res.key_params.legacy
    assert res.key_params.key_type == 1  # PCK, as the older layout stated it
    assert res.key_type == "GMK" and res.key_id == GMK_ID and res.key_type_mismatch == 1
    assert any("key parameters state key type 1 (PCK)" in note and "CSB ID" in note
               for note in res.notes)
    mk, ms = srtp_master_oracle(GMK, 4, guk, RAND)
    spi = struct.pack(">II", GMK_ID, guk)  # MKI = GMK-ID || GUK-ID, not a PCK's
    assert [(s.cs_id, s.mki, s.master_key, s.master_salt, s.use)
            for s in res.crypto_sessions] == [(4, spi, mk, ms, "MCPTT group call")]
    doc = render_sakke.annotate_json(render.to_json(msg), msg, res, False)
    ext = next(p["mikey.ext"] for p in doc["mikey"] if "mikey.ext" in p)
    assert ext["mikey.3gpp.key_params"]["mikey.3gpp.kp.legacy"] is True
    assert any("CSB ID" in note for note in doc["mikey.3gpp.notes"])


def test_seventeen_octet_legacy_form_disagreeing(net):
    n = period_no(NTP_T)
    guk = guk_id_oracle(GMK_ID, GMK, BOB)
    legacy = bytes([2]) + struct.pack(">I", 1) + bytes(5) + bytes(5) + b"\x00\x00"  # says CSK
    assert len(legacy) == 17
    wire = hand_built(net, sender=GMS, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                      ssv=GMK, csb_id=guk, gen_ext7=legacy)
    res = mikey_sakke.process(decode(wire), wire, net.ring(net.uri_only(BOB, n)))
    assert res.key_type == "GMK" and res.key_params.params.key_type == 2
    assert res.key_type_mismatch == 2 and any("(CSK)" in x for x in res.notes)
    assert [s.cs_id for s in res.crypto_sessions] == [4]


def test_agreeing_single_octet_form_gives_no_disagreement(net):
    n = period_no(NTP_T)
    guk = guk_id_oracle(GMK_ID, GMK, BOB)
    wire = hand_built(net, sender=GMS, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                      ssv=GMK, csb_id=guk, gen_ext7=b"\x01")  # 0 (GMK) + 1
    res = mikey_sakke.process(decode(wire), wire, net.ring(net.uri_only(BOB, n)))
    assert res.key_params.key_type == 0 and res.key_type_mismatch is None
    assert not any("CSB ID" in x for x in res.notes)
    assert keyparams.open_key_parameters(b"\x00", GMK, guk).error  # key type + 1 is never 0


# == 5. Replays and clock skew ======================================================================
def _run(main, argv) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(argv)
    return buf.getvalue()


def test_decode_flags_the_second_copy_with_the_first_ones_index(tmp_path, net):
    from dissectors.cli import main

    n = period_no(NTP_T)
    one = hand_built(net, sender=ALICE, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                     ssv=PCK, csb_id=PCK_ID)
    other = hand_built(net, sender=ALICE, receiver=BOB, ntp=NTP_T + 1, n_sender=n, n_receiver=n,
                       ssv=PCK, csb_id=PCK_ID)
    import base64

    sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n" + "".join(
        f"a=key-mgmt:mikey {base64.b64encode(m).decode()}\r\n" for m in (one, other, one))
    (tmp_path / "offer.sdp").write_text(sdp)
    docs = json.loads(_run(main, ["decode", str(tmp_path / "offer.sdp"), "--in", "sdp",
                                  "--format", "json"]))
    assert [d.get("mikey.replay") for d in docs] == [None, None, 1]
    text = _run(main, ["decode", str(tmp_path / "offer.sdp"), "--in", "sdp"])
    assert text.count("REPLAY") == 1 and "as message 1" in text


def _capture(tmp_path, frames):
    """A pcapng of raw MIKEY over UDP port 2269 (RFC 3830 §7), (unix time, src, dst, octets)."""
    from dissectors.synth.net import Capture, Host

    hosts = {}

    def host(ip):
        return hosts.setdefault(ip, Host(ip, f"02:00:5e:00:01:{len(hosts):02x}", ip))

    cap = Capture("t", int(frames[0][0] * 1e6))
    for t, src, dst, data in frames:
        cap.now_us = int(t * 1e6)
        cap.udp(host(src), host(dst), 2269, 2269, data, gap_ms=0)
    path = tmp_path / "c.pcapng"
    path.write_bytes(cap.pcapng())
    return path


def _dissect(main, path, *args):
    out = _run(main, ["dissect", str(path), "--format", "json", "--no-progress", *args])
    return {p["frame"]: p["layers"].get("mikey", []) for p in map(json.loads, out.splitlines())}


def _replay_capture(tmp_path, net):
    """Four frames: a message, its copy forwarded to another host, its replay to the first host,
    and a message an hour old."""
    n = period_no(NTP_T)
    now = NTP_T - NTP_UNIX
    wire = hand_built(net, sender=ALICE, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                      ssv=PCK, csb_id=PCK_ID)
    late = hand_built(net, sender=ALICE, receiver=BOB, ntp=NTP_T - 3600, n_sender=n,
                      n_receiver=n, ssv=PCK, csb_id=PCK_ID)
    return _capture(tmp_path, [(now, "192.0.2.1", "192.0.2.2", wire),      # 1
                               (now + 1, "192.0.2.2", "192.0.2.3", wire),  # 2 forwarded: no
                               (now + 2, "192.0.2.9", "192.0.2.2", wire),  # 3 replay of 1
                               (now + 3, "192.0.2.1", "192.0.2.2", late)])  # 4 an hour old


def test_dissect_flags_a_replay_to_the_same_host_and_a_far_timestamp(tmp_path, net):
    from dissectors.cli import main

    path = _replay_capture(tmp_path, net)
    got = _dissect(main, path)
    flags = {f: [(e.get("mikey.replay"), e.get("mikey.clock_skew")) for e in es]
             for f, es in got.items() if es}
    assert flags[1] == [(None, None)] and flags[2] == [(None, None)]
    assert flags[3] == [(1, None)]
    assert flags[4][0][0] is None and flags[4][0][1] == pytest.approx(-3603, abs=0.01)
    # the limit is configurable; a negative one turns the check off
    assert _dissect(main, path, "--max-clock-skew", "7200")[4][0].get("mikey.clock_skew") is None
    assert _dissect(main, path, "--max-clock-skew", "-1")[4][0].get("mikey.clock_skew") is None
    assert _dissect(main, path, "--max-clock-skew", "1.5")[3][0]["mikey.clock_skew"] == \
        pytest.approx(-2, abs=0.01)


# == the generator's uid-identities scenario, through dissect (workers and keylog too) ==========
@pytest.fixture(scope="module")
def uid_capture(tmp_path_factory):
    from dissectors.synth import generate

    out = tmp_path_factory.mktemp("uid")
    manifest = generate(out, seed=5, calls=1, scenarios=["uid-identities"])
    return out, manifest


def test_scenario_entries_against_the_oracles(uid_capture):
    out, manifest = uid_capture
    from codec.keyring import from_toml

    ring = from_toml((out / "uid-identities.keyring.toml").read_text())
    assert all(u.uid is None for u in ring.users), "the keyring knows users by URI only"
    entries = [e for e in manifest["entries"] if e["kind"] == "mikey-sakke-uid"]
    periods = {e["expect"]["period_no"] for e in entries}
    assert len(periods) == 2, "two key periods in one capture"
    kms = ring.kms[0]
    for e in entries:
        wire, x = bytes.fromhex(e["mikey"]), e["expect"]
        res = mikey_sakke.process(decode(wire), wire, ring)
        where = e["description"]
        assert res.verified is True and res.ssv == bytes.fromhex(x["key"]), where
        assert (res.sender_uri, res.receiver_uri, res.period_no) == \
            (x["sender_uri"], x["receiver_uri"], x["period_no"]) or x["identities"] == "uri", where
        if x["identities"] != "uri":  # the UIDs in the message are the oracle's
            assert bytes.fromhex(x["receiver_uid"]) == uid_f21(
                x["receiver_uri"], kms.uri, kms.user_key_period, kms.user_key_offset or 0,
                x["period_no"]), where
        assert res.key_id == x["key_id"], where
        if x["key_type"] == "GMK":
            assert x["csb_id"] == guk_id_oracle(x["key_id"], bytes.fromhex(x["key"]),
                                                x["receiver_uri"]), where
        assert (res.key_type_mismatch is not None) == bool(x.get("key_type_mismatch")), where
        got = [(s.cs_id, s.mki.hex(), s.master_key.hex(), s.master_salt.hex())
               for s in res.crypto_sessions]
        assert got == [(s["cs_id"], s["mki"], s["master_key"], s["master_salt"])
                       for s in x["crypto_sessions"]], where


@pytest.mark.parametrize("workers", ["1", "2"])
def test_scenario_through_dissect(uid_capture, workers):
    from dissectors.cli import main

    out, manifest = uid_capture
    got = _dissect(main, out / "uid-identities.pcapng", "--keys",
                   str(out / "uid-identities.keyring.toml"), "--workers", workers)
    entries = [e for e in manifest["entries"] if e["kind"] == "mikey-sakke-uid"]
    for e in entries:
        (entry,) = got[e["frame"]]
        x = e["expect"]
        hdr = entry["mikey"][0]["mikey.hdr"]
        if x["identities"] != "uri":
            assert hdr["mikey.3gpp.sender_uri"] == x["sender_uri"], e["description"]
            assert hdr["mikey.3gpp.receiver_uri"] == x["receiver_uri"], e["description"]
        assert hdr["mikey.3gpp.period_no"] == x["period_no"]
        assert hdr["mikey.3gpp.key_id"] == x["key_id"]
        assert entry.get("mikey.replay") == e.get("replay_of"), e["description"]
        assert "mikey.clock_skew" not in entry


def test_scenario_keylog_carries_uris_and_period(uid_capture, tmp_path):
    from dissectors.cli import main
    import base64

    out, manifest = uid_capture
    log = tmp_path / "k.log"
    assert main(["keylog", str(out / "uid-identities.pcapng"), "--keys",
                 str(out / "uid-identities.keyring.toml"), "-o", str(log)]) == 0
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("MIKEY ")]
    e = next(e for e in manifest["entries"] if e["expect"]["identities"] == "uid")
    line = next(ln for ln in lines if f" frame={e['frame']} " in ln)
    fields = dict(f.split("=", 1) for f in line.split()[2:] if "=" in f)
    assert base64.b64decode(fields["receiver_uri_b64"]).decode() == e["expect"]["receiver_uri"]
    assert base64.b64decode(fields["sender_uri_b64"]).decode() == e["expect"]["sender_uri"]
    assert int(fields["period_no"]) == e["expect"]["period_no"]


def test_scenario_is_deterministic(uid_capture, tmp_path):
    from dissectors.synth import generate

    out, _ = uid_capture
    generate(tmp_path, seed=5, calls=1, scenarios=["uid-identities"])
    for name in ("uid-identities.pcapng", "uid-identities.keyring.toml"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_large_uri_keyring_is_indexed_once_per_period_and_grows(net, monkeypatch):
    from codec.crypto import mcx

    n = period_no(NTP_T)
    wire = hand_built(net, sender=ALICE, receiver=BOB, ntp=NTP_T, n_sender=n, n_receiver=n,
                      ssv=PCK, csb_id=PCK_ID)
    others = [UserKeys(uri=f"sip:user{i}@mcx.example.net", kms=KMS_URI) for i in range(500)]
    ring = net.ring(*others)
    mikey_sakke.cached_uid.cache_clear()
    calls = []
    real = mcx.uid
    monkeypatch.setattr(mcx, "uid", lambda *a: calls.append(a) or real(*a))
    res = mikey_sakke.process(decode(wire), wire, ring)
    assert res.ssv is None and res.receiver_uri is None  # bob is not in the keyring yet
    first = len(calls)
    assert first <= 3 * 500
    ring.users.append(net.uri_only(BOB, n))  # keys learnt later (KMS XML in the capture)
    for _ in range(5):
        res = mikey_sakke.process(decode(wire), wire, ring)
        assert res.ssv == PCK and res.receiver_uri == BOB
    assert len(calls) - first <= 3 + 3  # only the new user's UIDs were computed


# == the Wireshark plugin shows the same: replay, clock skew, and (keylog) URIs and period =====
def _plugin_vs_dissect(capture, tmp_path, keyring=None, secrets=False):
    from dissectors.cli import main
    from tests.support.wireshark_plugin import (canon_entry, canon_theirs, drop_hidden, mcsec_entries,
                                                plugin_trees, tree_diff)

    prefs, args = ["mcsec_mikey.max_clock_skew:300"], []  # mcsec dissect's default
    if keyring is not None:
        log = tmp_path / "capture.mcsec-keylog"
        assert main(["keylog", str(capture), "--keys", str(keyring), "-o", str(log)]) == 0
        prefs.append(f"mcsec_mikey.keylog_file:{log}")
        args += ["--keys", str(keyring)]
    theirs, ours = plugin_trees(capture, *prefs), mcsec_entries(capture, *args)
    assert set(theirs) == set(ours)
    seen = set()
    for frame in sorted(ours):
        assert len(theirs[frame]) == len(ours[frame]), frame
        for tree, entry in zip(theirs[frame], ours[frame]):
            mine = canon_entry(entry, hide_secrets=keyring is not None and not secrets)
            plugin = canon_theirs(tree)
            if keyring is not None and not secrets:
                plugin = drop_hidden(plugin)
            assert plugin == mine, f"frame {frame}:\n" + "\n".join(tree_diff(mine, plugin))
            seen |= {k for k in mine if k in ("mikey.replay", "mikey.clock_skew")}
            seen |= {k for h in mine.get("mikey.hdr", []) for k in h
                     if k.endswith(("_uri", "period_no"))}
    return seen


def test_plugin_flags_replays_and_clock_skew_like_dissect(tmp_path, net):
    path = _replay_capture(tmp_path, net)
    assert _plugin_vs_dissect(path, tmp_path) == {"mikey.replay", "mikey.clock_skew"}


def test_plugin_on_the_uid_scenario_with_its_keylog(uid_capture, tmp_path):
    out, _ = uid_capture
    cap, ring = out / "uid-identities.pcapng", out / "uid-identities.keyring.toml"
    assert "mikey.replay" in _plugin_vs_dissect(cap, tmp_path)
    seen = _plugin_vs_dissect(cap, tmp_path, ring)
    assert {"mikey.replay", "mikey.3gpp.sender_uri", "mikey.3gpp.receiver_uri",
            "mikey.3gpp.period_no"} <= seen


def test_bundled_sample_decrypts_with_its_uri_only_keyring():
    """pcaps/uid-identities.pcapng: every manifest entry, through `mcsec dissect`."""
    from pathlib import Path

    from dissectors.cli import main

    pcaps = Path(__file__).resolve().parents[2] / "pcaps"
    manifest = json.loads((pcaps / "manifest.json").read_text())
    entries = [e for e in manifest["entries"] if e["kind"] == "mikey-sakke-uid"]
    assert len(entries) == 7
    got = _dissect(main, pcaps / "uid-identities.pcapng", "--keys",
                   str(pcaps / "uid-identities.keyring.toml"), "--show-secrets")
    for e in entries:
        (entry,) = got[e["frame"]]
        x, hdr = e["expect"], entry["mikey"][0]["mikey.hdr"]
        sakke_p = next(p["mikey.sakke"] for p in entry["mikey"] if "mikey.sakke" in p)
        assert sakke_p["mikey.sakke.ssv"] == x["key"], e["description"]
        assert hdr["mikey.3gpp.key_id"] == x["key_id"] and hdr["mikey.3gpp.period_no"] == \
            x["period_no"], e["description"]
        assert entry.get("mikey.replay") == e.get("replay_of")
        assert [(c["mikey.3gpp.mki"], c["mikey.3gpp.srtp_master_key"])
                for c in entry["mikey.3gpp.crypto_sessions"]] == \
            [(c["mki"], c["master_key"]) for c in x["crypto_sessions"]], e["description"]
