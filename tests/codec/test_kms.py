"""KMS provisioning documents (TS 33.180 §5.3, Annex D) and the test KMS.

Oracles: the key material the KMS issued (it must come back out of the XML), a plain ElementTree
reading of the written XML, RFC 3394/5649 key wrap from ``cryptography`` applied in the test, and
the RFC 6507 §5.1.2 / RFC 6508 §6.1.2 checks for the tampered-key cases.
"""

from __future__ import annotations

import base64
import dataclasses
from xml.etree import ElementTree as ET

import pytest
from cryptography.hazmat.primitives import keywrap

from codec import kms as codec_kms
from codec.crypto import eccsi, mcx, sakke
from codec.keyring import UserKeys
from codec.mikey import decode
from codec.mikey import sakke as mikey_sakke

NS = "{urn:3gpp:ns:mcsecKMSInterface:1.0}"
XENC = "{http://www.w3.org/2001/04/xmlenc#}"
URI = "kms.example.org"
ALICE, BOB = "sip:alice@example.org", "sip:bob@example.org"
PERIOD = 1388
NTP = 3599719634
TRK = bytes(range(32))


@pytest.fixture(scope="module")
def kms():
    return codec_kms.Kms(URI, ksak=0x5EED, z_s=0xC0DE, user_key_period=2592000, user_key_offset=0)


@pytest.fixture(scope="module")
def alice(kms):
    return kms.issue(ALICE, PERIOD)


@pytest.fixture(scope="module")
def bob(kms):
    return kms.issue(BOB, PERIOD)


def _user_fields(u: UserKeys):
    return (u.uri, u.uid, u.kms, u.rsk, u.ssk, u.pvt, u.period)


# -- the KMS itself --------------------------------------------------------------------------------
def test_kms_keys_are_consistent(kms, alice):
    assert kms.kpak == eccsi.kms_keypair(0x5EED)[1]
    assert kms.z == sakke.kms_keypair(0xC0DE)[1]
    assert kms.period_no(NTP) == PERIOD
    assert alice.uid == mcx.uid(ALICE, URI, 2592000, 0, PERIOD)
    assert eccsi.validate_user_keys(kms.kpak, alice.uid, alice.ssk, alice.pvt).ok
    assert sakke.validate_rsk(alice.uid, kms.z, alice.rsk)
    assert codec_kms.check_key_set(alice, kms.public()) == []


# -- documents round trip ----------------------------------------------------------------------------
def test_init_document_roundtrip(kms):
    data = kms.init_document(ALICE)
    doc = codec_kms.parse(data, source="init.xml")
    assert doc.key_sets == [] and doc.error is None
    (cert,) = doc.certificates
    pub = kms.public()
    assert (cert.uri, cert.kpak, cert.z, cert.user_key_period, cert.user_key_offset) == (
        pub.uri, pub.kpak, pub.z, pub.user_key_period, pub.user_key_offset)
    assert cert.source == "init.xml"


def test_init_document_read_independently(kms):
    root = ET.fromstring(kms.init_document(ALICE))
    assert root.tag == NS + "KmsResponse"
    cert = root.find(f"{NS}KmsMessage/{NS}KmsInit/{NS}KmsCertificate")
    assert cert.findtext(NS + "KmsUri") == URI
    assert bytes.fromhex(cert.findtext(NS + "PubAuthKey")) == kms.kpak
    assert bytes.fromhex(cert.findtext(NS + "PubEncKey")) == kms.z
    assert cert.findtext(NS + "UserKeyPeriod") == "2592000"
    # xsd:sequence order of Table D.3.2.2-1 (reference/mcptt-security.md §5.2)
    order = [c.tag[len(NS):] for c in cert]
    expected = ["CertUri", "KmsUri", "Issuer", "UserIdFormat", "UserKeyPeriod", "UserKeyOffset",
                "PubEncKey", "PubAuthKey", "ParameterSet"]
    assert order == expected


