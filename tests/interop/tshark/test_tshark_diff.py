"""Differential test against the real tshark: every field name both emit has the same value.

The messages stay inside what tshark 4.x dissects (SRTP-ID and Empty maps, RFC 3830 payloads,
IDR and SAKKE), are written to a pcap on UDP port 2269 and dissected by ``tshark -T json``.  The
JSON of ``codec.mikey.render.to_json`` uses the same field names, so the two can be compared
name by name, payload by payload.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from codec import mikey
from codec.mikey import render
from tests.conftest import tshark_field_types, tshark_json, write_udp_pcap

# tshark 4.0 stops at a DH payload with KV data (KV 1 or 2) and at CHASH, so the messages here use
# DH with KV 0 and no CHASH; those layouts are tested against the RFC in test_payloads.py.
# Fields where tshark 4.0 is known to be wrong (see README, "Differences from Wireshark").
TSHARK_BUGS = {
    "mikey.cert.len": "packet-mikey.c reads the certificate length from the wrong offset",
}

SRTP_PARAMS = [mikey.SpParam(type=t, value=bytes([v])) for t, v in
               [(0, 1), (1, 16), (2, 1), (3, 20), (4, 14), (5, 0), (6, 0), (7, 1), (8, 1), (9, 0),
                (10, 1), (11, 10), (12, 0)]]


def _key_data_chain():
    k1 = mikey.KEY_DATA(type=3, kv=1, key_data=bytes(range(16)), salt=bytes(range(14)),
                        spi=b"\xde\xad\xbe\xef")
    return k1.to_bytes(0)


def fixed_messages():
    t = mikey.T(ts_type=0, ts_value=0xE8F1C2A3_80000000)
    rand = mikey.RAND(rand=bytes(range(16)))
    psk = mikey.Message(
        mikey.HDR(data_type=0, v=1, csb_id=0x11223344, cs_id_map_type=0,
                  cs_id_map=[mikey.SrtpIdEntry(policy_no=0, ssrc=0xDEADBEEF, roc=0),
                             mikey.SrtpIdEntry(policy_no=1, ssrc=0, roc=7)]),
        [t.copy(), rand.copy(), mikey.ID(id_type=0, id_data=b"alice@example.org"),
         mikey.ID(id_type=1, id_data=b"sip:bob@example.org"),
         mikey.SP(policy_no=0, prot_type=0, policy_params=list(SRTP_PARAMS)),
         mikey.KEMAC(encr_alg=0, encr_data=_key_data_chain(), mac_alg=1, mac=b"\x55" * 20)])
    pk = mikey.Message(
        mikey.HDR(data_type=2, csb_id=0x01020304, cs_id_map_type=0,
                  cs_id_map=[mikey.SrtpIdEntry(policy_no=0, ssrc=0x01020304, roc=0)]),
        [t.copy(), rand.copy(), mikey.ID(id_type=1, id_data=b"sip:carol@example.org"),
         mikey.KEMAC(encr_alg=1, encr_data=bytes(range(48)), mac_alg=1, mac=bytes(20)),
         mikey.PKE(c=1, data=bytes(range(64))), mikey.SIGN(s_type=0, signature=bytes(range(128)))])
    dh = mikey.Message(
        mikey.HDR(data_type=4, csb_id=0xCAFEBABE, cs_id_map_type=0,
                  cs_id_map=[mikey.SrtpIdEntry(policy_no=0, ssrc=1, roc=2)]),
        [t.copy(), rand.copy(), mikey.DH(dh_group=2, dh_value=bytes(range(128)), kv=0),
         mikey.SIGN(s_type=1, signature=bytes(range(64)))])
    dh5 = mikey.Message(
        mikey.HDR(data_type=5, csb_id=7, cs_id_map_type=0, cs_id_map=[]),
        [t.copy(), mikey.DH(dh_group=1, dh_value=bytes(96), kv=0),
         mikey.SIGN(s_type=0, signature=b"\x01" * 32)])
    err = mikey.Message(
        mikey.HDR(data_type=6, csb_id=9, cs_id_map_type=0, cs_id_map=[]),
        [mikey.T(ts_type=2, ts_value=12345), mikey.ERR(error_no=3, reserved=b"\x00\x00"),
         mikey.ERR(error_no=12, reserved=b"\x00\x00"), mikey.V(auth_alg=1, ver_data=bytes(range(20)))])
    sakke = mikey.Message(
        mikey.HDR(data_type=26, prf_func=0, csb_id=0x0ABC1234, cs_id_map_type=1),
        [t.copy(), rand.copy(),
         mikey.IDR(id_role=1, id_type=1, id_data=b"tel:+447700900123"),
         mikey.IDR(id_role=2, id_type=1, id_data=b"tel:+447700900124"),
         mikey.IDR(id_role=6, id_type=1, id_data=b"kms.example.org"),
         mikey.IDR(id_role=7, id_type=2, id_data=b"kms.example.org"),
         mikey.SAKKE(sakke_params=1, id_scheme=1, sakke_data=b"\x04" + bytes(range(256)) + bytes(16)),
         mikey.GEN_EXT(type=0, data=b"vendor"),
         mikey.SIGN(s_type=2, signature=bytes(range(129)))])
    return [psk, pk, dh, dh5, err, sakke]


def random_messages(n=40, seed=20261123):
    """Messages drawn at random from the part of MIKEY tshark dissects."""
    rng = random.Random(seed)
    rb = lambda k: bytes(rng.randrange(256) for _ in range(k))  # noqa: E731
    makers = [
        lambda: mikey.T(ts_type=rng.choice([0, 1]), ts_value=rng.getrandbits(64)),
        lambda: mikey.T(ts_type=2, ts_value=rng.getrandbits(32)),
        lambda: mikey.RAND(rand=rb(rng.randrange(1, 40))),
        lambda: mikey.ID(id_type=rng.choice([0, 1]), id_data=f"sip:u{rng.randrange(999)}@x.org".encode()),
        lambda: mikey.IDR(id_role=rng.randrange(8), id_type=1, id_data=f"tel:+{rng.randrange(10**9)}".encode()),
        lambda: mikey.SP(policy_no=rng.randrange(256), prot_type=0,
                         policy_params=rng.sample(SRTP_PARAMS, rng.randrange(1, len(SRTP_PARAMS)))),
        lambda: mikey.KEMAC(encr_alg=rng.choice([1, 2]), encr_data=rb(rng.randrange(0, 60)),
                            mac_alg=rng.choice([0, 1]), mac=b""),
        lambda: mikey.PKE(c=rng.randrange(3), data=rb(rng.randrange(0, 300))),
        lambda: mikey.DH(dh_group=rng.choice([0, 1, 2]), dh_value=b"", kv=0),
        lambda: mikey.V(auth_alg=rng.choice([0, 1]), ver_data=b""),
        lambda: mikey.ERR(error_no=rng.randrange(13), reserved=b"\x00\x00"),
        lambda: mikey.GEN_EXT(type=0, data=rb(rng.randrange(0, 20))),
        lambda: mikey.SAKKE(sakke_params=1, id_scheme=rng.choice([1, 2]), sakke_data=rb(273)),
    ]
    out = []
    for _ in range(n):
        map_type = rng.choice([0, 1])
        entries = ([mikey.SrtpIdEntry(policy_no=rng.randrange(256), ssrc=rng.getrandbits(32),
                                      roc=rng.getrandbits(32)) for _ in range(rng.randrange(4))]
                   if map_type == 0 else [])
        hdr = mikey.HDR(data_type=rng.choice([0, 1, 2, 3, 4, 5, 6, 26]), v=rng.randrange(2),
                        prf_func=0, csb_id=rng.getrandbits(32), cs_id_map_type=map_type,
                        cs_id_map=entries)
        payloads = [rng.choice(makers)() for _ in range(rng.randrange(1, 7))]
        for p in payloads:  # sizes implied by selectors
            if p.NAME == "KEMAC":
                p.mac = rb(20) if p.mac_alg == 1 else b""
            if p.NAME == "DH":
                p.dh_value = rb({0: 192, 1: 96, 2: 128}[p.dh_group])
            if p.NAME == "V":
                p.ver_data = rb(20) if p.auth_alg == 1 else b""
        if rng.random() < 0.5:
            payloads.append(mikey.SIGN(s_type=rng.choice([0, 1, 2]), signature=rb(rng.randrange(1, 140))))
        out.append(mikey.Message(hdr, payloads))
    return out


def _flatten(tree, out):
    """{key: [values]} of every scalar in a (possibly list-valued) JSON subtree."""
    for key, value in tree.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                _flatten(item, out)
            else:
                out[key].append(item)
    return out


def _normalise(value, ftype):
    if ftype.startswith(("FT_UINT", "FT_INT", "FT_BOOLEAN")):
        return int(value, 0) if isinstance(value, str) else int(value)
    if ftype == "FT_BYTES":
        return value.replace(":", "").lower()
    return value


SUB_PAYLOADS = ("mikey.key",)  # key data sub-payloads inside KEMAC: compared on their own


def _per_payload(records):
    grouped = defaultdict(list)
    for rec in records:
        for name, sub in rec.items():
            for s in (sub if isinstance(sub, list) else [sub]):
                s = dict(s)
                for inner in SUB_PAYLOADS:
                    if inner in s:
                        v = s.pop(inner)
                        grouped[inner].extend(v if isinstance(v, list) else [v])
                grouped[name].append(s)
    return grouped


def _compare(msg, layers, types):
    ours = _per_payload(render.to_json(msg, show_secrets=True)["mikey"])
    mikey_layer = layers["mikey"]
    theirs = _per_payload([{k: v} for k, v in mikey_layer.items() if k.startswith("mikey.")
                           and isinstance(v, (dict, list))])
    assert sorted(ours) == sorted(theirs), "payload sets differ"
    compared = 0
    for name in ours:
        assert len(ours[name]) == len(theirs[name]), f"{name}: payload counts differ"
        for i, (a, b) in enumerate(zip(ours[name], theirs[name])):
            fa, fb = _flatten(a, defaultdict(list)), _flatten(b, defaultdict(list))
            for key in sorted(set(fa) & set(fb)):
                if key in TSHARK_BUGS or types.get(key, "FT_NONE") == "FT_NONE":
                    continue
                va = [_normalise(v, types[key]) for v in fa[key]]
                vb = [_normalise(v, types[key]) for v in fb[key]]
                assert va == vb, f"{name}[{i}] {key}: mcsec {va} != tshark {vb}"
                compared += 1
    return compared


@pytest.fixture(scope="module")
def dissected(tshark, tmp_path_factory):
    msgs = fixed_messages() + random_messages()
    pcap = tmp_path_factory.mktemp("tshark") / "mikey.pcap"
    write_udp_pcap(pcap, [mikey.encode(x) for x in msgs])
    return msgs, tshark_json(tshark, pcap), tshark_field_types(tshark)


def test_tshark_dissects_every_frame_as_mikey(dissected):
    msgs, frames, _ = dissected
    assert len(frames) == len(msgs)
    assert all("mikey" in f for f in frames)


@pytest.mark.parametrize("index", range(len(fixed_messages()) + 40))
def test_fields_agree_with_tshark(dissected, index):
    msgs, frames, types = dissected
    msg = mikey.decode(mikey.encode(msgs[index]))
    compared = _compare(msg, frames[index], types)
    # every payload contributes at least its next-payload (SIGN: type and length) field
    assert compared >= len(msg.payloads) + 5


def test_field_names_we_claim_from_wireshark_exist_in_tshark(dissected):
    _, _, types = dissected
    from codec.mikey.model import PAYLOAD_CLASSES, HDR, SrtpIdEntry, SpParam, KEY_DATA
    claimed = set()
    for cls in [HDR, SrtpIdEntry, SpParam, KEY_DATA, *PAYLOAD_CLASSES.values()]:
        claimed |= {meta.json for _n, meta in cls.FIELDS if meta.wireshark}
        claimed.add(cls.JSON) if cls.JSON in types else None
    missing = sorted(claimed - set(types))
    assert not missing, f"marked as Wireshark fields but unknown to tshark: {missing}"
    # and the names we invent do not collide with a tshark field of another meaning
    ours_new = set()
    for cls in [HDR, *PAYLOAD_CLASSES.values()]:
        ours_new |= {meta.json for _n, meta in cls.FIELDS if not meta.wireshark}
    assert not (ours_new & set(types)), sorted(ours_new & set(types))
