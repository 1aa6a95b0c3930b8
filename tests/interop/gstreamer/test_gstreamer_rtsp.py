"""RTSP as GStreamer speaks it (issue 14 item 7), on real captures (tests/data/gstreamer/, made by
make_captures.sh with GStreamer 1.22; these tests need neither GStreamer nor tshark).

Oracles independent of the code under test:
- scapy reads the captures: the UDP datagrams that must be SRTP/SRTCP, and the RTSP text whose
  ``a=key-mgmt:mikey`` lines and ``KeyMgmt`` headers hold the MIKEY messages;
- the keys, SSRCs and ciphers are sliced from those MIKEY octets here by hand (RFC 3830 §6.1,
  §6.10, §6.2, §6.13 layouts), not by the codec;
- libsrtp 2 (the copy pylibsrtp ships: pylibsrtp's own API for AES-128-ICM/HMAC-SHA1-80, ctypes
  for the policies its API lacks — AES-256-ICM, 4-octet SRTCP tags) unprotects every packet, and
  its plaintext must equal mcsec's.
"""

from __future__ import annotations

import base64
import ctypes
import re
from pathlib import Path

import pylibsrtp
import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.utils import rdpcap

from codec import rtp
from codec.rtsp import RtspFramer, key_mgmt, sdp_controls, transport
from dissectors.pcap.dissect import record_dicts
from dissectors.pcap.session import Session
from dissectors.pcap.render import records_json
from tests.support import libsrtp_oracle

DATA = Path(__file__).resolve().parents[2] / "data" / "gstreamer"
CAPTURES = {  # capture: (mode, RTP sender's (key length, tag), the other side's (key length, tag))
    "play-aes128-sha1-80": ("play", (16, 10), [(32, 4)]),
    "play-aes256-sha1-32": ("play", (32, 4), [(16, 10)]),
    "play-aes256-sha1-80": ("play", (32, 10), [(16, 4)]),
    "record-aes128-sha1-80": ("record", (16, 10), [(32, 4), (16, 10)]),
}


# -- independent reading of the captures ---------------------------------------------------------
def _packets(name):
    return rdpcap(str(DATA / f"{name}.pcap"))


def _udp(name):
    """(frame number, src port, payload) of every UDP datagram."""
    return [(i, p[UDP].sport, bytes(p[UDP].payload)) for i, p in enumerate(_packets(name), 1)
            if UDP in p]


def _rtsp_mikeys(name):
    """(carrier, MIKEY octets) from the RTSP text of every TCP segment, in capture order."""
    out = []
    for p in _packets(name):
        if TCP in p and bytes(p[TCP].payload):
            text = bytes(p[TCP].payload).decode("latin-1")
            out += [("sdp", base64.b64decode(b))
                    for b in re.findall(r"a=key-mgmt:mikey (\S+)", text)]
            out += [("KeyMgmt", base64.b64decode(b))
                    for b in re.findall(r'KeyMgmt: prot=mikey;[^\r\n]*data="([^"]+)"', text)]
    return out


def _hand_keys(mikey: bytes) -> dict:
    """SSRC, cipher key length, tag length, master key and salt of a GStreamer MIKEY message,
    sliced by hand: HDR (RFC 3830 §6.1), T (§6.6), RAND (§6.11), SP
    params (§6.10: type, length, value), KEMAC last (§6.2: ... key data ‖ MAC alg 0) whose one key
    data sub-payload (§6.13: next, type|KV, key len, key) holds key ‖ 14-octet salt."""
    # HDR: version 1, PSK, next T, V/PRF, CSB ID, #CS 1, SRTP-ID map: policy, SSRC, ROC
    assert mikey[:3] == bytes([1, 0, 5]) and mikey[8:10] == bytes([1, 0])
    ssrc = int.from_bytes(mikey[11:15], "big")
    assert mikey[19:21] == bytes([11, 0])  # T (NTP-UTC, 8 octets), next RAND
    rand_at = 19 + 10
    assert mikey[rand_at] == 10  # RAND, next SP
    sp = rand_at + 2 + mikey[rand_at + 1]
    assert mikey[sp:sp + 3] == bytes([1, 0, 0])  # SP: next KEMAC, policy 0, SRTP
    n = int.from_bytes(mikey[sp + 3:sp + 5], "big")
    params, i = {}, sp + 5
    while i < sp + 5 + n:
        params[mikey[i]] = mikey[i + 2:i + 2 + mikey[i + 1]]
        i += 2 + mikey[i + 1]
    assert mikey[-1] == 0  # MAC alg NULL, no MAC
    (key_len,) = [n for n in (30, 46)  # key ‖ salt for AES-128 / AES-256, Key len before it
                  if int.from_bytes(mikey[-3 - n:-1 - n], "big") == n]
    material = mikey[-1 - key_len:-1]
    return {"ssrc": ssrc, "key_len": params[1][0], "tag": params[3][0],
            "key": material[:-14], "salt": material[-14:]}


