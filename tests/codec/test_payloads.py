"""Per-structure tests of the MIKEY codec (codec.mikey).

Every input is built here with struct.pack / bytes literals from the layouts in
/work/shared/reference/mikey.md (RFC 3830, RFC 6043, RFC 6509), never with the codec's encoder.

Layout of the inputs: an Empty-map HDR is exactly 10 octets, so the first payload starts at
offset 10.  Malformed payload inputs are ``HDR | T (10 octets) | bad payload`` so the bad payload
starts at offset 20 and ``DecodeError.partial`` must hold the T payload.
"""

from __future__ import annotations

import struct

import pytest

import codec
from codec import mikey
from codec.mikey import DecodeError

CSB_ID = 0x12345678
TS_NTP = 0xE8F1C2A3_80000000  # an NTP-UTC 32.32 value
MAP_SRTP, MAP_EMPTY, MAP_GENERIC, MAP_IPSEC4 = 0, 1, 2, 7
TLS = mikey.DEFAULT_TLS_PROT_TYPE

# payload type numbers (RFC 3830 §6.1, RFC 6043, RFC 6509)
KEMAC, PKE, DH, SIGN, T, ID, CERT, CHASH, V, SP, RAND, ERR = range(1, 13)
TR, IDR, RANDR, TP, TICKET, KEY, EXT, SAKKE = 13, 14, 15, 16, 17, 20, 21, 26


# ------------------------------------------------------------------------------------------------
# Independent wire builders (RFC layouts)

def hdr(np: int, map_type: int = MAP_EMPTY, n_cs: int = 0, info: bytes = b"", *, version=1,
        data_type=0, v=0, prf=0, csb_id=CSB_ID) -> bytes:
    """RFC 3830 §6.1: version, data type, next payload, V|PRF, CSB ID, #CS, map type, map info."""
    return struct.pack(">BBBBIBB", version, data_type, np, (v << 7) | prf, csb_id, n_cs,
                       map_type) + info


def srtp_id(policy_no: int, ssrc: int, roc: int) -> bytes:
    return struct.pack(">BII", policy_no, ssrc, roc)


def generic_id(cs_id, prot_type, s, policies, session_data, spi) -> bytes:
    return (bytes([cs_id, prot_type, (s << 7) | len(policies), *policies])
            + struct.pack(">H", len(session_data)) + session_data + bytes([len(spi)]) + spi)


def ipsec4_id(policy_no, spi, src, dst) -> bytes:
    return struct.pack(">BIII", policy_no, spi, src, dst)


def t_payload(np: int, ts_type: int = 0, value: int = TS_NTP) -> bytes:
    fmt = ">BBQ" if ts_type in (0, 1) else ">BBI"
    return struct.pack(fmt, np, ts_type, value)


def kv_data(kv: int, spi=b"", vf=b"", vt=b"") -> bytes:
    if kv == 1:
        return bytes([len(spi)]) + spi
    if kv == 2:
        return bytes([len(vf)]) + vf + bytes([len(vt)]) + vt
    return b""


def key_data(np, ktype, kv, key, salt=None, spi=b"", vf=b"", vt=b"") -> bytes:
    out = bytes([np, (ktype << 4) | kv]) + struct.pack(">H", len(key)) + key
    if ktype in (1, 3):
        out += struct.pack(">H", len(salt)) + salt
    return out + kv_data(kv, spi, vf, vt)


def tlv(t, value) -> bytes:
    return bytes([t, len(value)]) + value


def one(ptype: int, body: bytes, **hdr_kw) -> bytes:
    """HDR (Empty map) naming ``ptype`` followed by one payload ``body``."""
    return hdr(ptype, **hdr_kw) + body


def seq(n: int, start: int = 0) -> bytes:
    return bytes((start + i) & 0xFF for i in range(n))


KEY16, SALT14, MKI4 = seq(16, 0x10), seq(14, 0x40), b"\x00\x00\x00\x2f"
MAC20, MAC32 = seq(20, 0xA0), seq(32, 0xC0)
ECCSI_SIG = b"\x04" + seq(128, 1)  # 129 octets: r || s || PVT
SAKKE_DATA = b"\x04" + seq(256, 7) + seq(16, 0x90)  # R_(b,S) (257) || H (16) = 273
KEY_CHAIN = key_data(0, 2, 1, KEY16 + SALT14, spi=MKI4)  # TEK, KV SPI: the RTSP form


# ------------------------------------------------------------------------------------------------
# Decode cases: (id, payload type, payload body, expected attributes of payloads[0])

