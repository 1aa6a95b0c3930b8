"""The one MIME-tree walk that finds key material (codec.mime.find_key_material), the one SIP
parser and "is this SIP" test (codec.sip), and RTSP key material (codec.rtsp).

Oracles: every carrier is assembled here independently of codec/ — MIME trees by Python's
``email`` package (its own base64 and boundaries), SDP, SIP and RTSP text written out by hand.
MIKEY and CMS octets are arbitrary bytes: the walk hands them over untouched and says where they
were (their codecs are tested elsewhere)."""

from __future__ import annotations

import base64
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP

import pytest

from codec import mime, rtsp, sdp, sip
from codec.errors import DecodeError, McsecError

MIKEY_A = bytes(range(1, 60))  # arbitrary octets: the walk passes them on, it does not decode
MIKEY_B = bytes(range(200, 256)) * 2
DER = bytes.fromhex("3003020101")  # a tiny DER SEQUENCE standing for a CMS object


def _sdp(*blobs, media_blob=None) -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0"]
    lines += [f"a=key-mgmt:mikey {base64.b64encode(b).decode()}" for b in blobs]
    lines += ["m=audio 5004 RTP/SAVP 0"]
    if media_blob is not None:
        lines.append(f"a=key-mgmt:mikey {base64.b64encode(media_blob).decode()}")
    return "\r\n".join(lines) + "\r\n"


def _multipart(*parts, subtype="mixed") -> bytes:
    outer = MIMEMultipart(subtype)
    for p in parts:
        outer.attach(p)
    return outer.as_bytes(policy=SMTP)


def _application(data: bytes, subtype: str, **params):
    return MIMEApplication(data, subtype, **params)  # base64 by the email package


def _application_sdp(text: str):
    return MIMEApplication(text.encode(), "sdp")


def test_multipart_built_by_email_package_gives_every_item_in_wire_order():
    sdp = _sdp(MIKEY_A, media_blob=MIKEY_B)
    cms_part = MIMEMultipart("mixed")
    cms_part.attach(_application(DER, "pkcs7-mime", **{"smime-type": "enveloped-data"}))
    data = _multipart(_application_sdp(sdp), _application(MIKEY_B, "mikey"), cms_part)
    items = mime.find_key_material(mime.parse(data))
    assert [type(i).__name__ for i in items] == ["MikeyInSdp", "MikeyInSdp", "MikeyBody",
                                                 "SmimePart"]
    session, media, body, cms = items
    assert (session.data, session.media_index, session.carrier) == (MIKEY_A, None, "sdp session")
    assert (media.data, media.media_index, media.carrier) == (MIKEY_B, 0, "sdp media 0")
    assert body.data == MIKEY_B and body.carrier == "application/mikey"
    assert cms.der == DER and cms.smime_type == "enveloped-data"
    assert [i.path for i in items] == ["MIME.parts[0]", "MIME.parts[0]", "MIME.parts[1]",
                                       "MIME.parts[2].parts[0]"]
    # located: the application/mikey body starts at its offset with the email package's base64
    assert data[body.offset:].startswith(base64.b64encode(MIKEY_B)[:40])


def test_sdp_attribute_offsets_point_at_the_attribute_lines():
    text = _sdp(MIKEY_A, media_blob=MIKEY_B)
    data = (f"INVITE sip:bob@example.org SIP/2.0\r\nCall-ID: x\r\nContent-Type: application/sdp"
            f"\r\nContent-Length: {len(text)}\r\n\r\n{text}").encode()
    items = mime.find_key_material(sip.parse(data))
    assert [i.data for i in items] == [MIKEY_A, MIKEY_B]
    for item in items:
        assert data[item.offset:].startswith(b"a=key-mgmt:mikey ")
        assert item.path == "SIP"