def test_key_prov_document_plain_roundtrip(kms, alice, bob):
    data = kms.key_prov_document([alice, bob])
    doc = codec_kms.parse(data)
    assert [_user_fields(u) for u in doc.key_sets] == [_user_fields(alice), _user_fields(bob)]
    root = ET.fromstring(data)
    ks = root.find(f"{NS}KmsMessage/{NS}KmsKeyProv/{NS}KmsKeySet")
    assert base64.b64decode(ks.findtext(NS + "UserID")) == alice.uid
    assert bytes.fromhex(ks.findtext(NS + "UserDecryptKey")) == alice.rsk
    order = [c.tag[len(NS):] for c in ks]
    assert order == ["KmsUri", "CertUri", "Issuer", "UserUri", "UserID", "KeyPeriodNo",
                     "UserDecryptKey", "UserSigningKeySSK", "UserPubTokenPVT"]


def test_key_prov_document_with_transport_key(kms, alice, bob):
    data = kms.key_prov_document([alice, bob], transport_key=TRK)
    assert alice.rsk.hex().upper().encode() not in data and alice.ssk.hex().upper().encode() not in data
    doc = codec_kms.parse(data, transport_key=TRK)
    assert [_user_fields(u) for u in doc.key_sets] == [_user_fields(alice), _user_fields(bob)]
    assert any("unwrapped" in n for n in doc.notes)
    # the wrapped values are RFC 3394 wraps of x || y (RSK, PVT) and of the SSK, checked with
    # cryptography's key unwrap directly
    root = ET.fromstring(data)
    ks = root.find(f"{NS}KmsMessage/{NS}KmsKeyProv/{NS}KmsKeySet")

    def cipher(tag):
        return base64.b64decode(ks.find(f"{NS}{tag}/{XENC}EncryptedKey/{XENC}CipherData/"
                                        f"{XENC}CipherValue").text)

    assert keywrap.aes_key_unwrap(TRK, cipher("UserDecryptKey")) == alice.rsk[1:]
    assert keywrap.aes_key_unwrap(TRK, cipher("UserSigningKeySSK")) == alice.ssk
    assert keywrap.aes_key_unwrap(TRK, cipher("UserPubTokenPVT")) == alice.pvt[1:]


def test_wrapped_document_without_transport_key(kms, alice):
    doc = codec_kms.parse(kms.key_prov_document([alice], transport_key=TRK))
    (u,) = doc.key_sets
    assert (u.rsk, u.ssk, u.pvt) == (None, None, None)
    assert u.uid == alice.uid
    assert any("no transport key" in n for n in doc.notes)


def test_rfc5649_wrapped_rsk_is_read(kms, alice):
    """A KMS that wraps the 257-octet RSK with RFC 5649 (reading (b) of ref §5.3)."""
    data = kms.key_prov_document([alice], transport_key=TRK)
    root = ET.fromstring(data)
    cv = root.find(f".//{NS}UserDecryptKey/{XENC}EncryptedKey/{XENC}CipherData/{XENC}CipherValue")
    cv.text = base64.b64encode(keywrap.aes_key_wrap_with_padding(TRK, alice.rsk)).decode()
    doc = codec_kms.parse(ET.tostring(root), transport_key=TRK)
    assert doc.key_sets[0].rsk == alice.rsk
    assert any("5649" in n for n in doc.notes)


def test_wrong_transport_key(kms, alice):
    data = kms.key_prov_document([alice], transport_key=TRK)
    with pytest.raises(codec_kms.KmsXmlError, match="TrK"):
        codec_kms.parse(data, transport_key=bytes(32))


def test_keyring_from_xml(kms, alice):
    ring = codec_kms.keyring_from_xml(kms.init_document(ALICE), source="init.xml")
    ring.merge(codec_kms.keyring_from_xml(kms.key_prov_document([alice], transport_key=TRK),
                                        source="prov.xml", transport_key=TRK))
    assert ring.kms_by_uri(URI).kpak == kms.kpak
    assert _user_fields(ring.user_by_uid(alice.uid)) == _user_fields(alice)
    assert ring.sources == ["init.xml", "prov.xml"]


# -- end to end through the XML documents ----------------------------------------------------------
@pytest.mark.parametrize("key_type, key_id", [("GMK", 0x0123_4567), ("PCK", 0x1765_4321),
                                              ("CSK", 0x2000_0042)])