DECODE_CASES = [
    # KEMAC (RFC 3830 §6.2)
    ("kemac-null-null", KEMAC,
     bytes([0, 0]) + struct.pack(">H", len(KEY_CHAIN)) + KEY_CHAIN + bytes([0]),
     dict(next_payload=0, encr_alg=0, encr_data=KEY_CHAIN, mac_alg=0, mac=b"")),
    ("kemac-aescm-hmacsha1", KEMAC,
     bytes([0, 1]) + struct.pack(">H", 16) + seq(16, 0x55) + bytes([1]) + MAC20,
     dict(encr_alg=1, encr_data=seq(16, 0x55), mac_alg=1, mac=MAC20)),
    ("kemac-aeskw-hmacsha256", KEMAC,
     bytes([0, 2]) + struct.pack(">H", 24) + seq(24, 0x66) + bytes([2]) + MAC32,
     dict(encr_alg=2, encr_data=seq(24, 0x66), mac_alg=2, mac=MAC32)),
    # PKE (RFC 3830 §6.3): C (2 bits) | Data len (14 bits)
    ("pke-c0", PKE, bytes([0]) + struct.pack(">H", 5) + b"envel",
     dict(c=0, data_len=5, data=b"envel")),
    ("pke-c1-len300", PKE, bytes([0]) + struct.pack(">H", (1 << 14) | 300) + seq(300),
     dict(c=1, data_len=300, data=seq(300))),
    ("pke-c2-len16383", PKE, bytes([0]) + struct.pack(">H", (2 << 14) | 0x3FFF) + seq(0x3FFF),
     dict(c=2, data_len=0x3FFF, data=seq(0x3FFF))),
    # DH (RFC 3830 §6.4): value length by group; Reserv | KV; KV data
    ("dh-group0-kv0", DH, bytes([0, 0]) + seq(192) + bytes([0x00]),
     dict(dh_group=0, dh_value=seq(192), reserved=0, kv=0, spi=None, vf=None, vt=None)),
    ("dh-group1-kv1", DH, bytes([0, 1]) + seq(96, 3) + bytes([0x01, 4]) + MKI4,
     dict(dh_group=1, dh_value=seq(96, 3), kv=1, spi_len=4, spi=MKI4, vf=None)),
    ("dh-group2-kv2", DH, bytes([0, 2]) + seq(128, 9) + bytes([0x02, 2]) + b"\x00\x01"
     + bytes([3]) + b"\xff\xff\xff",
     dict(dh_group=2, dh_value=seq(128, 9), kv=2, vf_len=2, vf=b"\x00\x01", vt_len=3,
          vt=b"\xff\xff\xff", spi=None)),
    # SIGN (RFC 3830 §6.5, RFC 6509): S type (4) | Signature len (12), no next payload
    ("sign-rsa-256", SIGN, struct.pack(">H", (0 << 12) | 256) + seq(256),
     dict(s_type=0, signature_len=256, signature=seq(256))),
    ("sign-pss-4095", SIGN, struct.pack(">H", (1 << 12) | 4095) + seq(4095),
     dict(s_type=1, signature_len=4095, signature=seq(4095))),
    ("sign-eccsi-129", SIGN, b"\x20\x81" + ECCSI_SIG,
     dict(s_type=2, signature_len=129, signature=ECCSI_SIG)),
    # T (RFC 3830 §6.6, RFC 6043)
    ("t-ntp-utc", T, t_payload(0, 0, TS_NTP), dict(ts_type=0, ts_value=TS_NTP)),
    ("t-ntp", T, t_payload(0, 1, 0x01D38E19CEF95C3D), dict(ts_type=1, ts_value=0x01D38E19CEF95C3D)),
    ("t-counter", T, t_payload(0, 2, 0xDEADBEEF), dict(ts_type=2, ts_value=0xDEADBEEF)),
    ("t-ntp-utc-32", T, t_payload(0, 3, 0xE8F1C2A3), dict(ts_type=3, ts_value=0xE8F1C2A3)),
    # ID (RFC 3830 §6.7)
    ("id-uri", ID, bytes([0, 1]) + struct.pack(">H", 21) + b"sip:alice@example.org",
     dict(id_type=1, id_len=21, id_data=b"sip:alice@example.org")),
    ("id-empty", ID, bytes([0, 0]) + struct.pack(">H", 0), dict(id_type=0, id_len=0, id_data=b"")),
    # CERT (RFC 3830 §6.7)
    ("cert-x509", CERT, bytes([0, 0]) + struct.pack(">H", 300) + b"\x30\x82" + seq(298),
     dict(cert_type=0, cert_len=300, cert_data=b"\x30\x82" + seq(298))),
    ("cert-url", CERT, bytes([0, 1]) + struct.pack(">H", 13) + b"http://c.test",
     dict(cert_type=1, cert_data=b"http://c.test")),
    # CHASH (RFC 3830 §6.8)
    ("chash-sha1", CHASH, bytes([0, 0]) + seq(20, 0x31), dict(hash_func=0, hash=seq(20, 0x31))),
    ("chash-md5", CHASH, bytes([0, 1]) + seq(16, 0x32), dict(hash_func=1, hash=seq(16, 0x32))),
    # V (RFC 3830 §6.9)
    ("v-null", V, bytes([0, 0]), dict(auth_alg=0, ver_data=b"")),
    ("v-hmacsha1", V, bytes([0, 1]) + MAC20, dict(auth_alg=1, ver_data=MAC20)),
    # SP (RFC 3830 §6.10)
    ("sp-srtp", SP, bytes([0, 3, 0]) + struct.pack(">H", 9) + tlv(0, b"\x01") + tlv(1, b"\x10")
     + tlv(20, b"\x10"),
     dict(policy_no=3, prot_type=0, policy_param_len=9,
          _params=[(0, 1, b"\x01"), (1, 1, b"\x10"), (20, 1, b"\x10")])),
    ("sp-srtp-empty", SP, bytes([0, 0, 0]) + struct.pack(">H", 0),
     dict(policy_no=0, prot_type=0, policy_param_len=0, _params=[])),
    ("sp-tls-tlv", SP, bytes([0, 1, TLS]) + struct.pack(">H", 4) + tlv(7, b"ab"),
     dict(policy_no=1, prot_type=TLS, _params=[(7, 2, b"ab")])),
    ("sp-unknown-not-tlv", SP, bytes([0, 2, 99]) + struct.pack(">H", 3) + b"\x00\x05\x01",
     dict(policy_no=2, prot_type=99, policy_param_len=3, policy_params=b"\x00\x05\x01")),
    # RAND (RFC 3830 §6.11)
    ("rand-16", RAND, bytes([0, 16]) + seq(16, 0x70), dict(rand_len=16, rand=seq(16, 0x70))),
    ("rand-0", RAND, bytes([0, 0]), dict(rand_len=0, rand=b"")),
    # ERR (RFC 3830 §6.12)
    ("err", ERR, bytes([0, 5, 0, 0]), dict(error_no=5, reserved=b"\x00\x00")),
    ("err-reserved-nonzero", ERR, bytes([0, 12, 0xAB, 0xCD]),
     dict(error_no=12, reserved=b"\xab\xcd")),
    # TR (RFC 6043)
    ("tr-ntp-utc", TR, bytes([0, 1, 0]) + struct.pack(">Q", TS_NTP),
     dict(ts_role=1, ts_type=0, ts_value=TS_NTP)),
    ("tr-counter", TR, bytes([0, 4, 2]) + struct.pack(">I", 77),
     dict(ts_role=4, ts_type=2, ts_value=77)),
    # IDR (RFC 6043, RFC 6509 roles 6/7)
    ("idr-kmsi", IDR, bytes([0, 6, 1]) + struct.pack(">H", 15) + b"kms.example.org",
     dict(id_role=6, id_type=1, id_len=15, id_data=b"kms.example.org")),
    # RANDR (RFC 6043)
    ("randr", RANDR, bytes([0, 3, 8]) + seq(8, 0x21), dict(rand_role=3, rand_len=8,
                                                           rand=seq(8, 0x21))),
    # TP (RFC 6043 §6.10): Ticket Type, Subtype, Version, PRF Func(7) D | E..L | M N O Res(5)
    ("tp", TP, bytes([0]) + struct.pack(">H", 2) + bytes([1, 1]) + bytes([0x03, 0xA5, 0x60])
     + struct.pack(">H", 4) + b"pdat",
     dict(ticket_type=2, subtype=1, version=1, prf_func=1, flag_d=1, flag_e=1, flag_f=0,
          flag_g=1, flag_h=0, flag_i=0, flag_j=1, flag_k=0, flag_l=1, flag_m=0, flag_n=1,
          flag_o=1, reserved=0, tp_data_len=4, tp_data=b"pdat")),
    # TICKET (RFC 6043 §6.11): the TP fields, then Ticket Data and Initiator Data
    ("ticket", TICKET, bytes([0]) + struct.pack(">H", 1) + bytes([1, 1, 0x00, 0x00, 0x1F])
     + struct.pack(">H", 0) + struct.pack(">H", 5) + b"tdata" + struct.pack(">H", 2) + b"id",
     dict(ticket_type=1, subtype=1, version=1, prf_func=0, flag_o=0, reserved=0x1F, tp_data=b"",
          ticket_data_len=5, ticket_data=b"tdata", initiator_data_len=2, initiator_data=b"id")),
    # KEY_DATA as a top-level payload (type 20), RFC 3830 §6.13/§6.14
    ("key-tgk-kv0", KEY, key_data(0, 0, 0, KEY16),
     dict(type=0, kv=0, key_data_len=16, key_data=KEY16, salt_len=None, salt=None, spi=None)),
    ("key-tgk-salt-kv1", KEY, key_data(0, 1, 1, KEY16, SALT14, spi=MKI4),
     dict(type=1, kv=1, key_data=KEY16, salt_len=14, salt=SALT14, spi_len=4, spi=MKI4)),
    ("key-tek-kv2", KEY, key_data(0, 2, 2, KEY16 + SALT14, vf=b"\x00" * 6, vt=b"\xff" * 6),
     dict(type=2, kv=2, key_data=KEY16 + SALT14, salt=None, vf_len=6, vf=b"\x00" * 6, vt_len=6,
          vt=b"\xff" * 6)),
    ("key-tek-salt-kv0", KEY, key_data(0, 3, 0, KEY16, SALT14),
     dict(type=3, kv=0, key_data=KEY16, salt_len=14, salt=SALT14, spi=None, vf=None)),
    ("key-tek-salt-kv2", KEY, key_data(0, 3, 2, KEY16, SALT14, vf=b"\x01", vt=b""),
     dict(type=3, kv=2, salt=SALT14, vf=b"\x01", vt_len=0, vt=b"")),
    # GEN_EXT (RFC 3830 §6.15, TS 33.180 type 7)
    ("ext-vendor", EXT, bytes([0, 0]) + struct.pack(">H", 6) + b"vendor",
     dict(type=0, length=6, data=b"vendor")),
    ("ext-type7", EXT, bytes([0, 7]) + struct.pack(">H", 64) + seq(64, 0x80),
     dict(type=7, length=64, data=seq(64, 0x80))),
    # SAKKE (RFC 6509 §4.2)
    ("sakke-273", SAKKE, bytes([0, 1, 2]) + struct.pack(">H", 273) + SAKKE_DATA,
     dict(sakke_params=1, id_scheme=2, sakke_data_len=273, sakke_data=SAKKE_DATA)),
]