class _Receiver:
    """An inbound libsrtp 2 session (ctypes, tests/support/libsrtp_oracle.py's policy layout)."""

    def __init__(self, key, salt, rtp_policy, rtcp_policy):
        self._key = key + salt
        self.policy = libsrtp_oracle.Policy(ssrc_type=libsrtp_oracle.SSRC_ANY_INBOUND, rtp=rtp_policy, rtcp=rtcp_policy,
                                            key=self._key, window_size=1024, allow_repeat_tx=0)
        self.ctx = ctypes.c_void_p()
        assert libsrtp_oracle._lib.srtp_create(ctypes.byref(self.ctx), ctypes.byref(self.policy)) == 0

    def unprotect(self, packet, rtcp):
        buf = ctypes.create_string_buffer(packet, len(packet))
        n = ctypes.c_int(len(packet))
        fn = libsrtp_oracle._lib.srtp_unprotect_rtcp_mki if rtcp else libsrtp_oracle._lib.srtp_unprotect_mki
        err = fn(self.ctx, buf, ctypes.byref(n), 0)
        return buf.raw[:n.value] if err == 0 else None

    def close(self):
        libsrtp_oracle._lib.srtp_dealloc(self.ctx)


def _dissect(name):
    session = Session(keyring=None, show_secrets=True)  # no --keys: the keys are in the clear
    return list(record_dicts(DATA / f"{name}.pcap", session, workers=1))


# -- tests ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_mikey_found_in_sdp_bodies_and_keymgmt_headers(name):
    mode = CAPTURES[name][0]
    recs = [r for r in _dissect(name) if r.get("kind") == "mikey"]
    carriers = [(r["rtsp"].get("request") or r["rtsp"]["start_line"]).split(" ")[0] + " "
                + r["carrier"] for r in recs]
    if mode == "play":  # RFC 4567 §4: server keys in DESCRIBE's SDP, client keys in SETUP
        assert carriers == ["DESCRIBE rtsp sdp media 0", "SETUP rtsp KeyMgmt"]
    else:  # RECORD: ANNOUNCE's SDP, the ANNOUNCE reply's and SETUP's KeyMgmt headers
        assert carriers == ["ANNOUNCE rtsp sdp media 0", "ANNOUNCE rtsp KeyMgmt",
                            "SETUP rtsp KeyMgmt"]
    assert [r["rtsp"]["start_line"].startswith("RTSP/") for r in recs] == (
        [True, False] if mode == "play" else [False, True, False])
    hand = [_hand_keys(m) for _, m in _rtsp_mikeys(name)]
    assert len(hand) == len(recs)
    for r, h in zip(recs, hand):
        doc = r["mikey"]
        assert "error" not in r and doc["mikey"][0]["mikey.hdr"]["mikey.type"] == 0
        (cs,) = doc["mikey.ticket.session_keys"]
        assert cs["mikey.ticket.ssrc"] == h["ssrc"]
        assert bytes.fromhex(cs["mikey.ticket.tek"]) == h["key"]
        assert bytes.fromhex(cs["mikey.ticket.salt"]) == h["salt"]
        assert cs["mikey.ticket.srtp_transform"] == (
            f"AES-CM-{h['key_len'] * 8}/HMAC-SHA1-{h['tag'] * 8}")
        found = {f["path"]: f["message"] for f in doc["mikey.findings"]}
        assert "NULL MAC" in found["KEMAC"]
        assert f"is {h['tag']} and there is no parameter 11" in found["SP.policy_params[3]"]
        assert "master key" in found["KEMAC.key_data[0]"]
        assert ("SRTCP" in found.get("SP", "")) == (h["tag"] == 4)


