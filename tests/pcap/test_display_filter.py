"""`mcsec dissect -Y EXPR`: Wireshark display filters over the packet JSON (issue 18).

Oracles: tshark 4.0's own filter engine on the same capture for `sip.*`/`sdp.*` expressions
(both tools have those fields), and `pcaps/manifest.json` (what the generator put in each frame)
for the fields only mcsec has (the decrypted MIKEY ones, SRTCP floor control).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dissectors.pcap import dissect, output
from dissectors.pcap.capture import read_frames
from dissectors.pcap.display_filter import DisplayFilterError, compile_filter
from dissectors.keys import load_keys

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())
# the sample captures whose SIP is carried over UDP (tshark -Y udp on each says so; the
# others are TCP/TLS/HTTP captures)
UDP_CAPTURES = ("csk-upload.pcapng", "private-call.pcapng", "group-call.pcapng",
                "smime.pcapng", "psk-smime.pcapng", "malformed.pcapng")

# sip.*/sdp.* expressions both tools can evaluate: every operator and literal form
TSHARK_EXPRESSIONS = [
    "sip",
    "sdp",
    'sip.Method == "INVITE"',
    'sip.Method != "INVITE"',  # tshark 4.0: present and all occurrences different
    'sip.Method !== "INVITE"',  # any occurrence different
    'sip.Via != "x" or sdp',
    "sip.Status-Code >= 200 and sip.Status-Code < 300",
    "sip.Status-Code le 180 || sip.Status-Code gt 400",
    'sip.Method in {"INVITE", "MESSAGE", ACK}',
    "sip.Method not in {INVITE, ACK}",  # = not (… in …): frames without SIP too
    "sip.CSeq.seq in {2..4}",
    "sip.CSeq.seq > 1 || sip.Status-Code == 100",
    '!(sip.Method == "REGISTER") && sip.CSeq.method contains "REG"',
    'sip.From contains "alice"',
    'sip.To matches "^<sip:(bob|carol)@"',
    'sip.Method matches "invite|message"',  # case-insensitive, as tshark
    'sip.Method ~ "^m"',
    'sip.Method matches "(?-i)^IN" and not sip.Method matches "(?-i)^in"',
    'sdp.media contains "SAVP"',
    'sdp.version == 0 and not sip.Status-Code',
    "sip.Content-Length > 0x100",
    'sip.Call-ID contains "@" and (sip.CSeq.seq == 1 or sip.CSeq.seq == 3)',
    'sip.Method[0:3] == "INV"',
    'sip.Method > "M"',
    'sdp.media_attr contains "key-mgmt"',
    "sip.Max-Forwards eq 70 and udp.port == 5060",
    'sip.Content-Type contains "multipart" or sip.Content-Type matches "mikey"',
    'sip.Method == "\\x49NVITE" and frame.number <= 0100',
    "sip.Via === sip.Via",
    "len(sip.Method) == 6",  # functions
    'lower(sip.Method) == "invite" or upper(sip.CSeq.method) contains "REG"',
    'string(sip.CSeq.seq) == "2"',
    "count(sdp.media_attr) >= 3 and count(sip) == 1",
]


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    """Every UDP sample capture in one file: pcapng sections simply follow one another, and
    both tools number the frames across them."""
    path = tmp_path_factory.mktemp("df") / "udp-captures.pcapng"
    path.write_bytes(b"".join((PCAPS / n).read_bytes() for n in UDP_CAPTURES))
    return path


def _packets(capture, keys=()):
    """The packet objects of `mcsec dissect --filter all --format json` (as the CLI makes
    them, through JSON), from the library."""
    keyring = load_keys([str(k) for k in keys]) if keys else None
    session = output.PacketSession(keyring=keyring)
    pkts = output.Packets(dissect.records(capture, session, workers=1), session, filt="all",
                          frames=read_frames(capture))
    return [json.loads(json.dumps(p)) for p in pkts]


@pytest.fixture(scope="module")
def merged_packets(merged):
    return _packets(merged)


def _tshark_frames(tshark, capture, expr):
    out = subprocess.run([tshark, "-r", str(capture), "-Y", expr, "-T", "fields", "-e",
                          "frame.number"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [int(x) for x in out.stdout.split()]


@pytest.mark.tshark
@pytest.mark.parametrize("expr", TSHARK_EXPRESSIONS)
def test_selects_the_frames_tshark_selects(tshark, merged, merged_packets, expr):
    flt = compile_filter(expr)
    ours = [p["frame"] for p in merged_packets if flt(p)]
    theirs = _tshark_frames(tshark, merged, expr)
    assert ours == theirs
    if expr not in ("sip.Via === sip.Via",):
        assert theirs, "an expression that selects nothing proves little"


def test_every_frame_is_considered(tshark, merged, merged_packets):
    assert [p["frame"] for p in merged_packets] == _tshark_frames(tshark, merged, "frame")


def _run(*args, stdin=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "dissectors.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, input=stdin)


# -- the decrypted fields, with the generator's manifest as oracle ----------------------------------
def _manifest(capture, kind=None):
    return [e for e in MANIFEST["entries"] if e["capture"] == capture
            and (kind is None or e["kind"] == kind)]


@pytest.fixture(scope="module")
def group_call():
    return _packets(PCAPS / "group-call.pcapng", [PCAPS / "keyring.toml"])


@pytest.fixture(scope="module")
def malformed():
    return _packets(PCAPS / "malformed.pcapng", [PCAPS / "keyring.toml"])


def _select(pkts, expr):
    flt = compile_filter(expr)
    return [p["frame"] for p in pkts if flt(p)]


def test_key_type_and_key_id(group_call):
    for key_type in ("GMK", "CSK"):
        want = [e["frame"] for e in _manifest("group-call.pcapng", "mikey-sakke")
                if e["expect"]["key_type"] == key_type]
        assert want
        assert _select(group_call, f'mikey.3gpp.key_type == "{key_type}"') == want
        assert _select(group_call, f"mikey.3gpp.key_type == {key_type} and mikey.sign.verified "
                                   f"== 1 and mikey.sakke.ssv") == want
    e = next(e for e in _manifest("group-call.pcapng", "mikey-sakke")
             if e["expect"]["key_type"] == "GMK")
    key_id = e["expect"]["key_id"]
    gmks = [x["frame"] for x in _manifest("group-call.pcapng", "mikey-sakke")
            if x["expect"]["key_id"] == key_id]
    assert _select(group_call, f"mikey.3gpp.key_id == 0x{key_id:08x}") == gmks
    assert _select(group_call, f"mikey.3gpp.key_id == {key_id}") == gmks


def test_signature_failures(malformed):
    """The manifest's two messages with a broken ECCSI signature, and only them."""
    bad = [e["frame"] for e in _manifest("malformed.pcapng", "malformed-mikey")
           if e["description"].startswith("ECCSI")]
    assert len(bad) == 2
    assert _select(malformed, "mikey.sign.verified == 0") == bad
    assert _select(malformed, "mikey.sign.verified == false") == bad
    good = [e["frame"] for e in _manifest("malformed.pcapng")
            if (e.get("expect") or {}).get("verified")]
    assert set(good) <= set(_select(malformed, "mikey.sign.verified == 1"))
    assert not set(bad) & set(_select(malformed, "mikey.sign.verified == 1"))