def _check_fields(obj, expected: dict):
    for name, want in expected.items():
        if name == "_params":
            got = [(p.type, p.length, p.value) for p in obj.policy_params]
            assert got == want
            assert all(isinstance(p, mikey.SpParam) for p in obj.policy_params)
        else:
            assert getattr(obj, name) == want, name


@pytest.mark.parametrize("ptype,body,expected", [c[1:] for c in DECODE_CASES],
                         ids=[c[0] for c in DECODE_CASES])
def test_decode_payload(ptype, body, expected):
    data = one(ptype, body)
    msg = mikey.decode(data)
    assert msg.hdr.next_payload == ptype
    assert len(msg.payloads) == 1
    p = msg.payloads[0]
    assert p.TYPE == ptype
    assert isinstance(p, mikey.PAYLOAD_CLASSES[ptype])
    if ptype != SIGN:
        assert p.next_payload == 0
    _check_fields(p, expected)
    assert msg.offsets == [0, 10]
    assert msg.trailing == b""


@pytest.mark.parametrize("ptype,body", [c[1:3] for c in DECODE_CASES],
                         ids=[c[0] for c in DECODE_CASES])
def test_roundtrip_payload_bytes(ptype, body):
    data = one(ptype, body)
    assert mikey.encode(mikey.decode(data)) == data


# findings attached to otherwise valid payloads
@pytest.mark.parametrize("ptype,body,path,offset,words", [
    (SIGN, b"\x20\x20" + seq(32), "payloads[0](SIGN).signature", 12, ["129", "32"]),
    (SIGN, b"\x20\x80" + seq(128), "payloads[0](SIGN).signature", 12, ["129", "128"]),
    (KEMAC, bytes([0, 6]) + struct.pack(">H", 0) + bytes([0]), "payloads[0](KEMAC).encr_alg", 11,
     ["6"]),
    (SP, bytes([0, 2, 99]) + struct.pack(">H", 3) + b"\x00\x05\x01",
     "payloads[0](SP).policy_params", 15, ["TLV"]),
], ids=["eccsi-32", "eccsi-128", "kemac-encr-alg-6", "sp-not-tlv"])
def test_decode_findings(ptype, body, path, offset, words):
    data = one(ptype, body)
    msg = mikey.decode(data)
    assert len(msg.findings) == 1
    f = msg.findings[0]
    assert isinstance(f, codec.Finding)
    assert (f.path, f.offset) == (path, offset)
    for w in words:
        assert w in f.message
    assert mikey.encode(msg) == data  # the quirk survives a round trip


@pytest.mark.parametrize("ptype,body", [
    (CHASH, bytes([0, 0]) + seq(20)),
    (V, bytes([0, 1]) + MAC20),
    (SIGN, b"\x20\x81" + ECCSI_SIG),
    (SP, bytes([0, 1, 0]) + struct.pack(">H", 3) + tlv(0, b"\x01")),
    (KEMAC, bytes([0, 2]) + struct.pack(">H", 0) + bytes([2]) + MAC32),
], ids=["chash", "v", "sign-eccsi-129", "sp-srtp", "kemac-aeskw"])
def test_no_findings_for_clean_payloads(ptype, body):
    assert mikey.decode(one(ptype, body)).findings == []


# ------------------------------------------------------------------------------------------------
# HDR and the CS ID maps

TLS_ENTRY = generic_id(1, TLS, 0, [], b"", b"\xa1\xa2\xa3\xa4")
UNKNOWN_ENTRY = generic_id(2, 99, 1, [1, 2], b"sess-data", b"")

HDR_CASES = [
    ("srtp-id-2", hdr(0, MAP_SRTP, 2, srtp_id(1, 0xCAFEBABE, 7) + srtp_id(2, 0x01020304, 0)),
     dict(n_cs=2, cs_id_map_type=0),
     [dict(policy_no=1, ssrc=0xCAFEBABE, roc=7), dict(policy_no=2, ssrc=0x01020304, roc=0)]),
    ("srtp-id-ssrc0", hdr(0, MAP_SRTP, 1, srtp_id(0, 0, 0)), dict(n_cs=1),
     [dict(policy_no=0, ssrc=0, roc=0)]),
    ("srtp-id-0-entries", hdr(0, MAP_SRTP, 0), dict(n_cs=0, cs_id_map_type=0), []),
    ("empty-cs0", hdr(0, MAP_EMPTY, 0, data_type=26, v=0, prf=1),
     dict(data_type=26, v=0, prf_func=1, n_cs=0, cs_id_map_type=1), []),
    ("empty-cs3", hdr(0, MAP_EMPTY, 3), dict(n_cs=3, cs_id_map_type=1), []),
    ("generic-tls", hdr(0, MAP_GENERIC, 1, TLS_ENTRY), dict(n_cs=1, cs_id_map_type=2),
     [dict(cs_id=1, prot_type=TLS, s=0, n_p=0, policies=[], session_data_len=0, session_data=b"",
           spi_len=4, spi=b"\xa1\xa2\xa3\xa4")]),
    ("generic-tls-and-unknown", hdr(0, MAP_GENERIC, 2, TLS_ENTRY + UNKNOWN_ENTRY), dict(n_cs=2),
     [dict(cs_id=1, prot_type=TLS, spi=b"\xa1\xa2\xa3\xa4"),
      dict(cs_id=2, prot_type=99, s=1, n_p=2, policies=[1, 2], session_data_len=9,
           session_data=b"sess-data", spi_len=0, spi=b"")]),
    ("generic-srtp-streamwide", hdr(0, MAP_GENERIC, 1, generic_id(4, 0, 0, [0], b"", seq(8))),
     dict(n_cs=1), [dict(cs_id=4, prot_type=0, n_p=1, policies=[0], spi=seq(8))]),
    ("ipsec4", hdr(0, MAP_IPSEC4, 1, ipsec4_id(1, 0x11223344, 0xC0A80001, 0x0A000001)),
     dict(n_cs=1, cs_id_map_type=7),
     [dict(policy_no=1, spi=0x11223344, src_addr=0xC0A80001, dst_addr=0x0A000001)]),
    ("flags-v-prf", hdr(0, MAP_EMPTY, 0, version=1, data_type=4, v=1, prf=0x7F, csb_id=0xFFFFFFFF),
     dict(version=1, data_type=4, v=1, prf_func=0x7F, csb_id=0xFFFFFFFF), []),
]

ENTRY_CLASS = {0: mikey.SrtpIdEntry, 2: mikey.GenericIdEntry, 7: mikey.Ipsec4IdEntry}


@pytest.mark.parametrize("data,hdr_fields,entries", [c[1:] for c in HDR_CASES],
                         ids=[c[0] for c in HDR_CASES])
