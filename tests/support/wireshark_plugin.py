"""The generated Wireshark plugin run in the real tshark, and the codec's own JSON normalised
to compare with it: the helpers and message sets that the Wireshark tests
(tests/interop/wireshark/) and tests/codec/test_uid_identities.py share."""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings

from codec import DecodeError, mikey
from codec.mikey import carriers, render
from codec.mikey import model
from codec.mikey import ticket as mikey_ticket
from codec.mikey import ticket_build
from codec.mikey import ticket_keys
from dissectors import wireshark
from tests.support.strategies import messages

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "wireshark" / "mcsec_mikey.lua"
SAMPLES = REPO / "pcaps" / "messages"
FIELD_TYPES = wireshark.field_types()
PAYLOAD_KEYS = {cls.JSON for cls in mikey.PAYLOAD_CLASSES.values()} | {"mikey.hdr", "mikey.thdr"}
PROTO = wireshark.PROTO_NAME
PCAPS = REPO / "pcaps"
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())


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
        ours = drop_hidden(ours)
    theirs = canon_theirs(tree)
    assert theirs == ours, f"{where}: plugin and codec disagree\n{tree_diff(ours, theirs)}"
    got = sorted(msg for kind, msg in experts(tree) if kind == "mikey.expert.finding")
    assert got == sorted(findings), f"{where}: findings {got} != {findings}"
    assert not [e for e in experts(tree) if e[0] == "mikey.expert.malformed"], where


def drop_hidden(d):
    out = {}
    for k, vs in d.items():
        keep = [(drop_hidden(v) if isinstance(v, dict) else v) for v in vs if v != "<hidden>"]
        if keep:
            out[k] = keep
    return out


def tree_diff(a, b, path=""):
    lines = []
    for k in sorted(set(a) | set(b)):
        if k not in a or k not in b:
            lines.append(f"{path}{k}: codec {a.get(k)!r:.200} / plugin {b.get(k)!r:.200}")
        elif a[k] != b[k]:
            if len(a[k]) == len(b[k]) and all(isinstance(x, dict) for x in a[k] + b[k]):
                for i, (x, y) in enumerate(zip(a[k], b[k])):
                    lines += tree_diff(x, y, f"{path}{k}[{i}].")
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
    ticket = ticket_build.build_ticket(tpk, mpk, [ticket_build.key_data(ticket_keys.KEY_TGK, tgk, spi=spi)], t_value=T_VALUE,
                                       tpk_identity="tpk@" + KMS, rand=bytes(range(16)), tp_data=tp_data)
    clear = ticket_build.build_ticket(tpk, mpk, [ticket_build.key_data(ticket_keys.KEY_TGK, tgk, spi=spi)], t_value=T_VALUE,
                                      rand=bytes(16), encr_alg=0)
    tp = model.TP(ticket_type=1, subtype=1, version=1, prf_func=1, flag_h=1, tp_data=tp_data)
    req_init = ticket_build.build_request_init(psk_a, csb_id=0x100, initiator=ALICE, kms=KMS,
                                               t_value=T_VALUE, tp=tp)
    req_resp = ticket_build.build_response(req_init, psk_a, data_type=mikey_ticket.REQUEST_RESP, kms=KMS,
                                           t_value=T_VALUE, ticket=ticket,
                                           kemac_keys=[ticket_build.key_data(ticket_keys.KEY_MPK, mpk),
                                                       ticket_build.key_data(ticket_keys.KEY_TGK, tgk, spi=spi)])
    cs = [model.GenericIdEntry(cs_id=1, prot_type=0, policies=[0], spi=spi),
          model.GenericIdEntry(cs_id=2, prot_type=mikey.DEFAULT_TLS_PROT_TYPE, spi=spi)]
    transfer = ticket_build.build_transfer_init(ticket, mpk, csb_id=0x200, cs_entries=cs, initiator=ALICE,
                                                responder=BOB, t_value=T_VALUE, rand_i=bytes(16))
    transfer_clear = ticket_build.build_transfer_init(clear, mpk, csb_id=0x201, cs_entries=cs[:1],
                                                      initiator=ALICE, responder=BOB, t_value=T_VALUE,
                                                      rand_i=bytes(16))
    res_init = ticket_build.build_resolve_init(psk_b, ticket, csb_id=0x300, responder=BOB, kms=KMS,
                                               t_value=T_VALUE)
    psk_null = ticket_build.build_psk_i_message(psk_a, [ticket_build.key_data(ticket_keys.KEY_TGK, tgk, spi=spi),
                                                        ticket_build.key_data(3, b"k" * 16, salt=b"s" * 14)],
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


# ----------------------------------------------------------------------------------------------
# every frame of every sample capture: the plugin's mikey.* fields = `mcsec dissect --format json`
def plugin_trees(capture, *prefs):
    from tests.conftest import TSHARK

    return {int(f["frame"]["frame.number"]): mikey_trees(f)
            for f in run_tshark(TSHARK, capture, *prefs)}


def plugin_trees_by_frame(frames) -> dict:

    return {int(f["frame"]["frame.number"]): mikey_trees(f) for f in frames}


def mcsec_entries(capture, *args):
    from dissectors.cli import main

    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["dissect", str(capture), "--format", "json", "--filter", "all",
                     "--no-progress", *args]) == 0
    return {p["frame"]: p["layers"].get("mikey", [])
            for p in map(json.loads, buf.getvalue().splitlines())}