def test_floor_control_and_media(group_call):
    floors = {}
    for e in _manifest("group-call.pcapng", "srtcp"):
        if e.get("floor_message"):
            floors.setdefault(e["floor_message"], []).append(e["frame"])
    assert floors
    for name, frames in floors.items():
        assert _select(group_call, f'rtcp.app.subtype_name == "{name}"') == frames
        assert _select(group_call, f'srtcp.floor == "{name}" and srtcp.ok == 1') == frames
    srtp = [e["frame"] for e in _manifest("group-call.pcapng", "srtp")]
    assert _select(group_call, "srtp and srtp.ok == 1") == srtp
    assert _select(group_call, "srtp.ok == 0") == []


def test_bytes_fields(group_call):
    """Hex-string fields compare with byte-string literals as octets (any separator)."""
    e = next(x for x in _manifest("group-call.pcapng", "mikey-sakke"))
    rand = e["expect"]["rand"]
    colons = ":".join(rand[i:i + 2] for i in range(0, len(rand), 2))
    assert _select(group_call, f"mikey.rand.data == {colons}") == [e["frame"]]
    assert _select(group_call, f"mikey.rand.data == {rand.upper()}") == [e["frame"]]
    assert _select(group_call, f"mikey.rand.data contains {colons[3:11]}") == [e["frame"]]
    assert _select(group_call, f"mikey.rand.data[0:2] == {colons[:5]}") == [e["frame"]]


