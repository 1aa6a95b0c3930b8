"""MIKEY-SAKKE I_MESSAGEs end to end: a KMS in the test, real GMK/PCK/CSK messages, verify,
decrypt and derive (RFC 6509, TS 33.180 Annex E / §7.4 / §F).

Oracles: the keys the test itself chose (the SSV must come back), the GMK-ID the test chose (must
be recovered from the GUK-ID), and SRTP master keys computed here with an HMAC-built PRF
(RFC 3830 §4.1.2/§4.1.3 with RFC 6043 §6.1) from the inputs the test put in the message.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from codec.crypto import eccsi, mcx, prf, sakke
from codec.keyring import Keyring, UserKeys
from codec.kms import Kms
from codec.mikey import DecodeError, decode, encode
from codec.mikey import keyparams
from codec.mikey import sakke as mikey_sakke
from codec.mikey import model
from dissectors.pcap.render import records_json

NTP = 3599719634  # TS 33.180 §F.2.1.2 example time -> key period 1388
NTP64 = NTP << 32
PERIOD = 1388
KMS_URI = "kms.example.org"
ALICE, BOB = "sip:alice@example.org", "sip:bob@example.org"
GMS = "sip:gms@example.org"
SERVER = "sip:mcptt-as@example.org"  # seed 000: the MCPTT AS PSI as IDRr of a CSK upload
RAND = bytes(range(0xA0, 0xB0))

GMK = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
GMK_ID = 0x0ABC_1234  # tag 0
PCK = bytes.fromhex("00112233445566778899aabbccddeeff")
PCK_ID = 0x1234_5678  # tag 1
CSK = bytes.fromhex("ffeeddccbbaa99887766554433221100")
CSK_ID = 0x2FED_CBA9  # tag 2


# -- the test KMS --------------------------------------------------------------------------------
class World:
    def __init__(self):
        self.kms = Kms(KMS_URI, ksak=0x1F2E3D4C5B6A, z_s=0x0102030405060708090A)
        self.keys = {}

    def user(self, uri, period=PERIOD) -> UserKeys:
        if (uri, period) not in self.keys:
            self.keys[uri, period] = self.kms.issue(uri, period)
        return self.keys[uri, period]

    def party(self, uri, period=PERIOD) -> mikey_sakke.Party:
        u = self.user(uri, period)
        return mikey_sakke.Party(uri, KMS_URI, u.uid, self.kms.kpak, self.kms.z, u.ssk, u.pvt)

    def ring(self, *users) -> Keyring:
        return Keyring(kms=[self.kms.public()], users=list(users))


@pytest.fixture(scope="module")
def w():
    return World()


def _ref_prf256(key: bytes, label: bytes, n: int) -> bytes:
    """PRF-HMAC-SHA-256 for a TGK of at most 256 bits: one slice, P_hash blocks until n octets."""
    a, out = label, b""
    while len(out) < n:
        a = hmac.new(key, a, hashlib.sha256).digest()
        out += hmac.new(key, a + label, hashlib.sha256).digest()
    return out[:n]


def _expected_session(key, cs_id, csb_id, rand, key_len=16, salt_len=12):
    """(master key, master salt) computed twice: the codec's srtp_master with the inputs the test
    chose, and the HMAC-built PRF with hand-assembled labels; both must agree."""
    mk, ms = prf.srtp_master(key, cs_id, csb_id, rand, key_len, salt_len, prf.PRF_HMAC_SHA_256)
    tail = bytes([cs_id]) + csb_id.to_bytes(4, "big") + rand
    assert mk == _ref_prf256(key, bytes.fromhex("2AD01C64") + tail, key_len)
    assert ms == _ref_prf256(key, bytes.fromhex("39A2C14B") + tail, salt_len)
    return mk, ms


def _build(w, key_type, key, key_id, sender, receiver, *, sender_period=PERIOD,
           receiver_period=PERIOD, **kw):
    kw.setdefault("ntp_time", NTP64)
    kw.setdefault("rand", RAND)
    return mikey_sakke.build_i_message(key_type, key, key_id, w.party(sender, sender_period),
                                       w.party(receiver, receiver_period), **kw)


def _flip(data: bytes, index: int, bit: int = 0) -> bytes:
    b = bytearray(data)
    b[index] ^= 1 << bit
    return bytes(b)


def _invert(data: bytes, index: int) -> bytes:
    b = bytearray(data)
    b[index] ^= 0xFF
    return bytes(b)


# -- GMK -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gmk_params():
    return keyparams.KeyParameters(key_type=0, status=1, activation_time=NTP, expiry_time=NTP + 86400,
                                   text=b"Fire brigade", group_ids=keyparams.group_ids_field(["grp1@example.org"]))


@pytest.fixture(scope="module")
def gmk_wire(w, gmk_params):
    return _build(w, "GMK", GMK, GMK_ID, GMS, BOB, key_params=gmk_params)


def test_gmk_generic_map(w, gmk_wire):
    msg = decode(gmk_wire)
    assert encode(msg) == gmk_wire
    guk = mcx.guk_id(GMK_ID, GMK, BOB)
    assert msg.hdr.csb_id == guk != GMK_ID
    res = mikey_sakke.process(msg, gmk_wire, w.ring(w.user(BOB)))
    assert res.verified is True, res.sign_error
    assert res.region == mikey_sakke.REGION_RFC == "rfc3830"
    assert res.ssv == GMK
    assert res.decrypt_error is None and not res.decrypted_unverified
    assert res.key_type == "GMK"
    assert res.guk_id == guk
    assert res.key_id == GMK_ID  # recovered with the member's URI (TS 33.180 §F.1.3)
    assert (res.initiator, res.responder) == (GMS, BOB)
    assert res.kms_initiator == res.kms_responder == KMS_URI
    assert res.sender_uid == w.user(GMS).uid and res.receiver_uid == w.user(BOB).uid
    assert res.period_no == PERIOD
    # one crypto session: CS ID 4, MKI = GMK-ID || GUK-ID (TS 33.180 §7.4.2)
    assert [cs.cs_id for cs in res.crypto_sessions] == [4]
    cs = res.crypto_sessions[0]
    assert cs.mki == GMK_ID.to_bytes(4, "big") + guk.to_bytes(4, "big")
    assert (cs.master_key, cs.master_salt) == _expected_session(GMK, 4, guk, RAND)


def test_gmk_key_parameters(w, gmk_wire, gmk_params):
    res = mikey_sakke.process(decode(gmk_wire), gmk_wire, w.ring(w.user(BOB)))
    kp = res.key_params
    assert kp is not None and kp.error is None and not kp.legacy
    assert kp.protected.dppk_id == mcx.guk_id(GMK_ID, GMK, BOB)  # DPPK-ID = CSB ID
    p = kp.params
    assert (p.key_type, p.status, p.activation_time, p.expiry_time) == (0, 1, NTP, NTP + 86400)
    assert bytes(p.text) == b"Fire brigade"
    assert p.group_id_list() == ["grp1@example.org"]
    assert not p.revoked


def test_gmk_for_another_member_has_its_own_guk_id(w):
    wire = _build(w, "GMK", GMK, GMK_ID, GMS, ALICE)
    res = mikey_sakke.process(decode(wire), wire, w.ring(w.user(ALICE)))
    assert res.verified and res.ssv == GMK
    assert res.guk_id == mcx.guk_id(GMK_ID, GMK, ALICE) != mcx.guk_id(GMK_ID, GMK, BOB)
    assert res.key_id == GMK_ID


def test_gmk_empty_map(w):
    wire = _build(w, "GMK", GMK, GMK_ID, GMS, BOB, map_style="empty")
    msg = decode(wire)
    assert msg.hdr.cs_id_map_type == 1 and not msg.hdr.cs_id_map
    res = mikey_sakke.process(msg, wire, w.ring(w.user(BOB)))
    assert res.verified and res.ssv == GMK and res.key_id == GMK_ID
    guk = mcx.guk_id(GMK_ID, GMK, BOB)
    assert [cs.cs_id for cs in res.crypto_sessions] == [4]
    cs = res.crypto_sessions[0]
    assert cs.mki == GMK_ID.to_bytes(4, "big") + guk.to_bytes(4, "big")
    assert (cs.master_key, cs.master_salt) == _expected_session(GMK, 4, guk, RAND)


# -- PCK -----------------------------------------------------------------------------------------
def test_pck_empty_map(w):
    params = keyparams.KeyParameters(key_type=1, status=1, activation_time=0, expiry_time=0, text=b"")
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB, map_style="empty", key_params=params)
    res = mikey_sakke.process(decode(wire), wire, w.ring(w.user(BOB)))
    assert res.verified is True and res.region == "rfc3830"
    assert res.ssv == PCK and res.key_type == "PCK" and res.key_id == PCK_ID
    assert res.guk_id is None
    # empty map: CS IDs 0 (initiator's media) and 1 (receiver's media), MKI = PCK-ID (§7.4.1)
    assert [cs.cs_id for cs in res.crypto_sessions] == [0, 1]
    for cs in res.crypto_sessions:
        assert cs.mki == PCK_ID.to_bytes(4, "big")
        assert (cs.master_key, cs.master_salt) == _expected_session(PCK, cs.cs_id, PCK_ID, RAND)
    assert res.crypto_sessions[0].master_key != res.crypto_sessions[1].master_key
    assert res.key_params.error is None
    assert (res.key_params.params.key_type, res.key_params.params.group_ids) == (1, None)


def test_pck_generic_map(w):
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB)
    res = mikey_sakke.process(decode(wire), wire, w.ring(w.user(BOB)))
    assert res.verified and res.ssv == PCK
    assert [(cs.cs_id, cs.mki) for cs in res.crypto_sessions] == [(0, PCK_ID.to_bytes(4, "big"))]


def test_pck_with_sp_payload_sets_srtp_lengths(w):
    sp = model.SP(policy_no=0, prot_type=0, policy_params=[
        model.SpParam(type=1, value=b"\x20"), model.SpParam(type=4, value=b"\x0e")])
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB, map_style="empty", sp=sp)
    res = mikey_sakke.process(decode(wire), wire, w.ring(w.user(BOB)))
    assert res.verified and res.ssv == PCK
    for cs in res.crypto_sessions:
        assert (len(cs.master_key), len(cs.master_salt)) == (32, 14)
        assert (cs.master_key, cs.master_salt) == _expected_session(PCK, cs.cs_id, PCK_ID, RAND,
                                                                    32, 14)


def test_pck_with_prf_mikey_1(w):
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB, map_style="empty", prf_func=0)
    res = mikey_sakke.process(decode(wire), wire, w.ring(w.user(BOB)))
    assert res.verified and res.ssv == PCK
    label = bytes.fromhex("2AD01C64" "00") + PCK_ID.to_bytes(4, "big") + RAND
    a1 = hmac.new(PCK, label, hashlib.sha1).digest()
    assert res.crypto_sessions[0].master_key == hmac.new(PCK, a1 + label,
                                                         hashlib.sha1).digest()[:16]


# -- CSK (upload to the MCX server, seed 000) ------------------------------------------------------
def test_csk_upload(w):
    params = keyparams.KeyParameters(key_type=2, status=1, activation_time=0, expiry_time=0,
                                     text=b"csk")
    wire = _build(w, "CSK", CSK, CSK_ID, ALICE, SERVER, key_params=params)
    msg = decode(wire)
    assert [p.id_data for p in msg.find_all("IDR") if p.id_role == 2] == [SERVER.encode()]
    res = mikey_sakke.process(msg, wire, w.ring(w.user(SERVER)))
    assert res.verified is True
    assert res.ssv == CSK and res.key_type == "CSK" and res.key_id == CSK_ID
    assert res.receiver_uid == w.kms.uid(SERVER, PERIOD)
    assert [(cs.cs_id, cs.mki) for cs in res.crypto_sessions] == [(6, CSK_ID.to_bytes(4, "big"))]
    cs = res.crypto_sessions[0]
    assert (cs.master_key, cs.master_salt) == _expected_session(CSK, 6, CSK_ID, RAND)
    assert bytes(res.key_params.params.text) == b"csk"


def test_csk_empty_map(w):
    wire = _build(w, "CSK", CSK, CSK_ID, ALICE, SERVER, map_style="empty")
    res = mikey_sakke.process(decode(wire), wire, w.ring(w.user(SERVER)))
    assert res.verified and res.ssv == CSK
    assert [(cs.cs_id, cs.mki) for cs in res.crypto_sessions] == [(6, CSK_ID.to_bytes(4, "big"))]


# -- region conventions ---------------------------------------------------------------------------
def test_region_without_sign_header(w):
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB, region=mikey_sakke.REGION_SHORT)
    res = mikey_sakke.process(decode(wire), wire, w.ring(w.user(BOB)))
    assert res.verified is True
    assert res.region == mikey_sakke.REGION_SHORT == "without_sign_header"
    assert any("SIGN header" in n for n in res.notes)
    assert res.ssv == PCK
    # and the signature really excludes the SIGN header: it verifies over wire[:-131] only
    kpak, uid = w.kms.kpak, w.user(ALICE).uid
    assert eccsi.verify(wire[:-131], wire[-129:], uid, kpak).ok
    assert not eccsi.verify(wire[:-129], wire[-129:], uid, kpak).ok


def test_rfc_region_signature_covers_sign_header(w, gmk_wire):
    kpak, uid = w.kms.kpak, w.user(GMS).uid
    assert gmk_wire[-131:-129] == b"\x20\x81"  # S type 2, length 129
    assert eccsi.verify(gmk_wire[:-129], gmk_wire[-129:], uid, kpak).ok
    assert not eccsi.verify(gmk_wire[:-131], gmk_wire[-129:], uid, kpak).ok


# -- identities: UIDs in the IDR payloads, RFC 6509 identifiers -------------------------------------
def _resign(msg, party: mikey_sakke.Party) -> bytes:
    sign = msg.payloads[-1]
    sign.signature = bytes(129)
    unsigned = encode(msg)
    sign.signature = eccsi.sign(unsigned[:-129], party.identifier, party.ssk, party.pvt,
                                party.kpak)
    return encode(msg)


def _uid_idr_message(w, sender, receiver, roles=(1, 2)):
    wire = _build(w, "PCK", PCK, PCK_ID, sender, receiver)
    msg = decode(wire)
    for p in msg.find_all("IDR"):
        if p.id_role == 1:
            p.id_data, p.id_role = w.user(sender).uid, roles[0]
        elif p.id_role == 2:
            p.id_data, p.id_role = w.user(receiver).uid, roles[1]
    return _resign(msg, w.party(sender))


def _users_by_colon(w, has_colon: bool, count=2):
    out = []
    for i in range(500):
        uri = f"sip:user{i}@example.org"
        if (b":" in w.kms.uid(uri, PERIOD)) == has_colon:
            out.append(uri)
            if len(out) == count:
                return out
    raise AssertionError("no such users")


@pytest.mark.parametrize("roles", [(1, 2), (8, 9)], ids=["IDRi/IDRr", "roles 8/9"])
def test_uids_instead_of_uris_in_idr(w, roles):
    sender, receiver = _users_by_colon(w, has_colon=False)
    wire = _uid_idr_message(w, sender, receiver, roles)
    msg = decode(wire)
    assert {bytes(p.id_data) for p in msg.find_all("IDR")} >= {w.user(sender).uid,
                                                             w.user(receiver).uid}
    res = mikey_sakke.process(msg, wire, w.ring(w.user(receiver)))
    assert res.verified is True, res.sign_error
    assert res.ssv == PCK, res.decrypt_error
    assert res.sender_uid == w.user(sender).uid and res.receiver_uid == w.user(receiver).uid


def test_uids_containing_a_colon_octet_in_idr(w):
    # About 12 % of SHA-256 UIDs contain the octet 0x3A (":"); they are still UIDs, not URIs.
    sender, receiver = _users_by_colon(w, has_colon=True)
    wire = _uid_idr_message(w, sender, receiver)
    res = mikey_sakke.process(decode(wire), wire, w.ring(w.user(receiver)))
    assert res.verified is True, res.sign_error
    assert res.ssv == PCK, res.decrypt_error


def test_rfc6509_monthly_identifiers(w):
    # SAKKE ID scheme 1: "YYYY-MM" 0x00 tel URI 0x00 (RFC 6509 §3.2); NTP time is 2014-01-26
    a_uri, b_uri = "tel:+447700900123", "tel:+447700900456"
    a_id = mcx.rfc6509_identifier(a_uri, 2014, 1)
    b_id = mcx.rfc6509_identifier(b_uri, 2013, 12)  # the previous month's key still works
    a_ssk, a_pvt = eccsi.issue_user_keys(w.kms.ksak, w.kms.kpak, a_id)
    b_rsk = sakke.issue_rsk(w.kms.z_s, b_id)
    pa = mikey_sakke.Party(a_uri, KMS_URI, a_id, w.kms.kpak, w.kms.z, a_ssk, a_pvt)
    pb = mikey_sakke.Party(b_uri, KMS_URI, b_id, w.kms.kpak, w.kms.z)
    wire = mikey_sakke.build_i_message("PCK", PCK, PCK_ID, pa, pb, ntp_time=NTP64, rand=RAND, id_scheme=1)
    res = mikey_sakke.process(decode(wire), wire, w.ring(UserKeys(uri=b_uri, uid=b_id, rsk=b_rsk)))
    assert res.verified is True, res.sign_error
    assert res.sender_uid == a_id and res.receiver_uid == b_id
    assert res.ssv == PCK


# -- key periods ---------------------------------------------------------------------------------
@pytest.mark.parametrize("delta", [-1, 1])
def test_neighbouring_key_period(w, delta):
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB, sender_period=PERIOD + delta,
                  receiver_period=PERIOD + delta)
    res = mikey_sakke.process(decode(wire), wire, w.ring(w.user(BOB, PERIOD + delta)))
    assert res.verified is True, res.sign_error
    assert res.period_no == PERIOD + delta
    assert res.ssv == PCK


def test_keyring_with_several_periods_picks_the_right_one(w):
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB)
    ring = w.ring(w.user(BOB, PERIOD - 1), w.user(BOB, PERIOD + 1), w.user(BOB, PERIOD))
    res = mikey_sakke.process(decode(wire), wire, ring)
    assert res.verified and res.ssv == PCK and res.receiver_uid == w.user(BOB).uid


def test_user_keys_by_uri_and_period_without_uid(w):
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB)
    bob = w.user(BOB)
    res = mikey_sakke.process(decode(wire), wire, w.ring(UserKeys(uri=BOB, kms=KMS_URI, rsk=bob.rsk,
                                                                  period=PERIOD)))
    assert res.verified and res.ssv == PCK


def test_receiver_keys_for_a_far_period(w):
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB)
    res = mikey_sakke.process(decode(wire), wire, w.ring(w.user(BOB, PERIOD + 5)))
    assert res.verified is True  # the signature only needs the KPAK
    assert res.ssv is None
    assert "no key" in res.decrypt_error
    assert res.crypto_sessions == []


def test_sender_keys_for_a_far_period(w):
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB, sender_period=PERIOD - 3)
    res = mikey_sakke.process(decode(wire), wire, w.ring(w.user(BOB)))
    assert res.verified is False and res.sign_error
    assert res.ssv is None and "not decrypted" in res.decrypt_error


# -- wrong keys, no keys -------------------------------------------------------------------------
def test_wrong_rsk(w):
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB)
    bob, alice = w.user(BOB), w.user(ALICE)
    fake = UserKeys(uri=BOB, uid=bob.uid, kms=KMS_URI, rsk=alice.rsk, period=PERIOD)
    res = mikey_sakke.process(decode(wire), wire, w.ring(fake))
    assert res.verified is True
    assert res.ssv is None
    assert "decapsulation failed" in res.decrypt_error
    assert res.crypto_sessions == [] and res.key_params is None


def test_another_users_keys_only(w):
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB)
    res = mikey_sakke.process(decode(wire), wire, w.ring(w.user(ALICE)))
    assert res.verified is True and res.ssv is None
    assert "no key" in res.decrypt_error


def test_wrong_kms(w):
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB)
    other = Kms(KMS_URI, ksak=0x777, z_s=0x888)
    res = mikey_sakke.process(decode(wire), wire, Keyring(kms=[other.public()], users=[w.user(BOB)]))
    assert res.verified is False and res.ssv is None


def test_no_keys_at_all(w, gmk_wire):
    res = mikey_sakke.process(decode(gmk_wire), gmk_wire, Keyring())
    assert res.verified is None
    assert "no key" in res.sign_error
    assert res.ssv is None and res.decrypt_error
    assert res.key_type == "GMK" and res.guk_id is None and res.key_id is None


def test_no_keys_decrypt_unverified(w, gmk_wire):
    res = mikey_sakke.process(decode(gmk_wire), gmk_wire, Keyring(), decrypt_unverified=True)
    assert res.verified is None and res.ssv is None
    assert "no key" in res.decrypt_error


def test_public_kms_keys_only(w, gmk_wire):
    res = mikey_sakke.process(decode(gmk_wire), gmk_wire, w.ring())
    assert res.verified is True
    assert res.ssv is None and "no key" in res.decrypt_error


# -- tampering -----------------------------------------------------------------------------------
def test_tampered_rand_decrypt_unverified(w):
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB, map_style="empty")
    pos = wire.index(RAND)
    bad = _flip(wire, pos + 3)
    msg = decode(bad)
    ring = w.ring(w.user(BOB))
    res = mikey_sakke.process(msg, bad, ring)
    assert res.verified is False and res.ssv is None and res.crypto_sessions == []
    assert "not decrypted" in res.decrypt_error
    res = mikey_sakke.process(msg, bad, ring, decrypt_unverified=True)
    assert res.verified is False
    assert res.ssv == PCK and res.decrypted_unverified is True
    assert res.crypto_sessions[0].master_key == _expected_session(
        PCK, 0, PCK_ID, _flip(RAND, 3))[0]


def _check_flip(original, wire, i, ring, sakke_off, whole_octet):
    """Problems (strings) found with octet ``i`` damaged; [] when all is well."""
    problems = []
    bad = _invert(wire, i) if whole_octet else _flip(wire, i, i % 8)
    # the signature covers every octet: even with the original decoding, the octets fail
    res = mikey_sakke.process(original, bad, ring)
    if res.verified is not False or res.ssv is not None:
        problems.append(f"original decoding: verified={res.verified} ssv={res.ssv}")
    try:
        msg = decode(bad)
    except DecodeError:
        return problems, True
    res = mikey_sakke.process(msg, bad, ring)
    if res.verified is True:
        problems.append("verified")
    if res.ssv is not None or res.crypto_sessions:
        problems.append("key released without decrypt_unverified")
    if res.verified is False and not res.sign_error:
        problems.append("no sign_error")
    res = mikey_sakke.process(msg, bad, ring, decrypt_unverified=True)
    if res.verified is True:
        problems.append("verified (decrypt_unverified)")
    if res.ssv is not None and (res.decrypted_unverified is not True or res.ssv != GMK):
        problems.append("unverified key not flagged")
    if sakke_off <= i < sakke_off + 273 and res.ssv is not None:
        problems.append("SAKKE data damaged but a key came out")
    return problems, False


@pytest.mark.parametrize("whole_octet", [False, True], ids=["one bit", "octet inverted"])
def test_every_bit_flip_of_the_signed_region(w, gmk_wire, whole_octet):
    """One flipped bit (or an inverted octet) at every position of the signed region: never
    verified, never an exception, no key released unless asked for (and then flagged)."""
    ring = w.ring(w.user(BOB))
    original = decode(gmk_wire)
    region_len = len(gmk_wire) - 129
    sakke_off = gmk_wire.index(bytes(original.find("SAKKE").sakke_data))
    start = time.monotonic()
    decode_errors, failures = 0, {}
    for i in range(region_len):
        try:
            problems, decode_failed = _check_flip(original, gmk_wire, i, ring, sakke_off,
                                                   whole_octet)
        except Exception as e:  # noqa: BLE001 - an exception is exactly what is tested for
            problems, decode_failed = [f"{type(e).__name__}: {e}"], False
        decode_errors += decode_failed
        if problems:
            failures[i] = problems
    assert failures == {}
    assert decode_errors < region_len // 2  # most flips still decode, so process really ran
    assert time.monotonic() - start < 20


def test_unknown_prf_func_is_reported_not_raised(w):
    # a correctly signed and encapsulated message whose HDR names an unassigned PRF (RFC 3830
    # §6.1: 7 bits; only 0 and 1 are defined): process() must not raise, and must say why it
    # derived no SRTP keys
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB, prf_func=5)
    msg = decode(wire)
    assert msg.hdr.prf_func == 5
    res = mikey_sakke.process(msg, wire, w.ring(w.user(BOB)))
    assert res.verified is True and res.ssv == PCK
    assert res.crypto_sessions == []
    assert any("PRF" in n for n in res.notes) or "PRF" in (res.decrypt_error or "")


def test_every_bit_flip_verdict_is_false_not_none(w, gmk_wire):
    """With a decoded tampered message, verification is attempted and fails (False) except where
    the flip destroys what the signer's identifier is made from (T type, IDRi role or URI)."""
    ring = w.ring(w.user(BOB))
    none_positions = []
    for i in range(len(gmk_wire) - 129):
        bad = _flip(gmk_wire, i, i % 8)
        try:
            msg = decode(bad)
        except DecodeError:
            continue
        res = mikey_sakke.process(msg, bad, ring)
        if res.verified is None:
            none_positions.append(i)
            assert res.sign_error, i
    msg = decode(gmk_wire)
    offsets, off = {}, len(msg.hdr.to_bytes(0))
    for p in msg.payloads:
        offsets.setdefault(p.NAME if p.NAME != "IDR" else f"IDR{p.id_role}", off)
        off += len(p.to_bytes(0))
    # TS type (the time the UID period comes from), IDRi's role (no initiator any more) and
    # IDRi's URI octets (a flipped top bit makes it invalid UTF-8: no URI to hash)
    allowed = {offsets["T"] + 1, offsets["IDR1"] + 1} | set(range(offsets["IDR1"] + 5,
                                                                  offsets["IDR2"]))
    assert none_positions and set(none_positions) <= allowed, (none_positions, offsets)