def test_nested_multipart_and_seed004_psk_smime_body():
    psk = _multipart(_application(MIKEY_A, "mikey"),
                     _application(DER, "pkcs7-mime", **{"smime-type": "enveloped-data"}))
    inner = MIMEMultipart("mixed")
    inner.attach(_application(MIKEY_B, "mikey"))
    outer = MIMEMultipart("mixed")
    outer.attach(inner)
    outer.attach(MIMEText("hello", "plain"))
    nested = outer.as_bytes(policy=SMTP)
    (item,) = mime.find_key_material(mime.parse(nested))
    assert isinstance(item, mime.MikeyBody) and item.data == MIKEY_B
    assert item.path == "MIME.parts[0].parts[0]"
    (item,) = mime.find_key_material(mime.parse(psk))
    assert isinstance(item, mime.PskSmimeBody)
    assert "boundary=" in item.content_type and item.body.count(b"Content-Type") == 2


def test_a_bad_part_is_an_error_in_place_and_its_siblings_are_still_found():
    bad_sdp = "v=0\r\na=key-mgmt:mikey !!!not base64!!!\r\n"
    data = _multipart(_application_sdp(bad_sdp), _application(MIKEY_A, "mikey"))
    first, second = mime.find_key_material(mime.parse(data))
    assert isinstance(first, mime.KeyMaterialError)
    assert first.path == "a=key-mgmt" and "base64" in first.error.reason
    assert isinstance(first.error, McsecError)
    assert isinstance(second, mime.MikeyBody) and second.data == MIKEY_A


def test_depth_is_bounded():
    part = _application(MIKEY_A, "mikey")
    for _ in range(12):
        outer = MIMEMultipart("mixed")
        outer.attach(part)
        part = outer
    data = part.as_bytes(policy=SMTP)
    assert mime.find_key_material(mime.parse(data)) == []  # deeper than 8 levels: not walked
    assert len(mime.find_key_material(mime.parse(data), max_depth=16)) == 1


def test_kms_xml_body():
    xml = (b'<?xml version="1.0"?><SignedKmsResponse xmlns="urn:3gpp:ns:mcsecKMSInterface:1.0">'
           b"</SignedKmsResponse>")
    data = _multipart(MIMEApplication(xml, "xml"), MIMEText("<a/>", "xml"))
    (item,) = mime.find_key_material(mime.parse(data))
    assert isinstance(item, mime.KmsXmlBody) and item.data == xml


def test_the_walk_never_raises_on_mangled_trees():
    data = _multipart(_application(MIKEY_A, "mikey"), _application(MIKEY_B, "mikey"))
    for cut in range(0, len(data), 7):
        mangled = data[:cut] + b"\x00--" + data[cut + 3:]
        try:
            tree = mime.parse(mangled)
        except DecodeError:
            continue
        for item in mime.find_key_material(tree):
            assert isinstance(item, (mime.MikeyBody, mime.MikeyInSdp, mime.KeyMaterialError))


# -- codec.sip ---------------------------------------------------------------------------------
LONG_URI = "sip:" + "a" * 120 + "@example.org"


@pytest.mark.parametrize("data, expected", [
    (b"INVITE sip:bob@example.org SIP/2.0\r\n", True),
    (f"MESSAGE {LONG_URI} SIP/2.0\r\n".encode(), True),  # beyond 64 octets: still SIP
    (b"SIP/2.0 200 OK\r\n", True),
    (b"HTTP/1.1 200 OK\r\n", False),
    (b"DESCRIBE rtsp://h/s RTSP/1.0\r\n", False),
    (b"\x80\x00\x00\x01" + bytes(20), False),  # RTP
    (b"", False),
])
def test_is_sip(data, expected):
    assert sip.is_sip(data) is expected