def test_decode_hdr(data, hdr_fields, entries):
    msg = mikey.decode(data)
    h = msg.hdr
    assert msg.payloads == [] and msg.trailing == b"" and msg.findings == []
    assert h.next_payload == 0
    if "csb_id" not in hdr_fields:
        assert h.csb_id == CSB_ID
    _check_fields(h, hdr_fields)
    assert len(h.cs_id_map) == len(entries)
    for got, want in zip(h.cs_id_map, entries):
        assert isinstance(got, ENTRY_CLASS[h.cs_id_map_type])
        _check_fields(got, want)


@pytest.mark.parametrize("data", [c[1] for c in HDR_CASES], ids=[c[0] for c in HDR_CASES])
def test_roundtrip_hdr_bytes(data):
    assert mikey.encode(mikey.decode(data)) == data


def test_empty_map_keeps_explicit_cs_count():
    msg = mikey.decode(hdr(0, MAP_EMPTY, 3))
    assert msg.hdr.n_cs == 3 and msg.hdr.cs_id_map == []
    assert mikey.encode(msg)[8] == 3
    msg.hdr.n_cs = None  # back to auto: computed from the (empty) map
    assert mikey.encode(msg) == hdr(0, MAP_EMPTY, 0)


def test_tls_prot_type_is_configurable_value():
    assert mikey.DEFAULT_TLS_PROT_TYPE == 240
    entry = mikey.decode(hdr(0, MAP_GENERIC, 1, TLS_ENTRY)).hdr.cs_id_map[0]
    assert mikey.prot_type_name(entry.prot_type).startswith("TLS")
    # another number is a parameter of each call, never a process-wide setting
    assert mikey.prot_type_name(entry.prot_type, 77) is None
    assert mikey.prot_type_name(77, 77).startswith("TLS")
    assert mikey.check_tls_prot_type(77) == 77
    for bad in (0, 256, -1):
        with pytest.raises(ValueError):
            mikey.check_tls_prot_type(bad)


def test_tls_prot_type_parameter_of_decode():
    """Seed 004 Annex X.1: a TLS crypto session has #P = 0; which entry is TLS follows the
    ``tls_prot_type`` of the call, and one call leaves the next one's default alone."""
    wire = mikey.encode(mikey.Message(mikey.HDR(data_type=15, cs_id_map_type=2, cs_id_map=[
        mikey.GenericIdEntry(cs_id=1, prot_type=77, policies=[1], spi=b"\x01")]), [mikey.RAND(rand=b"\x00" * 16)]))
    assert [f.path for f in mikey.decode(wire, tls_prot_type=77).findings] == ["HDR.cs_id_map[0]"]
    assert mikey.decode(wire).findings == []


# ------------------------------------------------------------------------------------------------
# Whole messages, chains, trailing octets

def test_decode_chain_rtsp_offer():
    """HDR(SRTP-ID) · T · RAND · SP · KEMAC, the usual RTSP/SDP SRTP offer."""
    sp = bytes([KEMAC, 1, 0]) + struct.pack(">H", 6) + tlv(0, b"\x01") + tlv(2, b"\x01")
    kem = bytes([0, 0]) + struct.pack(">H", len(KEY_CHAIN)) + KEY_CHAIN + bytes([0])
    data = (hdr(T, MAP_SRTP, 1, srtp_id(0, 0x5EED, 0)) + t_payload(RAND)
            + bytes([SP, 16]) + seq(16) + sp + kem)
    msg = mikey.decode(data)
    assert [p.NAME for p in msg.payloads] == ["T", "RAND", "SP", "KEMAC"]
    assert [p.next_payload for p in msg.payloads] == [RAND, SP, KEMAC, 0]
    assert msg.offsets == [0, 19, 29, 47, 58]
    assert msg.hdr.cs_id_map[0].ssrc == 0x5EED
    assert msg.find("KEMAC").encr_data == KEY_CHAIN
    assert mikey.encode(msg) == data


def test_decode_sakke_message_ends_at_sign():
    data = (hdr(T, MAP_EMPTY, 0, data_type=26, prf=1) + t_payload(RAND) + bytes([SAKKE, 16])
            + seq(16) + bytes([EXT, 1, 2]) + struct.pack(">H", 273) + SAKKE_DATA
            + bytes([SIGN, 7]) + struct.pack(">H", 3) + b"abc" + b"\x20\x81" + ECCSI_SIG)
    msg = mikey.decode(data)
    assert [p.NAME for p in msg.payloads] == ["T", "RAND", "SAKKE", "GEN_EXT", "SIGN"]
    assert msg.payloads[-1].signature == ECCSI_SIG
    assert msg.findings == [] and msg.trailing == b""
    assert mikey.encode(msg) == data


@pytest.mark.parametrize("tail", [b"\x00", b"\x00\x00", b"\xff"], ids=["00", "0000", "ff"])
def test_trailing_octets_kept_and_reported(tail):
    body = t_payload(0, 2, 9)
    data = one(T, body) + tail
    msg = mikey.decode(data)
    assert msg.trailing == tail
    assert len(msg.findings) == 1
    f = msg.findings[0]
    assert (f.path, f.offset) == ("trailing", 16)
    assert str(len(tail)) in f.message
    if tail == b"\x00":
        assert "Milestone" in f.message
    assert mikey.encode(msg) == data


def test_trailing_after_sign_and_strict_mode():
    data = one(SIGN, b"\x00\x02ab") + b"\x00"
    assert mikey.decode(data).trailing == b"\x00"
    with pytest.raises(DecodeError) as ei:
        mikey.decode(data, strict=True)
    assert (ei.value.path, ei.value.offset) == ("trailing", 14)
    assert [p.signature for p in ei.value.partial.payloads] == [b"ab"]


# ------------------------------------------------------------------------------------------------
# Messages built through the API: decode(encode(m)) == m, computed lengths/next payloads

def _api_hdr(**kw):
    kw.setdefault("cs_id_map_type", MAP_EMPTY)
    return mikey.HDR(data_type=kw.pop("data_type", 0), csb_id=CSB_ID, **kw)