@pytest.mark.parametrize("cut", [1, 2, 64, 129])
def test_truncated_signature_never_raises(w, gmk_wire, cut):
    wire = gmk_wire[:-cut]
    try:
        msg = decode(wire)
    except DecodeError:
        return
    res = mikey_sakke.process(msg, wire, w.ring(w.user(BOB)))
    assert res.verified is not True and res.ssv is None


def test_signature_replaced(w, gmk_wire):
    for sig in (bytes(129), b"\x00" * 64 + gmk_wire[-65:], gmk_wire[-129:-65] + bytes(65)):
        bad = gmk_wire[:-129] + sig
        res = mikey_sakke.process(decode(bad), bad, w.ring(w.user(BOB)))
        assert res.verified is False and res.sign_error and res.ssv is None


# -- SRTP-ID map: crypto sessions named by SSRC with their ROC, no MKI (RFC 3830 §6.1.1) ---------
SRTP_STREAMS = [(0x11223344, 1), (0x55667788, 0x1234)]


def test_pck_srtp_id_map_gives_ssrc_and_roc(w):
    wire = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB, map_style="srtp-id", srtp_ids=SRTP_STREAMS)
    msg = decode(wire)
    assert msg.hdr.cs_id_map_type == 0
    assert [(e.ssrc, e.roc) for e in msg.hdr.cs_id_map] == SRTP_STREAMS
    res = mikey_sakke.process(msg, wire, w.ring(w.user(BOB)))
    assert res.verified and res.ssv == PCK
    # CS i is the i-th map entry (RFC 3830 §6.1.1); its keys use CS ID i (§4.1.3)
    got = [(cs.cs_id, cs.mki, cs.ssrc, cs.roc) for cs in res.crypto_sessions]
    assert got == [(1, b"", 0x11223344, 1), (2, b"", 0x55667788, 0x1234)]
    for cs in res.crypto_sessions:
        assert (cs.master_key, cs.master_salt) == _expected_session(PCK, cs.cs_id, PCK_ID, RAND)


