"""A CMS object followed by trailing octets (a final newline, as published fixtures have) is a
finding, an error only with --strict (issue 15), as trailing octets after a MIKEY message are.
Oracle: OpenSSL makes the SignedData and verifies its content; the finding's offset must be the
length of OpenSSL's DER, which OpenSSL itself reports (``openssl asn1parse``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_udp_pcap

MCSEC = str(Path(sys.executable).parent / "mcsec")
CONTENT = b"trailing newline fixture\r\n"


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    openssl = shutil.which("openssl")
    assert openssl, "openssl is the oracle of this test"
    d = tmp_path_factory.mktemp("trail")
    (d / "content.txt").write_bytes(CONTENT)
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", d / "key.pem", "-out",
                    d / "cert.pem", "-subj", "/CN=trailing", "-days", "2"],
                   check=True, capture_output=True)
    subprocess.run([openssl, "cms", "-sign", "-binary", "-nodetach", "-in", d / "content.txt",
                    "-signer", d / "cert.pem", "-inkey", d / "key.pem", "-outform", "DER",
                    "-out", d / "signed.der"], check=True, capture_output=True)
    der = (d / "signed.der").read_bytes()
    listing = subprocess.run([openssl, "asn1parse", "-inform", "DER", "-in", d / "signed.der"],
                             check=True, capture_output=True, text=True).stdout
    hl, length = map(int, re.match(r"\s*0:d=0\s+hl=(\d+)\s+l=\s*(\d+)", listing).groups())
    (d / "signed-nl.der").write_bytes(der + b"\n")
    return d, hl + length


def _run(*args):
    r = subprocess.run([MCSEC, *map(str, args)], capture_output=True, timeout=120)
    assert b"Traceback" not in r.stderr, r.stderr
    return r


@pytest.mark.parametrize("action", ["show", "verify", "open"])
def test_trailing_newline_is_a_finding(signed, action):
    d, end = signed
    extra = [] if action == "show" else ["--keys", d / "cert.pem"]
    r = _run("cms", action, d / "signed-nl.der", *extra, "--format", "json")
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode() + r.stderr.decode()
    assert f"offset {end}" in text or f'"offset": {end}' in text
    assert "1 octet(s) after the ContentInfo" in text


def test_open_still_gives_the_content(signed, tmp_path):
    d, _ = signed
    r = _run("cms", "open", d / "signed-nl.der", "--keys", d / "cert.pem", "--out",
             tmp_path / "c")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c").read_bytes() == CONTENT


@pytest.mark.parametrize("action", ["show", "verify", "open"])
def test_strict_makes_it_an_error(signed, action):
    d, end = signed
    extra = [] if action == "show" else ["--keys", d / "cert.pem"]
    r = _run("cms", action, d / "signed-nl.der", *extra, "--strict")
    assert r.returncode == 1
    assert f"offset {end}: 1 octet(s) after the ContentInfo" in r.stderr.decode()
    r = _run("cms", action, d / "signed.der", *extra, "--strict")  # the object alone: fine
    assert r.returncode == 0, r.stderr


def test_dissect_reports_the_finding(signed, tmp_path):
    d, end = signed
    body = (d / "signed-nl.der").read_bytes()
    sip = (b"MESSAGE sip:bob@example.org SIP/2.0\r\n"
           b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
           b"From: <sip:alice@example.org>;tag=1\r\nTo: <sip:bob@example.org>\r\n"
           b"Call-ID: trailing@example.org\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
           b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n"
           b"Content-Transfer-Encoding: binary\r\n"
           + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    write_udp_pcap(tmp_path / "t.pcap", [sip], port=5060)
    r = _run("dissect", tmp_path / "t.pcap", "--format", "jsonl-records", "--no-progress",
             "--workers", "1")
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    cms_recs = [x for x in recs if x.get("kind") == "cms"]
    assert len(cms_recs) == 1 and "error" not in cms_recs[0], recs
    assert {"path": "ContentInfo", "offset": end,
            "message": "1 octet(s) after the ContentInfo ignored"} in cms_recs[0]["cms"]["cms.findings"]
