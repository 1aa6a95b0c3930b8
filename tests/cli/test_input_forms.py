"""Input forms other stacks write (issue 14 item 6): the bare key-mgmt attribute value
(``mikey <base64>``, RFC 4567 §3.1), base64 without padding, a file of hex lines, and a KMS XML
whose UserID is the TS 33.180 UID written as hex.

Oracles: the octets the test encodes itself (stdlib base64/hex), the TS 33.180 §F.2.1.2 worked
example UID, and a KMS XML written here with ElementTree (not codec/kms.py's writers)."""

from __future__ import annotations

import base64
import json
from xml.etree import ElementTree as ET

import pytest

from codec import kms as codec_kms
from codec.mikey import ticket_build
from codec.mikey import ticket_keys
from dissectors.cli import main

T_VALUE = 0xECA16480_12345678


def _messages(n=2):
    return [ticket_build.build_psk_i_message(bytes(16), [ticket_build.key_data(ticket_keys.KEY_TEK, bytes([i]) * 16)],
                                             csb_id=0x1000 + i, t_value=T_VALUE,
                                             responder="sip:bob@example.org") for i in range(n)]


def _decode_json(tmp_path, capsys, text, *extra):
    f = tmp_path / "input.txt"
    f.write_text(text)
    rc = main(["decode", str(f), "--format", "json", *extra])
    out = capsys.readouterr()
    return rc, (json.loads(out.out) if out.out.strip() else None), out.err


def _csb(doc):
    return doc["mikey"][0]["mikey.hdr"]["mikey.csb_id"]


@pytest.mark.parametrize("form", ["auto", "sdp"])
@pytest.mark.parametrize("prefix", ["mikey ", "key-mgmt:mikey "])
def test_bare_attribute_value(tmp_path, capsys, form, prefix):
    wire = _messages(1)[0]
    rc, doc, err = _decode_json(tmp_path, capsys, prefix + base64.b64encode(wire).decode() + "\n",
                                "--in", form)
    assert rc == 0, err
    assert _csb(doc) == 0x1000 and "mikey.trailing" not in doc


@pytest.mark.parametrize("form, template", [("auto", "{b64}"), ("base64", "{b64}"),
                                            ("auto", "mikey {b64}"),
                                            ("sdp", "v=0\r\na=key-mgmt:mikey {b64}\r\n")])
def test_base64_without_padding_is_accepted_with_a_finding(tmp_path, capsys, form, template):
    wire = next(w for w in _messages(3) if len(w) % 3)  # base64 that needs padding
    b64 = base64.b64encode(wire).decode()
    assert b64.endswith("=")
    rc, doc, err = _decode_json(tmp_path, capsys, template.format(b64=b64.rstrip("=")),
                                "--in", form)
    assert rc == 0, err
    assert "mikey.trailing" not in doc
    assert any("padding" in f["message"] for f in doc["mikey.findings"])
    # the padded form gives no such finding
    rc, doc, _ = _decode_json(tmp_path, capsys, template.format(b64=b64), "--in", form)
    assert rc == 0 and not any("padding" in f["message"] for f in doc.get("mikey.findings", []))


def test_not_base64_even_without_padding_is_still_an_error(tmp_path, capsys):
    rc, _, err = _decode_json(tmp_path, capsys, "a=key-mgmt:mikey AQID*\r\n", "--in", "sdp")
    assert rc == 1 and "base64" in err


@pytest.mark.parametrize("form", ["auto", "hex"])
def test_hex_lines_are_several_messages(tmp_path, capsys, form):
    wires = _messages(3)
    rc, docs, err = _decode_json(tmp_path, capsys, "\n".join(w.hex() for w in wires) + "\n",
                                 "--in", form)
    assert rc == 0, err
    assert isinstance(docs, list) and [_csb(d) for d in docs] == [0x1000, 0x1001, 0x1002]
    assert all("mikey.trailing" not in d for d in docs)
    # blocks separated by blank lines, each wrapped over lines, are messages too
    text = "\n\n".join("\n".join(w.hex()[i:i + 60] for i in range(0, len(w.hex()), 60))
                       for w in wires)
    rc, docs, _ = _decode_json(tmp_path, capsys, text, "--in", form)
    assert rc == 0 and [_csb(d) for d in docs] == [0x1000, 0x1001, 0x1002]