# -- semantics on a hand-made packet -----------------------------------------------------------------
PKT = {"frame": 7, "time": 1.5, "src": "2001:db8::a", "dst": "2001:db8::b", "sport": 5060,
       "dport": 2269, "transport": "udp",
       "layers": {"sip": {"sip.Via": ["SIP/2.0/UDP a", "SIP/2.0/UDP b"], "sip.Method": "INVITE"},
                  "mikey": [{"mikey": [{"mikey.hdr": {"mikey.3gpp.key_type": "GMK",
                                                      "mikey.generic_id": [
                                                          {"mikey.generic_id.spi": "2674dffa"},
                                                          {"mikey.generic_id.spi": "00000001"}]}},
                                       {"mikey.sign": {"mikey.sign.verified": False}}],
                             "mcsec.carrier": "sdp"}],
                  "srtcp": [{"ok": True, "floor": "Floor Taken", "error": {"reason": "x"}}]}}


@pytest.mark.parametrize("expr, want", [
    ("sip.Via == \"SIP/2.0/UDP b\"", True),  # any occurrence
    ("sip.Via != \"SIP/2.0/UDP b\"", False),  # all differ: no
    ("sip.Via !== \"SIP/2.0/UDP b\"", True),  # some differ: yes
    ("sip.Via ~= \"SIP/2.0/UDP b\"", True),
    ("sip.Via === \"SIP/2.0/UDP b\"", False),
    ("sip.Expires != 3", False),  # absent: no comparison holds
    ("not sip.Expires", True),
    ("mikey.generic_id.spi == 00:00:00:01", True),  # nested list of dicts
    ("mikey.generic_id.spi == 26-74-df-fa", True),
    ("mikey.generic_id.spi > 30:00:00:00", False),
    ("mikey.generic_id.spi < 30:00:00:00", True),
    ("mikey.sign.verified == 0 && mikey.3gpp.key_type == \"GMK\"", True),
    ("mikey.sign.verified == True", False),
    ("mikey.hdr && mikey.sign && mikey", True),  # structures and protocols are present
    ("mcsec.carrier == sdp", True),
    ("srtcp.ok == 1 and srtcp.floor contains \"Taken\" and srtcp.error.reason == x", True),
    ("ipv6.addr == 2001:db8::b and udp.dstport == 2269 and not ip", True),
    ("ipv6.src == ipv6.dst", False),
    ("ipv6.src != ipv6.dst", True),
    ("frame.number in {1..6, 8}", False),
    ("frame.number in {1..6, 7}", True),
    ("frame.number == 0x7 and frame.number == 07 and frame.number == 0b111", True),
    ("frame.time_epoch > 1.25", True),
    ("sip.Method == 'I'", False),
    ("sip.Method[0] == \"I\" and sip.Method[-2:] == \"TE\" and sip.Method[1-2] == \"NV\"", True),
    ("sip.Method matches \"^in.i\" and not sip.Method matches \"(?-i)^in\"", True),
    ("\"INVITE\" == sip.Method", True),
    ("sip.Method contains \"VIT\" or sip.Method contains 00", True),
    ("(sip.Method == ACK or sip.Method == INVITE) and !(udp.port == 1)", True),
    ("sip.Method == ACK or sip.Method == INVITE and udp.port == 1", False),  # and binds tighter
    ("count(sip.Via) == 2 and len(mikey.generic_id.spi) == 4 and count(mikey.generic_id.spi) == 2",
     True),
    ("upper(mcsec.carrier) == SDP and string(mikey.sign.verified) == \"0\"", True),
])
def test_semantics(expr, want):
    assert compile_filter(expr)(PKT) is want


