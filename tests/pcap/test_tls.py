"""SIP over TLS (issues 7 and 8): the deterministic TLS 1.2 sessions of `mcsec synth` decrypted
by real tshark with the key log (file or pcapng Decryption Secrets Block) and the TLS-PSK of the
seed 004 TRANSFER_INIT, and the dissector finding the TLS-carried MIKEY messages through tshark.

Oracles: OpenSSL's TLS1-PRF (`openssl kdf`) for the PRF; tshark's TLS decryption for the
handshake, key block and AES-GCM records; the manifest (built from the generator's inputs: the
SIP octets it encrypted, the keys it encapsulated) for what must come out."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from codec import mikey
from codec.keyring import from_toml
from codec.mikey import sakke as mikey_sakke
from codec.mikey import ticket as mikey_ticket
from dissectors.pcap import dissect, render
from dissectors.keys import load_keys
from dissectors.pcap.session import Session
from dissectors.synth import tls as synth_tls
from dissectors.synth.rng import Rng
from dissectors.pcap.tls import TlsHook, tls_sip_units

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())
CAP = MANIFEST["captures"]["sip-tls"]
TLS_ENTRIES = MANIFEST["tls_entries"]
SIP_ENTRIES = [e for e in TLS_ENTRIES if e.get("carrier") == "sip-tls"]
MSRP_ENTRY = next(e for e in TLS_ENTRIES if e["kind"] == "msrp-tls-psk")
PLAIN = PCAPS / CAP["file"]
DSB = PCAPS / CAP["dsb_copy"]["file"]
KEYLOG = PCAPS / CAP["keylog"]


def _tshark(tshark, path, *args) -> list[list[str]]:
    proc = subprocess.run([tshark, "-r", str(path), "-n", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return [line.split("|") for line in proc.stdout.splitlines()]


def _ring():
    return load_keys([PCAPS / "keyring.toml", PCAPS / "smime-keys.pem"])


def _records(path, **kw):
    session = Session(keyring=_ring(), show_secrets=True)
    return list(dissect.record_dicts(path, session, **kw))


# -- the generator's TLS -------------------------------------------------------------------------
def test_prf_agrees_with_openssl_tls1_prf():
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed as the PRF oracle")
    secret, seed = bytes(range(7, 55)), Rng(1, "prf").bytes(64)
    out = subprocess.run(["openssl", "kdf", "-keylen", "104", "-kdfopt", "digest:SHA256",
                          "-kdfopt", f"hexsecret:{secret.hex()}", "-kdfopt", "seed:key expansion",
                          "-kdfopt", f"hexseed:{seed.hex()}", "TLS1-PRF"],
                         capture_output=True, text=True, check=True).stdout
    assert synth_tls.prf(secret, b"key expansion", seed, 104) == bytes.fromhex(out.strip().replace(":", ""))


def test_handshake_is_deterministic_and_its_signature_verifies():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.derive_private_key(12345, ec.SECP256R1())
    a = synth_tls.ecdhe_ecdsa(Rng(3, "t"), key, b"\x30\x00", 1_761_000_000)
    b = synth_tls.ecdhe_ecdsa(Rng(3, "t"), key, b"\x30\x00", 1_761_000_000)
    c = synth_tls.ecdhe_ecdsa(Rng(4, "t"), key, b"\x30\x00", 1_761_000_000)
    assert [f.data for f in a.flights] == [f.data for f in b.flights]
    assert a.master_secret == b.master_secret != c.master_secret
    server = a.flights[1].data  # ServerHello, Certificate, ServerKeyExchange, ServerHelloDone
    recs, pos = [], 0
    while pos < len(server):
        n = int.from_bytes(server[pos + 3:pos + 5], "big")
        recs.append(server[pos + 5:pos + 5 + n])
        pos += 5 + n
    ske = next(r for r in recs if r[0] == synth_tls.SERVER_KEY_EXCHANGE)[4:]
    params, rest = ske[:4 + ske[3]], ske[4 + ske[3]:]
    assert params[:3] == b"\x03\x00\x17" and rest[:2] == b"\x04\x03"  # secp256r1, ecdsa+sha256
    sig = rest[4:4 + int.from_bytes(rest[2:4], "big")]
    key.public_key().verify(sig, a.client_random + a.server_random + params,
                            ec.ECDSA(hashes.SHA256()))  # raises if it does not verify
    # the records open with the other side's keys, and a tampered one does not
    wire, _ = a.application_data(True, b"x" * 40000, [100])
    reader = synth_tls.GcmWriter(a.client.key, a.client.salt, seq=a.client.seq - 4)
    first = wire[:5 + 8 + 100 + 16]
    assert reader.open(first) == (synth_tls.APPLICATION_DATA, b"x" * 100)
    from cryptography.exceptions import InvalidTag

    with pytest.raises(InvalidTag):
        synth_tls.GcmWriter(a.client.key, a.client.salt, seq=a.client.seq - 4).open(
            first[:-1] + bytes([first[-1] ^ 1]))


def test_keylog_file_and_dsb_hold_the_sip_session_secret():
    from dissectors.pcap.capture import read_frames

    (sip_tls, _) = CAP["tls"]
    line = f"CLIENT_RANDOM {sip_tls['client_random']} {sip_tls['master_secret']}\n".encode()
    assert KEYLOG.read_bytes() == line
    reader = read_frames(DSB)
    frames = [f.data for f in reader]
    assert reader.tls_keylog() == line
    assert frames == [f.data for f in read_frames(PLAIN)]  # same packets, plus the DSB
    assert hashlib.sha256(DSB.read_bytes()).hexdigest() == CAP["dsb_copy"]["sha256"]
    assert read_frames(PLAIN).tls_keylog() == b""


# -- tshark as the oracle ------------------------------------------------------------------------
@pytest.mark.tshark
@pytest.mark.parametrize("how", ["keylog", "dsb"])
def test_tshark_decrypts_the_sip_over_tls(tshark, how):
    path, opts = (PLAIN, ["-o", f"tls.keylog_file:{KEYLOG}"]) if how == "keylog" else (DSB, [])
    rows = _tshark(tshark, path, *opts, "-Y", "sip && tls", "-T", "fields", "-E",
                   "separator=|", "-e", "frame.number", "-e", "sip.Call-ID", "-e", "sip.Method",
                   "-e", "mikey.type")
    by_frame = {int(r[0]): r for r in rows}
    assert len(rows) >= 14  # REGISTER … 200 OK (BYE): every SIP message over TLS
    for e in SIP_ENTRIES:
        _, call_id, method, _ = by_frame[e["frame"]]
        assert method in ("INVITE", "MESSAGE") and call_id, e["description"]
    sk = _tshark(tshark, path, *opts, "-Y", "tls.handshake.type == 12", "-T", "fields", "-e",
                 "tls.handshake.sig_hash_alg", "-e", "tls.handshake.server_curve_type")
    assert sk and sk[0][0].startswith("0x0403")  # ecdsa_secp256r1_sha256


@pytest.mark.tshark
def test_tshark_sees_no_sip_on_5061_without_keys(tshark):
    rows = _tshark(tshark, PLAIN, "-Y", "sip && tcp.port == 5061", "-T", "fields", "-e",
                   "frame.number")
    assert rows == []
    suites = _tshark(tshark, PLAIN, "-Y", "tls.handshake.type == 2", "-T", "fields", "-e",
                     "tls.handshake.ciphersuite")
    assert sorted(r[0] for r in suites) == ["0x00a8", "0xc02b"]


@pytest.mark.tshark
def test_tshark_decrypts_the_msrp_session_with_the_transfer_init_psk(tshark):
    """The PSK tshark is given is the one the codec derives from the TRANSFER_INIT (seed 004
    Annex X.2), not the generator's copy of it."""
    keyring = from_toml((PCAPS / "keyring.toml").read_text(), "keyring.toml")
    ti = next(e for e in SIP_ENTRIES if e["kind"] == "mikey-ticket")
    wire = bytes.fromhex(ti["mikey"])
    res = mikey_ticket.process(mikey.decode(wire), wire, keyring)
    (s,) = res.session_keys
    assert s.is_tls and s.tls_psk_identity == "" and s.tek.hex() == MSRP_ENTRY["psk"]
    rows = _tshark(tshark, PLAIN, "-o", f"tls.psk:{s.tek.hex()}", "-Y",
                   f"tcp.port == {MSRP_ENTRY['port']} && data", "-T", "fields", "-E",
                   "separator=|", "-e", "frame.number", "-e", "data.data")
    data = {int(r[0]): bytes.fromhex(r[1].replace(":", "")) for r in rows}
    assert data[MSRP_ENTRY["frame"]] == bytes.fromhex(MSRP_ENTRY["msrp"])
    assert bytes.fromhex(MSRP_ENTRY["content"]) in data[MSRP_ENTRY["frame"]]
    wrong = _tshark(tshark, PLAIN, "-o", f"tls.psk:{bytes(16).hex()}", "-Y",
                    f"tcp.port == {MSRP_ENTRY['port']} && data", "-T", "fields", "-e",
                    "frame.number")
    assert wrong == []


