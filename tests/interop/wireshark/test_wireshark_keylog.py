"""Issue 10 item 4: the plugin's keylog preference, in the real tshark.

Oracle: the generator's manifest (``pcaps/manifest.json``), which records for every MIKEY message
the key type and IDs, the verification result, the key and the SRTP master keys and salts that
the capture generator used — independent of both the dissector and the plugin.  The keylog is
written by ``mcsec keylog`` from the capture and the keyring, as a user would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dissectors.cli import main
from tests.conftest import write_udp_pcap
from tests.support.wireshark_plugin import PROTO, experts, mikey_trees, run_tshark

PCAPS = Path(__file__).resolve().parents[3] / "pcaps"
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())


def keylog(tmp_path, capture: str) -> Path:
    out = tmp_path / f"{capture}.keylog"
    assert main(["keylog", str(PCAPS / capture), "--keys", str(PCAPS / "keyring.toml"),
                 "-o", str(out)]) == 0
    return out


def entries(capture: str, kind: str) -> list[dict]:
    out = [e for e in MANIFEST["entries"] if e["capture"] == capture and e["kind"] == kind]
    assert out
    return out


def find(node, key):
    """Every value of ``key`` anywhere under ``node`` (tshark's JSON), in order."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                out.extend(v if isinstance(v, list) else [v])
            else:
                out.extend(find(v, key))
    elif isinstance(node, list):
        for x in node:
            out.extend(find(x, key))
    return out


def one(tree, key):
    values = find(tree, key)
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def tree_of(frames, e) -> dict:
    """The plugin's tree of the manifest entry's message (matched by its octets)."""
    frame = frames[e["frame"] - 1]
    trees = [t for t in mikey_trees(frame)
             if find(t, "mikey.csb_id") == [f"0x{e['expect']['csb_id']:08x}"]]
    assert trees, f"frame {e['frame']}: no MIKEY tree with the CSB ID"
    return trees[0]


def subtrees(node, key) -> list[dict]:
    """The subtrees of an FT_NONE item (tshark writes them under ``key`` or ``key_tree``)."""
    return [x for x in find(node, key) + find(node, key + "_tree") if isinstance(x, dict)]


def crypto_sessions(tree) -> list[dict]:
    return [{"cs_id": int(cs["mikey.3gpp.cs_id"]), "mki": cs["mikey.3gpp.mki"],
             "master_key": cs["mikey.3gpp.srtp_master_key"],
             "master_salt": cs["mikey.3gpp.srtp_master_salt"]}
            for cs in subtrees(tree, "mikey.3gpp.crypto_sessions")]


@pytest.mark.parametrize("capture", ["private-call.pcapng", "group-call.pcapng"])
def test_keylog_values_equal_the_manifest(tshark, tmp_path, capture):
    kl = keylog(tmp_path, capture)
    frames = run_tshark(tshark, PCAPS / capture, f"{PROTO}.keylog_file:{kl}",
                        f"{PROTO}.show_secrets:TRUE")
    for e in entries(capture, "mikey-sakke"):
        want, tree, where = e["expect"], tree_of(frames, e), f"frame {e['frame']}"
        assert one(tree, "mikey.sign.verified") == ("1" if want["verified"] else "0"), where
        assert one(tree, "mikey.sign.region") == want["region"], where
        assert one(tree, "mikey.3gpp.key_type") == want["key_type"], where
        assert int(one(tree, "mikey.3gpp.key_id"), 16) == want["key_id"], where
        assert int(one(tree, "mikey.3gpp.period")) == want["period"], where
        if "guk_id" in want:
            assert int(one(tree, "mikey.3gpp.guk_id"), 16) == want["guk_id"], where
        else:
            assert not find(tree, "mikey.3gpp.guk_id"), where
        assert one(tree, "mikey.sakke.ssv") == want["key"], where
        want_cs = [{k: cs[k] for k in ("cs_id", "mki", "master_key", "master_salt")}
                   for cs in want["crypto_sessions"]]
        assert crypto_sessions(tree) == want_cs, where
        if "key_params_text" in want:  # GMK: GEN_EXT 7 decrypted with the DPCK
            (kp,) = subtrees(tree, "mikey.3gpp.key_params")
            assert kp["mikey.3gpp.kp.text"] == want["key_params_text"], where
            assert int(kp["mikey.3gpp.kp.key_type"]) == 0, where  # TS 33.180 §E.6.2: GMK
            assert kp["mikey.3gpp.kp.legacy"] == "0", where
            groups = find(kp, "mikey.3gpp.kp.group_id_list")
            assert groups and all(g.startswith("sip:") for g in groups), where
        assert not [x for x in experts(tree) if x[0] != "mikey.expert.finding"], where


def test_keylog_secrets_hidden_without_show_secrets(tshark, tmp_path):
    capture = "private-call.pcapng"
    kl = keylog(tmp_path, capture)
    frames = run_tshark(tshark, PCAPS / capture, f"{PROTO}.keylog_file:{kl}")
    text = json.dumps(frames)
    for e in entries(capture, "mikey-sakke"):
        want, tree, where = e["expect"], tree_of(frames, e), f"frame {e['frame']}"
        assert one(tree, "mikey.sign.verified") == "1", where
        assert one(tree, "mikey.3gpp.key_type") == want["key_type"], where
        assert int(one(tree, "mikey.3gpp.key_id"), 16) == want["key_id"], where
        assert one(tree, "mikey.sakke.ssv") == "<hidden>", where
        sessions = crypto_sessions(tree)
        assert [(s["cs_id"], s["mki"]) for s in sessions] == \
            [(cs["cs_id"], cs["mki"]) for cs in want["crypto_sessions"]], where
        assert all(s["master_key"] == s["master_salt"] == "<hidden>" for s in sessions), where
        assert want["key"] not in text
        for cs in want["crypto_sessions"]:
            assert cs["master_key"] not in text and cs["master_salt"] not in text


def test_keylog_teks_of_mikey_ticket(tshark, tmp_path):
    """psk-smime.pcapng: a TRANSFER_INIT with a TLS crypto session (seed 004 Annex X)."""
    capture = "psk-smime.pcapng"
    kl = keylog(tmp_path, capture)
    (e,) = entries(capture, "mikey-ticket")
    for show in (True, False):
        prefs = [f"{PROTO}.keylog_file:{kl}"] + ([f"{PROTO}.show_secrets:TRUE"] if show else [])
        frames = run_tshark(tshark, PCAPS / capture, *prefs)
        tree = tree_of(frames, e)
        got = [{"cs_id": int(s["mikey.ticket.cs_id"]), "spi": s["mikey.ticket.spi"],
                "tls_psk": s["mikey.ticket.tls_psk"],
                "tls_psk_identity": s["mikey.ticket.tls_psk_identity"]}
               for s in subtrees(tree, "mikey.ticket.session_keys")]
        want = [{"cs_id": s["cs_id"], "spi": s["spi"],
                 "tls_psk": s["tls_psk"] if show else "<hidden>",
                 "tls_psk_identity": s["tls_psk_identity"]} for s in e["expect"]["session_keys"]]
        assert got == want
        assert not find(tree, "mikey.3gpp.key_type")  # no MIKEY-SAKKE line for this message


def test_keylog_matches_exact_octets_only(tshark, tmp_path):
    """A message one octet away from a listed one gets nothing from the keylog."""
    kl = keylog(tmp_path, "private-call.pcapng")
    e = entries("private-call.pcapng", "mikey-sakke")[0]
    wire = bytes.fromhex(e["mikey"])
    tampered = bytearray(wire)
    rand = bytes.fromhex(e["expect"]["rand"])
    at = wire.index(rand)
    tampered[at] ^= 0x01  # inside RAND: still a well-formed message
    pcap = tmp_path / "tampered.pcap"
    write_udp_pcap(pcap, [wire, bytes(tampered)])
    frames = run_tshark(tshark, pcap, f"{PROTO}.keylog_file:{kl}", f"{PROTO}.show_secrets:TRUE")
    listed, other = (mikey_trees(f)[0] for f in frames)
    assert one(listed, "mikey.sign.verified") == "1"
    assert one(listed, "mikey.sakke.ssv") == e["expect"]["key"]
    for key in ("mikey.sign.verified", "mikey.sakke.ssv", "mikey.3gpp.key_type",
                "mikey.3gpp.crypto_sessions"):
        assert not find(other, key), key


def test_unreadable_keylog_is_reported_not_silent(tshark, tmp_path):
    missing = tmp_path / "no-such.keylog"
    frames = run_tshark(tshark, PCAPS / "private-call.pcapng", f"{PROTO}.keylog_file:{missing}")
    e = entries("private-call.pcapng", "mikey-sakke")[0]
    tree = tree_of(frames, e)
    got = [msg for kind, msg in experts(tree) if kind == "mikey.expert.keylog"]
    assert got and str(missing) in got[0]
    assert not find(tree, "mikey.sign.verified")