# -- errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("expr, column, message", [
    ("sip.CSeq.seq in {1 2}", 19, '"2" was unexpected'),  # tshark 4.0 wants commas
    ('sip.Method == "INVITE', 14, "final quote was missing"),
    ("sip.Method ==", 13, "Unexpected end"),
    ("(sip.Method == ACK", 18, "Unexpected end"),
    ("sip.Method $ 3", 11, '"$" was unexpected'),
    ('sip.Method matches "("', 19, "Regex compilation error"),
    ("sip.Method == \"A\" \"B\"", 18, '""B"" was unexpected'),
    ("1 == sip.Method", 0, "neither a field"),
    ("", 0, "Empty filter"),
    ("size(sip.Method) == 1", 0, "not a valid function"),
])
def test_bad_syntax_points_at_the_fault(expr, column, message):
    with pytest.raises(DisplayFilterError) as e:
        compile_filter(expr)
    assert e.value.pos == column and message in str(e.value)
    caret_line = str(e.value).splitlines()[-1]
    assert caret_line.index("^") == 4 + column


def test_bad_syntax_on_the_command_line_is_a_usage_error():
    res = _run("dissect", PCAPS / "csk-upload.pcapng", "-Y", "sip.CSeq.seq in {1 2}")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and res.stdout == ""
    lines = res.stderr.splitlines()
    assert lines[0] == 'mcsec: -Y: "2" was unexpected in this context.'
    assert lines[1] == "    sip.CSeq.seq in {1 2}" and lines[2] == " " * 23 + "^"


def test_every_output_mode_applies_the_filter(group_call):
    """json, brief, text and jsonl-records list exactly the frames the filter selects."""
    expr = 'mikey.3gpp.key_type == "GMK" or srtcp.floor == "Floor Granted"'
    want = _select(group_call, expr)
    cap, keys = PCAPS / "group-call.pcapng", PCAPS / "keyring.toml"
    js = _run("dissect", cap, "--keys", keys, "-Y", expr, "--format", "json")
    assert [json.loads(x)["frame"] for x in js.stdout.splitlines()] == want
    brief = _run("dissect", cap, "--keys", keys, "-Y", expr, "--brief")
    assert [int(x.split()[0]) for x in brief.stdout.splitlines()] == want
    text = _run("dissect", cap, "--keys", keys, "-Y", expr)
    heads = [x for x in text.stdout.splitlines() if re.match(r"^ *\d+ \d+\.\d{6} ", x)]
    assert [int(x.split()[0]) for x in heads] == want
    recs = _run("dissect", cap, "--keys", keys, "-Y", expr, "--format", "jsonl-records")
    assert sorted({json.loads(x)["frame"] for x in recs.stdout.splitlines()}) == want
    # --filter narrows what -Y considers; without -Y it keeps its meaning
    both = _run("dissect", cap, "--keys", keys, "-Y", expr, "--filter", "srtp", "--brief")
    assert [int(x.split()[0]) for x in both.stdout.splitlines()] == [
        f for f in want if f not in _select(group_call, "mikey")]