API_PAYLOADS = [
    ("kemac-null", lambda: mikey.KEMAC(encr_alg=0, encr_data=KEY_CHAIN, mac_alg=0)),
    ("kemac-sha1", lambda: mikey.KEMAC(encr_alg=1, encr_data=seq(40), mac_alg=1, mac=MAC20)),
    ("kemac-sha256", lambda: mikey.KEMAC(encr_alg=2, encr_data=seq(24), mac_alg=2, mac=MAC32)),
    ("pke", lambda: mikey.PKE(c=2, data=seq(300))),
    ("dh-0", lambda: mikey.DH(dh_group=0, dh_value=seq(192), kv=0)),
    ("dh-1-spi", lambda: mikey.DH(dh_group=1, dh_value=seq(96), kv=1, spi=MKI4)),
    ("dh-2-interval", lambda: mikey.DH(dh_group=2, dh_value=seq(128), kv=2, vf=b"\x01", vt=b"\x02\x03")),
    ("t-0", lambda: mikey.T(ts_type=0, ts_value=TS_NTP)),
    ("t-1", lambda: mikey.T(ts_type=1, ts_value=1)),
    ("t-2", lambda: mikey.T(ts_type=2, ts_value=0xFFFFFFFF)),
    ("t-3", lambda: mikey.T(ts_type=3, ts_value=0x12345678)),
    ("id", lambda: mikey.ID(id_type=1, id_data=b"sip:bob@example.org")),
    ("cert", lambda: mikey.CERT(cert_type=0, cert_data=seq(500))),
    ("chash-sha1", lambda: mikey.CHASH(hash_func=0, hash=seq(20))),
    ("chash-md5", lambda: mikey.CHASH(hash_func=1, hash=seq(16))),
    ("v-0", lambda: mikey.V(auth_alg=0)),
    ("v-1", lambda: mikey.V(auth_alg=1, ver_data=MAC20)),
    ("sp-srtp", lambda: mikey.SP(policy_no=1, prot_type=0,
                     policy_params=[mikey.SpParam(type=0, value=b"\x06"), mikey.SpParam(type=1,
                                                                               value=b"\x10")])),
    ("rand", lambda: mikey.RAND(rand=seq(16))),
    ("err", lambda: mikey.ERR(error_no=3, reserved=b"\x00\x00")),
    ("tr", lambda: mikey.TR(ts_role=2, ts_type=0, ts_value=TS_NTP)),
    ("idr", lambda: mikey.IDR(id_role=7, id_type=1, id_data=b"kms.example.org")),
    ("randr", lambda: mikey.RANDR(rand_role=1, rand=seq(16))),
    ("tp", lambda: mikey.TP(ticket_type=1, subtype=1, version=1, prf_func=1, flag_d=1, flag_i=1,
                            tp_data=b"xyz")),
    ("ticket", lambda: mikey.TICKET(ticket_type=2, ticket_data=seq(33), initiator_data=b"\x09ab")),
    ("key-tgk", lambda: mikey.KEY_DATA(type=0, kv=0, key_data=KEY16)),
    ("key-tgk-salt-spi", lambda: mikey.KEY_DATA(type=1, kv=1, key_data=KEY16, salt=SALT14, spi=MKI4)),
    ("key-tek-interval", lambda: mikey.KEY_DATA(type=2, kv=2, key_data=KEY16, vf=b"\x00", vt=b"\xff")),
    ("key-tek-salt", lambda: mikey.KEY_DATA(type=3, kv=0, key_data=KEY16, salt=SALT14)),
    ("ext-7", lambda: mikey.GEN_EXT(type=7, data=seq(32))),
    ("sakke", lambda: mikey.SAKKE(sakke_params=1, id_scheme=1, sakke_data=SAKKE_DATA)),
    ("sign-eccsi", lambda: mikey.SIGN(s_type=2, signature=ECCSI_SIG)),
]


@pytest.mark.parametrize("make", [p for _, p in API_PAYLOADS], ids=[i for i, _ in API_PAYLOADS])
def test_api_roundtrip_payload(make):
    payload = make()  # built in the test, so a model change fails one case, not collection
    payloads = [mikey.T(ts_type=0, ts_value=TS_NTP), payload.copy()]
    msg = mikey.Message(_api_hdr(), payloads)
    data = mikey.encode(msg)
    back = mikey.decode(data)
    assert back == msg
    assert [p.NAME for p in back.payloads] == ["T", payload.NAME]
    # next payload fields were computed from the chain
    assert data[2] == T and data[10] == payload.TYPE
    assert back.payloads[0].next_payload == payload.TYPE
    if payload.has_next_payload:
        assert back.payloads[1].next_payload == 0
    assert mikey.encode(back) == data


@pytest.mark.parametrize("h,expected", [
    (_api_hdr(cs_id_map_type=MAP_SRTP, cs_id_map=[mikey.SrtpIdEntry(policy_no=0, ssrc=0, roc=0),
                                                  mikey.SrtpIdEntry(policy_no=1, ssrc=5, roc=6)]),
     hdr(0, MAP_SRTP, 2, srtp_id(0, 0, 0) + srtp_id(1, 5, 6))),
    (_api_hdr(cs_id_map_type=MAP_EMPTY), hdr(0, MAP_EMPTY, 0)),
    (_api_hdr(cs_id_map_type=MAP_EMPTY, n_cs=3), hdr(0, MAP_EMPTY, 3)),
    (_api_hdr(cs_id_map_type=MAP_GENERIC, data_type=26, prf_func=1, cs_id_map=[
        mikey.GenericIdEntry(cs_id=1, prot_type=TLS, s=0, policies=[], session_data=b"",
                             spi=b"\xa1\xa2\xa3\xa4"),
        mikey.GenericIdEntry(cs_id=2, prot_type=99, s=1, policies=[1, 2], session_data=b"sess-data",
                             spi=b"")]),
     hdr(0, MAP_GENERIC, 2, TLS_ENTRY + UNKNOWN_ENTRY, data_type=26, prf=1)),
    (_api_hdr(cs_id_map_type=MAP_IPSEC4, cs_id_map=[mikey.Ipsec4IdEntry(policy_no=1, spi=2,
                                                                        src_addr=3, dst_addr=4)]),
     hdr(0, MAP_IPSEC4, 1, ipsec4_id(1, 2, 3, 4))),
], ids=["srtp-id", "empty", "empty-cs3", "generic", "ipsec4"])
def test_api_hdr_encodes_rfc_layout(h, expected):
    msg = mikey.Message(h, [])
    assert mikey.encode(msg) == expected
    assert mikey.decode(expected) == msg


def test_api_message_encodes_independent_bytes():
    msg = mikey.Message(_api_hdr(), [mikey.T(ts_type=2, ts_value=0x01020304), mikey.RAND(rand=b"abcd"),
                                     mikey.SIGN(s_type=0, signature=seq(300))])
    expected = (hdr(T) + t_payload(RAND, 2, 0x01020304) + bytes([SIGN, 4]) + b"abcd"
                + struct.pack(">H", 300) + seq(300))
    assert mikey.encode(msg) == expected
    assert msg.encode() == expected
    assert mikey.decode(expected) == msg


def test_message_equality_detects_differences():
    a = mikey.decode(one(T, t_payload(0, 2, 1)))
    assert a == mikey.decode(one(T, t_payload(0, 2, 1)))
    assert a != mikey.decode(one(T, t_payload(0, 2, 2)))
    assert a != mikey.decode(one(T, t_payload(0, 2, 1)) + b"\x00")
    assert a != mikey.decode(one(T, t_payload(0, 2, 1), prf=1))


# explicit lengths are written as given (even when they lie)
@pytest.mark.parametrize("payload,field,value,pos,expected", [
    (mikey.RAND(rand=b"x" * 4), "rand_len", 99, 11, bytes([99])),
    (mikey.ID(id_type=1, id_data=b"abc"), "id_len", 0x0102, 12, b"\x01\x02"),
    (mikey.KEMAC(encr_alg=0, encr_data=b"abc", mac_alg=0), "encr_data_len", 7, 12, b"\x00\x07"),
    (mikey.PKE(c=1, data=b"abc"), "data_len", 0x3FFF, 11, b"\x7f\xff"),
    (mikey.SIGN(s_type=2, signature=seq(32)), "signature_len", 129, 10, b"\x20\x81"),
    (mikey.SAKKE(sakke_params=1, id_scheme=1, sakke_data=b"s"), "sakke_data_len", 273, 13, b"\x01\x11"),
    (mikey.GEN_EXT(type=7, data=b""), "length", 5, 12, b"\x00\x05"),
    (mikey.KEY_DATA(type=3, kv=1, key_data=KEY16, salt=SALT14, spi=MKI4), "salt_len", 2, 30,
     b"\x00\x02"),
    (mikey.KEY_DATA(type=0, kv=1, key_data=KEY16, spi=MKI4), "spi_len", 200, 30, b"\xc8"),
    (mikey.SP(policy_no=0, prot_type=0, policy_params=[mikey.SpParam(type=0, value=b"\x01")]),
     "policy_param_len", 0, 13, b"\x00\x00"),
], ids=["rand", "id", "kemac", "pke", "sign", "sakke", "ext", "key-salt", "key-spi", "sp"])
def test_explicit_length_written_as_given(payload, field, value, pos, expected):
    setattr(payload, field, value)
    data = mikey.encode(mikey.Message(_api_hdr(), [payload]))
    assert data[pos:pos + len(expected)] == expected
    setattr(payload, field, None)  # auto again: the true length comes back
    data = mikey.encode(mikey.Message(_api_hdr(), [payload]))
    assert data[pos:pos + len(expected)] != expected


