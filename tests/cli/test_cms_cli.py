"""`mcsec cms show|decrypt|verify|open|build` (exit codes, outputs, secrets hidden)."""

from __future__ import annotations

import json

import pytest

from codec import cms
from dissectors.cli import main
from tests.support.cms_pki import KEK_IDS, KEKS, PLAIN, openssl, pki  # noqa: F401


def run(argv, capsysbinary):
    code = main(argv)
    out = capsysbinary.readouterr()
    return code, out.out, out.err.decode()


def _ossl(tmp_path, name, *args):
    src = tmp_path / "plain.txt"
    src.write_bytes(PLAIN)
    out = tmp_path / name
    openssl("cms", *args, "-binary", "-in", src, "-out", out)
    return out


def test_open_psk_object_text_and_json(pki, tmp_path, capsysbinary):
    f = _ossl(tmp_path, "psk.p7m", "-encrypt", "-aes-128-gcm", "-outform", "DER",
              "-secretkey", KEKS[16], "-secretkeyid", KEK_IDS[16])
    code, out, err = run(["cms", "open", str(f), "--keys", str(pki.ring_toml)], capsysbinary)
    assert code == 0 and out == PLAIN and "AuthEnvelopedData: OK" in err
    code, out, _ = run(["cms", "open", str(f), "--keys", str(pki.ring_toml), "--format", "json"],
                       capsysbinary)
    doc = json.loads(out)
    assert code == 0 and doc["cms.ok"] is True and doc["cms.content_length"] == len(PLAIN)
    layer = doc["cms.layers"][0]
    assert layer["cms.cek"] == "<hidden>" and layer["cms.recipient"]["cms.recipient.type"] == \
        "kekri"
    aed = doc["cms"][0]["cms.ContentInfo_element"]["cms.AuthEnvelopedData_element"]
    assert aed["cms.recipientInfos"][0]["cms.kekri_element"]["cms.kekid_element"][
        "cms.keyIdentifier"] == KEK_IDS[16]
    assert aed["cms.authEncryptedContentInfo_element"]["cms.contentEncryptionAlgorithm_element"][
        "cms.aes_ICVlen"] == 16
    code, out, _ = run(["cms", "open", str(f), "--keys", str(pki.ring_toml), "--format", "json",
                        "--show-secrets"], capsysbinary)
    cek = json.loads(out)["cms.layers"][0]["cms.cek"]
    assert len(bytes.fromhex(cek)) == 16


def test_open_failure_exit_3_names_layer_and_reason(pki, tmp_path, capsysbinary):
    f = _ossl(tmp_path, "psk.p7m", "-encrypt", "-aes-128-gcm", "-outform", "DER",
              "-secretkey", KEKS[16], "-secretkeyid", KEK_IDS[16])
    data = bytearray(f.read_bytes())
    data[-1] ^= 1  # the last octet of the mac
    f.write_bytes(bytes(data))
    out_file = tmp_path / "out.txt"
    code, out, err = run(["cms", "open", str(f), "--keys", str(pki.ring_toml), "--out",
                          str(out_file)], capsysbinary)
    assert code == 3 and out == b"" and not out_file.exists()
    assert "layer 0 (AuthEnvelopedData): authentication tag mismatch" in err
    assert "AuthEnvelopedData.mac offset" in err


def test_decrypt_unknown_key_id(pki, tmp_path, capsysbinary):
    f = _ossl(tmp_path, "psk.p7m", "-encrypt", "-aes-128-cbc", "-outform", "DER",
              "-secretkey", KEKS[16], "-secretkeyid", "ffff")
    code, out, err = run(["cms", "decrypt", str(f), "--keys", str(pki.ring_toml)], capsysbinary)
    assert code == 3 and out == b"" and "no KEK with key identifier ffff" in err


def test_verify_smime_detached_and_content_option(pki, tmp_path, capsysbinary):
    f = _ossl(tmp_path, "clear.eml", "-sign", "-signer", pki.ec_crt, "-inkey", pki.ec_key)
    code, out, err = run(["cms", "verify", str(f), "--keys", str(pki.ec_crt)], capsysbinary)
    assert code == 0 and out.rstrip(b"\r\n") == PLAIN.rstrip(b"\r\n")
    der = _ossl(tmp_path, "det.p7s", "-sign", "-outform", "DER", "-signer", pki.rsa_crt,
                "-inkey", pki.rsa_key)
    code, _, err = run(["cms", "verify", str(der), "--keys", str(pki.rsa_crt)], capsysbinary)
    assert code == 3 and "--content" in err
    content = tmp_path / "c.txt"
    content.write_bytes(PLAIN)
    code, out, _ = run(["cms", "verify", str(der), "--keys", str(pki.rsa_crt), "--content",
                        str(content)], capsysbinary)
    assert code == 0 and out == PLAIN
    code, _, err = run(["cms", "verify", str(der), "--content", str(content)], capsysbinary)
    assert code == 3 and "not trusted" in err
    code, out, _ = run(["cms", "verify", str(der), "--content", str(content), "--any-signer"],
                       capsysbinary)
    assert code == 0 and out == PLAIN


