"""Issue 15: hostile and careless input never ends the command line in a traceback.

Every case runs ``dissectors.cli.main`` in-process: an exception escaping it is the traceback a
user would see.  Exit codes are those of the README: 1 does not decode, 2 usage / key file,
3 a verification check failed.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import struct
from pathlib import Path

import pytest

from dissectors.cli import main

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
KEYRING = PCAPS / "keyring.toml"


def run(argv, stdin: bytes = b"") -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``mcsec argv``; any exception fails the test."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin = __import__("sys").stdin
    __import__("sys").stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in argv])
            except SystemExit as e:  # argparse usage errors
                rc = e.code
    finally:
        __import__("sys").stdin = old_stdin
    assert "Traceback" not in err.getvalue()
    return rc, out.getvalue(), err.getvalue()


# -- a capture written here, independently of codec/pcapfile.py (pcap: libpcap file format) -------
def _ip_udp(payload: bytes, sport: int = 5060, dport: int = 5060) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                       bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp


def _pcap(payloads) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)  # LINKTYPE_RAW
    for i, p in enumerate(payloads):
        frame = _ip_udp(p)
        out += struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame
    return out


BAD_SIP = (b"MESSAGE sip:bob@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\n"
           b"this header line has no colon\r\nCall-ID: hostile-1\r\nCSeq: 1 MESSAGE\r\n"
           b"Content-Length: 0\r\n\r\n")
GOOD_SIP = BAD_SIP.replace(b"this header line has no colon\r\n", b"").replace(b"hostile-1",
                                                                              b"fine-2")


@pytest.fixture(scope="module")
def bad_sip_capture(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "bad-sip.pcap"
    path.write_bytes(_pcap([BAD_SIP, GOOD_SIP]))
    return path


@pytest.mark.parametrize("mode", [[], ["--brief"], ["--stats"]])
def test_malformed_sip_header_line_text_modes(bad_sip_capture, mode):
    rc, out, err = run(["dissect", bad_sip_capture, "--no-progress", "--filter", "all"] + mode)
    assert rc == 0
    lines = out.splitlines()
    first = [ln for ln in lines if ln.split()[:1] == ["1"]]
    assert first and "SIP MESSAGE" in first[0] and "SIP ERROR" in first[0]
    assert any(ln.split()[:1] == ["2"] and "SIP MESSAGE" in ln for ln in lines)  # carries on
    if not mode or mode == ["--stats"]:
        offset = BAD_SIP.index(b"this header")
        assert f"at offset {offset}:" in out and "sip.Call-ID: hostile-1" in out


def test_malformed_sip_header_line_json_keeps_fields_and_error(bad_sip_capture):
    rc, out, _ = run(["dissect", bad_sip_capture, "--no-progress", "--format", "json"])
    assert rc == 0
    pkt = json.loads(out.splitlines()[0])
    sip = pkt["layers"]["sip"]
    assert isinstance(sip, dict)
    assert sip["sip.Call-ID"] == "hostile-1" and sip["sip.Method"] == "MESSAGE"
    assert sip["mcsec.error"]["offset"] == BAD_SIP.index(b"this header")


# -- one bit flipped in every 400 octets of each sample capture, every output mode -------------
def _flip_bits(data: bytes, seed: str) -> bytes:
    rng = random.Random(seed)
    b = bytearray(data)
    for start in range(0, len(b), 400):
        b[start + rng.randrange(min(400, len(b) - start))] ^= 1 << rng.randrange(8)
    return bytes(b)


MODES = {"text": [], "brief": ["--brief"], "stats": ["--stats"], "json": ["--format", "json"],
         "jsonl-records": ["--format", "jsonl-records"], "keylog": None}
CAPTURES = sorted(p.name for p in PCAPS.glob("*.pcapng"))


@pytest.fixture(scope="module")
def mutated(tmp_path_factory):
    d = tmp_path_factory.mktemp("flipped")
    paths = {}
    for name in CAPTURES:
        data = (PCAPS / name).read_bytes()
        flipped = _flip_bits(data, f"issue-15 {name}")
        assert flipped != data and len(flipped) == len(data)
        paths[name] = d / name
        paths[name].write_bytes(flipped)
    return paths


def test_sample_captures_are_there():
    assert len(CAPTURES) >= 9


@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize("mode", list(MODES))
def test_bit_flipped_captures_every_mode(mutated, tmp_path, capture, mode):
    path = mutated[capture]
    if MODES[mode] is None:
        argv = ["keylog", path, "--keys", KEYRING, "-o", tmp_path / "keylog.txt"]
    else:
        argv = ["dissect", path, "--keys", KEYRING, "--workers", "1", "--no-progress",
                "--filter", "all"] + MODES[mode]
    rc, out, err = run(argv)
    assert rc == 0, err
    if mode in ("json", "jsonl-records"):
        for line in out.splitlines():
            json.loads(line)
    elif mode == "stats":
        stats = json.loads(err.splitlines()[-1])["mcsec.stats"]
        assert stats["frames"]["total"] + stats["capture_errors"] > 0


# -- decode: a header whose CS ID map does not decode ----------------------------------------------
# RFC 3830 §6.1: version 1, data type 0, next payload 0, V/PRF 0, CSB ID, #CS 0, map type 100
UNKNOWN_MAP = bytes.fromhex("01 00 00 00 12 34 56 78 00 64")


@pytest.mark.parametrize("keys", [False, True])
@pytest.mark.parametrize("stdin,path,offset", [
    (UNKNOWN_MAP.hex().encode(), "HDR.cs_id_map_type", 9),
    (b"00\n", "HDR.data_type", 1),  # one octet: the version only
])
def test_decode_partial_header_text(stdin, path, offset, keys):
    argv = ["decode", "-"] + (["--keys", KEYRING] if keys else [])
    rc, out, err = run(argv, stdin=stdin)
    assert rc == 1
    lines = out.rstrip("\n").splitlines()
    assert lines[0] == "Multimedia Internet KEYing"
    assert "Common Header (HDR) (incomplete)" in out
    assert "Version: " + str(bytes.fromhex(stdin.decode())[0]) in out  # the partial tree
    assert lines[-1].startswith(f"    [Note: {path} at offset {offset}: DECODE ERROR")  # last note
    assert f"{path} at offset {offset}" in err
    if stdin != b"00\n":
        assert "CSB ID: 0x12345678" in out and "CS ID map type: Unknown (100)" in out


def test_decode_truncated_payload_shows_its_leading_fields():
    sdp = (ROOT / "pcaps" / "messages" / "mikey-sakke-gmk.sdp").read_text()
    import base64
    import re

    wire = base64.b64decode(re.search(r"mikey ([A-Za-z0-9+/=]+)", sdp).group(1))
    rc, out, err = run(["decode", "-"], stdin=wire[:30].hex().encode())
    assert rc == 1
    # HDR (10 + GENERIC-ID map) decodes; T is cut: its type octets are shown, then the error note
    assert "Common Header (HDR)\n" in out and "(incomplete)" in out
    assert out.rstrip().splitlines()[-1].startswith("    [Note: payloads[")


# -- option values: usage errors (exit 2), never a ValueError traceback ----------------------------
SDP = ROOT / "pcaps" / "messages" / "mikey-sakke-gmk.sdp"
CAPTURE = PCAPS / "smime.pcapng"


@pytest.mark.parametrize("argv", [
    ["decode", SDP, "--keys", KEYRING, "--trk", "zz"],
    ["decode", SDP, "--keys", KEYRING, "--trk", "00112233"],  # not an AES key length
    ["dissect", CAPTURE, "--keys", KEYRING, "--trk", "not hex"],
    ["keylog", CAPTURE, "--keys", KEYRING, "--trk", "zz", "-o", "-"],
    ["keyring", "import", KEYRING, "--trk", "zz", "-o", "-"],
    ["psk-smime", SDP, "--trk", "zz"],
    ["decode", SDP, "--replay-cache-size", "0"],
    ["dissect", CAPTURE, "--replay-cache-size", "0"],
    ["psk-smime", SDP, "--replay-cache-size", "-1"],
    ["dissect", CAPTURE, "--workers", "0"],
    ["dissect", CAPTURE, "--workers", "-2"],
    ["dissect", CAPTURE, "--workers", "100000"],
    ["dissect", CAPTURE, "-c", "0"],
    ["dissect", CAPTURE, "--duration", "-1"],
    ["dissect", CAPTURE, "--duration", "nan"],
    ["dissect", CAPTURE, "--duration", "inf"],
    ["uid", "--uri", "sip:a@example.org", "--kms-uri", "kms.example.org", "--key-period", "-5",
     "--time", "2025-01-01"],
    ["uid", "--uri", "sip:a@example.org", "--kms-uri", "kms.example.org", "--key-period", "0",
     "--period-no", "1"],
    ["uid", "--uri", "sip:a@example.org", "--kms-uri", "kms.example.org", "--key-period", "5",
     "--key-period-offset", "-1", "--period-no", "1"],
    ["uid", "--uri", "sip:a@example.org", "--kms-uri", "kms.example.org", "--key-period", "5",
     "--period-no", "-1"],
    ["uid", "--uri", "sip:a@example.org", "--kms-uri", "kms.example.org", "--key-period", "5",
     "--period-no", "9" * 5000],  # more digits than int() converts
    ["uid", "--uri", "sip:a@example.org", "--kms-uri", "kms.example.org", "--key-period", "5",
     "--time", "9" * 5000],
    ["uid", "--uri", "sip:a@example.org", "--kms-uri", "kms.example.org", "--key-period",
     "2592000", "--time", "1850-01-01"],  # before the first key period
    ["uid", "--uri", "sip:" + "a" * 65_536, "--kms-uri", "kms.example.org", "--key-period", "5",
     "--period-no", "1"],
    ["uid", "--uri", "sip:a@example.org", "--kms-uri", "k" * 65_536, "--key-period", "5",
     "--period-no", "1"],
    ["cms", "open", SDP, "--max-size", "-1"],
    ["cms", "open", SDP, "--max-size", "0"],
    ["cms", "show", SDP, "--max-size", "0"],
    ["fuzz", "--count", "-1"],
    ["fuzz", "--count", "0"],
    ["fuzz", "--seed", "1" * 100],
    ["synth", "unused-dir", "--calls", "0"],
    ["synth", "unused-dir", "--seed", "x"],
])
def test_bad_option_values_are_usage_errors(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(argv)
    assert rc == 2, err
    assert "error: argument" in err or err.startswith("mcsec: ")
    assert list(tmp_path.iterdir()) == []  # refused before any work


def test_uid_limits_are_inclusive():
    """A 65,535-octet URI is a valid KDF parameter (TS 33.220 Annex B.2: two-octet length)."""
    import hashlib

    uri = "sip:" + "a" * (65_535 - 4)
    rc, out, _ = run(["uid", "--uri", uri, "--kms-uri", "kms.example.org", "--key-period", "1",
                      "--period-no", "0"])
    assert rc == 0
    # TS 33.180 §F.2.1 written out here: FC 0x00, then each parameter and its 2-octet length
    params = [b"MIKEY-SAKKE-UID", uri.encode(), b"kms.example.org", b"\x01", b"", b"\x00"]
    params[4] = b"\x00"  # key period offset 0
    s = b"\x00" + b"".join(p + len(p).to_bytes(2, "big") for p in params)
    assert out.strip() == hashlib.sha256(s).hexdigest()


# -- -o / --out to a path that cannot be written: a message, exit 2 ----------------------------------
@pytest.fixture
def unwritable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    return blocker / "sub" / "out"  # its "directory" is a regular file (root can't write it either)


@pytest.mark.parametrize("argv", [
    ["keyring", "import", KEYRING, "-o", "{out}"],
    ["wireshark", "generate", "-o", "{out}"],
    ["keylog", CAPTURE, "--keys", KEYRING, "-o", "{out}"],
    ["fuzz", "--count", "2", "-o", "{out}"],
    ["fuzz", "--count", "2", "--format", "pcap", "-o", "{out}"],
    ["fuzz", "--count", "2", "--out-dir", "{out}"],
    ["cms", "build", "compress", "--in", SDP, "--out", "{out}"],
])
def test_unwritable_output_is_a_clean_error(argv, unwritable):
    rc, out, err = run([str(a).replace("{out}", str(unwritable)) for a in argv])
    assert rc == 2
    assert str(unwritable.parent) in err and err.startswith("mcsec: ")


# -- exit 3: a signature or MAC checked and wrong (decode --keys, as cms open) ------------------------
def _sdp_wire() -> bytes:
    import base64
    import re

    return base64.b64decode(re.search(r"mikey ([A-Za-z0-9+/=]+)", SDP.read_text()).group(1))


def test_decode_keys_exit_3_when_the_signature_fails(tmp_path):
    ring = ROOT / "pcaps" / "messages" / "bob.keyring.toml"
    wire = _sdp_wire()
    good = tmp_path / "good.hex"
    good.write_text(wire.hex())
    rc, out, _ = run(["decode", good, "--keys", ring])
    assert rc == 0 and "Signature: verified" in out  # control: the message verifies
    bad = bytearray(wire)
    bad[-40] ^= 0x01  # inside the ECCSI signature (r ‖ s ‖ PVT, the last 129 octets)
    (tmp_path / "bad.hex").write_text(bytes(bad).hex())
    rc, out, _ = run(["decode", tmp_path / "bad.hex", "--keys", ring])
    assert rc == 3 and "Signature: FAILED" in out
    rc, out, _ = run(["decode", tmp_path / "bad.hex", "--keys", ring, "--format", "json"])
    assert rc == 3
    # no keys: nothing is checked, nothing failed
    assert run(["decode", tmp_path / "bad.hex"])[0] == 0
    # an input that does not decode comes first
    (tmp_path / "both.hex").write_text(bytes(bad).hex() + "\n" + wire[:20].hex())
    rc, out, err = run(["decode", tmp_path / "both.hex", "--keys", ring])
    assert rc == 1 and "Signature: FAILED" in out and "message 2: decode error" in err


def test_decode_keys_exit_3_when_a_psk_kemac_mac_fails(tmp_path):
    from codec.keyring import Keyring, Psk
    from dissectors.fuzz import craft

    psk = bytes(range(16))
    ring = tmp_path / "psk.toml"
    ring.write_text(Keyring(psks=[Psk(key=psk, identity="sip:alice@example.org")]).to_toml())
    wire = craft.psk_i_message(psk, initiator="sip:alice@example.org",
                               responder="sip:bob@example.org", t_value=0xE8F1C2A300000000)
    (tmp_path / "good.hex").write_text(wire.hex())
    assert run(["decode", tmp_path / "good.hex", "--keys", ring])[0] == 0  # control
    bad = bytearray(wire)
    bad[-1] ^= 0x80  # the KEMAC is last; its MAC (HMAC-SHA-1-160, RFC 3830 §6.2) ends the message
    (tmp_path / "bad.hex").write_text(bytes(bad).hex())
    rc, out, _ = run(["decode", tmp_path / "bad.hex", "--keys", ring])
    assert rc == 3, out


# -- key files: a clear error naming the file and the entry ------------------------------------------
KMS_INIT = PCAPS / "kms" / "kms-init.xml"
BOB_PROV = PCAPS / "kms" / "bob.keyprov.xml"


def _keyring_with(tmp_path, old: str, new: str) -> Path:
    text = KEYRING.read_text()
    assert old in text
    path = tmp_path / "ring.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def _kms_xml_with(tmp_path, src: Path, old: str, new: str) -> Path:
    text = src.read_text()
    assert old in text
    path = tmp_path / src.name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("make,entry", [
    (lambda d: _keyring_with(d, "user_key_period = 2592000", "user_key_period = 18446744073709551616"),
     "kms[0]: 'user_key_period'"),
    (lambda d: _keyring_with(d, "user_key_period = 2592000", "user_key_period = 0"),
     "kms[0]: 'user_key_period'"),
    (lambda d: _keyring_with(d, 'uri = "sip:alice@mcptt.example.org"',
                             'uri = "sip:' + "a" * 65_536 + '"'), "user[0]: 'uri'"),
    (lambda d: _keyring_with(d, 'uri = "kms.example.org"', 'uri = "' + "k" * 65_536 + '"'),
     "kms[0]: 'uri'"),
    (lambda d: _keyring_with(d, 'uid = "9a6a', 'uid = "' + "ab" * 50_000 + "9a6a"), "user[0]: 'uid'"),
    (lambda d: _keyring_with(d, "[[kms]]", "nested = " + "[" * 3000 + "]" * 3000 + "\n[[kms]]"),
     "nested too deeply"),
    (lambda d: _keyring_with(d, "[[kms]]", "big = " + "9" * 5000 + "\n[[kms]]"), "not TOML"),
    (lambda d: _kms_xml_with(d, KMS_INIT, "<UserKeyPeriod>2592000", "<UserKeyPeriod>-5"),
     "KmsCertificate[0]: <UserKeyPeriod>"),
    (lambda d: _kms_xml_with(d, KMS_INIT, "<UserKeyOffset>0", "<UserKeyOffset>" + "9" * 30),
     "KmsCertificate[0]: <UserKeyOffset>"),
    (lambda d: _kms_xml_with(d, KMS_INIT, "</CertUri><KmsUri>kms.example.org",
                             "</CertUri><KmsUri>" + "k" * 70_000), "KmsCertificate[0]: <KmsUri>"),
    (lambda d: _kms_xml_with(d, BOB_PROV, "<UserUri>sip:bob@mcptt.example.org</UserUri><UserID>",
                             "<UserUri>sip:" + "b" * 70_000 + "</UserUri><UserID>"),
     "KmsKeySet[0]: <UserUri>"),
])
def test_bad_key_files_name_the_file_and_entry(tmp_path, make, entry):
    path = make(tmp_path)
    rc, _, err = run(["decode", SDP, "--keys", path])
    assert rc == 2 and str(path) in err and entry in err, err
    rc, _, err = run(["keyring", "import", path, "-o", tmp_path / "out.toml"])
    assert rc == 1 and str(path) in err and entry in err, err  # its input: as for a failed check
    assert not (tmp_path / "out.toml").exists()
    rc, _, err = run(["dissect", CAPTURE, "--keys", path, "--workers", "1"])
    assert rc == 2 and entry in err


# -- encode --from-json: hostile JSON ------------------------------------------------------------------
@pytest.mark.parametrize("text,expect", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"mikey": [{"mikey.hdr": {"mikey.csb_id": ' + "9" * 5000 + "}}]}", "4300"),
    ('{"mikey": [{"mikey.hdr": {"mikey.csb_id": ' + "9" * 4000 + "}}]}", "HDR"),
    ('{"mikey": [{"mikey.hdr": {"mikey.csb_id": NaN}}]}', "expected an integer"),
])
def test_encode_hostile_json(tmp_path, text, expect):
    path = tmp_path / "in.json"
    path.write_text(text)
    rc, out, err = run(["encode", "--from-json", path])
    assert rc == 1 and out == "" and expect in err, err
    rc, out, err = run(["encode", "--from-json", "-"], stdin=text.encode())
    assert rc == 1 and expect in err


def test_encode_non_utf8_json(tmp_path):
    path = tmp_path / "in.json"
    path.write_bytes(b"\xff\xfe{}")
    rc, _, err = run(["encode", "--from-json", path])
    assert rc == 1 and "utf-8" in err


def test_error_to_exit_helper(capsys):
    """dissectors.cli.options.run: the one place errors become exit statuses."""
    from dissectors.cli import options as cliopts

    def raising(exc):
        def func(_args):
            raise exc
        return func

    assert cliopts.run(raising(BrokenPipeError()), None) == 0
    assert cliopts.run(raising(cliopts.UsageError("bad thing")), None) == 2
    assert cliopts.run(raising(RecursionError()), None) == 1
    assert cliopts.run(raising(FileNotFoundError(2, "No such file or directory", "/x/y")), None) == 2
    assert cliopts.run(raising(KeyboardInterrupt()), None) == 130
    err = capsys.readouterr().err
    assert "mcsec: bad thing" in err and "mcsec: /x/y: No such file or directory" in err
    with pytest.raises(ZeroDivisionError):  # a bug stays visible (to tests and fuzzers)
        cliopts.run(raising(ZeroDivisionError()), None)


def test_pem_key_on_an_unknown_curve_is_a_key_file_error(tmp_path):
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    p256 = bytes.fromhex("06082a8648ce3d030107")  # OID 1.2.840.10045.3.1.7 (RFC 5480)
    assert der.count(p256) == 1
    der = der.replace(p256, bytes.fromhex("06082a8648ce3d030163"))  # an arc no library knows
    pem = tmp_path / "key.pem"
    pem.write_text("-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(der).decode()
                   + "-----END PRIVATE KEY-----\n")
    rc, _, err = run(["decode", SDP, "--keys", pem])
    assert rc == 2 and str(pem) in err and "PRIVATE KEY block unusable" in err
    rc, _, err = run(["cms", "show", SDP, "--keys", pem])
    assert rc == 2 and str(pem) in err