def test_keys_hidden_without_show_secrets():
    session = Session(keyring=None)
    recs = [r for r in record_dicts(DATA / "play-aes256-sha1-32.pcap", session, workers=1)
            if r.get("kind") == "mikey"]
    for r in recs:
        (cs,) = r["mikey"]["mikey.ticket.session_keys"]
        assert cs["mikey.ticket.tek"] == cs["mikey.ticket.salt"] == "<hidden>"
    assert all(str(r.get("plaintext", "<")).startswith("<") for r in
               record_dicts(DATA / "play-aes256-sha1-32.pcap", Session(keyring=None), workers=1))


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_every_srtp_and_srtcp_packet_authenticated_and_decrypted(name):
    mode, sender, others = CAPTURES[name]
    hand = [_hand_keys(m) for _, m in _rtsp_mikeys(name)]
    ssrcs = {h["ssrc"] for h in hand}
    recs = _dissect(name)
    by_frame = {r["frame"]: r for r in recs if r.get("kind") in ("srtp", "srtcp")}
    named, other = [], []
    for frame, sport, payload in _udp(name):
        try:
            ssrc = rtp.stream_ssrc(payload) if rtp.is_rtp_v2(payload) else None
        except rtp.HeaderError:
            ssrc = None
        (named if ssrc in ssrcs else other).append((frame, payload))
    assert len(named) > 100 and {f for f, _ in named} <= set(by_frame)
    assert all(r["ok"] for r in by_frame.values()), [r for r in by_frame.values() if not r["ok"]]
    # streams whose SSRC no MIKEY message names: keyed by the ports the SETUP reply tied
    by_port = [f for f, _ in other if f in by_frame]
    assert all(by_frame[f]["keyed_by"].startswith("RTSP Transport ports") for f in by_port)
    assert len(by_port) == (0 if mode == "play" else 4)  # rtspclientsink's receiver reports
    # rtspsrc's five NAT hole-punching datagrams (random octets) are no SRTP and stay unmatched
    assert [len(p) for f, p in other if f not in by_frame] == ([200] * 5 if mode == "play" else [])
    kinds = {(r["kind"], r["rtsp_stream"]["side"]) for r in by_frame.values()}
    assert ("srtp", "server" if mode == "play" else "client") in kinds
    assert ("srtcp", "server" if mode == "play" else "client") in kinds
    if mode == "play":  # the client's receiver reports, keyed by the SETUP KeyMgmt
        assert ("srtcp", "client") in kinds
    key_len, tag = sender
    assert {r["keys"].split("(")[-1] for r in by_frame.values() if r["kind"] == "srtp"} == {
        f"AES-CM-{key_len * 8}/HMAC-SHA1-{tag * 8})"}


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_setup_reply_ties_keys_to_transport_ports(name):
    recs = _dissect(name)
    (setup,) = [r for r in recs if r.get("kind") == "rtsp" and "streams" in r["rtsp"]]
    (stream,) = setup["rtsp"]["streams"]
    assert stream["url"].endswith("/stream=0") and stream["protocol"].startswith("RTP/SAVP")
    mikeys = {r["frame"]: r for r in recs if r.get("kind") == "mikey"}
    for side in ("client", "server"):
        for k in stream.get(f"{side}_keys", ()):  # keys announced by that side of the connection
            m = mikeys[k["frame"]]
            assert (m["rtsp"]["start_line"].startswith("RTSP/")) == (side == "server")
    media = [r for r in recs if r.get("kind") in ("srtp", "srtcp")]
    for r in media:
        side = r["rtsp_stream"]["side"]
        ports = stream[f"{side}_port"]
        assert r["sport"] == ports[0 if r["kind"] == "srtp" else 1]
        assert r["keys"].split(" (")[0] in r["rtsp_stream"]["keys"]


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_libsrtp_decrypts_the_same_packets_with_the_keys_of_the_messages(name):
    hand = [_hand_keys(m) for _, m in _rtsp_mikeys(name)]
    recs = {r["frame"]: r for r in _dissect(name) if r.get("kind") in ("srtp", "srtcp")}
    receivers = []
    for h in hand:  # RFC 3711 has one tag length: GStreamer's SRTCP tag is the SRTP one
        pol = libsrtp_oracle.crypto_policy("AES-CM", h["key_len"], h["tag"])
        receivers.append((h, _Receiver(h["key"], h["salt"], pol, pol)))
    checked = 0
    try:
        for frame, sport, payload in _udp(name):
            if frame not in recs:
                continue
            rtcp = rtp.is_rtcp(payload)
            ssrc = rtp.stream_ssrc(payload)
            plain = None
            # the keys of the message naming the SSRC; else (a stream keyed by its ports) any
            for h, rx in sorted(receivers, key=lambda hr: hr[0]["ssrc"] != ssrc):
                plain = rx.unprotect(payload, rtcp)
                if plain is not None:
                    break
            assert plain is not None, f"libsrtp does not open frame {frame}"
            assert bytes.fromhex(recs[frame]["plaintext"]) == plain
            checked += 1
    finally:
        for _, rx in receivers:
            rx.close()
    assert checked == len(recs) > 100