def test_messages_with_keys_from_xml(kms, alice, bob, key_type, key_id):
    ring = codec_kms.keyring_from_xml(kms.init_document(BOB))
    ring.merge(codec_kms.keyring_from_xml(kms.key_prov_document([bob], transport_key=TRK),
                                        transport_key=TRK))
    key = bytes(range(16, 32))
    pa = mikey_sakke.Party(ALICE, URI, alice.uid, kms.kpak, kms.z, alice.ssk, alice.pvt)
    pb = mikey_sakke.Party(BOB, URI, bob.uid, kms.kpak, kms.z)
    wire = mikey_sakke.build_i_message(key_type, key, key_id, pa, pb, ntp_time=NTP << 32)
    res = mikey_sakke.process(decode(wire), wire, ring)
    assert res.verified is True and res.ssv == key
    assert res.key_type == key_type and res.key_id == key_id


# -- client checks (TS 33.180 §5.3, ref §5.4) ------------------------------------------------------
def test_check_key_set_after_xml(kms, alice):
    doc = codec_kms.parse(kms.key_prov_document([alice], transport_key=TRK), transport_key=TRK)
    cert = codec_kms.parse(kms.init_document(ALICE)).certificates[0]
    assert codec_kms.check_key_set(doc.key_sets[0], cert) == []


def test_check_key_set_tampered_rsk(kms, alice, bob):
    problems = codec_kms.check_key_set(dataclasses.replace(alice, rsk=bob.rsk), kms.public())
    assert len(problems) == 1 and "RSK" in problems[0]


def test_check_key_set_tampered_ssk(kms, alice):
    ssk = (int.from_bytes(alice.ssk, "big") ^ 1).to_bytes(32, "big")
    problems = codec_kms.check_key_set(dataclasses.replace(alice, ssk=ssk), kms.public())
    assert len(problems) == 1 and "SSK" in problems[0]


def test_check_key_set_tampered_pvt(kms, alice, bob):
    problems = codec_kms.check_key_set(dataclasses.replace(alice, pvt=bob.pvt), kms.public())
    assert len(problems) == 1 and "SSK/PVT" in problems[0]


def test_check_key_set_tampered_user_id(kms, alice):
    other_uid = mcx.uid(ALICE, URI, 2592000, 0, PERIOD + 1)
    problems = codec_kms.check_key_set(dataclasses.replace(alice, uid=other_uid), kms.public())
    assert any("UserID" in p for p in problems)
    assert any("SSK/PVT" in p for p in problems) and any("RSK" in p for p in problems)


def test_check_key_set_wrong_period_number(kms, alice):
    problems = codec_kms.check_key_set(dataclasses.replace(alice, period=PERIOD + 1), kms.public())
    assert problems and "UserID" in problems[0]


def test_check_key_set_other_kms(kms, alice):
    other = codec_kms.Kms(URI, ksak=0x1234, z_s=0x5678)
    problems = codec_kms.check_key_set(alice, other.public())
    assert any("SSK/PVT" in p for p in problems) and any("RSK" in p for p in problems)


def test_check_key_set_without_uid(kms, alice):
    problems = codec_kms.check_key_set(dataclasses.replace(alice, uid=None), kms.public())
    assert problems == ["no UID to check the keys against"]


# -- hostile and malformed XML ---------------------------------------------------------------------
def test_dtd_refused(kms):
    data = kms.init_document(ALICE).replace(
        b"<KmsResponse", b'<!DOCTYPE KmsResponse [<!ELEMENT KmsResponse ANY>]>\n<KmsResponse', 1)
    with pytest.raises(codec_kms.KmsXmlError, match="DTD"):
        codec_kms.parse(data, source="evil.xml")


def test_billion_laughs_refused():
    lol = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
           + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                      for i in range(1, 10))
           + b']>\n<KmsResponse xmlns="urn:3gpp:ns:mcsecKMSInterface:1.0">&lol9;</KmsResponse>')
    with pytest.raises(codec_kms.KmsXmlError) as e:
        codec_kms.parse(lol, source="lol.xml")
    msg = str(e.value)
    assert "lol.xml" in msg and ("DTD" in msg or "entit" in msg)
    assert "lollol" not in msg


