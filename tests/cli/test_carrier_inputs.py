"""`mcsec decode --in sdp` and the fuzzer's seed loader read carriers through the same MIME-tree
walk as `dissect` (codec.mime.find_key_material): SDP bodies, whole SIP messages, MIME entities.

Oracles: the MIKEY messages are encoded here and decoded a second way (given as hex); the SIP
message and its multipart body are assembled with Python's ``email`` package."""

from __future__ import annotations

import base64
import json
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.policy import SMTP

from codec.mikey import ticket_build, ticket_keys
from dissectors.cli import main
from dissectors.cli.fuzz import load_seeds


def _messages(n=2):
    return [ticket_build.build_psk_i_message(
        bytes(16), [ticket_build.key_data(ticket_keys.KEY_TEK, bytes([i]) * 16)],
        csb_id=0x2000 + i, t_value=0xECA16480_00000000, responder="sip:bob@example.org")
        for i in range(n)]


def _sip_with_multipart(first: bytes, second: bytes) -> bytes:
    sdp = ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/SAVP 0\r\n"
           f"a=key-mgmt:mikey {base64.b64encode(first).decode()}\r\n").encode()
    body = MIMEMultipart("mixed")
    body.attach(MIMEApplication(sdp, "sdp"))
    body.attach(MIMEApplication(second, "mikey"))
    entity = body.as_bytes(policy=SMTP)
    head, _, content = entity.partition(b"\r\n\r\n")
    ctype = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-type")][0]
    return (b"INVITE sip:bob@example.org SIP/2.0\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n" + ctype
            + b"\r\nContent-Length: " + str(len(content)).encode() + b"\r\n\r\n" + content)


def _decode(tmp_path, capsys, data: bytes, *extra):
    f = tmp_path / "input"
    f.write_bytes(data)
    rc = main(["decode", str(f), "--format", "json", *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out


def test_decode_reads_a_sip_message_with_sdp_and_application_mikey(tmp_path, capsys):
    first, second = _messages()
    message = _sip_with_multipart(first, second)
    rc, got = _decode(tmp_path, capsys, message, "--in", "sdp")
    assert rc == 0
    rc_auto, got_auto = _decode(tmp_path, capsys, message)  # auto-detected as a carrier
    assert rc_auto == 0 and got_auto == got
    rc_hex, want = _decode(tmp_path, capsys, (first.hex() + "\n\n" + second.hex()).encode(),
                           "--in", "hex")
    assert rc_hex == 0 and json.loads(got) == json.loads(want)


def test_fuzz_seeds_from_a_sip_file(tmp_path):
    first, second = _messages()
    f = tmp_path / "invite.sip"
    f.write_bytes(_sip_with_multipart(first, second))
    assert load_seeds([tmp_path]) == [first, second]
