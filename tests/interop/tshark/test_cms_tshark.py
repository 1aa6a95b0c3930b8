"""Differential test: mcsec's CMS JSON against real tshark on the same DER objects.

tshark reads a raw ``.p7m`` file as BER and dissects it as a CMS ContentInfo.  For every field
compared below, the multiset of values mcsec prints must equal tshark's (certificate internals
excluded on both sides: mcsec summarises certificates).  tshark 4.0 has no AuthEnvelopedData or
CompressedData dissector, so only the types it knows are compared.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter

import pytest

from codec import cms
from codec.cms import build as cms_build
from codec.cms import render
from tests.support.cms_pki import KEK_IDS, KEKS, PLAIN, openssl, pki  # noqa: F401

pytestmark = pytest.mark.tshark

COMPARED = {"cms.contentType", "cms.version", "cms.eContentType", "cms.eContent",
            "cms.encryptedKey", "cms.keyIdentifier", "cms.encryptedContent", "cms.signature",
            "cms.serialNumber", "cms.publicKey", "cms.MessageDigest", "cms.attrType",
            "cms.ContentType", "cms.subjectKeyIdentifier", "x509af.algorithm.id",
            "nist-csor.AES_IV", "cms.ukm"}
SKIP = {"cms.certificate_element", "cms.certificates_tree", "cms.certificates"}


def _collect(obj, out: Counter):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in SKIP:
                continue
            if k in COMPARED and not isinstance(v, (dict, list)):
                out[(k, str(v).replace(":", "").lower())] += 1
            elif k in COMPARED and isinstance(v, list) and all(
                    not isinstance(x, (dict, list)) for x in v):  # tshark duplicate keys
                for x in v:
                    out[(k, str(x).replace(":", "").lower())] += 1
            else:
                _collect(v, out)
    elif isinstance(obj, list):
        for x in obj:
            _collect(x, out)


def _tshark_fields(tshark, path):
    proc = subprocess.run([tshark, "-r", str(path), "-T", "json", "--no-duplicate-keys"],
                          capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    assert proc.returncode == 0, proc.stderr
    layers = json.loads(proc.stdout)[0]["_source"]["layers"]
    assert "cms.ContentInfo_element" in layers, "tshark did not dissect the file as CMS"
    out: Counter = Counter()
    _collect(layers["cms.ContentInfo_element"], out)
    return out


def _objects(pki, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(PLAIN)

    def run(name, *args):
        out = tmp_path / f"{name}.p7m"
        openssl("cms", *args, "-binary", "-in", src, "-outform", "DER", "-out", out)
        return out

    ring = pki.ring("ec_key", "ec_crt", "rsa_crt")
    built = tmp_path / "mcsec-ets.p7m"
    built.write_bytes(cms_build.encrypt_then_sign(PLAIN, [cms_build.KeyTransRecipient(ring.certificates[1]),
                                                          cms_build.KeyAgreeRecipient(ring.certificates[0])],
                                                  ring.certificates[0], ring.private_keys[0]))
    return [
        run("signed-ec", "-sign", "-nodetach", "-signer", pki.ec_crt, "-inkey", pki.ec_key),
        run("signed-rsa-keyid", "-sign", "-keyid", "-signer", pki.rsa_crt, "-inkey",
            pki.rsa_key),
        run("ktri", "-encrypt", "-aes-256-cbc", "-recip", pki.rsa_crt),
        run("kari", "-encrypt", "-aes-128-cbc", "-recip", pki.ec_crt),
        run("kekri", "-encrypt", "-aes-192-cbc", "-secretkey", KEKS[24], "-secretkeyid",
            KEK_IDS[24]),
        built,
    ]


def test_cms_fields_match_tshark(tshark, pki, tmp_path):
    compared = 0
    for path in _objects(pki, tmp_path):
        theirs = _tshark_fields(tshark, path)
        ours: Counter = Counter()
        _collect(render.layer_json(cms.decode(path.read_bytes()), nested=False), ours)
        assert ours == theirs, (path.name, ours - theirs, theirs - ours)
        compared += sum(theirs.values())
    assert compared > 60  # the comparison really covered the objects


def test_json_field_names_exist_in_tshark(tshark, pki, tmp_path):
    """Every ``cms.*`` key mcsec prints is a tshark field, or one of mcsec's documented new
    names (AuthEnvelopedData, CompressedData, GCM parameters, certificate summary)."""
    fields = subprocess.run([tshark, "-G", "fields"], capture_output=True, text=True,
                            check=True).stdout
    known = {line.split("\t")[2] for line in fields.splitlines()
             if line.startswith("F\t") and len(line.split("\t")) > 2}
    new = {"cms.AuthEnvelopedData_element", "cms.CompressedData_element",
           "cms.authEncryptedContentInfo_element", "cms.compressionAlgorithm_element",
           "cms.aes_nonce", "cms.aes_ICVlen", "cms.certificate.sha256", "cms.data",
           "x509af.notBefore", "x509af.notAfter", "x509af.parameters", "cms.parameters"}
    keys: set = set()

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                keys.add(k)
                walk(v)
        elif isinstance(o, list):
            for x in o:
                walk(x)

    ring = pki.ring("rsa_crt")
    for der in (cms_build.auth_envelope(PLAIN, [cms_build.KekRecipient(b"\x01", bytes(16))]),
                cms_build.compress(PLAIN), *(p.read_bytes() for p in _objects(pki, tmp_path))):
        walk(render.layer_json(cms.decode(der)))
    assert ring.certificates
    unknown = {k for k in keys if not k.endswith("_name") and k not in known and k not in new}
    assert not unknown, unknown