def test_explicit_hdr_next_payload_and_payload_next_payload():
    msg = mikey.Message(_api_hdr(next_payload=11), [mikey.T(ts_type=2, ts_value=1, next_payload=42)])
    data = mikey.encode(msg)
    assert data[2] == 11 and data[10] == 42


# editing a data field of a decoded message recomputes its length on encode
@pytest.mark.parametrize("ptype,body,field,new,expected_body", [
    (RAND, bytes([0, 4]) + b"abcd", "rand", b"abcdef", bytes([0, 6]) + b"abcdef"),
    (ID, bytes([0, 1]) + struct.pack(">H", 3) + b"abc", "id_data", b"sip:x",
     bytes([0, 1]) + struct.pack(">H", 5) + b"sip:x"),
    (PKE, bytes([0]) + struct.pack(">H", (2 << 14) | 2) + b"ab", "data", seq(260),
     bytes([0]) + struct.pack(">H", (2 << 14) | 260) + seq(260)),
    (SIGN, b"\x20\x02ab", "signature", ECCSI_SIG, b"\x20\x81" + ECCSI_SIG),
    (KEY, key_data(0, 1, 2, KEY16, SALT14, vf=b"a", vt=b"b"), "salt", b"",
     key_data(0, 1, 2, KEY16, b"", vf=b"a", vt=b"b")),
    (KEY, key_data(0, 1, 2, KEY16, SALT14, vf=b"a", vt=b"b"), "vt", b"bbbb",
     key_data(0, 1, 2, KEY16, SALT14, vf=b"a", vt=b"bbbb")),
    (DH, bytes([0, 1]) + seq(96) + bytes([1, 1]) + b"x", "spi", MKI4,
     bytes([0, 1]) + seq(96) + bytes([1, 4]) + MKI4),
    (TP, bytes([0]) + struct.pack(">H", 1) + bytes([1, 1, 0, 0, 0]) + struct.pack(">H", 1) + b"k",
     "tp_data", b"kms.example",
     bytes([0]) + struct.pack(">H", 1) + bytes([1, 1, 0, 0, 0]) + struct.pack(">H", 11)
     + b"kms.example"),
], ids=["rand", "id", "pke", "sign", "key-salt", "key-vt", "dh-spi", "tp"])
def test_edit_decoded_recomputes_length(ptype, body, field, new, expected_body):
    msg = mikey.decode(one(ptype, body))
    setattr(msg.payloads[0], field, new)
    assert mikey.encode(msg) == one(ptype, expected_body)


def test_edit_decoded_sp_param_recomputes_both_lengths():
    body = bytes([0, 1, 0]) + struct.pack(">H", 3) + tlv(0, b"\x01")
    msg = mikey.decode(one(SP, body))
    msg.payloads[0].policy_params[0].value = b"\x01\x02"
    msg.payloads[0].policy_params.append(mikey.SpParam(type=11, value=b"\x0a"))
    want = bytes([0, 1, 0]) + struct.pack(">H", 7) + tlv(0, b"\x01\x02") + tlv(11, b"\x0a")
    assert mikey.encode(msg) == one(SP, want)


def test_edit_decoded_cs_id_map_recomputes_count_and_entry_lengths():
    msg = mikey.decode(hdr(0, MAP_GENERIC, 1, TLS_ENTRY))
    msg.hdr.cs_id_map[0].spi = b"\x01"
    msg.hdr.cs_id_map[0].policies = [5]
    msg.hdr.cs_id_map.append(mikey.GenericIdEntry(cs_id=9, prot_type=0, s=0, policies=[],
                                                  session_data=b"", spi=b""))
    want = hdr(0, MAP_GENERIC, 2, generic_id(1, TLS, 0, [5], b"", b"\x01")
               + generic_id(9, 0, 0, [], b"", b""))
    assert mikey.encode(msg) == want


# ------------------------------------------------------------------------------------------------
# Malformed input: DecodeError with the failing field's path and its exact offset

def _raises(data, **kw) -> DecodeError:
    with pytest.raises(DecodeError) as ei:
        mikey.decode(data, **kw)
    e = ei.value
    assert isinstance(e, ValueError) and isinstance(e, codec.DecodeError)
    assert e.reason and str(e.offset) in str(e)
    return e


HDR_MALFORMED = [
    ("empty", b"", "HDR.version", 0),
    ("one-octet", b"\x01", "HDR.data_type", 1),
    ("no-next-payload", b"\x01\x00", "HDR.next_payload", 2),
    ("csb-truncated", hdr(0)[:6], "HDR.csb_id", 4),
    ("no-cs-count", hdr(0)[:8], "HDR.n_cs", 8),
    ("no-map-type", hdr(0)[:9], "HDR.cs_id_map_type", 9),
    ("unknown-map-type-3", hdr(0, 3, 1, srtp_id(0, 1, 2)), "HDR.cs_id_map_type", 9),
    ("unknown-map-type-255", hdr(0, 255, 0), "HDR.cs_id_map_type", 9),
    ("srtp-id-missing-entry", hdr(0, MAP_SRTP, 1), "HDR.cs_id_map[0].policy_no", 10),
    ("srtp-id-2nd-ssrc-truncated", hdr(0, MAP_SRTP, 2, srtp_id(0, 1, 2) + b"\x01\xaa\xbb\xcc"),
     "HDR.cs_id_map[1].ssrc", 20),
    ("srtp-id-2nd-roc-truncated", hdr(0, MAP_SRTP, 2, srtp_id(0, 1, 2) + srtp_id(1, 2, 3)[:-1]),
     "HDR.cs_id_map[1].roc", 24),
    ("generic-policies-truncated", hdr(0, MAP_GENERIC, 1, bytes([1, 0, 3, 7])),
     "HDR.cs_id_map[0].policies[1]", 14),
    ("generic-session-data-lies", hdr(0, MAP_GENERIC, 1, bytes([1, 99, 0]) + struct.pack(">H", 10)
                                      + b"abc"), "HDR.cs_id_map[0].session_data", 15),
    ("generic-2nd-spi-lies", hdr(0, MAP_GENERIC, 2, TLS_ENTRY + bytes([2, 0, 0, 0, 0, 4]) + b"ab"),
     "HDR.cs_id_map[1].spi", 10 + len(TLS_ENTRY) + 6),
    ("generic-2nd-missing-spi-len", hdr(0, MAP_GENERIC, 2, TLS_ENTRY + bytes([2, 0, 0, 0, 0])),
     "HDR.cs_id_map[1].spi_len", 10 + len(TLS_ENTRY) + 5),
    ("ipsec4-truncated", hdr(0, MAP_IPSEC4, 1, ipsec4_id(1, 2, 3, 4)[:-1]),
     "HDR.cs_id_map[0].dst_addr", 19),
    ("ipsec4-2nd-missing", hdr(0, MAP_IPSEC4, 2, ipsec4_id(1, 2, 3, 4)),
     "HDR.cs_id_map[1].policy_no", 23),
]


@pytest.mark.parametrize("data,path,offset", [c[1:] for c in HDR_MALFORMED],
                         ids=[c[0] for c in HDR_MALFORMED])
def test_malformed_hdr(data, path, offset):
    e = _raises(data)
    assert (e.path, e.offset) == (path, offset)
    # no payload decoded; the header fields read before the failing one, as Wireshark shows
    if len(data) == 0:
        assert e.partial is None
    else:
        assert e.partial.hdr is None and e.partial.payloads == []
        cls, before = e.partial.incomplete
        assert cls is mikey.HDR and before["version"] == data[0]
        if len(data) >= 10:
            assert before["csb_id"] == int.from_bytes(data[4:8], "big")
        assert "cs_id_map" not in before  # the map itself is what failed (or was not reached)