def test_srtp_id_map_media_open_from_the_maps_roc(w):
    """libsrtp protects a stream across a sequence-number wrap (its ROC goes 0 -> 1); the
    analyst's capture starts after the wrap, so only the ROC the SRTP-ID map gives opens it."""
    import pylibsrtp

    from dissectors.pcap.session import Session, Unit

    ssrc = SRTP_STREAMS[0][0]
    mk, ms = _expected_session(PCK, 1, PCK_ID, RAND)
    sender = pylibsrtp.Session(pylibsrtp.Policy(
        key=mk + ms, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM))
    packets = []
    for i, seq in enumerate(list(range(0xFFFC, 0x10000)) + list(range(0, 4))):
        rtp = (bytes([0x80, 0x60]) + seq.to_bytes(2, "big") + (160 * i).to_bytes(4, "big")
               + ssrc.to_bytes(4, "big") + bytes([i]) * 40)
        packets.append((seq, rtp, sender.protect(rtp)))
    after_wrap = [p for p in packets if p[0] < 0x100]

    def run(roc_in_map):
        session = Session(keyring=w.ring(w.user(BOB)), show_secrets=True)
        m = _build(w, "PCK", PCK, PCK_ID, ALICE, BOB, map_style="srtp-id",
                   srtp_ids=[(ssrc, roc_in_map)])
        unit = lambda n, data: Unit([n], 0.0, "udp", "192.0.2.1", 2269, "192.0.2.2", 2269, data)
        (rec,), = [records_json(session.analyze(unit(1, m)), session.show_secrets)]
        assert rec["kind"] == "mikey" and "error" not in rec
        return [records_json(session.analyze(Unit([n + 2], 0.0, "udp", "192.0.2.1", 4000,
                                                  "192.0.2.2", 4000, protected)),
                             session.show_secrets)[0]
                for n, (_, _, protected) in enumerate(after_wrap)]

    good = run(1)
    assert [r["ok"] for r in good] == [True] * 4
    assert all(r["kind"] == "srtp" and r["ssrc"] == ssrc and r["mki"] == "" for r in good)
    assert [bytes.fromhex(r["plaintext"]) for r in good] == [p[1] for p in after_wrap]
    bad = run(0)  # the map says ROC 0: the GCM tag does not verify
    assert [r["ok"] for r in bad] == [False] * 4
    assert bad[0]["error"]["reason"] == "authentication tag mismatch"


