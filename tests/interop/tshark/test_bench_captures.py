"""The benchmark captures of issue 17 (benchmarks/make_captures.py) as tshark sees them, with the
mcsec Lua plugin: every packet that should carry a MIKEY-SAKKE I_MESSAGE shows one (tshark's
``mikey.type`` = 26, SAKKE, RFC 6509 §4.1), the mixed shape's other packets are the SRTP media
of the SDP offers, and the same arguments give the same octets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PLUGIN = ROOT / "wireshark" / "mcsec_mikey.lua"
sys.path.insert(0, str(ROOT / "benchmarks"))

import make_captures  # noqa: E402

PACKETS = 50
SAKKE_DATA_TYPE = "26"  # RFC 6509 §4.1 (IANA MIKEY data type)


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    cache = tmp_path_factory.mktemp("bench-cache")
    return {s: make_captures.make_capture(s, PACKETS, distinct=4, cache=cache)
            for s in make_captures.SHAPES}


def _fields(capture):
    from tests.conftest import TSHARK

    assert TSHARK, "tshark is needed (make test installs it)"
    r = subprocess.run([TSHARK, "-X", f"lua_script:{PLUGIN}", "-n", "-r", str(capture),
                        "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Protocol",
                        "-e", "mikey.type"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.splitlines()]


@pytest.mark.parametrize("shape", make_captures.SHAPES)
def test_every_mikey_packet_is_decoded_by_tshark_with_the_plugin(captures, shape):
    rows = _fields(captures[shape])
    assert [int(r[0]) for r in rows] == list(range(1, PACKETS + 1))
    with_mikey = [int(r[0]) for r in rows if r[2] == SAKKE_DATA_TYPE]
    if shape == "mixed":
        assert with_mikey == list(range(1, PACKETS + 1, 10))
        assert {r[1] for r in rows if int(r[0]) % 10 != 1} == {"SRTP"}
    else:
        assert with_mikey == list(range(1, PACKETS + 1))
    assert make_captures.mikey_packets(shape, PACKETS) == len(with_mikey)


def test_same_arguments_same_octets(captures, tmp_path):
    again = make_captures.make_capture("sip", PACKETS, distinct=4, cache=tmp_path)
    assert again.read_bytes() == captures["sip"].read_bytes()


def test_uid_form_capture_carries_the_keyring_users_uids_and_verifies_with_uris_only(tmp_path):
    """``--identities uid`` (issue 17's keyed UID-form benchmark): tshark with the plugin reads
    32-octet byte-string IDRi/IDRr (ID type 2) equal to the UIDs pcaps/keyring.toml states for
    the sender and receiver, and mcsec with that keyring *without* its UIDs (users by URI only,
    as bench_dissect.py runs it) verifies and decrypts every message."""
    import tomllib

    from tests.conftest import TSHARK

    import bench_dissect  # benchmarks/ is on sys.path (above)

    cap = make_captures.make_capture("sip", 6, distinct=6, cache=tmp_path, identities="uid")
    r = subprocess.run([TSHARK, "-X", f"lua_script:{PLUGIN}", "-n", "-r", str(cap), "-T",
                        "fields", "-e", "mikey.id.role", "-e", "mikey.id.type", "-e",
                        "mikey.id.data_hex", "-E", "occurrence=a", "-E", "aggregator=;"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ring = tomllib.loads((ROOT / "pcaps" / "keyring.toml").read_text())
    uids = {u["uid"] for u in ring["user"]}
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert len(rows) == 6
    for roles, types, data in rows:
        assert roles.split(";")[:2] == ["1", "2"] and types.split(";")[:2] == ["2", "2"]
        ids = data.split(";")[:2]
        assert all(len(i) == 64 and i in uids for i in ids), ids
    keyring = bench_dissect.uri_only_keyring(tmp_path / "uri-only.toml")
    assert "uid" not in keyring.read_text()
    out = subprocess.run([sys.executable, "-m", "dissectors.cli", "dissect", str(cap), "--format",
                          "json", "--keys", str(keyring), "--workers", "1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count('"mikey.sign.verified": true') == 6
    assert sum('"mikey.3gpp.srtp_master_key"' in line for line in out.stdout.splitlines()) == 6