def test_sip_parse_compact_forms_folding_and_content_length():
    body = b"v=0\r\n"
    data = (b"MESSAGE sip:a@example.org SIP/2.0\r\ni: call-1\r\nf: <sip:x@example.org>\r\n"
            b"Subject: one\r\n  two\r\nc: application/sdp\r\nl: 5\r\n\r\n" + body + b"extra")
    msg = sip.parse(data)
    assert msg.start_line == "MESSAGE sip:a@example.org SIP/2.0"
    assert (msg.header("call-id"), msg.header("from"), msg.header("subject")) == (
        "call-1", "<sip:x@example.org>", "one two")
    assert msg.body == body and msg.content_type[0] == "application/sdp"
    assert [f.offset for f in msg.findings] == [data.index(b"extra")]


def test_sip_parse_errors_carry_path_and_offset_and_tolerant_mode_notes_them():
    data = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 100\r\nno colon here\r\n\r\nshort"
    with pytest.raises(DecodeError) as e:
        sip.parse(data)
    assert (e.value.path, e.value.offset) == ("SIP.headers[1]", data.index(b"no colon"))
    msg = sip.parse(data, tolerant=True)
    assert msg.body == b"short"
    assert {f.path for f in msg.findings} == {"SIP.headers[1]", "SIP.body"}
    with pytest.raises(DecodeError) as e:
        sip.parse(b"GET / HTTP/1.1\r\n\r\n")
    assert e.value.path == "SIP.start_line"


# -- codec.rtsp --------------------------------------------------------------------------------
def test_rtsp_key_material_keymgmt_header_and_sdp_controls():
    sdp = _sdp(MIKEY_A, media_blob=MIKEY_B) + "a=control:trackID=0\r\n"
    data = ("RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Base: rtsp://h/s/\r\n"
            f'KeyMgmt: prot=mikey; uri="rtsp://h/s/trackID=0"; data="{base64.b64encode(MIKEY_B).decode()}"'
            f"\r\nContent-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}").encode()
    assert rtsp.is_rtsp(data) and not sip.is_sip(data)
    items = rtsp.find_key_material(rtsp.parse(data), "rtsp://h/s")
    assert [(i.data, i.carrier, i.stream) for i in items] == [
        (MIKEY_B, "rtsp KeyMgmt", "rtsp://h/s/trackID=0"),
        (MIKEY_A, "rtsp sdp session", "rtsp://h/s/"),
        (MIKEY_B, "rtsp sdp media 0", "rtsp://h/s/trackID=0")]


def test_rtsp_bad_keymgmt_is_a_located_error():
    data = b'SETUP rtsp://h/s RTSP/1.0\r\nCSeq: 1\r\nKeyMgmt: prot=mikey; data="@@"\r\n\r\n'
    (item,) = rtsp.find_key_material(rtsp.parse(data), "rtsp://h/s")
    assert isinstance(item, rtsp.RtspKeyMgmtError)
    assert item.error.path == "RTSP.KeyMgmt" and "base64" in item.error.reason


# -- codec.sdp ---------------------------------------------------------------------------------
def test_sdp_lines_carry_their_media_block_and_offset():
    text = "v=0\r\na=tool:x\nm=audio 1 RTP/AVP 0\r\na=control:a\r\nnot a line\r\nm=video 2 RTP/AVP 96\r\n"
    got = [(line.type, line.value, line.media_index) for line in sdp.lines(text)]
    assert got == [("v", "0", None), ("a", "tool:x", None), ("m", "audio 1 RTP/AVP 0", 0),
                   ("a", "control:a", 0), ("m", "video 2 RTP/AVP 96", 1)]
    for line in sdp.lines(text):
        assert text[line.offset:].startswith(f"{line.type}={line.value}")


def test_rtsp_parse_reads_a_long_url_and_folded_headers():
    url = "rtsp://h/" + "s" * 300
    data = (f"SETUP {url} RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/SAVP;unicast;\r\n"
            " client_port=5000-5001\r\n\r\n").encode()
    assert rtsp.is_rtsp(data)  # the request line is longer than 128 octets
    msg = rtsp.parse(data)
    assert (msg.method, msg.url, msg.header("cseq")) == ("SETUP", url, "3")
    (spec,) = rtsp.transport(msg.header("transport"))
    assert spec.client_port == (5000, 5001)
