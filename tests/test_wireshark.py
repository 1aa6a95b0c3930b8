"""The generated Wireshark plugin, run in the real tshark, against the codec's own JSON.

Oracle: ``codec.mikey.render.to_json(codec.mikey.decode(octets))`` — every ``mikey.*`` key the
plugin puts in ``tshark -T json`` must carry the same value, payload by payload, and every key of
the codec's JSON must be there (derived ``*_name`` labels excepted); malformed messages must give
an expert info whose text is exactly the codec's ``DecodeError`` text, and never a Lua error.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from codec import DecodeError, mikey
from codec.mikey import carriers, render
from codec.mikey import model
from codec.mikey import ticket as mikey_ticket
from dissectors import wireshark
from tests.conftest import write_udp_pcap
from tests.strategies import messages

REPO = Path(__file__).resolve().parent.parent
PLUGIN = REPO / "wireshark" / "mcsec_mikey.lua"
SAMPLES = REPO / "pcaps" / "messages"
FIELD_TYPES = wireshark.field_types()
PAYLOAD_KEYS = {cls.JSON for cls in mikey.PAYLOAD_CLASSES.values()} | {"mikey.hdr", "mikey.thdr"}
PROTO = wireshark.PROTO_NAME


# ----------------------------------------------------------------------------------------------
def test_checked_in_plugin_is_current():
    assert PLUGIN.read_text(encoding="utf-8") == wireshark.generate(), \
        "wireshark/mcsec_mikey.lua is stale: run `mcsec wireshark generate`"


def test_cli_generate_and_install(tmp_path):
    from dissectors.cli import main

    out = tmp_path / "gen" / "plugin.lua"
    assert main(["wireshark", "generate", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == wireshark.generate()
    assert main(["wireshark", "generate", "-o", str(out), "--tls-prot-type", "250"]) == 0
    assert "local DEFAULT_TLS_PROT_TYPE = 250" in out.read_text(encoding="utf-8")
    dest = tmp_path / "plugins"
    assert main(["wireshark", "install", "--dest", str(dest)]) == 0
    assert (dest / "mcsec_mikey.lua").read_bytes() == PLUGIN.read_bytes()


def test_every_schema_field_has_a_plugin_field():
    from codec.mikey.model import HDR, PAYLOAD_CLASSES, GenericIdEntry, Ipsec4IdEntry, SpParam, \
        SrtpIdEntry
    for cls in [HDR, SrtpIdEntry, GenericIdEntry, Ipsec4IdEntry, SpParam, *PAYLOAD_CLASSES.values()]:
        for name, meta in cls.FIELDS:
            if name in cls.NESTED:
                continue
            assert meta.json in FIELD_TYPES, f"{cls.NAME}.{name} ({meta.json}) not in the plugin"


def test_field_types_agree_with_wireshark_where_names_are_shared(tshark):
    """A Lua field whose name tshark already has must have a compatible type (else it fails)."""
    from tests.conftest import tshark_field_types
    theirs = tshark_field_types(tshark)
    family = lambda t: "uint" if t.startswith("FT_UINT") else t  # noqa: E731
    clash = {k: (v, theirs[k]) for k, v in FIELD_TYPES.items()
             if k in theirs and family(v) != family(theirs[k])}
    assert not clash, clash


# ----------------------------------------------------------------------------------------------
# running tshark with the plugin
def run_tshark(tshark, pcap, *prefs):
    opts = []
    for p in prefs:
        opts += ["-o", p]
    proc = subprocess.run([tshark, "-X", f"lua_script:{PLUGIN}", "-r", str(pcap), "-T", "json",
                           "--no-duplicate-keys", *opts], capture_output=True, text=True,
                          env={**os.environ, "LC_ALL": "C", "TZ": "UTC"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Lua" not in proc.stderr and "rror" not in proc.stderr, proc.stderr
    assert "Lua Error" not in proc.stdout and "_ws.lua.error" not in proc.stdout
    return [f["_source"]["layers"] for f in json.loads(proc.stdout)]


def mikey_trees(node):
    """Every ``mikey`` protocol tree in a frame, in order (nested ones from SDP included)."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "mikey":
                out.extend(v if isinstance(v, list) else [v])
            else:
                out.extend(mikey_trees(v))
    elif isinstance(node, list):
        for x in node:
            out.extend(mikey_trees(x))
    return out