def test_malformed_hdr_truncated_in_bit_field_octet():
    e = _raises(b"\x01\x00\x00")
    assert e.offset == 3 and e.path.startswith("HDR.")


# Payload bodies that fail; each is preceded by a valid T so it starts at offset 20.
# (id, payload type, body, path suffix, offset relative to the payload start)
PAYLOAD_MALFORMED = [
    ("kemac-encr-data-lies", KEMAC, bytes([0, 0]) + struct.pack(">H", 10) + b"x" * 9,
     ".encr_data", 4),
    ("kemac-unknown-mac-alg", KEMAC, bytes([0, 0]) + struct.pack(">H", 2) + b"xy" + bytes([9]),
     ".mac_alg", 6),
    ("kemac-mac-truncated", KEMAC, bytes([0, 1]) + struct.pack(">H", 0) + bytes([1]) + MAC20[:19],
     ".mac", 5),
    ("kemac-sha256-mac-is-20", KEMAC, bytes([0, 1]) + struct.pack(">H", 0) + bytes([2]) + MAC20,
     ".mac", 5),
    ("kemac-no-mac-alg", KEMAC, bytes([0, 0]) + struct.pack(">H", 1) + b"x", ".mac_alg", 5),
    ("pke-data-lies", PKE, bytes([0]) + struct.pack(">H", (1 << 14) | 10) + b"x" * 9, ".data", 3),
    ("dh-unknown-group", DH, bytes([0, 9]) + seq(96) + bytes([0]), ".dh_group", 1),
    ("dh-value-truncated", DH, bytes([0, 0]) + seq(191), ".dh_value", 2),
    ("dh-spi-lies", DH, bytes([0, 1]) + seq(96) + bytes([0x01, 5]) + b"abc", ".spi", 100),
    ("dh-vt-lies", DH, bytes([0, 2]) + seq(128) + bytes([0x02, 1]) + b"a" + bytes([3]) + b"bc",
     ".vt", 134),
    ("sign-signature-lies", SIGN, struct.pack(">H", (2 << 12) | 129) + ECCSI_SIG[:128],
     ".signature", 2),
    ("t-unknown-ts-type", T, bytes([0, 4]) + struct.pack(">Q", 1), ".ts_type", 1),
    ("t-ntp-truncated", T, bytes([0, 0]) + struct.pack(">I", 1), ".ts_value", 2),
    ("t-counter-truncated", T, bytes([0, 2, 0, 0, 0]), ".ts_value", 2),
    ("t-no-ts-type", T, bytes([0]), ".ts_type", 1),
    ("id-len-lies", ID, bytes([0, 1]) + struct.pack(">H", 10) + b"x" * 9, ".id_data", 4),
    ("cert-len-lies", CERT, bytes([0, 0]) + struct.pack(">H", 300) + seq(299), ".cert_data", 4),
    ("chash-unknown-hash-func", CHASH, bytes([0, 9]) + seq(20), ".hash_func", 1),
    ("chash-sha256-truncated", CHASH, bytes([0, 2]) + seq(20), ".hash", 2),
    ("chash-sha1-truncated", CHASH, bytes([0, 0]) + seq(16), ".hash", 2),
    ("v-unknown-auth-alg", V, bytes([0, 7]) + MAC20, ".auth_alg", 1),
    ("v-sha1-truncated", V, bytes([0, 1]) + MAC20[:10], ".ver_data", 2),
    ("sp-param-len-lies", SP, bytes([0, 1, 0]) + struct.pack(">H", 10) + tlv(0, b"\x01"),
     ".policy_params", 5),
    ("sp-srtp-bad-tlv-first", SP, bytes([0, 1, 0]) + struct.pack(">H", 3) + b"\x00\x05\x01",
     ".policy_params[0].value", 7),
    ("sp-srtp-bad-tlv-second", SP, bytes([0, 1, 0]) + struct.pack(">H", 6) + tlv(0, b"\x01")
     + b"\x01\x05\x02", ".policy_params[1].value", 10),
    ("sp-srtp-tlv-missing-length", SP, bytes([0, 1, 0]) + struct.pack(">H", 4) + tlv(0, b"\x01")
     + b"\x01", ".policy_params[1].length", 9),
    ("rand-len-lies", RAND, bytes([0, 16]) + seq(15), ".rand", 2),
    ("err-truncated", ERR, bytes([0, 1, 0]), ".reserved", 2),
    ("tr-unknown-ts-type", TR, bytes([0, 1, 9]) + struct.pack(">Q", 1), ".ts_type", 2),
    ("tr-truncated", TR, bytes([0, 1, 0]) + struct.pack(">I", 1), ".ts_value", 3),
    ("idr-len-lies", IDR, bytes([0, 1, 1]) + struct.pack(">H", 20) + b"x" * 19, ".id_data", 5),
    ("randr-len-lies", RANDR, bytes([0, 1, 16]) + seq(8), ".rand", 3),
    ("tp-flags-truncated", TP, bytes([0]) + struct.pack(">H", 1) + bytes([1, 1, 0, 0]),
     ".prf_func", 5),
    ("tp-data-lies", TP, bytes([0]) + struct.pack(">H", 1) + bytes([1, 1, 0, 0, 0])
     + struct.pack(">H", 4) + b"abc", ".tp_data", 10),
    ("ticket-data-lies", TICKET, bytes([0]) + struct.pack(">H", 1) + bytes([1, 1, 0, 0, 0])
     + struct.pack(">HH", 0, 6) + b"abcde", ".ticket_data", 12),
    ("ticket-initiator-data-lies", TICKET, bytes([0]) + struct.pack(">H", 1)
     + bytes([1, 1, 0, 0, 0]) + struct.pack(">HHH", 0, 0, 3) + b"ab", ".initiator_data", 14),
    ("ticket-no-initiator-data-len", TICKET, bytes([0]) + struct.pack(">H", 1)
     + bytes([1, 1, 0, 0, 0]) + struct.pack(">HH", 0, 0), ".initiator_data_len", 12),
    ("key-data-lies", KEY, bytes([0, 0x20]) + struct.pack(">H", 16) + KEY16[:15], ".key_data", 4),
    ("key-salt-lies", KEY, bytes([0, 0x30]) + struct.pack(">H", 16) + KEY16
     + struct.pack(">H", 14) + SALT14[:13], ".salt", 22),
    ("key-salt-len-missing", KEY, bytes([0, 0x10]) + struct.pack(">H", 16) + KEY16 + b"\x00",
     ".salt_len", 20),
    ("key-spi-lies", KEY, bytes([0, 0x21]) + struct.pack(">H", 16) + KEY16 + bytes([4]) + b"\x00",
     ".spi", 21),
    ("key-vf-len-missing", KEY, bytes([0, 0x02]) + struct.pack(">H", 16) + KEY16, ".vf_len", 20),
    ("ext-length-lies", EXT, bytes([0, 7]) + struct.pack(">H", 32) + seq(31), ".data", 4),
    ("sakke-data-lies", SAKKE, bytes([0, 1, 2]) + struct.pack(">H", 273) + SAKKE_DATA[:272],
     ".sakke_data", 5),
]

# payload type -> class name
NAMES = {t: cls.NAME for t, cls in mikey.PAYLOAD_CLASSES.items()}


@pytest.mark.parametrize("ptype,body,suffix,rel", [c[1:] for c in PAYLOAD_MALFORMED],
                         ids=[c[0] for c in PAYLOAD_MALFORMED])
