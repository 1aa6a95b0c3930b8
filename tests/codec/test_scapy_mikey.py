"""The scapy layer: generated from the schemas, byte-exact, same values as `mcsec decode --format
json` (the codec is the oracle), lies survive, fuzz() output is decoded or rejected cleanly, port
2269 and SDP carriers."""

from __future__ import annotations

import base64
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw, fuzz

from codec import DecodeError
from codec import mikey
from codec.mikey import carriers, render
from codec.mikey import schemas
from dissectors.fuzz import scapy_mikey
from dissectors.fuzz.scapy_mikey import MIKEY
from tests.support.strategies import messages

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "pcaps" / "messages"
PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sample_wires():
    out = []
    for path in sorted(SAMPLES.iterdir()):
        if path.suffix in (".sdp", ".hex"):
            out += carriers.mikey_messages(path.read_bytes())
    assert len(out) >= 2
    return out


def manifest_wires():
    """Every MIKEY message of the pcaps/ manifest (plain and over TLS)."""
    import json

    manifest = json.loads((SAMPLES.parent / "manifest.json").read_text())
    out = [bytes.fromhex(e["mikey"]) for e in manifest["entries"] + manifest.get("tls_entries", [])
           if e["kind"] in ("mikey-sakke", "mikey-ticket") and e.get("mikey")]
    assert len(out) >= 20
    return out


def rebuilt(wire: bytes) -> bytes:
    """Dissect, drop scapy's raw cache (so every field is really re-encoded), rebuild."""
    pkt = MIKEY(wire)
    pkt.clear_cache()
    return bytes(pkt)


# -- field-by-field comparison with the codec's JSON -------------------------------------------
def _compare_layer(layer, rec: dict, where: str):
    """Every scapy field of ``layer`` equals the codec JSON value of the same name, and every
    non-derived key of the JSON record has a scapy field."""
    seen = set()
    for name, value in layer.json_fields().items():
        scapy_field = scapy_mikey.scapy_name(name)
        fld = layer.get_field(scapy_field)
        meta = layer.METAS[scapy_field]
        if fld.islist and fld.holds_packets:
            entry_json = meta.extra.get("entry_json")
            if entry_json is not None:  # HDR CS ID map: entries under mikey.<map type>_id
                key = entry_json.get(layer.getfieldval("cs_id_map_type"), name)
                expect = rec.get(key, [])
                seen.add(key)
            else:  # SP policy params: a list of TLVs, or octets kept as they are
                expect = rec[name]
                seen.add(name)
                if isinstance(expect, str):
                    assert b"".join(bytes(p) for p in value).hex() == expect, where
                    continue
            assert len(value) == len(expect), (where, name)
            for i, (sub, sub_rec) in enumerate(zip(value, expect)):
                _compare_layer(sub, sub_rec, f"{where}.{name}[{i}]")
            continue
        if isinstance(value, (bytes, bytearray)):
            if meta.display == "text" and name + "_hex" in rec:
                assert rec[name + "_hex"] == bytes(value).hex(), (where, name)
                seen.add(name + "_hex")
                continue
            expected = bytes(value).decode() if meta.display == "text" else bytes(value).hex()
        else:
            expected = value
        assert name in rec, (where, name, rec)
        assert rec[name] == expected, (where, name, rec[name], expected)
        seen.add(name)
    missing = {k for k in rec if k not in seen and not render.is_derived_key(k)}
    assert not missing, (where, missing)


def assert_same_as_codec(wire: bytes):
    msg = mikey.decode(wire)
    doc = render.to_json(msg, show_secrets=True)
    layers = scapy_mikey.payloads(MIKEY(wire))
    assert len(layers) == len(doc["mikey"]), [type(x).__name__ for x in layers]
    for i, (layer, rec) in enumerate(zip(layers, doc["mikey"])):
        (key, fields), = rec.items()
        assert layer.JSON == key
        _compare_layer(layer, fields, f"mikey[{i}]")
    assert scapy_mikey.trailing(MIKEY(wire)).hex() == doc.get("mikey.trailing", "")


@pytest.mark.parametrize("wire", sample_wires(), ids=lambda w: w[:12].hex())
def test_samples_rebuild_and_match_codec_json(wire):
    assert rebuilt(wire) == wire
    assert_same_as_codec(wire)


@pytest.mark.parametrize("wire", manifest_wires(), ids=lambda w: w[:12].hex())
def test_capture_messages_rebuild_and_match_codec_json(wire):
    assert rebuilt(wire) == wire
    assert_same_as_codec(wire)


@PROFILE
@given(messages())
def test_random_messages_rebuild_and_match_codec_json(msg):
    wire = mikey.encode(msg)
    assert rebuilt(wire) == wire
    assert_same_as_codec(wire)