def test_one_message_wrapped_over_hex_lines_stays_one(tmp_path, capsys):
    wire = _messages(1)[0]
    h = wire.hex()
    rc, doc, err = _decode_json(tmp_path, capsys, "\n".join(h[i:i + 60] for i in range(0, len(h), 60)))
    assert rc == 0, err
    assert isinstance(doc, dict) and _csb(doc) == 0x1000 and "mikey.trailing" not in doc


# -- KMS XML written by an independent KMS: UserID as hex ---------------------------------------
# TS 33.180 §F.2.1.2 worked example (reference/mcptt-security.md §2.3)
USER, KMS_URI, PERIOD, PERIOD_NO = "sip:user@example.org", "kms.example.org", 2592000, 1388
UID_HEX = "3a81fb14c3b1d0fe43c9c577104d55a6d81788bfd2f09743c4557746a5a0353b"
NS = "urn:3gpp:ns:mcsecKMSInterface:1.0"


def _independent_kms_xml(kms, user, uid_text):
    """KmsResponse with KmsInit and KmsKeyProv as Annex D lays them out, written here."""
    def el(parent, tag, text=None, **attrs):
        e = ET.SubElement(parent, f"{{{NS}}}{tag}", attrs)
        if text is not None:
            e.text = text
        return e

    root = ET.Element(f"{{{NS}}}KmsResponse", {"Version": "1.1.0"})
    for tag, text in (("UserUri", USER), ("KmsUri", KMS_URI), ("Time", "2014-01-26T00:00:00")):
        el(root, tag, text)
    msg = el(root, "KmsMessage")
    cert = el(el(msg, "KmsInit"), "KmsCertificate")
    for tag, text in (("KmsUri", KMS_URI), ("UserKeyPeriod", str(PERIOD)), ("UserKeyOffset", "0"),
                      ("PubEncKey", kms.z.hex()), ("PubAuthKey", kms.kpak.hex()),
                      ("ParameterSet", "1")):
        el(cert, tag, text)
    ks = el(el(msg, "KmsKeyProv"), "KmsKeySet")
    for tag, text in (("KmsUri", KMS_URI), ("UserUri", USER), ("UserID", uid_text),
                      ("KeyPeriodNo", str(PERIOD_NO)), ("UserDecryptKey", user.rsk.hex()),
                      ("UserSigningKeySSK", user.ssk.hex()), ("UserPubTokenPVT", user.pvt.hex())):
        el(ks, tag, text)
    return ET.tostring(root)


@pytest.mark.parametrize("uid_text", [UID_HEX, UID_HEX.upper(),
                                      base64.b64encode(bytes.fromhex(UID_HEX)).decode()])
def test_kms_user_id_written_as_hex(tmp_path, capsys, uid_text):
    kms = codec_kms.Kms(KMS_URI, ksak=0x5EED, z_s=0xC0DE, user_key_period=PERIOD, user_key_offset=0)
    user = kms.issue(USER, PERIOD_NO)  # key material only; the XML is written above
    xml = tmp_path / "kms.xml"
    xml.write_bytes(_independent_kms_xml(kms, user, uid_text))
    assert main(["keyring", "import", str(xml), "-o", "-"]) == 0
    out = capsys.readouterr()
    assert "UserID is not" not in out.err
    assert UID_HEX in out.out or base64.b64encode(bytes.fromhex(UID_HEX)).decode() in out.out
    doc = codec_kms.parse(xml.read_bytes())
    assert doc.key_sets[0].uid == bytes.fromhex(UID_HEX)


def test_kms_user_id_hex_that_is_not_the_uid_is_still_reported(tmp_path, capsys):
    kms = codec_kms.Kms(KMS_URI, ksak=0x5EED, z_s=0xC0DE, user_key_period=PERIOD, user_key_offset=0)
    user = kms.issue(USER, PERIOD_NO)
    xml = tmp_path / "kms.xml"
    xml.write_bytes(_independent_kms_xml(kms, user, "00" * 32))
    assert main(["keyring", "import", str(xml), "-o", "-"]) == 1
    assert "UserID is not" in capsys.readouterr().err