def experts(node, out=None):
    """[(expert abbrev, message)] under a tree."""
    out = [] if out is None else out
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "_ws.expert":
                for e in (v if isinstance(v, list) else [v]):  # other dissectors' too
                    kind = next((x for x in e if x.startswith("mikey.expert.")), "other")
                    out.append((kind, e["_ws.expert.message"]))
            else:
                experts(v, out)
    elif isinstance(node, list):
        for x in node:
            experts(x, out)
    return out


# ----------------------------------------------------------------------------------------------
# normalising both sides to {key: [values]} trees
def printable(text: str) -> bool:
    """The plugin's rule for showing an identity as text (a second implementation of it)."""
    return all(0x20 <= ord(ch) < 0x7F or ord(ch) >= 0xA0 for ch in text)


def _as_list(v):
    return v if isinstance(v, list) else [v]


def canon_ours(d: dict) -> dict:
    out = defaultdict(list)
    for k, v in d.items():
        if k.endswith("_name") or k == "mikey.findings":
            continue
        if k == "mikey.id.data" and isinstance(v, str) and not printable(v):
            k, v = "mikey.id.data_hex", v.encode("utf-8").hex()
        if isinstance(v, list):
            if v and all(isinstance(x, dict) and len(x) == 1 and next(iter(x)) in PAYLOAD_KEYS
                         for x in v):  # a payload chain: group by payload, as tshark does
                grouped = defaultdict(list)
                for x in v:
                    (pk, pv), = x.items()
                    grouped[pk].append(canon_ours(pv))
                out[k].append(dict(grouped))
                continue
            for x in v:
                out[k].append(canon_ours(x) if isinstance(x, dict) else x)
        elif isinstance(v, dict):
            out[k].append(canon_ours(v))
        else:
            out[k].append(v)
    return dict(out)


def _value(k, v):
    ft = FIELD_TYPES.get(k, "")
    if ft.startswith(("FT_UINT", "FT_BOOLEAN")):
        return int(v, 0)
    if ft == "FT_BYTES":
        return v.replace(":", "")
    if ft == "FT_DOUBLE":
        return float(v)
    return v


def canon_theirs(d: dict) -> dict:
    out = defaultdict(list)
    trees = {k[:-5] for k in d if k.endswith("_tree")}
    for k, v in d.items():
        base = k[:-5] if k.endswith("_tree") else k
        if not base.startswith("mikey.") or base.startswith("mikey.expert"):
            continue
        if base in trees and not k.endswith("_tree"):
            continue  # the item's own value; its subtree stands for it
        for x in _as_list(v):
            out[base].append(canon_theirs(x) if isinstance(x, dict) else _value(base, x))
    return dict(out)


def ours_record(wire: bytes, show_secrets=True) -> tuple[dict, list]:
    msg = mikey.decode(wire)
    doc = render.to_json(msg, show_secrets=show_secrets)
    rec = canon_ours({"mikey": doc["mikey"]})["mikey"][0]
    for key in ("mikey.trailing", "mikey.hdr_padding"):  # top-level keys, in the plugin's tree
        if key in doc:
            rec[key] = [doc[key]]
    return rec, [str(f) for f in msg.findings]


def compare(wire: bytes, tree: dict, where: str, show_secrets=True):
    ours, findings = ours_record(wire, show_secrets)
    if not show_secrets:  # "<hidden>" values are not in the plugin's fields
        ours = _drop_hidden(ours)
    theirs = canon_theirs(tree)
    assert theirs == ours, f"{where}: plugin and codec disagree\n{_diff(ours, theirs)}"
    got = sorted(msg for kind, msg in experts(tree) if kind == "mikey.expert.finding")
    assert got == sorted(findings), f"{where}: findings {got} != {findings}"
    assert not [e for e in experts(tree) if e[0] == "mikey.expert.malformed"], where


def _drop_hidden(d):
    out = {}
    for k, vs in d.items():
        keep = [(_drop_hidden(v) if isinstance(v, dict) else v) for v in vs if v != "<hidden>"]
        if keep:
            out[k] = keep
    return out


