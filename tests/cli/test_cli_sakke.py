"""`mcsec decode --keys`, `mcsec uid` and `mcsec keyring import` on real MIKEY-SAKKE messages."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from codec import mikey
from codec.crypto import mcx, prf
from codec.keyring import Keyring
from codec.kms import Kms
from codec.mikey import sakke as mikey_sakke
from codec.mikey import render
from dissectors.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "pcaps" / "messages"
NTP = 3_970_000_000
GMK = bytes.fromhex("00112233445566778899aabbccddeeff")  # pcaps/messages/generate.py


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("sakke")
    kms = Kms("kms.example.org")
    period = kms.period_no(NTP)
    alice = kms.issue("sip:alice@example.org", period)
    bob = kms.issue("sip:bob@example.org", period)
    party = {k.uri: mikey_sakke.Party(k.uri, kms.uri, k.uid, kms.kpak, kms.z, k.ssk, k.pvt)
             for k in (alice, bob)}
    pck = bytes(range(100, 116))
    pck_id = mcx.make_key_id("PCK", 0x0777777)
    wire = mikey_sakke.build_i_message("PCK", pck, pck_id, party[alice.uri], party[bob.uri],
                                       ntp_time=NTP << 32, map_style="empty")
    (d / "pck.bin").write_bytes(wire)
    (d / "ring.toml").write_text(Keyring(kms=[kms.public()], users=[bob]).to_toml())
    trk = os.urandom(32)
    (d / "init.xml").write_bytes(kms.init_document(bob.uri))
    (d / "prov.xml").write_bytes(kms.key_prov_document([bob], transport_key=trk))
    return dict(dir=d, wire=wire, pck=pck, pck_id=pck_id, trk=trk, kms=kms, bob=bob)


def _json(argv, capsys, expect=0):
    code, out, err = run(argv + ["--format", "json"], capsys)
    assert code == expect, err
    return json.loads(out)


def _payload(doc, name):
    return next(r[name] for r in doc["mikey"] if name in r)


def test_sample_gmk_verifies_and_decrypts(capsys):
    doc = _json(["decode", SAMPLES / "mikey-sakke-gmk.sdp", "--keys", SAMPLES / "bob.keyring.toml",
                 "--show-secrets"], capsys)
    hdr = _payload(doc, "mikey.hdr")
    assert hdr["mikey.3gpp.key_type"] == "GMK"
    assert hdr["mikey.3gpp.key_id"] == mcx.make_key_id("GMK", 0x0ABC123)
    assert hdr["mikey.3gpp.guk_id"] == hdr["mikey.csb_id"]
    assert _payload(doc, "mikey.sign")["mikey.sign.verified"] is True
    assert _payload(doc, "mikey.sign")["mikey.sign.region"] == "rfc3830"
    assert _payload(doc, "mikey.sakke")["mikey.sakke.ssv"] == GMK.hex()
    kp = _payload(doc, "mikey.ext")["mikey.3gpp.key_params"]
    assert kp["mikey.3gpp.kp.text"] == "Fire brigade group key"
    assert kp["mikey.3gpp.kp.group_id_list"] == ["sip:fire@mcptt.example.org"]
    (cs,) = doc["mikey.3gpp.crypto_sessions"]
    rand = bytes.fromhex(_payload(doc, "mikey.rand")["mikey.rand.data"])
    key, salt = prf.srtp_master(GMK, 4, hdr["mikey.csb_id"], rand, 16, 12, hdr["mikey.prf_func"])
    assert cs["mikey.3gpp.cs_id"] == 4
    assert (cs["mikey.3gpp.srtp_master_key"], cs["mikey.3gpp.srtp_master_salt"]) == (key.hex(), salt.hex())
    assert cs["mikey.3gpp.mki"] == f"{hdr['mikey.3gpp.key_id']:08x}{hdr['mikey.csb_id']:08x}"


def test_secrets_hidden_without_show_secrets(capsys):
    code, out, _ = run(["decode", SAMPLES / "mikey-sakke-gmk.sdp", "--keys",
                        SAMPLES / "bob.keyring.toml", "--format", "json"], capsys)
    assert code == 0
    assert GMK.hex() not in out
    doc = json.loads(out)
    assert _payload(doc, "mikey.sakke")["mikey.sakke.ssv"] == "<hidden>"
    assert doc["mikey.3gpp.crypto_sessions"][0]["mikey.3gpp.srtp_master_key"] == "<hidden>"
    code, text, _ = run(["decode", SAMPLES / "mikey-sakke-gmk.sdp", "--keys",
                         SAMPLES / "bob.keyring.toml"], capsys)
    assert "Signature: verified (rfc3830)" in text and GMK.hex() not in text


def test_annotated_json_still_encodes_to_the_same_octets(world, capsys):
    doc = _json(["decode", world["dir"] / "pck.bin", "--keys", world["dir"] / "ring.toml",
                 "--show-secrets"], capsys)
    assert mikey.encode(render.from_json(doc)) == world["wire"]


def test_kms_xml_with_transport_key(world, capsys):
    d = world["dir"]
    doc = _json(["decode", d / "pck.bin", "--keys", d / "init.xml", "--keys", d / "prov.xml",
                 "--trk", world["trk"].hex(), "--show-secrets"], capsys)
    assert _payload(doc, "mikey.sakke")["mikey.sakke.ssv"] == world["pck"].hex()
    assert [c["mikey.3gpp.cs_id"] for c in doc["mikey.3gpp.crypto_sessions"]] == [0, 1]
    # without the TrK the wrapped RSK is unusable: the reason says what is missing
    doc = _json(["decode", d / "pck.bin", "--keys", d / "init.xml", "--keys", d / "prov.xml"],
                capsys)
    assert "no key" in _payload(doc, "mikey.sakke")["mikey.sakke.error"]


def test_tampered_message_is_reported_and_not_decrypted(world, capsys, tmp_path):
    bad = bytearray(world["wire"])
    bad[60] ^= 0x01  # inside the signed region (an IDR)
    f = tmp_path / "bad.bin"
    f.write_bytes(bytes(bad))
    doc = _json(["decode", f, "--keys", world["dir"] / "ring.toml", "--show-secrets"], capsys,
                expect=3)  # README: 3 when a signature or MAC check fails
    sign = _payload(doc, "mikey.sign")
    assert sign["mikey.sign.verified"] is False and sign["mikey.sign.error"]
    sakke = _payload(doc, "mikey.sakke")
    assert "mikey.sakke.ssv" not in sakke and "--decrypt-unverified" in sakke["mikey.sakke.error"]
    assert "mikey.3gpp.crypto_sessions" not in doc


def test_decrypt_unverified_is_marked(world, capsys, tmp_path):
    bad = bytearray(world["wire"])
    bad[-1] ^= 0x01  # the last octet of the PVT: signature broken, SAKKE data intact
    f = tmp_path / "bad.bin"
    f.write_bytes(bytes(bad))
    doc = _json(["decode", f, "--keys", world["dir"] / "ring.toml", "--show-secrets",
                 "--decrypt-unverified"], capsys, expect=3)
    assert _payload(doc, "mikey.sign")["mikey.sign.verified"] is False
    sakke = _payload(doc, "mikey.sakke")
    assert sakke["mikey.sakke.ssv"] == world["pck"].hex() and sakke["mikey.sakke.unverified"] is True
    code, text, _ = run(["decode", f, "--keys", world["dir"] / "ring.toml",
                         "--decrypt-unverified"], capsys)
    assert code == 3 and "decrypted WITHOUT a verified signature" in text


def test_bad_key_file_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[kek]]\nid = 'zz'\nkey = '00'\n")
    # returned by options.run, the one place errors become exit statuses (no SystemExit)
    assert main(["decode", str(SAMPLES / "mikey-sakke-pck.hex"), "--keys", str(bad)]) == 2
    assert "not hex" in capsys.readouterr().err


def test_uid_command_vector_and_time_forms(capsys):
    expected = "3a81fb14c3b1d0fe43c9c577104d55a6d81788bfd2f09743c4557746a5a0353b"
    base = ["uid", "--uri", "sip:user@example.org", "--kms-uri", "kms.example.org",
            "--key-period", "2592000", "--key-period-offset", "0"]
    for extra in (["--period-no", "1388"], ["--time", "3599719634"],
                  ["--time", "2014-01-26T10:07:14Z"]):
        code, out, _ = run(base + extra, capsys)
        assert (code, out.strip()) == (0, expected)
    code, _, err = run(base + ["--time", "yesterday"], capsys)
    assert code == 2 and "ISO" in err


def test_keyring_import_checks_and_writes_private_file(world, capsys, tmp_path):
    d = world["dir"]
    out = tmp_path / "ring.toml"
    code, _, err = run(["keyring", "import", d / "init.xml", d / "prov.xml", "--trk",
                        world["trk"].hex(), "-o", out], capsys)
    assert code == 0, err
    assert (out.stat().st_mode & 0o777) == 0o600
    from codec.keyring import from_toml
    ring = from_toml(out.read_text())
    assert ring.users[0].rsk == world["bob"].rsk and ring.kms[0].z == world["kms"].z
    # a key set whose SSK does not belong to its PVT is reported
    tampered = from_toml(out.read_text())
    tampered.users[0].ssk = (int.from_bytes(tampered.users[0].ssk, "big") ^ 1).to_bytes(32, "big")
    t = tmp_path / "tampered.toml"
    t.write_text(tampered.to_toml())
    code, _, err = run(["keyring", "import", t, "-o", tmp_path / "x.toml"], capsys)
    assert code == 1 and "SSK/PVT do not validate" in err


def test_sdp_line_with_keys(world, capsys, tmp_path):
    f = tmp_path / "x.sdp"
    f.write_text("a=key-mgmt:mikey " + base64.b64encode(world["wire"]).decode() + "\r\n")
    code, text, _ = run(["decode", f, "--keys", world["dir"] / "ring.toml"], capsys)
    assert code == 0 and "Key type: PCK" in text and f"Key ID: 0x{world['pck_id']:08x}" in text