# -- the dissector (tshark through dissectors.pcap.tls) -----------------------------------------------
@pytest.mark.tshark
def test_tls_sip_units_are_the_exact_sip_octets(tshark):
    units = list(tls_sip_units(PLAIN, KEYLOG.read_bytes()))
    by_hash = {hashlib.sha256(u.data).hexdigest(): u for u in units}
    for e in SIP_ENTRIES:
        u = by_hash[e["sip_sha256"]]
        assert len(u.data) == e["sip_length"]
        assert u.frames == e.get("frames", [e["frame"]]), e["description"]
        assert u.transport == "tls" and 5061 in (u.sport, u.dport)
    shared = {}
    for u in units:
        shared.setdefault(tuple(u.frames), []).append(u.data.split(b"\r\n")[0])
    assert [b"SIP/2.0 100 Trying", b"SIP/2.0 180 Ringing"] in shared.values()  # one TLS record
    frames = [u.frames[-1] for u in units]
    assert frames == sorted(frames)


def _check_tls_entries(recs):
    keyring = from_toml((PCAPS / "keyring.toml").read_text(), "keyring.toml")
    mikeys = [r for r in recs if r["kind"] == "mikey" and r["transport"] == "tls"]
    assert len(mikeys) == len(SIP_ENTRIES)
    for e in SIP_ENTRIES:
        rec = next(r for r in mikeys if r["frame"] == e["frame"])
        assert rec["frames"] == e.get("frames", [e["frame"]])
        doc, x = rec["mikey"], e["expect"]
        hdr = doc["mikey"][0]["mikey.hdr"]
        assert hdr["mikey.csb_id"] == x["csb_id"], e["description"]
        if e["kind"] == "mikey-sakke":
            sign = next(p["mikey.sign"] for p in doc["mikey"] if "mikey.sign" in p)
            assert sign["mikey.sign.verified"] is True
            sakke = next(p["mikey.sakke"] for p in doc["mikey"] if "mikey.sakke" in p)
            assert sakke["mikey.sakke.ssv"] == x["key"]
            got = [(c["mikey.3gpp.cs_id"], c["mikey.3gpp.mki"], c["mikey.3gpp.srtp_master_key"],
                    c["mikey.3gpp.srtp_master_salt"]) for c in doc["mikey.3gpp.crypto_sessions"]]
            assert got == [(c["cs_id"], c["mki"], c["master_key"], c["master_salt"])
                           for c in x["crypto_sessions"]]
            wire = bytes.fromhex(e["mikey"])  # and the codec agrees on the manifest's octets
            assert mikey_sakke.process(mikey.decode(wire), wire, keyring).ssv == bytes.fromhex(x["key"])
        else:
            keys = {(s["mikey.ticket.cs_id"], s.get("mikey.ticket.tls_psk"))
                    for s in doc["mikey.ticket.session_keys"]}
            assert keys == {(s["cs_id"], s["tls_psk"]) for s in x["session_keys"]}
    return mikeys