def _diff(a, b, path=""):
    lines = []
    for k in sorted(set(a) | set(b)):
        if k not in a or k not in b:
            lines.append(f"{path}{k}: codec {a.get(k)!r:.200} / plugin {b.get(k)!r:.200}")
        elif a[k] != b[k]:
            if len(a[k]) == len(b[k]) and all(isinstance(x, dict) for x in a[k] + b[k]):
                for i, (x, y) in enumerate(zip(a[k], b[k])):
                    lines += _diff(x, y, f"{path}{k}[{i}].")
            else:
                lines.append(f"{path}{k}: codec {a[k]!r:.300} / plugin {b[k]!r:.300}")
    return lines


# ----------------------------------------------------------------------------------------------
# the messages
T_VALUE = 0xECA16480_12345678
KMS, ALICE, BOB = "kms.example.org", "sip:alice@example.org", "sip:bob@example.org"


def samples() -> list[bytes]:
    out = []
    for f in sorted(SAMPLES.iterdir()):
        if f.suffix in (".sdp", ".hex"):
            out += carriers.mikey_messages(f.read_bytes())
    assert len(out) >= 2
    return out


def ticket_messages() -> list[bytes]:
    psk_a, psk_b, tpk, mpk, tgk = (bytes([i]) * 16 for i in range(1, 6))
    spi = b"\x00\x00\x00\x09"
    tp_chain = mikey.encode(mikey.Message(model.HDR(), [model.IDR(id_role=3, id_type=1, id_data=KMS.encode()),
                                                        model.RAND(rand=bytes(16))]))[10:]
    tp_data = bytes([14]) + tp_chain  # RFC 6043 §6.10: first octet = type of the first payload
    ticket = mikey_ticket.build_ticket(tpk, mpk, [mikey_ticket.key_data(mikey_ticket.KEY_TGK, tgk, spi=spi)], t_value=T_VALUE,
                                       tpk_identity="tpk@" + KMS, rand=bytes(range(16)), tp_data=tp_data)
    clear = mikey_ticket.build_ticket(tpk, mpk, [mikey_ticket.key_data(mikey_ticket.KEY_TGK, tgk, spi=spi)], t_value=T_VALUE,
                                      rand=bytes(16), encr_alg=0)
    tp = model.TP(ticket_type=1, subtype=1, version=1, prf_func=1, flag_h=1, tp_data=tp_data)
    req_init = mikey_ticket.build_request_init(psk_a, csb_id=0x100, initiator=ALICE, kms=KMS,
                                               t_value=T_VALUE, tp=tp)
    req_resp = mikey_ticket.build_response(req_init, psk_a, data_type=mikey_ticket.REQUEST_RESP, kms=KMS,
                                           t_value=T_VALUE, ticket=ticket,
                                           kemac_keys=[mikey_ticket.key_data(mikey_ticket.KEY_MPK, mpk),
                                                       mikey_ticket.key_data(mikey_ticket.KEY_TGK, tgk, spi=spi)])
    cs = [model.GenericIdEntry(cs_id=1, prot_type=0, policies=[0], spi=spi),
          model.GenericIdEntry(cs_id=2, prot_type=mikey.DEFAULT_TLS_PROT_TYPE, spi=spi)]
    transfer = mikey_ticket.build_transfer_init(ticket, mpk, csb_id=0x200, cs_entries=cs, initiator=ALICE,
                                                responder=BOB, t_value=T_VALUE, rand_i=bytes(16))
    transfer_clear = mikey_ticket.build_transfer_init(clear, mpk, csb_id=0x201, cs_entries=cs[:1],
                                                      initiator=ALICE, responder=BOB, t_value=T_VALUE,
                                                      rand_i=bytes(16))
    res_init = mikey_ticket.build_resolve_init(psk_b, ticket, csb_id=0x300, responder=BOB, kms=KMS,
                                               t_value=T_VALUE)
    psk_null = mikey_ticket.build_psk_i_message(psk_a, [mikey_ticket.key_data(mikey_ticket.KEY_TGK, tgk, spi=spi),
                                                        mikey_ticket.key_data(3, b"k" * 16, salt=b"s" * 14)],
                                                csb_id=0x400, t_value=T_VALUE, encr_alg=0, rand=bytes(16),
                                                initiator=ALICE)
    return [req_init, req_resp, transfer, transfer_clear, res_init, psk_null]


