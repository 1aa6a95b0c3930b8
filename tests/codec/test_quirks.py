"""Field quirks of reference/mikey.md §9 that the decoder tolerates without losing octets."""

from __future__ import annotations

import pytest

from codec import DecodeError
from codec import mikey
from codec.mikey import render


def _sakke_like():
    return mikey.Message(mikey.HDR(data_type=26, cs_id_map_type=1, csb_id=0x01020304),
                         [mikey.T(ts_type=0, ts_value=0xE8F1C2A3_00000000), mikey.RAND(rand=bytes(8)),
                          mikey.SIGN(s_type=2, signature=bytes(129))])


def test_wolfssl_two_zero_octets_after_empty_map():
    wire = mikey.encode(_sakke_like())
    quirky = wire[:10] + b"\x00\x00" + wire[10:]
    msg = mikey.decode(quirky)
    assert msg.hdr_padding == b"\x00\x00"
    assert [p.NAME for p in msg.payloads] == ["T", "RAND", "SIGN"]
    assert msg.offsets == [0, 12, 22, 32]
    assert msg.findings[0].path == "hdr_padding" and "wolfSSL" in msg.findings[0].message
    assert mikey.encode(msg) == quirky
    # survives the JSON round trip too
    assert mikey.encode(render.from_json(render.to_json(msg, show_secrets=True))) == quirky
    # the plain message has no padding
    assert mikey.decode(wire).hdr_padding == b""


def test_padding_only_accepted_when_the_chain_lines_up():
    wire = mikey.encode(_sakke_like())
    broken = wire[:10] + b"\x00\x00" + wire[10:-1]  # padding, but a truncated signature
    msg = mikey.decode(broken)  # read the RFC way: an empty T (NP 0) and trailing octets
    assert msg.hdr_padding == b"" and msg.trailing
    assert [p.NAME for p in msg.payloads] == ["T"] and msg.payloads[0].next_payload == 0
    with pytest.raises(DecodeError):
        mikey.decode(broken, strict=True)


@pytest.mark.parametrize("tail", [b"\x00", b"\x00\x00", b"\xff\x01"])
def test_trailing_octets_kept_and_reported(tail):
    wire = mikey.encode(_sakke_like())
    msg = mikey.decode(wire + tail)
    assert msg.trailing == tail
    assert msg.findings[-1].path == "trailing" and msg.findings[-1].offset == len(wire)
    assert ("Milestone" in msg.findings[-1].message) == (tail == b"\x00")
    assert mikey.encode(msg) == wire + tail
    with pytest.raises(DecodeError) as e:
        mikey.decode(wire + tail, strict=True)
    assert e.value.offset == len(wire)


def test_live555_rtsp_keymgmt_without_rand():
    # reference mikey.md §9.6: HDR(NP=T) · T · SP · KEMAC, FILETIME in T, TEK with 30-octet
    # key||salt and a 4-octet MKI, no RAND payload
    key = bytes(range(30))
    kd = mikey.KEY_DATA(type=2, kv=1, key_data=key, spi=b"\x00\x00\x00\x2f").to_bytes(0)
    msg = mikey.Message(mikey.HDR(data_type=0, csb_id=0x12345678, cs_id_map_type=0,
                                  cs_id_map=[mikey.SrtpIdEntry(policy_no=0, ssrc=0x11223344, roc=0)]),
                        [mikey.T(ts_type=0, ts_value=0x01D38E19CEF95C3D),
                         mikey.SP(policy_no=0, prot_type=0, policy_params=[mikey.SpParam(type=0, value=b"\x01")]),
                         mikey.KEMAC(encr_alg=0, encr_data=kd, mac_alg=0)])
    wire = mikey.encode(msg)
    back = mikey.decode(wire)
    chain = render.decode_key_data_chain(back.find("KEMAC").encr_data)
    assert chain[0].key_data == key and chain[0].spi == b"\x00\x00\x00\x2f"
    assert back.find("RAND") is None


def test_tls_crypto_session_rules_of_seed_004_are_checked():
    good = mikey.GenericIdEntry(cs_id=1, prot_type=mikey.DEFAULT_TLS_PROT_TYPE, spi=b"\x01\x02")
    bad = mikey.GenericIdEntry(cs_id=2, prot_type=mikey.DEFAULT_TLS_PROT_TYPE, policies=[1], spi=b"\x03")
    msg = mikey.Message(mikey.HDR(data_type=14, cs_id_map_type=2, cs_id_map=[good, bad]),
                        [mikey.RAND(rand=bytes(16))])
    back = mikey.decode(mikey.encode(msg))
    assert [(f.path, f.offset) for f in back.findings] == [("HDR.cs_id_map[1]", 10 + 8)]
    assert "seed 004" in back.findings[0].message


def test_signed_regions_both_conventions():
    msg = _sakke_like()
    wire = mikey.encode(msg)
    regions = mikey.decode(wire).signed_regions(wire)
    assert regions["rfc3830"] == wire[:-129] and regions["rfc3830"].endswith(b"\x20\x81")
    assert regions["without_sign_header"] == wire[:-131]
    assert mikey.decode(mikey.encode(mikey.Message(msg.hdr, msg.payloads[:-1]))).signed_regions(wire) == {}


def test_findings_after_wolfssl_padding_have_true_offsets():
    msg = mikey.Message(mikey.HDR(data_type=26, cs_id_map_type=1),
                        [mikey.T(ts_type=0, ts_value=1 << 32), mikey.SIGN(s_type=2, signature=bytes(32))])
    wire = mikey.encode(msg)
    quirky = wire[:10] + b"\x00\x00" + wire[10:]
    back = mikey.decode(quirky)
    sign_finding = next(f for f in back.findings if f.path.endswith("signature"))
    assert sign_finding.offset == quirky.index(bytes([0x20, 32])) + 2