def test_srtp_id_map_media_plaintext_matches(w):
    import pylibsrtp

    from codec.media import MediaKeys

    ssrc, roc = SRTP_STREAMS[0]
    mk, ms = _expected_session(PCK, 1, PCK_ID, RAND)
    sender = pylibsrtp.Session(pylibsrtp.Policy(
        key=mk + ms, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM))
    media = MediaKeys()
    media.add_session(b"", mk, ms, "PCK CS 1", ssrc=ssrc, roc=roc)
    for seq in list(range(0xFFFE, 0x10000)) + [0, 1]:
        rtp = bytes([0x80, 0x60]) + seq.to_bytes(2, "big") + bytes(4) + ssrc.to_bytes(4, "big") \
            + seq.to_bytes(2, "big") * 10
        protected = sender.protect(rtp)  # libsrtp: ROC 0 before the wrap, 1 after
        res = media.open(protected)
        if seq >= 0xFFFE:
            assert res.ok is False  # the map's ROC is 1: these packets used ROC 0
        else:
            assert res.ok and res.plaintext == rtp and res.label == "PCK CS 1"
    assert media.open(bytes([0x80, 0x60]) + bytes(6) + (ssrc + 1).to_bytes(4, "big")
                      + bytes(40)) is None  # another SSRC: not ours, not reported