SRTP_PARAMS = [model.SpParam(type=t, value=bytes([v])) for t, v in
               [(0, 1), (1, 16), (2, 1), (3, 20), (4, 14), (5, 0), (7, 1), (11, 10), (13, 2),
                (20, 16), (40, 3)]] + [model.SpParam(type=1, value=b"\x00\x10")]


def crafted() -> list[bytes]:
    """Every structure and derived view at least once, plus the codec's findings."""
    uid = bytes(range(0xE0, 0x100))  # a 32-octet binary UID (not UTF-8)
    gid = [model.GenericIdEntry(cs_id=4, prot_type=0, s=0, policies=[0, 1],
                                session_data=b"\x11\x22\x33\x44", spi=b"\x00\xab\xc1\x23"),
           model.GenericIdEntry(cs_id=5, prot_type=0, s=1, policies=[],
                                session_data=bytes(range(10)), spi=b""),
           model.GenericIdEntry(cs_id=6, prot_type=0, s=1, session_data=b"\x01\x02", spi=b"\x09"),
           model.GenericIdEntry(cs_id=7, prot_type=mikey.DEFAULT_TLS_PROT_TYPE, s=1, policies=[3],
                                session_data=b"\x01", spi=b"\x42")]  # TLS finding
    msgs = [
        mikey.Message(model.HDR(data_type=26, prf_func=1, csb_id=0x0ABC1234, cs_id_map_type=2,
                                cs_id_map=gid),
                      [model.T(ts_type=0, ts_value=T_VALUE), model.TR(ts_role=1, ts_type=1, ts_value=0x12345678_9ABCDEF0),
                       model.TR(ts_role=2, ts_type=3, ts_value=77), model.T(ts_type=2, ts_value=5),
                       model.RAND(rand=bytes(16)), model.RANDR(rand_role=1, rand=b"\x01" * 16),
                       model.IDR(id_role=1, id_type=1, id_data=b"sip:gms@mcptt.example.org"),
                       model.IDR(id_role=2, id_type=2, id_data=uid),
                       model.IDR(id_role=3, id_type=1, id_data="tel:+44 Zoë".encode()),
                       model.IDR(id_role=5, id_type=2, id_data=b"\x00\x01abc"),
                       model.SP(policy_no=0, prot_type=0, policy_params=list(SRTP_PARAMS)),
                       model.SP(policy_no=1, prot_type=mikey.DEFAULT_TLS_PROT_TYPE, policy_params=b"\x01\x05\x00"),
                       model.SP(policy_no=2, prot_type=7, policy_params=[model.SpParam(type=1, value=b"\x10")]),
                       model.SAKKE(sakke_params=1, id_scheme=2, sakke_data=bytes(273)),
                       model.GEN_EXT(type=7, data=bytes(range(40))),
                       model.SIGN(s_type=2, signature=bytes(32))]),  # ECCSI finding
        mikey.Message(model.HDR(data_type=7, cs_id_map_type=7,
                                cs_id_map=[model.Ipsec4IdEntry(policy_no=1, spi=0xDEADBEEF,
                                                               src_addr=0xC0000201, dst_addr=0xC0000202)]),
                      [model.DH(dh_group=1, dh_value=bytes(96), kv=1, spi=b"\x01\x02"),
                       model.DH(dh_group=2, dh_value=bytes(128), reserved=5, kv=2, vf=b"\x01", vt=b"\x02\x03"),
                       model.CHASH(hash_func=2, hash=bytes(32)), model.CERT(cert_type=0, cert_data=b"\x30\x00"),
                       model.PKE(c=2, data=bytes(300)), model.ERR(error_no=14, reserved=b"\x00\x00"),
                       model.V(auth_alg=2, ver_data=bytes(32))]),
        mikey.Message(model.HDR(data_type=0, cs_id_map_type=0,
                                cs_id_map=[model.SrtpIdEntry(policy_no=0, ssrc=0xDEADBEEF, roc=3)]),
                      [model.KEMAC(encr_alg=9, encr_data=b"\x01\x02", mac_alg=1, mac=bytes(20)),  # finding
                       model.KEY_DATA(type=6, kv=0, key_data=b"\x05" * 16),
                       model.TP(ticket_type=2, subtype=3, version=1, flag_d=1, flag_o=1, tp_data=b"\x63\x00"),
                       model.TICKET(ticket_type=1, subtype=1, ticket_data=b"\x00\x00\x01", initiator_data=b"")]),
    ]
    out = [mikey.encode(x) for x in msgs]
    out.append(mikey.encode(msgs[2]) + b"\x00")  # trailing octet (Milestone) finding
    # wolfSSL: 2 zero octets after an Empty map
    sakke = carriers.mikey_messages((SAMPLES / "mikey-sakke-pck.hex").read_bytes())[0]
    out.append(sakke[:10] + b"\x00\x00" + sakke[10:])
    return out


