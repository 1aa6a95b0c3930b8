"""The PKI fixture of the CMS tests (tests/support/cms_pki.py) and the OpenSSL features it and
the CMS tests rely on."""

from __future__ import annotations

from tests.support.cms_pki import KEK_IDS, KEKS, openssl, pki  # noqa: F401 (pki is a fixture)


def test_pki_fixture_keys_load(pki):
    ring = pki.all_keys()
    assert len(ring.keks) == 3 and len(ring.private_keys) == 2 and len(ring.certificates) == 2
    assert ring.kek(bytes.fromhex(KEK_IDS[32])).key == bytes.fromhex(KEKS[32])


def test_openssl_supports_what_the_tests_use():
    """The oracle's capabilities this suite relies on (OpenSSL 3.0): AuthEnvelopedData with
    -aes-128-gcm, KEK recipients, OAEP key options.  (-compress needs zlib, which Debian's
    OpenSSL 3.0 lacks: CompressedData is tested against Python's zlib and asn1parse.)"""
    help_text = openssl("cms", "-help", check=False).stderr.decode()
    for option in ("-secretkey", "-secretkeyid", "-keyopt", "-econtent_type", "-compress"):
        assert option in help_text
