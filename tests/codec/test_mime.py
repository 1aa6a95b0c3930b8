"""MIME entities and SIP MESSAGE bodies carrying S/MIME (codec.mime)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codec import DecodeError, cms, mime
from codec.cms import build as cms_build
from codec.keyring import Kek, Keyring

KEY_ID, KEK = bytes.fromhex("0a0b0c0d"), bytes(range(16))
INNER = b"Content-Type: text/plain\r\n\r\nAll your base are belong to us.\r\n"


def _seed004_message(body_der: bytes, smime_type="auth-enveloped-data") -> bytes:
    """The protected MESSAGE of seed 004 §8.3.1.1.1, with a real body."""
    body = base64.b64encode(body_der) + b"\r\n"
    head = ("MESSAGE sip:user2@domain.com SIP/2.0\r\n"
            "Via: SIP/2.0/TCP user1pc.domain.com;branch=z9hG4bK776sgdkse\r\n"
            "Max-Forwards: 70\r\n"
            "From: sip:user1@domain.com;tag=49583\r\n"
            "To: sip:user2@domain.com\r\n"
            "Call-ID: asd88asd77a@1.2.3.4\r\n"
            "CSeq: 1 MESSAGE\r\n"
            "Content-Type: application/pkcs7-mime;\r\n"
            f" smime-type={smime_type};\r\n"
            "              name=smime.p7m\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def test_seed004_sip_message_auth_enveloped_psk():
    der = cms_build.auth_envelope(INNER, [cms_build.KekRecipient(KEY_ID, KEK)])
    msg = mime.parse(_seed004_message(der))
    assert msg.start_line == "MESSAGE sip:user2@domain.com SIP/2.0"
    assert msg.header("to") == "sip:user2@domain.com"
    mtype, params = msg.content_type
    assert mtype == "application/pkcs7-mime" and params["name"] == "smime.p7m"
    (part,) = mime.find_smime(msg)
    assert part.der == der and part.smime_type == "authEnveloped-data"
    assert any("seed 004 spelling" in f.message for f in part.findings)  # accepted, flagged
    result = cms.open_layers(part.der, Keyring(keks=[Kek(KEY_ID, KEK)]),
                             smime_type=part.smime_type)
    assert result.ok and result.content == INNER


def test_registered_token_is_not_flagged():
    der = cms_build.auth_envelope(INNER, [cms_build.KekRecipient(KEY_ID, KEK)])
    (part,) = mime.find_smime(mime.parse(_seed004_message(der, "authEnveloped-data")))
    assert part.smime_type == "authEnveloped-data" and not part.findings


@pytest.mark.parametrize("value,token,flagged", [
    ("enveloped-data", "enveloped-data", False), ("Signed-Data", "signed-data", False),
    ("compressed-data", "compressed-data", False), ("certs-only", "certs-only", False),
    ("authEnveloped-data", "authEnveloped-data", False),
    ("auth-enveloped-data", "authEnveloped-data", True), ("bogus", "bogus", True)])
def test_smime_type_tokens(value, token, flagged):
    got, note = mime.normalize_smime_type(value)
    assert got == token and (note is not None) == flagged


def test_smime_type_that_contradicts_the_content_is_a_finding():
    der = cms_build.compress(INNER)
    result = cms.open_layers(der, smime_type="enveloped-data")
    assert result.ok
    assert any("smime-type=enveloped-data but the content is a CompressedData" in f.message
               for f in result.findings)


def test_sip_compact_headers_and_content_length():
    der = cms_build.compress(INNER)
    msg = (b"MESSAGE sip:a@example.org SIP/2.0\r\nc: application/pkcs7-mime; "
           b"smime-type=compressed-data\r\nl: " + str(len(der)).encode() + b"\r\n\r\n" + der
           + b"garbage")
    ent = mime.parse(msg)
    assert ent.body == der and any("after Content-Length" in f.message for f in ent.findings)
    (part,) = mime.find_smime(ent)
    assert cms.open_layers(part.der).content == INNER


def test_sip_truncated_body():
    with pytest.raises(DecodeError) as e:
        mime.parse(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 100\r\n\r\nshort")
    assert e.value.path == "SIP.body" and "truncated" in e.value.reason


def test_base64_body_without_transfer_encoding_is_decoded_and_noted():
    der = cms_build.compress(INNER)
    msg = (b"MESSAGE sip:a@b SIP/2.0\r\nContent-Type: application/pkcs7-mime; "
           b"smime-type=compressed-data\r\n\r\n" + base64.encodebytes(der))
    (part,) = mime.find_smime(mime.parse(msg))
    assert part.der == der and any("without Content-Transfer-Encoding" in f.message
                                   for f in part.findings)


def test_invalid_base64_is_located():
    ent = b"Content-Type: application/pkcs7-mime\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@"
    with pytest.raises(DecodeError) as e:
        mime.find_smime(mime.parse(ent))
    assert e.value.path == "MIME.body" and e.value.offset == ent.index(b"@@@")


def test_multipart_mixed_with_uri_list_and_smime_part():
    """Seed 004: a URI-list sent in clear next to the protected content."""
    der = cms_build.auth_envelope(INNER, [cms_build.KekRecipient(KEY_ID, KEK)])
    body = (b"--xyz\r\nContent-Type: application/resource-lists+xml\r\n\r\n<resource-lists/>"
            b"\r\n--xyz\r\n" + mime.build_pkcs7_mime(der, "authEnveloped-data") +
            b"\r\n--xyz--\r\n")
    ent = mime.parse(b'Content-Type: multipart/mixed; boundary="xyz"\r\n\r\n' + body)
    parts = ent.parts()
    assert [p.content_type[0] for p in parts] == ["application/resource-lists+xml",
                                                  "application/pkcs7-mime"]
    assert parts[0].body == b"<resource-lists/>"
    (found,) = mime.find_smime(ent)
    assert found.der == der and found.path == "MIME.parts[1]"


def test_multipart_signed_first_part_is_kept_byte_exact():
    part = b"Content-Type: text/plain\r\n\r\nline 1\r\nline 2"
    sig = cms_build.compress(b"x")  # any DER: parsing only
    entity = mime.build_multipart_signed(part, sig, boundary="bnd")
    (found,) = mime.find_smime(mime.parse(entity))
    assert found.kind == "multipart/signed" and found.signed_content == part
    assert found.micalg == "sha-256" and found.der == sig


def test_multipart_errors():
    with pytest.raises(DecodeError, match="without a boundary"):
        mime.parse(b"Content-Type: multipart/mixed\r\n\r\nx").parts()
    with pytest.raises(DecodeError, match="without any boundary delimiter"):
        mime.parse(b"Content-Type: multipart/mixed; boundary=q\r\n\r\nnothing").parts()
    with pytest.raises(DecodeError, match="RFC 1847 needs 2"):
        mime.find_smime(mime.parse(b"Content-Type: multipart/signed; boundary=q\r\n\r\n"
                                   b"--q\r\n\r\nonly\r\n--q--\r\n"))


def test_content_type_parameters():
    mtype, params, notes = mime.parse_content_type(
        'Application/PKCS7-MIME; smime-type=enveloped-data; name="smi\\"me.p7m"')
    assert mtype == "application/pkcs7-mime" and params["name"] == 'smi"me.p7m' and not notes
    # seed 003's figure misses a ';' between parameters: tolerated and noted
    _, params, notes = mime.parse_content_type("application/pkcs7-mime; smime-type=signed-data "
                                               "name=smime.p7m")
    assert params == {"smime-type": "signed-data", "name": "smime.p7m"}
    assert notes == ["parameter 'name' not preceded by ';'"]


def test_build_pkcs7_mime_seed003_headers():
    der = cms_build.compress(INNER)
    entity = mime.build_pkcs7_mime(der, "compressed-data")
    ent = mime.parse(entity)
    assert ent.header("Content-Type") == ("application/pkcs7-mime; smime-type=compressed-data; "
                                          "name=smime.p7m")
    assert ent.header("Content-Disposition") == ("attachment; filename=smime.p7m; "
                                                 "handling=required")
    assert ent.decoded_body() == der
    assert all(len(line) <= 76 for line in ent.body.split(b"\r\n"))


def test_folded_headers_and_missing_header_colon():
    ent = mime.parse(b"Content-Type: application/pkcs7-mime;\r\n\tsmime-type=signed-data\r\n"
                     b"\r\nbody")
    assert ent.content_type[1]["smime-type"] == "signed-data"
    with pytest.raises(DecodeError) as e:
        mime.parse(b"Content-Type: text/plain\r\nbroken header\r\n\r\n")
    assert e.value.path == "MIME.headers[1]"


_HEADER_LINE = st.one_of(
    st.sampled_from(["Via: SIP/2.0/UDP 10.0.0.1", "Content-Type: application/sdp",
                     "i: abc@host", "X-Odd :  spaced ", " Leading: space", "\tFolded tail",
                     " folded too", "NoColon", "Bad Name: x", "Caf\u00e9: x", "A: caf\u00e9",
                     "Empty:", ":novalue", "Tab:\tvalue\t", "Mid\rCR: x", "A: b\r"]),
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,8}: [ -~]{0,12}", fullmatch=True))


@settings(max_examples=400, deadline=None)
@given(st.lists(_HEADER_LINE, max_size=8), st.sampled_from(["\r\n", "\n"]),
       st.sampled_from(["\r\n", "\n", "\r\n\r\n"]), st.binary(max_size=8))
def test_one_pass_header_parse_equals_the_line_by_line_loop(lines, eol, last, body):
    """mime._plain_headers (the common case in one pass) answers only what the general
    line-by-line loop answers too, for folded lines, bare LFs, stray CRs, non-ASCII and
    malformed names alike (RFC 5322 §2.2, RFC 3261 §7.3.1)."""
    data = (eol.join(lines) + last + "\r\n").encode("utf-8") + body
    fast = mime._plain_headers(data, 0, len(data))
    findings: list = []
    try:
        general = mime._general_headers(data, 0, len(data), "MIME", findings, True)
    except DecodeError:
        general = None
    if fast is not None:
        assert general is not None and not findings
        assert fast == general
    got = mime.parse_headers(data, 0, len(data), "MIME", [], tolerant=True)
    assert got == (fast if fast is not None else general)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["i", "Call-ID", "call-id", "f", "From", "c",
                                           "Content-Type", "X", "l", "Content-Length"]),
                          st.text("abc", min_size=1, max_size=3)), max_size=8),
       st.booleans())
def test_header_lookup_is_the_first_field_of_that_name_or_its_compact_form(headers, is_sip):
    """Entity.header against the plain scan it stands for: the first field whose lower-case
    name is asked, or in a SIP message whose compact form (RFC 3261 §7.3.3) stands for it."""
    from codec import sip

    compact = {k: v.lower() for k, v in sip.COMPACT_FORMS.items()}
    ent = mime.Entity(list(headers), b"", b"", start_line="INVITE x SIP/2.0" if is_sip else None)
    for asked in ("call-id", "Call-ID", "i", "from", "f", "content-type", "c", "x",
                  "content-length", "l", "to"):
        want = next((v for n, v in headers if n.lower() == asked.lower()
                     or (is_sip and compact.get(n.lower()) == asked.lower())), None)
        assert ent.header(asked) == want
    ent.headers.append(("To", "late"))  # a field added after a lookup is seen
    assert ent.header("to") == next((v for n, v in ent.headers if n.lower() == "to"), None)