def test_external_entity_refused_and_file_not_read(tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    marker = "TOP-SECRET-MARKER-6507"
    secret.write_text(marker)
    opened = []
    import builtins
    real_open = builtins.open

    def spy_open(file, *a, **kw):
        opened.append(str(file))
        return real_open(file, *a, **kw)

    monkeypatch.setattr(builtins, "open", spy_open)
    for target in (secret.as_uri(), "file:///etc/passwd"):
        doc = (f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "{target}">]>\n'
               f'<KmsResponse xmlns="urn:3gpp:ns:mcsecKMSInterface:1.0"><UserUri>&x;</UserUri>'
               f'</KmsResponse>').encode()
        with pytest.raises(codec_kms.KmsXmlError) as e:
            codec_kms.parse(doc, source="xxe.xml")
        assert marker not in str(e.value) and "root:" not in str(e.value)
        assert "DTD" in str(e.value) or "entit" in str(e.value) or "external" in str(e.value)
    assert not any("secret" in f or "passwd" in f for f in opened)


def test_external_entity_without_dtd_subset_refused():
    doc = (b'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "http://example.invalid/kms.dtd">\n'
           b'<KmsResponse xmlns="urn:3gpp:ns:mcsecKMSInterface:1.0"/>')
    with pytest.raises(codec_kms.KmsXmlError):
        codec_kms.parse(doc)


@pytest.mark.parametrize("data", [b"", b"<", b"<KmsResponse>", b"not xml at all",
                                  b"<a></b>", b"\xff\xfe<\x00a\x00", b"<?xml version='1.0'?>"])
def test_malformed_xml(data):
    with pytest.raises(codec_kms.KmsXmlError):
        codec_kms.parse(data, source="bad.xml")


def test_no_key_material_is_an_error():
    with pytest.raises(codec_kms.KmsXmlError, match="no KmsCertificate or KmsKeySet"):
        codec_kms.parse(b'<KmsResponse xmlns="urn:3gpp:ns:mcsecKMSInterface:1.0"/>')


def test_kms_error_response():
    doc = codec_kms.parse(b'<KmsResponse xmlns="urn:3gpp:ns:mcsecKMSInterface:1.0"><KmsError>'
                        b'<ErrorCode>404</ErrorCode><ErrorMsg>unknown user</ErrorMsg></KmsError>'
                        b'</KmsResponse>')
    assert doc.error == ("404", "unknown user")


def _drop(data: bytes, tag: str) -> bytes:
    root = ET.fromstring(data)
    for parent in root.iter():
        for child in list(parent):
            if child.tag == NS + tag:
                parent.remove(child)
    return ET.tostring(root)


def test_missing_kms_uri(kms):
    with pytest.raises(codec_kms.KmsXmlError, match="KmsUri"):
        codec_kms.parse(_drop(kms.init_document(ALICE), "KmsUri"))


@pytest.mark.parametrize("tag", ["UserID", "UserUri", "KeyPeriodNo"])
def test_missing_key_set_fields(kms, alice, tag):
    root = ET.fromstring(kms.key_prov_document([alice]))
    ks = root.find(f".//{NS}KmsKeySet")
    ks.remove(ks.find(NS + tag))
    with pytest.raises(codec_kms.KmsXmlError, match=tag):
        codec_kms.parse(ET.tostring(root))


@pytest.mark.parametrize("tag, value, what", [
    ("UserID", "***not base64***", "base64"),
    ("KeyPeriodNo", "twelve", "integer"),
    ("UserDecryptKey", "04XYZ", "hexBinary"),
])
def test_bad_key_set_values(kms, alice, tag, value, what):
    root = ET.fromstring(kms.key_prov_document([alice]))
    root.find(f".//{NS}KmsKeySet/{NS}{tag}").text = value
    with pytest.raises(codec_kms.KmsXmlError, match=what):
        codec_kms.parse(ET.tostring(root))


def test_bad_wrap_algorithm(kms, alice):
    root = ET.fromstring(kms.key_prov_document([alice], transport_key=TRK))
    root.find(f".//{XENC}EncryptionMethod").set("Algorithm", XENC[1:-1] + "kw-aes128")
    with pytest.raises(codec_kms.KmsXmlError, match="kw-aes256"):
        codec_kms.parse(ET.tostring(root), transport_key=TRK)


def test_oversized_document():
    with pytest.raises(codec_kms.KmsXmlError, match="larger"):
        codec_kms.parse(b"<a>" + b" " * (codec_kms.MAX_DOCUMENT + 1) + b"</a>")