def test_pylibsrtp_opens_the_aes128_hmac_sha1_80_stream():
    """pylibsrtp's own API (SRTP_AES128_CM_SHA1_80, both directions of its profile)."""
    name = "play-aes128-sha1-80"
    (server, _client) = [_hand_keys(m) for _, m in _rtsp_mikeys(name)]
    assert server["key_len"] == 16 and server["tag"] == 10
    rx = pylibsrtp.Session(pylibsrtp.Policy(
        key=server["key"] + server["salt"], ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
        srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80))
    recs = {r["frame"]: r for r in _dissect(name) if r.get("kind") in ("srtp", "srtcp")}
    opened = 0
    for frame, _, payload in _udp(name):
        r = recs.get(frame)
        if r is None or r["ssrc"] != server["ssrc"]:
            continue
        plain = rx.unprotect_rtcp(payload) if r["kind"] == "srtcp" else rx.unprotect(payload)
        assert plain == bytes.fromhex(r["plaintext"])
        opened += 1
    assert opened == sum(r["ssrc"] == server["ssrc"] for r in recs.values()) > 90


# -- the RTSP codec on its own -------------------------------------------------------------------
def test_rtsp_framer_cuts_messages_bodies_and_interleaved_frames():
    desc = (b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\n"
            b"Content-Length: 5\r\n\r\nv=0\r\n")
    play = b"PLAY rtsp://h/s RTSP/1.0\r\nCSeq: 4\r\n\r\n"  # no body, no Content-Length (§4.3)
    frame = b"$\x01\x00\x03abc"
    stream = desc + frame + play + b"$\x00\x00\x02xy"
    f = RtspFramer()
    out = []
    for i in range(0, len(stream), 7):  # fed in pieces, as TCP segments come
        out += f.feed(stream[i:i + 7])
    assert [(o.data, o.channel) for o in out] == [(desc, None), (b"abc", 1), (play, None),
                                                   (b"xy", 0)]
    assert not any(o.findings for o in out) and not f.buffer