def test_show_structure_and_decode_errors(pki, tmp_path, capsysbinary):
    f = _ossl(tmp_path, "kari.p7m", "-encrypt", "-aes-128-cbc", "-outform", "PEM", "-recip",
              pki.ec_crt)
    code, out, _ = run(["cms", "show", str(f)], capsysbinary)
    text = out.decode()
    assert code == 0 and "EnvelopedData" in text and "kari" in text
    assert "dhSinglePass-stdDH-sha1kdf-scheme" in text
    code, out, _ = run(["cms", "show", str(f), "--format", "json"], capsysbinary)
    env = json.loads(out)["cms"][0]["cms.ContentInfo_element"]["cms.EnvelopedData_element"]
    assert env["cms.version"] == 2
    bad = tmp_path / "bad.der"
    bad.write_bytes(b"\x30\x82\x01\x00\x06")
    code, _, err = run(["cms", "show", str(bad)], capsysbinary)
    assert code == 1 and "ContentInfo at offset 0" in err and "exceeds" in err
    code, _, err = run(["cms", "show", str(tmp_path / "missing")], capsysbinary)
    assert code == 2


@pytest.mark.parametrize("kind,extra,ossl", [
    ("envelope", ["--kek-id", KEK_IDS[32]], ["-secretkey", KEKS[32], "-secretkeyid",
                                             KEK_IDS[32]]),
    ("auth-envelope", ["--kek-id", KEK_IDS[16]], ["-secretkey", KEKS[16], "-secretkeyid",
                                                  KEK_IDS[16]]),
    ("envelope", ["--recip", "RSA", "--oaep"], ["-inkey", "RSAKEY"]),
    ("envelope", ["--recip", "EC"], ["-inkey", "ECKEY"]),
])
@pytest.mark.parametrize("outform", ["der", "pem", "smime"])
def test_build_then_openssl_decrypts(pki, tmp_path, capsysbinary, kind, extra, ossl, outform):
    sub = {"RSA": str(pki.rsa_crt), "EC": str(pki.ec_crt), "RSAKEY": str(pki.rsa_key),
           "ECKEY": str(pki.ec_key)}
    src = tmp_path / "p.txt"
    src.write_bytes(PLAIN)
    out = tmp_path / "o.bin"
    code, _, err = run(["cms", "build", kind, "--in", str(src), "--out", str(out), "--keys",
                        str(pki.ring_toml), "--outform", outform, *[sub.get(x, x) for x in extra]],
                       capsysbinary)
    assert code == 0, err
    inform = {"der": "DER", "pem": "PEM", "smime": "SMIME"}[outform]
    got = openssl("cms", "-decrypt", "-binary", "-inform", inform, "-in", out,
                  *[sub.get(x, x) for x in ossl]).stdout
    assert got == PLAIN


def test_build_sign_nestings_and_open(pki, tmp_path, capsysbinary):
    src = tmp_path / "p.txt"
    src.write_bytes(PLAIN)
    for kind, layers in (("encrypt-then-sign", ["SignedData", "EnvelopedData"]),
                         ("sign-then-encrypt", ["EnvelopedData", "SignedData"]),
                         ("compress", ["CompressedData"])):
        out = tmp_path / f"{kind}.der"
        code, _, err = run(["cms", "build", kind, "--in", str(src), "--out", str(out),
                            "--signer", str(pki.ec_crt), "--signer-key", str(pki.ec_key),
                            "--recip", str(pki.rsa_crt)], capsysbinary)
        assert code == 0, err
        code, got, err = run(["cms", "open", str(out), "--keys", str(pki.rsa_key), "--keys",
                              str(pki.rsa_crt), "--keys", str(pki.ec_crt)], capsysbinary)
        assert code == 0 and got == PLAIN, err
        assert [r.kind for r in cms.open_layers(
            out.read_bytes(), pki.ring("rsa_key", "rsa_crt", "ec_crt")).layers] == layers
    signed = tmp_path / "s.eml"
    code, _, _ = run(["cms", "build", "sign", "--in", str(src), "--out", str(signed),
                      "--signer", str(pki.rsa_crt), "--signer-key", str(pki.rsa_key), "--pss",
                      "--detached", "--outform", "smime"], capsysbinary)
    assert code == 0
    assert b"multipart/signed" in signed.read_bytes()
    assert b"Verification successful" in openssl("cms", "-verify", "-in", signed, "-CAfile",
                                                 pki.rsa_crt, "-purpose", "any").stderr


def test_build_usage_errors(pki, tmp_path, capsysbinary):
    src = tmp_path / "p.txt"
    src.write_bytes(PLAIN)
    code, _, err = run(["cms", "build", "envelope", "--in", str(src)], capsysbinary)
    assert code == 2 and "recipient" in err
    code, _, err = run(["cms", "build", "envelope", "--in", str(src), "--kek-id", "beef",
                        "--keys", str(pki.ring_toml)], capsysbinary)
    assert code == 2 and "no [[kek]]" in err
    code, _, err = run(["cms", "build", "sign", "--in", str(src)], capsysbinary)
    assert code == 2 and "--signer" in err