TLS_KEYLOG = PCAPS / "sip-tls.keylog"


KEYRING = PCAPS / "keyring.toml"
DERIVED_TOP = ("mikey", "mcsec.carrier", "mcsec.error", "mikey.findings")


def canon_entry(entry, hide_secrets=False):
    """Our JSON entry as {key: [values]}, the top-level values (trailing octets, and with keys
    the crypto sessions, session keys, replay verdict) beside the payloads, as in the plugin."""

    mine = canon_ours({"mikey": entry.get("mikey", [])})["mikey"][0]
    for key, value in entry.items():
        if key not in DERIVED_TOP:
            mine[key] = canon_ours({key: value})[key]
    return drop_hidden(mine) if hide_secrets else mine



def compare_capture_with_dissect(tmp_path, capture, mode, plugin_trees):
    """``plugin_trees(capture_path, *prefs)`` runs a tshark with the plugin: {frame: trees}."""
    from dissectors.cli import main

    tls = capture == "sip-tls.pcapng"
    prefs = [f"tls.keylog_file:{TLS_KEYLOG}"] if tls else []
    args = ["--tls-keylog", str(TLS_KEYLOG)] if tls else []
    if mode != "decoded":
        keylog = tmp_path / "capture.mcsec-keylog"
        assert main(["keylog", str(PCAPS / capture), "--keys", str(KEYRING), "-o", str(keylog),
                     *args]) == 0
        prefs.append(f"mcsec_mikey.keylog_file:{keylog}")
        args += ["--keys", str(KEYRING)]
        if mode == "keylog-secrets":
            prefs.append("mcsec_mikey.show_secrets:TRUE")
            args.append("--show-secrets")
    theirs = plugin_trees(PCAPS / capture, *prefs)
    ours = mcsec_entries(PCAPS / capture, *args)
    assert set(theirs) == set(ours), "both see every frame"
    compared = 0
    for frame in sorted(ours):
        t, u = theirs[frame], ours[frame]
        assert len(t) == len(u), f"frame {frame}: {len(t)} MIKEY tree(s), mcsec {len(u)}"
        for tree, entry in zip(t, u):
            # hidden secrets: "<hidden>" in our JSON; the plugin shows no octets for them
            mine = canon_entry(entry, hide_secrets=mode == "keylog")
            plugin = canon_theirs(tree)
            if mode == "keylog":  # and "<hidden>" text fields in the plugin's
                plugin = drop_hidden(plugin)
            assert plugin == mine, f"frame {frame}:\n" + "\n".join(tree_diff(mine, plugin))
            compared += 1
    n_manifest = sum(1 for e in MANIFEST["entries"] if e["capture"] == capture
                     and e["kind"] in ("mikey-sakke", "mikey-ticket", "psk-smime",
                                       "malformed-mikey"))
    assert compared >= n_manifest