def test_rtsp_headers():
    (spec,) = transport("RTP/SAVP;unicast;client_port=55730-55731;server_port=57324-57325;"
                        'ssrc=2E6271B9;mode="PLAY"')
    assert (spec.client_port, spec.server_port, spec.ssrc, spec.mode) == (
        (55730, 55731), (57324, 57325), 0x2E6271B9, "PLAY")
    a, b = key_mgmt('prot=mikey;uri="rtsp://h/s,1";data="AQID", prot=mikey;data="!!"')
    assert (a.prot, a.uri, a.data, a.error) == ("mikey", "rtsp://h/s,1", b"\x01\x02\x03", None)
    assert b.data is None and "base64" in b.error
    sdp = ("v=0\r\na=control:*\r\nm=audio 0 RTP/SAVP 8\r\na=control:stream=0\r\n"
           "m=video 0 RTP/AVP 96\r\n")
    assert sdp_controls(sdp, "rtsp://h/play/") == ["rtsp://h/play/stream=0", None]


# -- RTP/RTCP interleaved in the RTSP connection (RFC 2326 §10.12) --------------------------------
def _interleaved(name):
    """The ``$`` frames (channel, octets) of each TCP direction, cut here by hand: the segments of
    a direction joined in sequence order, RTSP messages skipped by their Content-Length."""
    streams: dict = {}
    for p in _packets(name):
        if TCP in p and bytes(p[TCP].payload):
            key = (p[IP].src, p[TCP].sport)
            streams.setdefault(key, {})[p[TCP].seq] = bytes(p[TCP].payload)
    out = []
    for segs in streams.values():
        data = b"".join(segs[s] for s in sorted(segs))
        i = 0
        while i < len(data):
            if data[i:i + 1] == b"$":
                size = int.from_bytes(data[i + 2:i + 4], "big")
                out.append((data[i + 1], data[i + 4:i + 4 + size]))
                i += 4 + size
            else:
                end = data.index(b"\r\n\r\n", i) + 4
                m = re.search(rb"(?i)content-length: *(\d+)", data[i:end])
                i = end + (int(m.group(1)) if m else 0)
    return out


def test_interleaved_rtp_and_rtcp_over_rtsp_tcp():
    name = "play-tcp-aes128-sha1-32"
    hand = [_hand_keys(m) for _, m in _rtsp_mikeys(name)]
    frames = _interleaved(name)
    assert {ch for ch, _ in frames} == {0, 1} and len(frames) > 100  # RTP 0, RTCP 1
    recs = [r for r in _dissect(name) if r.get("kind") in ("srtp", "srtcp")]
    assert len(recs) == len(frames) and all(r["ok"] for r in recs)
    assert {r["transport"] for r in recs} == {"rtsp-interleaved"}
    assert {r["kind"] for r in recs} == {"srtp", "srtcp"}
    for r in recs:  # Transport interleaved=0-1 ties each direction's channels to its keys
        assert r["channel"] == (0 if r["kind"] == "srtp" else 1)
        assert r["rtsp_stream"]["channel"] == ("RTP" if r["channel"] == 0 else "RTCP")
        assert r["rtsp_stream"]["side"] == ("server" if r["sport"] == 8554 else "client")
        assert r["keys"].split(" (")[0] in r["rtsp_stream"]["keys"]
    receivers = [(h, _Receiver(h["key"], h["salt"], *[libsrtp_oracle.crypto_policy("AES-CM", h["key_len"],
                                                                        h["tag"])] * 2))
                 for h in hand]
    try:  # libsrtp opens the same octets, in the same order per direction, to the same plaintext
        by_ssrc: dict = {}
        for r in recs:
            by_ssrc.setdefault(r["ssrc"], []).append(bytes.fromhex(r["plaintext"]))
        for channel, packet in frames:
            ssrc = rtp.stream_ssrc(packet)
            (h, rx), = [(h, rx) for h, rx in receivers if h["ssrc"] == ssrc]
            plain = rx.unprotect(packet, channel == 1)
            assert plain is not None and plain == by_ssrc[ssrc].pop(0)
    finally:
        for _, rx in receivers:
            rx.close()
    assert not any(by_ssrc.values())


