"""The keyring: the documented TOML format, its round trip, its errors, hidden secrets, and
dissectors.keys.load_keys over TOML, KMS XML and PEM/DER files made by ``openssl`` here."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from codec import keyring as codec_keyring
from codec.kms import Kms
from dissectors.keys import load_keys

KPAK = "04" + "11" * 64
Z = "04" + "22" * 256
RSK = "04" + "33" * 256
SSK = "44" * 32
PVT = "04" + "55" * 64
KEK_ID = "0a0b0c0d"
KEK = "66" * 16
PSK = "77" * 32

DOC = f"""
[[kms]]
uri = "kms.example.org"
kpak = "{KPAK}"
z = "{Z}"
user_key_period = 2592000
user_key_offset = 0

[[user]]
uri = "sip:alice@example.org"
uid = "3a81fb14c3b1d0fe43c9c577104d55a6d81788bfd2f09743c4557746a5a0353b"
kms = "kms.example.org"
rsk = "{RSK}"
ssk = "{SSK}"
pvt = "{PVT}"
period = 1388

[[user]]
uid = "00112233"

[[kek]]
id = "{KEK_ID}"
key = "{KEK}"

[[psk]]
identity = "sip:alice@example.org"
key = "{PSK}"

[[psk]]
csb_id = "12345678"
key = "88:99:aa:bb"
"""


def test_from_toml_documented_format():
    ring = codec_keyring.from_toml(DOC, source="keys.toml")
    (kms,) = ring.kms
    assert (kms.uri, kms.kpak, kms.z, kms.user_key_period, kms.user_key_offset) == (
        "kms.example.org", bytes.fromhex(KPAK), bytes.fromhex(Z), 2592000, 0)
    alice, anon = ring.users
    assert alice.uri == "sip:alice@example.org" and alice.kms == "kms.example.org"
    assert alice.uid.hex() == "3a81fb14c3b1d0fe43c9c577104d55a6d81788bfd2f09743c4557746a5a0353b"
    assert (alice.rsk, alice.ssk, alice.pvt, alice.period) == (
        bytes.fromhex(RSK), bytes.fromhex(SSK), bytes.fromhex(PVT), 1388)
    assert anon.uri is None and anon.uid == bytes.fromhex("00112233")
    assert ring.kek(bytes.fromhex(KEK_ID)).key == bytes.fromhex(KEK)
    assert ring.kek(b"\x00") is None
    assert ring.psk_for(identity="sip:alice@example.org")[0].key == bytes.fromhex(PSK)
    assert ring.psk_for(csb_id=0x12345678)[0].key == bytes.fromhex("8899aabb")  # ':' separators
    assert ring.sources == ["keys.toml"]
    assert all(x.source == "keys.toml" for x in ring.kms + ring.users + ring.keks + ring.psks)
    assert ring.kms_by_uri("kms.example.org") is kms
    assert ring.users_by_uri("sip:alice@example.org") == [alice]
    assert ring.user_by_uid(bytes.fromhex("00112233")) is anon


def test_from_toml_bytes_and_empty():
    assert codec_keyring.from_toml(DOC.encode()).kek(bytes.fromhex(KEK_ID)) is not None
    ring = codec_keyring.from_toml("")
    assert (ring.kms, ring.users, ring.keks, ring.psks) == ([], [], [], [])


def _same(a: codec_keyring.Keyring, b: codec_keyring.Keyring):
    def fields(objs):
        return [tuple(getattr(o, f) for f in o.__dataclass_fields__ if f != "source")
                for o in objs]

    for name in ("kms", "users", "keks", "psks"):
        assert fields(getattr(a, name)) == fields(getattr(b, name)), name


def test_to_toml_roundtrip():
    ring = codec_keyring.from_toml(DOC)
    _same(codec_keyring.from_toml(ring.to_toml()), ring)


def test_to_toml_roundtrip_of_a_kms_keyring():
    kms = Kms("kms.example.org", ksak=3, z_s=4)
    ring = codec_keyring.Keyring(kms=[kms.public()], users=[kms.issue("sip:a@example.org", 7)])
    _same(codec_keyring.from_toml(ring.to_toml()), ring)


_uri_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(uri=_uri_text, identity=_uri_text, kms=_uri_text)
def test_to_toml_roundtrip_any_text(uri, identity, kms):
    ring = codec_keyring.Keyring(kms=[codec_keyring.KmsKeys(uri=kms)], users=[codec_keyring.UserKeys(uri=uri, kms=kms)],
                                 psks=[codec_keyring.Psk(key=b"\x01", identity=identity)])
    _same(codec_keyring.from_toml(ring.to_toml()), ring)


@pytest.mark.parametrize("uri", ["sip:a\nb@example.org", "sip:tab\there", "del\x7f", "nul\x00",
                                 'quote"and\\backslash', "ünïcödé"])
def test_to_toml_roundtrip_control_characters(uri):
    # TOML basic strings must escape control characters other than tab (TOML 1.0 §String)
    ring = codec_keyring.Keyring(users=[codec_keyring.UserKeys(uri=uri, rsk=b"\x04")])
    assert codec_keyring.from_toml(ring.to_toml()).users[0].uri == uri


@pytest.mark.parametrize("doc, where", [
    ('[[kek]]\nid = "zz"\nkey = "00"', "'id' is not hex"),
    ('[[kek]]\nid = "0"\nkey = "00"', "'id' is not hex"),  # odd length
    ('[[kek]]\nkey = "00"', "'id' is required"),
    ('[[kek]]\nid = "00"', "'key' is required"),
    ('[[kek]]\nid = 5\nkey = "00"', "hex string"),
    ('[[psk]]\nkey = "00"', "'identity' or 'csb_id'"),
    ('[[psk]]\ncsb_id = "1234"\nkey = "00"', "4 octets"),
    ('[[psk]]\nidentity = "x"', "'key' is required"),
    ('[[user]]\nkms = "k"', "'uri' or 'uid'"),
    ('[[user]]\nuri = "u"\nrsk = "0x04"', "'rsk' is not hex"),
    ('[[user]]\nuri = "u"\nperiod = -1', "non-negative integer"),
    ('[[user]]\nuri = "u"\nperiod = true', "non-negative integer"),
    ('[[user]]\nuri = 5', "must be a string"),
    ('[[kms]]\nkpak = "04"', "'uri' is required"),
    ('[[kms]]\nuri = "k"\nuser_key_period = "30 days"', "positive integer"),
    ('[[kms]]\nuri = "k"\nuser_key_period = 0', "kms\\[0\\]: 'user_key_period' must be a positive"),
    ('[[kms]]\nuri = "k"\nuser_key_period = 18446744073709551616', "at most 2\\^64 - 1"),
    ('[[user]]\nuri = "u"\nperiod = 18446744073709551616', "at most 2\\^64 - 1"),
    (f'[[user]]\nuri = "sip:{"a" * 65_532}"', "'uri' is longer than 65535 octets"),
    (f'[[user]]\nuri = "u"\nkms = "{"é" * 32_768}"', "'kms' is longer than 65535 octets"),
    (f'[[user]]\nuid = "{"ab" * 50_000}"', "user\\[0\\]: 'uid' is longer than 1024 octets"),
    ("a = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
    ('[unknown]\na = 1', "unknown table"),
    ('kms = "x"', "array of tables"),
    ('[kms]\nuri = "k"', "array of tables"),
    ('[[kek]\nid = "00"', "not TOML"),
])
def test_from_toml_errors(doc, where):
    with pytest.raises(codec_keyring.KeyringError, match=where.replace("(", r"\(")) as e:
        codec_keyring.from_toml(doc, source="bad.toml")
    assert "bad.toml" in str(e.value)


def test_from_toml_not_utf8():
    with pytest.raises(codec_keyring.KeyringError, match="UTF-8"):
        codec_keyring.from_toml(b"\xff\xfe[[kek]]")


def test_secrets_not_in_repr_or_str():
    ring = codec_keyring.from_toml(DOC)
    alice = ring.users[0]
    for text in (repr(alice), str(alice)):
        assert "<hidden>" in text
        assert RSK[2:40] not in text.lower() and SSK not in text.lower()
        assert "3a81fb14" in text  # the UID is not a secret
    for obj, secret in ((ring.keks[0], KEK), (ring.psks[0], PSK), (ring.psks[1], "8899aabb")):
        for text in (repr(obj), str(obj)):
            assert secret not in text.lower() and "<hidden>" in text
    assert KEK_ID in repr(ring.keks[0])
    for text in (repr(ring), str(ring)):
        assert SSK not in text and KEK not in text and PSK not in text
        assert "2 users" in text


def test_merge():
    a = codec_keyring.from_toml(DOC, "a.toml")
    b = codec_keyring.from_toml('[[kek]]\nid = "ff"\nkey = "00"', "b.toml")
    a.merge(b)
    assert len(a.keks) == 2 and a.sources == ["a.toml", "b.toml"]
    assert a.kek(b"\xff").source == "b.toml"


# -- PEM / DER ------------------------------------------------------------------------------------
OPENSSL = shutil.which("openssl")


@pytest.fixture(scope="module")
def openssl_files(tmp_path_factory):
    if OPENSSL is None:
        pytest.fail("openssl is not installed; the PEM/DER tests need it")
    d = tmp_path_factory.mktemp("pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(d / "key.pem"),
                    "-out", str(d / "cert.pem"), "-subj", "/CN=mcsec-test", "-days", "1"],
                   check=True, capture_output=True)
    subprocess.run([OPENSSL, "x509", "-in", str(d / "cert.pem"), "-outform", "DER",
                    "-out", str(d / "cert.der")], check=True, capture_output=True)
    subprocess.run([OPENSSL, "pkey", "-in", str(d / "key.pem"), "-outform", "DER",
                    "-out", str(d / "key.der")], check=True, capture_output=True)
    (d / "both.pem").write_bytes((d / "key.pem").read_bytes() + (d / "cert.pem").read_bytes())
    return d


def _pub(obj):
    return obj.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)


def test_load_keys_pem_key_and_certificate(openssl_files):
    ring = load_keys([openssl_files / "key.pem", openssl_files / "cert.pem"])
    (key,), (cert,) = ring.private_keys, ring.certificates
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert isinstance(cert, x509.Certificate)
    assert cert.subject.rfc4514_string() == "CN=mcsec-test"
    assert _pub(key) == _pub(cert)


def test_load_keys_one_pem_with_both(openssl_files):
    ring = load_keys([openssl_files / "both.pem"])
    assert len(ring.private_keys) == 1 and len(ring.certificates) == 1
    assert _pub(ring.private_keys[0]) == _pub(ring.certificates[0])


def test_load_keys_der(openssl_files):
    ring = load_keys([openssl_files / "cert.der", openssl_files / "key.der"])
    assert len(ring.certificates) == 1 and len(ring.private_keys) == 1
    assert _pub(ring.private_keys[0]) == _pub(ring.certificates[0])


def test_load_keys_toml_and_kms_xml(tmp_path):
    kms = Kms("kms.example.org", ksak=11, z_s=12)
    alice = kms.issue("sip:alice@example.org", 1388)
    (tmp_path / "keys.toml").write_text(DOC)
    (tmp_path / "init.xml").write_bytes(kms.init_document(alice.uri))
    (tmp_path / "prov.xml").write_bytes(kms.key_prov_document([alice], transport_key=bytes(32)))
    ring = load_keys([tmp_path / "keys.toml", tmp_path / "init.xml", tmp_path / "prov.xml"],
                     transport_key=bytes(32))
    assert [k.uri for k in ring.kms] == ["kms.example.org", "kms.example.org"]
    assert ring.kms[1].kpak == kms.kpak and ring.kms[1].z == kms.z
    got = ring.user_by_uid(alice.uid)
    assert (got.rsk, got.ssk, got.pvt, got.period) == (alice.rsk, alice.ssk, alice.pvt, 1388)
    assert ring.kek(bytes.fromhex(KEK_ID)) is not None
    assert ring.sources == [str(tmp_path / n) for n in ("keys.toml", "init.xml", "prov.xml")]


def test_load_keys_errors(tmp_path):
    with pytest.raises(codec_keyring.KeyringError, match="cannot read"):
        load_keys([tmp_path / "missing.toml"])
    bad = tmp_path / "bad.toml"
    bad.write_text('[[kek]]\nid = "zz"\nkey = "00"\nsecret_marker = "s3cr3t"')
    with pytest.raises(codec_keyring.KeyringError) as e:
        load_keys([bad])
    assert str(bad) in str(e.value) and "s3cr3t" not in str(e.value)
    broken = tmp_path / "broken.pem"
    broken.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(codec_keyring.KeyringError, match="PEM"):
        load_keys([broken])
    der = tmp_path / "junk.der"
    der.write_bytes(b"\x30\x03\x02\x01\x00")
    with pytest.raises(codec_keyring.KeyringError, match="DER"):
        load_keys([der])


def test_encrypted_pem_key_with_password_from_environment(tmp_path, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from codec.keyring import KeyringError
    from dissectors.keys import load_keys

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"s3cret"))
    f = tmp_path / "k.pem"
    f.write_bytes(pem)
    monkeypatch.delenv("MCSEC_KEYS_PASSWORD", raising=False)
    with pytest.raises(KeyringError):
        load_keys([f])
    monkeypatch.setenv("MCSEC_KEYS_PASSWORD", "s3cret")
    ring = load_keys([f])
    assert ring.private_keys[0].private_numbers() == key.private_numbers()