@PROFILE
@given(messages(), st.binary(min_size=1, max_size=4))
def test_trailing_octets_are_raw_and_kept(msg, extra):
    wire = mikey.encode(msg) + extra
    pkt = MIKEY(wire)
    pkt.clear_cache()
    assert bytes(pkt) == wire
    decoded = None
    try:
        decoded = mikey.decode(wire)
    except DecodeError:
        pass
    if decoded is not None and not decoded.hdr_padding:
        assert scapy_mikey.trailing(pkt) == decoded.trailing


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_any_octets_dissect_without_error_and_rebuild(data):
    pkt = MIKEY(data)
    if data:
        assert bytes(pkt) == data


# -- generated, not hand-kept ------------------------------------------------------------------
def test_every_schema_field_has_a_scapy_field_named_after_its_json_key():
    for _type, (name, schema, json) in schemas.PAYLOAD_SCHEMAS.items():
        layer = scapy_mikey.LAYERS[name]
        assert layer.JSON == json and layer.MIKEY_TYPE == _type
        metas = []
        for sc in schema.subcons:
            if sc.name and hasattr(sc, "meta"):
                metas.append(sc.meta)
            elif sc.name:
                metas += [m for _n, _w, m in sc.subcon.members]
        names = [f.name for f in layer.fields_desc if not f.name.endswith("_unparsed")]
        assert names == [scapy_mikey.scapy_name(m.json) for m in metas]
        assert [scapy_mikey.json_name(layer, n) for n in names] == [m.json for m in metas]


def test_show_prints_json_names_and_hides_secrets():
    key = mikey.KEY_DATA(type=2, key_data=bytes(range(16)))
    kemac = mikey.KEMAC(encr_alg=0, encr_data=key.to_bytes(0), mac_alg=0, mac=b"")
    wire = mikey.encode(mikey.Message(mikey.HDR(data_type=0, cs_id_map_type=1), [kemac]))
    text = MIKEY(wire).show(dump=True)
    assert "mikey.kemac.key_data" in text and "mikey.next_payload" in text
    assert "mikey.type" in text and "kemac_key_data" not in text
    assert "<hidden>" in text and bytes(range(16)).hex() not in text
    scapy_mikey.SHOW_SECRETS = True
    try:
        assert bytes(range(16)).hex() in MIKEY(wire).show(dump=True)
    finally:
        scapy_mikey.SHOW_SECRETS = False


# -- computed and explicit values --------------------------------------------------------------
def test_built_from_scratch_equals_codec_encode():
    entry = dict(cs_id=4, prot_type=0, s=0, policies=[0], session_data=b"", spi=b"\x01\x02")
    pkt = (MIKEY(type=26, prf_func=1, csb_id=0x0ABC1234, cs_id_map_type=2,
                 cs_id_map=[scapy_mikey.MIKEY_GenericIdEntry(**{f"generic_id_{k}": v
                                                                for k, v in entry.items()})])
           / scapy_mikey.MIKEY_T(t_ts_type=0, t_ts_value=0xECA1648000000000)
           / scapy_mikey.MIKEY_RAND(rand_data=bytes(16))
           / scapy_mikey.MIKEY_IDR(id_role=1, id_type=1, id_data=b"sip:a@example.org")
           / scapy_mikey.MIKEY_SP(sp_no=0, sp_proto_type=0,
                                  sp_params=[scapy_mikey.MIKEY_SpParam(sp_param_type=1, sp_patam_value=b"\x10")])
           / scapy_mikey.MIKEY_SIGN(sign_type=2, sign_data=bytes(129)))
    msg = mikey.Message(
        mikey.HDR(data_type=26, v=0, prf_func=1, csb_id=0x0ABC1234, cs_id_map_type=2,
                  cs_id_map=[mikey.GenericIdEntry(**entry)]),
        [mikey.T(ts_type=0, ts_value=0xECA1648000000000), mikey.RAND(rand=bytes(16)),
         mikey.IDR(id_role=1, id_type=1, id_data=b"sip:a@example.org"),
         mikey.SP(policy_no=0, prot_type=0, policy_params=[mikey.SpParam(type=1, value=b"\x10")]),
         mikey.SIGN(s_type=2, signature=bytes(129))])
    assert bytes(pkt) == mikey.encode(msg)


def test_explicit_lies_survive_and_none_recomputes():
    wire = sample_wires()[0]
    pkt = MIKEY(wire)
    pkt[scapy_mikey.MIKEY_SIGN].sign_len = 32  # TS 33.180's wrong "32"
    pkt[scapy_mikey.MIKEY_IDR].id_len = 200
    pkt.cs_count = 9
    pkt.next_payload = 11  # HDR says RAND, T follows
    lie = bytes(pkt)
    assert len(lie) == len(wire)
    assert lie[2] == 11 and lie[8] == 9
    sign_at = len(wire) - 129 - 2
    assert int.from_bytes(lie[sign_at:sign_at + 2], "big") & 0x0FFF == 32
    with pytest.raises(DecodeError):
        mikey.decode(lie)
    # editing data with the length left explicit keeps the (now wrong) length ...
    pkt = MIKEY(wire)
    idr = pkt[scapy_mikey.MIKEY_IDR]
    old_len = idr.id_len
    idr.id_data = b"sip:mallory@mcptt.example.org"
    assert MIKEY(bytes(pkt))[scapy_mikey.MIKEY_IDR].id_len == old_len
    # ... and None makes it computed again: the codec decodes the edit
    idr.id_len = None
    msg = mikey.decode(bytes(pkt))
    assert msg.find("IDR").id_data == b"sip:mallory@mcptt.example.org"
    assert msg.find("IDR").id_len == len(b"sip:mallory@mcptt.example.org")