@pytest.mark.tshark
@pytest.mark.parametrize("keylog", ["path", "bytes"])
def test_records_decrypt_sip_over_tls_with_a_keylog(tshark, keylog):
    recs = _records(PLAIN, tls_keylog=KEYLOG if keylog == "path" else KEYLOG.read_bytes())
    _check_tls_entries(recs)
    frames = [r["frame"] for r in recs if r["kind"] == "mikey"]
    assert frames == sorted(frames)  # TLS units merged in capture order with the UDP leg
    assert any(r["kind"] == "mikey" and r["transport"] == "udp" for r in recs)
    # the MSRP stream is TLS-PSK: opened with the PSK of the TRANSFER_INIT (tests/codec/test_msrp.py)
    assert not [r for r in recs if r["kind"] == "note"]
    assert [r["frame"] for r in recs if r["kind"] == "msrp"][0] == MSRP_ENTRY["frame"]


@pytest.mark.tshark
def test_records_use_the_pcapng_decryption_secrets(tshark):
    _check_tls_entries(_records(DSB))


def test_records_without_keys_say_tls_was_not_decrypted():
    recs = _records(PLAIN)
    assert not [r for r in recs if r.get("transport") == "tls"]
    notes = [r for r in recs if r["kind"] == "note"]
    assert any("5061" in n["message"] and "not decrypted" in n["message"] for n in notes)
    first_tls = min(e.get("frames", [e["frame"]])[0] for e in SIP_ENTRIES)
    assert all(n["frame"] < first_tls for n in notes if "5061" in n["message"])
    assert [r for r in recs if r["kind"] == "mikey"]  # the UDP leg is still dissected
    assert "not decrypted" in render.text_line(notes[0])