@pytest.mark.parametrize("value", ["", ";;;", "RTP/AVP;client_port=" + "9" * 5000,
                                   "RTP/AVP;client_port=1-2-3;server_port=70000;ssrc=zz",
                                   'RTP/SAVP;mode="PLAY;ssrc=' + "f" * 40])
def test_transport_header_garbage_is_tolerated(value):
    for spec in transport(value):
        assert spec.client_port is None and spec.server_port is None and spec.ssrc is None


def test_hostile_rtsp_messages_give_records_not_tracebacks():
    from dissectors.pcap.session import Unit

    session, recs = Session(keyring=None), []
    for data in (b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nTransport: RTP/SAVP;client_port=" + b"9" * 5000
                 + b"\r\n\r\n",
                 b"SETUP rtsp://h/s RTSP/1.0\r\nCSeq: 3\r\nKeyMgmt: prot=mikey;data=\"!!\"\r\n\r\n",
                 b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nKeyMgmt: prot=mikey;data=\"AQID\"\r\n\r\n",
                 b"ANNOUNCE rtsp://h/s RTSP/1.0\r\nContent-Type: application/sdp\r\n\r\n"
                 b"m=audio 0 RTP/SAVP 8\r\na=key-mgmt:mikey %%%\r\n"):
        recs += records_json(session.analyze(Unit([1], 0.0, "tcp", "192.0.2.1", 554, "192.0.2.2",
                                                  40000, data)))
    assert [(r["kind"], r["error"]["path"].split(".")[0]) for r in recs] == [
        ("rtsp", "RTSP"), ("mikey", "HDR"), ("rtsp", "a=key-mgmt")]


@pytest.mark.parametrize("name", ["play-aes256-sha1-32", "record-aes128-sha1-80"])
def test_mcsec_dissect_command_line(name):
    """`mcsec dissect CAPTURE` with no --keys: MIKEY found, every media packet opened."""
    import json
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "dissectors.cli", "dissect",
                          str(DATA / f"{name}.pcap"), "--format", "jsonl-records", "--no-progress",
                          "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    recs = [json.loads(line) for line in run.stdout.splitlines()]
    mikey = [r for r in recs if r.get("kind") == "mikey"]
    media = [r for r in recs if r.get("kind") in ("srtp", "srtcp")]
    assert len(mikey) == (2 if name.startswith("play") else 3)
    assert all(r["mikey"]["mikey.findings"] for r in mikey)
    assert len(media) > 100 and all(r["ok"] for r in media)
    assert not [r for r in recs if r.get("kind") == "anomaly"]


def test_a_keyring_without_the_psk_changes_nothing():
    """A NULL-encrypted, NULL-MAC KEMAC needs no PSK: with an unrelated keyring the records are
    those of the run without keys (no 'no key' KEMAC error, the same media)."""
    from codec.keyring import Keyring, Psk

    name = "play-aes256-sha1-32"
    ring = Keyring(psks=[Psk(identity="sip:other@example.org", key=bytes(16))])
    with_ring = list(record_dicts(DATA / f"{name}.pcap",
                                  Session(keyring=ring, show_secrets=True),
                                  workers=1))
    assert with_ring == _dissect(name)


def test_mcsec_decode_notes_the_quirks(tmp_path):
    """`mcsec decode` of the SDP attribute GStreamer sends: the same findings as dissect."""
    import json
    import subprocess
    import sys

    (_, mikey), _client = _rtsp_mikeys("play-aes256-sha1-32")
    sdp = tmp_path / "gst.sdp"
    sdp.write_text(f"a=key-mgmt:mikey {base64.b64encode(mikey).decode()}\n")
    run = subprocess.run([sys.executable, "-m", "dissectors.cli", "decode", str(sdp),
                          "--format", "json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    doc = doc[0] if isinstance(doc, list) else doc
    dissected = next(r for r in _dissect("play-aes256-sha1-32") if r.get("kind") == "mikey")
    assert doc["mikey.findings"] == dissected["mikey"]["mikey.findings"]
    assert len(doc["mikey.findings"]) == 4