def test_malformed_payload(ptype, body, suffix, rel):
    data = hdr(T) + t_payload(ptype, 2, 0xABCD) + body
    # the payload starts after HDR (10) and a counter T (6)
    e = _raises(data)
    assert e.path == f"payloads[1]({NAMES[ptype]}){suffix}"
    assert e.offset == 16 + rel
    assert isinstance(e.partial, mikey.Message)
    assert [p.NAME for p in e.partial.payloads] == ["T"]
    assert e.partial.payloads[0].ts_value == 0xABCD
    assert e.partial.offsets == [0, 10]


@pytest.mark.parametrize("ptype,body,suffix,rel", [c[1:] for c in PAYLOAD_MALFORMED],
                         ids=[c[0] for c in PAYLOAD_MALFORMED])
def test_malformed_payload_first(ptype, body, suffix, rel):
    e = _raises(one(ptype, body))
    assert e.path == f"payloads[0]({NAMES[ptype]}){suffix}"
    assert e.offset == 10 + rel
    assert e.partial.payloads == []
    assert e.partial.hdr.next_payload == ptype


def test_malformed_sign_header_truncated():
    e = _raises(hdr(T) + t_payload(SIGN, 2, 1) + b"\x20")
    assert e.offset == 16 and e.path.startswith("payloads[1](SIGN)")
    assert [p.NAME for p in e.partial.payloads] == ["T"]


def test_malformed_pke_header_truncated():
    e = _raises(one(PKE, b"\x00\x40"))
    assert e.offset == 11 and e.path.startswith("payloads[0](PKE).")


# unknown key-validity type: the path must name a KV field inside the payload
@pytest.mark.parametrize("ptype,body,kv_octet,kv_data", [
    (KEY, bytes([0, 0x23]) + struct.pack(">H", 2) + b"kk", 1, 6),
    (KEY, bytes([0, 0x3F]) + struct.pack(">H", 1) + b"k" + struct.pack(">H", 1) + b"s", 1, 8),
    (DH, bytes([0, 1]) + seq(96) + bytes([0x05]) + b"\x00", 98, 99),
], ids=["key-kv3", "key-salt-kv15", "dh-kv5"])
def test_malformed_unknown_kv(ptype, body, kv_octet, kv_data):
    e = _raises(hdr(T) + t_payload(ptype, 2, 1) + body)
    prefix = f"payloads[1]({NAMES[ptype]})"
    assert [p.NAME for p in e.partial.payloads] == ["T"]
    assert "unsupported value" in e.reason or "KV" in e.reason
    # The error must name a field, not just the payload: either the KV nibble itself (at the
    # octet holding it) or the key validity data (where it starts).
    assert e.path.startswith(prefix + "."), e.path
    assert "kv" in e.path[len(prefix):].lower(), e.path
    if e.path.endswith(".kv"):
        assert e.offset == 16 + kv_octet
    else:
        assert e.offset == 16 + kv_data


@pytest.mark.parametrize("np_value", [18, 19, 22, 27, 255])
def test_unknown_next_payload_in_hdr(np_value):
    e = _raises(hdr(np_value) + t_payload(0))
    assert (e.path, e.offset) == ("HDR.next_payload", 2)
    assert e.partial.payloads == [] and e.partial.hdr.next_payload == np_value
    assert str(np_value) in e.reason


def test_unknown_next_payload_in_payloads():
    data = hdr(T) + t_payload(RAND) + bytes([99, 2]) + b"rr" + t_payload(0)
    e = _raises(data)
    assert (e.path, e.offset) == ("payloads[1](RAND).next_payload", 20)
    assert [p.NAME for p in e.partial.payloads] == ["T", "RAND"]
    assert e.partial.payloads[1].rand == b"rr"

    e = _raises(hdr(T) + t_payload(200))
    assert (e.path, e.offset) == ("payloads[0](T).next_payload", 10)


@pytest.mark.parametrize("announced", [SIGN, T, RAND, KEMAC, SAKKE])
def test_announced_payload_missing(announced):
    e = _raises(hdr(T) + t_payload(announced, 2, 1))
    assert e.path == f"payloads[1]({NAMES[announced]})"
    assert e.offset == 16
    assert [p.NAME for p in e.partial.payloads] == ["T"]


def test_announced_payload_missing_after_hdr():
    e = _raises(hdr(RAND))
    assert (e.path, e.offset) == ("payloads[0](RAND)", 10)


def test_decode_rejects_non_bytes():
    with pytest.raises(TypeError):
        mikey.decode("01000000")


def test_decode_error_is_picklable():
    import pickle
    e = _raises(one(T, bytes([0, 9])))
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.path, e2.offset, e2.reason) == (e.path, e.offset, e.reason)


# ------------------------------------------------------------------------------------------------
# Encode-side checks on API-built messages

@pytest.mark.parametrize("payload,words", [
    (mikey.PKE(data=b"x" * 0x4000), ["data_len", "14"]),
    (mikey.SIGN(s_type=2, signature=b"x" * 4096), ["signature_len", "12"]),
    (mikey.RAND(rand=b"x" * 256), []),
    (mikey.T(ts_type=2, ts_value=2 ** 32), []),
    (mikey.T(ts_type=9, ts_value=1), ["TS type"]),
    (mikey.KEY_DATA(type=1, kv=0, key_data=KEY16), []),  # TGK+SALT without a salt
], ids=["pke-14-bits", "sign-12-bits", "rand-255", "t-counter-32-bits", "t-unknown-type",
        "key-salt-missing"])
def test_encode_rejects_values_that_do_not_fit(payload, words):
    with pytest.raises(codec.EncodeError) as ei:
        mikey.encode(mikey.Message(_api_hdr(), [mikey.T(ts_type=2, ts_value=1), payload]))
    assert ei.value.path == f"payloads[1]({payload.NAME})"
    for w in words:
        assert w in ei.value.reason


def test_encode_rejects_too_many_cs_entries():
    h = _api_hdr(cs_id_map_type=MAP_SRTP,
                 cs_id_map=[mikey.SrtpIdEntry(policy_no=0, ssrc=i, roc=0) for i in range(256)])
    with pytest.raises(codec.EncodeError) as ei:
        mikey.encode(mikey.Message(h, []))
    assert ei.value.path == "HDR"


def test_api_err_default_reserved_is_two_zero_octets():
    """RFC 3830 §6.12: ERR is NP, Error no, 16-bit Reserved — always 4 octets.

    An ERR built as ``ERR(error_no=1)`` (reserved left unset) must encode the 2 reserved octets
    as zero, and decode(encode(m)) must give m back.
    """
    msg = mikey.Message(_api_hdr(), [mikey.ERR(error_no=1)])
    data = mikey.encode(msg)
    assert data == hdr(ERR) + bytes([0, 1, 0, 0])
    assert mikey.decode(data) == msg


@pytest.mark.parametrize("prot_type,params", [
    (0, tlv(0, b"\x01") + tlv(1, b"\x10")),
    (99, b"\x01\x01\x05"),
], ids=["srtp", "unknown-prot-type"])
def test_api_sp_with_params_as_octets_roundtrips(prot_type, params):
    """SP.policy_params may be given as octets (schemas.SP computes its length for that case).

    The message encodes to the RFC layout; decoding it must compare equal to what was built.
    """
    msg = mikey.Message(_api_hdr(), [mikey.SP(policy_no=0, prot_type=prot_type, policy_params=params)])
    data = mikey.encode(msg)
    assert data == hdr(SP) + bytes([0, 0, prot_type]) + struct.pack(">H", len(params)) + params
    assert mikey.decode(data) == msg