def test_missing_tshark_is_reported_not_raised(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    recs = _records(PLAIN, tls_keylog=KEYLOG)
    assert any(r["kind"] == "note" and "tshark is not installed" in r["message"] for r in recs)
    assert [r for r in recs if r["kind"] == "mikey"]


def test_plain_sip_over_tcp_is_not_claimed_as_tls():
    recs = _records(PCAPS / "transports.pcapng", tls_keylog=b"")
    assert any(r["kind"] == "mikey" and r["transport"] == "tcp" for r in recs)
    assert not [r for r in recs if r["kind"] == "note"]


def test_hook_detects_tls_records():
    from dissectors.pcap.tls import looks_like_tls

    assert looks_like_tls(bytes.fromhex("160301002a")) and looks_like_tls(b"\x17\x03\x03\x00\x10")
    assert not looks_like_tls(b"INVITE sip:") and not looks_like_tls(b"\x16\x03")
    assert TlsHook(PLAIN, None).claim(object()) is None


def test_cli_tls_keylog_option(tmp_path, capsys):
    import json as _json
    from pathlib import Path as _Path

    from dissectors.cli import main

    pcaps = _Path(__file__).resolve().parents[2] / "pcaps"
    argv = ["dissect", str(pcaps / "sip-tls.pcapng"), "--keys", str(pcaps / "keyring.toml"),
            "--format", "jsonl-records"]
    assert main(argv + ["--tls-keylog", str(pcaps / "sip-tls.keylog")]) == 0
    recs = [_json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert any(r.get("transport") == "tls" and r["kind"] == "mikey" for r in recs)
    assert main(argv) == 0  # without the key log: a note, no TLS-carried records
    recs = [_json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert not any(r.get("transport") == "tls" for r in recs)
    assert any(r["kind"] == "note" and "not decrypted" in r.get("message", r.get("what", ""))
               for r in recs)
    assert main(argv + ["--tls-keylog", str(tmp_path / "missing")]) == 2