def hypothesis_messages(n=60) -> list[bytes]:
    drawn = []

    @settings(derandomize=True, max_examples=n, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(messages())
    def collect(msg):
        drawn.append(msg)

    collect()
    out = []
    for msg in drawn:
        try:
            wire = mikey.encode(msg)
            mikey.decode(wire)
        except (DecodeError, ValueError):
            continue
        out.append(wire)
    assert len(out) >= n // 2
    return out


def all_messages():
    return samples() + ticket_messages() + crafted() + hypothesis_messages()


@pytest.fixture(scope="module")
def dissected(tshark, tmp_path_factory):
    wires = all_messages()
    pcap = tmp_path_factory.mktemp("ws") / "mikey.pcap"
    write_udp_pcap(pcap, wires)
    return wires, run_tshark(tshark, pcap, f"{PROTO}.show_secrets:TRUE")


def test_every_frame_decodes_like_the_codec(dissected):
    wires, frames = dissected
    assert len(frames) == len(wires)
    failures = []
    for i, (wire, frame) in enumerate(zip(wires, frames)):
        trees = mikey_trees(frame)
        assert len(trees) == 1, f"frame {i + 1}: {len(trees)} MIKEY trees"
        try:
            compare(wire, trees[0], f"frame {i + 1}")
        except AssertionError as e:
            failures.append(str(e))
    assert not failures, "\n\n".join(failures[:5]) + f"\n({len(failures)} frame(s) differ)"


def test_the_views_that_wireshark_lacks_are_there(dissected):
    wires, frames = dissected
    text = json.dumps(frames)
    for key in ("mikey.generic_id.srtp.seq", "mikey.ipsec4_id.src_addr", "mikey.ticket.payloads",
                "mikey.thdr.data_len", "mikey.ticket.initiator_data_len", "mikey.tp.payloads",
                "mikey.ticket.tp_payloads", "mikey.randr.rand_role", "mikey.tr.ntp",
                "mikey.id.data_hex", "mikey.chash.hash", "mikey.key.kv.spi", "mikey.sp.aead_tag_len",
                "mikey.decode_error", "mikey.hdr_padding", "mikey.trailing", "mikey.dh.kv.from"):
        assert f'"{key}"' in text, key


def test_secrets_hidden_by_default(tshark, tmp_path):
    wire = ticket_messages()[-1]  # PSK I_MESSAGE with a NULL KEMAC: keys on the wire in clear
    pcap = tmp_path / "null-kemac.pcap"
    write_udp_pcap(pcap, [wire])
    frame = run_tshark(tshark, pcap)[0]
    tree = mikey_trees(frame)[0]
    compare(wire, tree, "hidden", show_secrets=False)
    text = json.dumps(tree)
    assert "6b:6b:6b:6b" not in text and "mikey.key.data.len" in text
    verbose = subprocess.run([tshark, "-X", f"lua_script:{PLUGIN}", "-r", str(pcap), "-V"],
                             capture_output=True, text=True, check=True).stdout
    assert "Key: <hidden> (16 octets" in verbose and "6b6b6b6b" not in verbose
    assert "Key data: <hidden>" in verbose  # the NULL KEMAC's Encr data


# ----------------------------------------------------------------------------------------------
def malformed() -> list[bytes]:
    base = [samples()[0], ticket_messages()[2], crafted()[0], crafted()[1], crafted()[2]]
    out = []
    for wire in base:
        for cut in sorted({1, 5, 9, 11, 13, 17, 30, 60, len(wire) // 2, len(wire) - 1}):
            if cut < len(wire):
                out.append(wire[:cut])
    gmk = samples()[0]
    decoded = mikey.decode(gmk)
    rand_at = decoded.offsets[1 + [p.NAME for p in decoded.payloads].index("RAND")]
    lying = bytearray(gmk)
    lying[rand_at + 1] = 0xFF  # RAND len: runs past its data into the next payloads
    sakke_at = decoded.offsets[1 + [p.NAME for p in decoded.payloads].index("SAKKE")]
    lying2 = bytearray(gmk)
    lying2[sakke_at + 3:sakke_at + 5] = b"\xff\xff"  # SAKKE data length past the end
    out.append(bytes(lying2))
    out.append(bytes(lying))
    out.append(gmk[:2] + b"\x63" + gmk[3:])  # HDR announces payload type 99
    out.append(gmk[:9] + b"\x05" + gmk[10:])  # unknown CS ID map type
    out.append(mikey.encode(mikey.Message(model.HDR(cs_id_map_type=1),
                                          [model.KEMAC(encr_alg=0, encr_data=b"", mac_alg=0, mac=b"")]))[:-1]
               + b"\x07")  # unknown MAC algorithm
    dh = bytearray(mikey.encode(mikey.Message(model.HDR(cs_id_map_type=1),
                                              [model.DH(dh_group=1, dh_value=bytes(96), kv=0)])))
    dh[-1] = 0x07  # unknown KV type
    out.append(bytes(dh))
    sp = mikey.encode(mikey.Message(model.HDR(cs_id_map_type=1),
                                    [model.SP(prot_type=0, policy_params=b"\x01\x05\x00")]))
    out.append(sp)  # SRTP policy parameters that are not a TLV list
    out.append(mikey.encode(mikey.Message(model.HDR(cs_id_map_type=1), [model.RAND(rand=b"x" * 4)]))[:-2]
               + b"\x05")  # next payload T, no data left
    return out


def test_malformed_messages_give_expert_info_not_lua_errors(tshark, tmp_path):
    wires = malformed()
    expected = []
    for w in wires:
        with pytest.raises(DecodeError) as e:
            mikey.decode(w)
        expected.append(str(e.value))
    pcap = tmp_path / "malformed.pcap"
    write_udp_pcap(pcap, wires)
    frames = run_tshark(tshark, pcap)
    assert len(frames) == len(wires)
    for i, (frame, want) in enumerate(zip(frames, expected)):
        trees = mikey_trees(frame)
        assert len(trees) == 1
        got = [msg for kind, msg in experts(trees[0]) if kind == "mikey.expert.malformed"]
        assert got == [want], f"frame {i + 1}: {got} != {want!r}"


# ----------------------------------------------------------------------------------------------
def sip_invite(sdp: str) -> bytes:
    return ("INVITE sip:bob@example.org SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"
            "From: <sip:alice@example.org>;tag=1928301774\r\nTo: <sip:bob@example.org>\r\n"
            "Call-ID: a84b4c76e66710@192.0.2.1\r\nCSeq: 314159 INVITE\r\n"
            "Contact: <sip:alice@192.0.2.1>\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp)}\r\n\r\n{sdp}").encode()


def test_sip_sdp_session_and_media_level_key_mgmt(tshark, tmp_path):
    gmk, pck = samples()[:2]
    transfer = ticket_messages()[2]
    b64 = lambda w: base64.b64encode(w).decode()  # noqa: E731
    sdp = ("v=0\r\no=alice 2890844526 2890842807 IN IP4 192.0.2.1\r\ns=-\r\n"
           "c=IN IP4 192.0.2.1\r\nt=0 0\r\n"
           f"a=key-mgmt:mikey {b64(gmk)}\r\n"
           "m=audio 49170 RTP/SAVP 96\r\na=rtpmap:96 AMR-WB/16000\r\n"
           f"a=key-mgmt:mikey {b64(pck)}\r\n"
           "m=application 49180 udp MCPTT\r\n"
           f"a=key-mgmt:mikey {b64(transfer)}\r\n")
    pcap = tmp_path / "sip.pcap"
    write_udp_pcap(pcap, [sip_invite(sdp)], port=5060)
    frame = run_tshark(tshark, pcap, f"{PROTO}.show_secrets:TRUE")[0]
    assert "sip" in frame and "sdp" in json.dumps(frame)
    trees = mikey_trees(frame)
    assert len(trees) == 3, "session-level and both media-level MIKEY messages"
    for wire, tree, where in zip([gmk, pck, transfer], trees, ["session", "media 1", "media 2"]):
        compare(wire, tree, where)
