"""SIP framing over streams and the dissector's per-unit analysis (dissectors.pcap.session)."""

from __future__ import annotations

import base64
from pathlib import Path

from hypothesis import given, settings, strategies as st

from codec.kms import Kms
from codec.keyring import Keyring
from codec.mikey import sakke as mikey_sakke
from codec.crypto import mcx
from codec.sip import StreamFramer
from dissectors.keys import load_keys
from dissectors.pcap.session import Session, Unit
from dissectors.pcap.render import records_json

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "pcaps" / "messages"


def sip(start: str, body: bytes = b"", ctype: str = "application/sdp", extra: str = "",
        length: bool = True) -> bytes:
    head = (f"{start}\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\nCall-ID: call-1@x\r\n"
            f"CSeq: 1 INVITE\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\n{extra}")
    if body:
        head += f"Content-Type: {ctype}\r\n"
    if length:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def test_framer_handles_splits_pipelining_and_keepalives():
    a = sip("INVITE sip:b@x SIP/2.0", b"v=0\r\n")
    b = sip("SIP/2.0 200 OK", b"")
    f = StreamFramer()
    got = []
    stream = b"\r\n\r\n" + a + b + a
    for i in range(0, len(stream), 7):  # 7-octet segments
        got += f.feed(stream[i:i + 7])
    assert [m.data for m in got] == [a, b, a]
    assert got[0].offset == 4 and got[1].offset == 4 + len(a)


def test_framer_reports_garbage_and_missing_length():
    f = StreamFramer()
    # resynchronisation happens at the next line that begins with a start line
    out = f.feed(b"xyz\r\n" + sip("OPTIONS sip:b@x SIP/2.0", length=False) + b"\r\n")
    assert out and out[0].data.startswith(b"OPTIONS")
    msgs = [fi.message for m in out for fi in m.findings]
    assert any("skipped" in m for m in msgs) and any("Content-Length" in m for m in msgs)


def test_framer_refuses_absurd_content_length_without_buffering():
    f = StreamFramer()
    out = f.feed(b"MESSAGE sip:b@x SIP/2.0\r\nContent-Length: 999999999\r\n\r\nabc")
    assert any("exceeds" in fi.message for m in out for fi in m.findings)
    assert len(f.buffer) <= 3


def test_framer_search_is_linear_on_hostile_input():
    import time

    for junk in (b"A" * 200_000, b"A " + b"x" * 200_000, b"\nINVITE " * 30_000):
        f = StreamFramer()
        t = time.perf_counter()
        f.feed(junk)
        assert time.perf_counter() - t < 0.5, junk[:10]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=6))
def test_framer_never_raises(chunks):
    f = StreamFramer(max_buffer=4096)
    for c in chunks:
        f.feed(c)


def _unit(data, sport=5060, dport=5060, frame=1):
    return Unit([frame], 0.0, "udp", "192.0.2.1", sport, "192.0.2.2", dport, data)


def test_sdp_session_and_media_level_key_mgmt_with_keys():
    sdp = (SAMPLES / "mikey-sakke-gmk.sdp").read_bytes()
    pck = bytes.fromhex((SAMPLES / "mikey-sakke-pck.hex").read_text())
    sdp += b"a=key-mgmt:mikey " + base64.b64encode(pck) + b"\r\n"  # inside the m= block
    s = Session(keyring=load_keys([SAMPLES / "bob.keyring.toml"]))
    recs = records_json(s.analyze(_unit(sip("INVITE sip:bob@x SIP/2.0", sdp))), s.show_secrets)
    assert [r["carrier"] for r in recs] == ["sdp session", "sdp media 0"]
    assert all(r["sip"]["call_id"] == "call-1@x" for r in recs)
    signs = [next(p["mikey.sign"] for p in r["mikey"]["mikey"] if "mikey.sign" in p) for r in recs]
    assert [s_["mikey.sign.verified"] for s_ in signs] == [True, True]
    assert recs[0]["mikey"]["mikey.3gpp.crypto_sessions"][0]["mikey.3gpp.cs_id"] == 4


def test_raw_mikey_on_port_2269_and_malformed_is_an_error_record():
    pck = bytes.fromhex((SAMPLES / "mikey-sakke-pck.hex").read_text())
    s = Session(keyring=None)
    ok = records_json(s.analyze(_unit(pck, 2269, 2269)), s.show_secrets)
    assert ok[0]["carrier"] == "port 2269" and "error" not in ok[0]
    bad = records_json(s.analyze(_unit(pck[:-20], 2269, 2269)), s.show_secrets)
    assert bad[0]["error"]["path"].endswith("signature") and "mikey" in bad[0]  # partial kept
    assert s.stats["errors"] == 1


def test_application_mikey_body_and_multipart():
    pck = bytes.fromhex((SAMPLES / "mikey-sakke-pck.hex").read_text())
    body = (b"--b1\r\nContent-Type: application/mikey\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.b64encode(pck) + b"\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n")
    recs = records_json(Session(keyring=None).analyze(_unit(sip("MESSAGE sip:b@x SIP/2.0", body,
                                                   'multipart/mixed; boundary="b1"'))), False)
    assert [r["carrier"] for r in recs] == ["application/mikey"]


def test_kms_xml_over_http_provisions_the_session():
    kms = Kms("kms.example.org")
    ntp = 3_970_000_000
    period = kms.period_no(ntp)
    alice, bob = (kms.issue(f"sip:{n}@example.org", period) for n in ("alice", "bob"))
    party = lambda u: mikey_sakke.Party(u.uri, kms.uri, u.uid, kms.kpak, kms.z, u.ssk, u.pvt)  # noqa
    wire = mikey_sakke.build_i_message("PCK", bytes(16), mcx.make_key_id("PCK", 1), party(alice),
                                       party(bob), ntp_time=ntp << 32, map_style="empty")
    s = Session(keyring=Keyring())
    for i, doc in enumerate((kms.init_document(bob.uri), kms.key_prov_document([bob]))):
        http = (b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: "
                + str(len(doc)).encode() + b"\r\n\r\n" + doc)
        recs = records_json(s.analyze(_unit(http, 80, 40000, frame=i + 1)), s.show_secrets)
        assert recs[0]["kind"] == "kms-xml"
    rec = records_json(s.analyze(_unit(wire, 2269, 2269, frame=3)), s.show_secrets)[0]
    sakke = next(p["mikey.sakke"] for p in rec["mikey"]["mikey"] if "mikey.sakke" in p)
    assert sakke["mikey.sakke.ssv"] == "<hidden>"  # decrypted with keys from the capture


def test_rtsp_keymgmt_header():
    pck = bytes.fromhex((SAMPLES / "mikey-sakke-pck.hex").read_text())
    setup = (b"SETUP rtsp://192.0.2.5/stream/trackID=1 RTSP/1.0\r\nCSeq: 3\r\n"
             b'KeyMgmt: prot=mikey; uri="rtsp://192.0.2.5/stream"; data="'
             + base64.b64encode(pck) + b'"\r\nTransport: RTP/SAVP;unicast\r\n\r\n')
    recs = records_json(Session(keyring=None).analyze(_unit(setup, 40000, 554)), False)
    assert [r["carrier"] for r in recs] == ["rtsp KeyMgmt"]
    assert recs[0]["rtsp"]["start_line"].startswith("SETUP") and "error" not in recs[0]
    bad = setup.replace(b'data="', b'data="!!')
    recs = records_json(Session(keyring=None).analyze(_unit(bad, 40000, 554)), False)
    assert recs[0]["error"]["path"] == "RTSP.KeyMgmt"
