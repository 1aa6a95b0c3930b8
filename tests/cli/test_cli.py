"""The `mcsec decode` / `mcsec encode` command line."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codec import mikey
from dissectors.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_SDP = ROOT / "pcaps" / "messages" / "mikey-sakke-gmk.sdp"


SECRET_TEK = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")


def _message():
    hdr = mikey.HDR(data_type=26, prf_func=1, csb_id=0x1234ABCD, cs_id_map_type=2,
                    cs_id_map=[mikey.GenericIdEntry(cs_id=4, prot_type=0, policies=[0], spi=b"\x12\x34"),
                               mikey.GenericIdEntry(cs_id=9, prot_type=mikey.DEFAULT_TLS_PROT_TYPE, spi=b"\x99")])
    return mikey.Message(hdr, [
        mikey.T(ts_type=0, ts_value=0xE8F1C2A300000000), mikey.RAND(rand=bytes(range(16))),
        mikey.IDR(id_role=1, id_type=1, id_data=b"sip:alice@example.org"),
        mikey.SP(policy_no=0, prot_type=0, policy_params=[mikey.SpParam(type=0, value=b"\x06")]),
        mikey.KEMAC(encr_alg=0, mac_alg=0, encr_data=mikey.KEY_DATA(
            type=2, kv=0, key_data=SECRET_TEK).to_bytes(0)),
        mikey.SIGN(s_type=2, signature=bytes(129))])


WIRE = mikey.encode(_message())


def run(argv, capsys, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        import io
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("form,content", [
    ("raw", WIRE),
    ("hex", WIRE.hex().encode()),
    ("hex", " ".join(f"{b:02X}" for b in WIRE).encode()),  # spaced upper-case hex
    ("base64", base64.b64encode(WIRE)),
    ("sdp", b"a=key-mgmt:mikey " + base64.b64encode(WIRE) + b"\r\n"),
])
@pytest.mark.parametrize("explicit", [False, True])
def test_decode_every_input_form(tmp_path, capsys, form, content, explicit):
    f = tmp_path / "in"
    f.write_bytes(content)
    argv = ["decode", str(f), "--format", "json"] + (["--in", form] if explicit else [])
    code, out, err = run(argv, capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["mikey"][0]["mikey.hdr"]["mikey.csb_id"] == 0x1234ABCD
    assert [list(r)[0] for r in doc["mikey"]] == ["mikey.hdr", "mikey.t", "mikey.rand", "mikey.idr",
                                                 "mikey.sp", "mikey.kemac", "mikey.sign"]
    assert doc["mikey"][5]["mikey.kemac"]["mikey.kemac.key_data"] == "<hidden>"


def test_json_round_trip_through_encode(tmp_path, capsys):
    f = tmp_path / "msg.hex"
    f.write_text(WIRE.hex())
    code, out, _ = run(["decode", str(f), "--format", "json", "--show-secrets"], capsys)
    assert code == 0
    j = tmp_path / "msg.json"
    j.write_text(out)
    for form, expect in [("hex", WIRE.hex() + "\n"), ("base64", base64.b64encode(WIRE).decode() + "\n")]:
        code, out2, err = run(["encode", "--from-json", str(j), "--out", form], capsys)
        assert code == 0, err
        assert out2 == expect


def test_edit_one_field_and_reencode(tmp_path, capsys):
    f = tmp_path / "msg.hex"
    f.write_text(WIRE.hex())
    _, out, _ = run(["decode", str(f), "--format", "json", "--show-secrets"], capsys)
    doc = json.loads(out)
    rand = next(r["mikey.rand"] for r in doc["mikey"] if "mikey.rand" in r)
    rand["mikey.rand.data"] = "ff" * 20  # longer RAND: its length must follow
    del rand["mikey.rand.len"]
    j = tmp_path / "edited.json"
    j.write_text(json.dumps(doc))
    code, out2, err = run(["encode", "--from-json", str(j)], capsys)
    assert code == 0, err
    back = mikey.decode(bytes.fromhex(out2.strip()))
    assert back.find("RAND").rand == b"\xff" * 20 and back.find("RAND").rand_len == 20
    assert len(bytes.fromhex(out2.strip())) == len(WIRE) + 4


def test_secrets_hidden_by_default(tmp_path, capsys):
    f = tmp_path / "msg.bin"
    f.write_bytes(WIRE)
    _, text, _ = run(["decode", str(f)], capsys)
    assert "<hidden>" in text and SECRET_TEK.hex() not in text
    _, text2, _ = run(["decode", str(f), "--show-secrets"], capsys)
    assert SECRET_TEK.hex() in text2
    j = tmp_path / "hidden.json"
    _, out, _ = run(["decode", str(f), "--format", "json"], capsys)
    j.write_text(out)
    code, _, err = run(["encode", "--from-json", str(j)], capsys)
    assert code == 1 and "hidden" in err


def test_decode_error_exit_code_path_and_offset(tmp_path, capsys):
    bad = WIRE[:-10]  # truncated signature
    f = tmp_path / "bad.bin"
    f.write_bytes(bad)
    code, out, err = run(["decode", str(f)], capsys)
    assert code == 1
    sign_off = len(WIRE) - 131
    assert f"payloads[5](SIGN).signature at offset {sign_off + 2}" in err
    # what decoded before the error is still shown
    assert "Timestamp (T)" in out and "DECODE ERROR" in out


def test_usage_errors_exit_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["decode", "--in", "nonsense"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["decode", "--tls-prot-type", "0", str(tmp_path)])
    assert e.value.code == 2
    code, _, err = run(["decode", str(tmp_path / "missing")], capsys)
    assert code == 2 and "cannot read" in err


def test_tls_prot_type_option(tmp_path, capsys):
    wire = mikey.encode(mikey.Message(mikey.HDR(data_type=15, cs_id_map_type=2, cs_id_map=[
        mikey.GenericIdEntry(cs_id=1, prot_type=77, spi=b"\x01")]), [mikey.RAND(rand=b"\x00" * 16)]))
    f = tmp_path / "tls.hex"
    f.write_text(wire.hex())
    _, out, _ = run(["decode", str(f)], capsys)
    assert "Prot type: Unknown (77)" in out
    _, out, _ = run(["decode", str(f), "--tls-prot-type", "77"], capsys)
    assert "Prot type: TLS" in out and "(77)" in out
    _, out, _ = run(["decode", str(f)], capsys)  # the option was not a process-wide setting
    assert "Prot type: Unknown (77)" in out


def test_sdp_with_several_key_mgmt_lines(tmp_path, capsys):
    other = mikey.encode(mikey.Message(mikey.HDR(data_type=0, cs_id_map_type=0), [mikey.RAND(rand=b"\x01" * 16)]))
    sdp = ("v=0\r\na=key-mgmt:mikey " + base64.b64encode(WIRE).decode() + "\r\nm=audio 1 RTP/SAVP 0\r\n"
           "a=key-mgmt:mikey " + base64.b64encode(other).decode() + "\r\n")
    f = tmp_path / "x.sdp"
    f.write_text(sdp)
    code, out, _ = run(["decode", str(f), "--format", "json"], capsys)
    assert code == 0
    docs = json.loads(out)
    assert [d["mikey"][0]["mikey.hdr"]["mikey.type"] for d in docs] == [26, 0]


def test_console_script_and_stdin(tmp_path):
    exe = shutil.which("mcsec", path=str(Path(sys.executable).parent))
    assert exe, "the mcsec console script is installed with the package"
    r = subprocess.run([exe, "decode", "-", "--format", "json"], input=WIRE.hex().encode(),
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["mikey"][1]["mikey.t"]["mikey.t.ts_type"] == 0


def test_bundled_sample_decodes(capsys):
    code, out, err = run(["decode", str(SAMPLE_SDP)], capsys)
    assert code == 0, err
    assert "SAKKE Encapsulated Data (SAKKE)" in out and "ECCSI" in out