def test_next_payload_computed_from_the_chain_and_lies_written():
    pkt = MIKEY(cs_id_map_type=1) / scapy_mikey.MIKEY_RAND(rand_data=b"x") / scapy_mikey.MIKEY_ID(id_data=b"a")
    wire = bytes(pkt)
    msg = mikey.decode(wire)
    assert [p.NAME for p in msg.payloads] == ["RAND", "ID"]
    assert msg.hdr.next_payload == 11 and msg.payloads[0].next_payload == 6
    assert msg.payloads[1].next_payload == 0
    pkt[scapy_mikey.MIKEY_ID].next_payload = 6  # a loop: ID says another ID follows, nothing does
    with pytest.raises(DecodeError):
        mikey.decode(bytes(pkt))


# -- fuzz() ------------------------------------------------------------------------------------
def _decodes_or_rejects(data: bytes):
    try:
        msg = mikey.decode(data)
    except DecodeError as e:
        assert isinstance(e.path, str) and 0 <= e.offset <= len(data)
        return False
    assert mikey.encode(msg) == data
    return True


@pytest.mark.parametrize("payload_type", sorted(scapy_mikey.PAYLOAD_LAYERS))
def test_fuzzed_packets_are_decoded_or_rejected(payload_type):
    random.seed(payload_type)  # scapy's volatile values draw from `random`: reproducible runs
    layer = scapy_mikey.PAYLOAD_LAYERS[payload_type]
    templates = [MIKEY(cs_id_map_type=1) / layer(),
                 MIKEY(cs_id_map_type=2, cs_id_map=[scapy_mikey.MIKEY_GenericIdEntry()]) / layer()
                 / scapy_mikey.MIKEY_SIGN()]
    outcomes = set()
    for template in templates:
        for _ in range(40):
            data = bytes(fuzz(template))
            outcomes.add(_decodes_or_rejects(data))
            assert bytes(MIKEY(data)) == data
    assert outcomes  # both outcomes are fine; neither may raise anything else


def test_fuzzed_cs_id_map_entries():
    random.seed(2269)
    # fields given explicitly are not fuzzed: keep the selectors valid, fuzz the rest
    template = (MIKEY(cs_id_map_type=0, cs_id_map=[scapy_mikey.MIKEY_SrtpIdEntry(), scapy_mikey.MIKEY_SrtpIdEntry()])
                / scapy_mikey.MIKEY_T(t_ts_type=0))
    decoded = 0
    for _ in range(100):
        decoded += _decodes_or_rejects(bytes(fuzz(template)))
    assert decoded > 0  # lengths/counts stay computed, so many fuzzed messages still decode


# -- carriers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("proto", [UDP, TCP])
@pytest.mark.parametrize("port_field", ["sport", "dport"])
def test_port_2269_binding_round_trip(proto, port_field):
    wire = sample_wires()[-1]
    ports = {"sport": 40000, "dport": 40001, port_field: 2269}
    frame = Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / proto(**ports) / MIKEY(wire)
    back = Ether(bytes(frame))
    assert back.haslayer(MIKEY) and back.haslayer(scapy_mikey.MIKEY_SIGN)
    assert bytes(back[MIKEY]) == wire
    assert back[MIKEY].csb_id == mikey.decode(wire).hdr.csb_id
    other = Ether(bytes(Ether() / IP() / proto(sport=5, dport=6) / Raw(wire)))
    assert not other.haslayer(MIKEY)


def test_mikey_from_sdp_text_and_sip_packet():
    sdp_bytes = (SAMPLES / "mikey-sakke-gmk.sdp").read_bytes()
    wire = carriers.mikey_messages(sdp_bytes)[0]
    pkts = scapy_mikey.from_sdp(sdp_bytes)
    assert [bytes(p) for p in pkts] == [wire]
    pck = sample_wires()[-1]
    sip = (b"INVITE sip:bob@mcptt.example.org SIP/2.0\r\nContent-Type: application/sdp\r\n\r\n"
           b"v=0\r\nm=audio 4000 RTP/SAVP 96\r\na=key-mgmt:mikey "
           + base64.b64encode(pck) + b"\r\n")
    frame = Ether(bytes(Ether() / IP() / UDP(sport=5060, dport=5060) / Raw(sip)))
    found = scapy_mikey.from_sdp(frame)
    assert len(found) == 1 and bytes(found[0]) == pck and found[0].haslayer(scapy_mikey.MIKEY_SAKKE)
    with pytest.raises(DecodeError):
        scapy_mikey.from_sdp("a=key-mgmt:mikey AB=C")
