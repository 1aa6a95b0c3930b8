"""`mcsec export` (issue 18 item 1) checked by tshark/editcap and libsrtp, never by mcsec itself:

- tshark reads the export of every sample capture with the same frames, times and link types;
  frames mcsec did not rewrite are byte-identical (scapy reads both files);
- each RTP/RTCP packet written is what libsrtp (pylibsrtp) unprotects from the captured packet
  with the master key and salt `mcsec keylog` prints (or, for the SRTCP tag lengths pylibsrtp's
  profiles lack, what libsrtp protects back into the captured octets), and tshark with its default
  preferences shows its ``rtp.payload`` and valid UDP/IP checksums, IPv4 and IPv6;
- tshark's floor-control fields on the export equal `mcsec dissect`'s;
- SIP over TLS (and MSRP over TLS-PSK) decrypt from the Decryption Secrets Block alone;
- the file is 0600, a symlink is refused, ``-o -`` writes to standard output.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pylibsrtp
import pytest
from scapy.utils import PcapNgReader, RawPcapReader, wrpcap

from tests.support import libsrtp_oracle as L

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
KEYS = ["--keys", str(PCAPS / "keyring.toml"), "--keys", str(PCAPS / "smime-keys.pem")]
CAPTURES = sorted(p.stem for p in PCAPS.glob("*.pcapng"))


def mcsec(*args, check=True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "dissectors.cli", *args], cwd=ROOT,
                          capture_output=True, **kw)
    if check:
        assert proc.returncode == 0, proc.stderr
    assert b"Traceback" not in (proc.stderr or b"")
    return proc


def export_args(name: str) -> list[str]:
    extra = ["--tls-keylog", str(PCAPS / "sip-tls.keylog")] if name == "sip-tls" else []
    own = PCAPS / f"{name}.keyring.toml"  # a scenario with its own keyring (uid-identities)
    if own.exists():
        extra += ["--keys", str(own)]
    return [str(PCAPS / f"{name}.pcapng"), *KEYS, *extra, "--workers", "1", "-q"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    from concurrent.futures import ThreadPoolExecutor

    out = tmp_path_factory.mktemp("export")
    paths = {name: out / f"{name}.pcapng" for name in CAPTURES}
    with ThreadPoolExecutor(2) as pool:  # two at a time (the suite's two cores)
        list(pool.map(lambda name: mcsec("export", *export_args(name), "-o", str(paths[name])),
                      CAPTURES))
    return paths


def fields(tshark, path, *names, extra=(), display=None) -> list[list[str]]:
    args = [tshark, "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
            "-E", "aggregator=,", *extra]
    if display:
        args += ["-Y", display]
    for n in names:
        args += ["-e", n]
    proc = subprocess.run(args, capture_output=True, text=True, check=True,
                          env={**os.environ, "LC_ALL": "C"})
    return [line.split("\t") for line in proc.stdout.splitlines()]


def raw_frames(path) -> list[bytes]:
    return [bytes(data) for data, _meta in RawPcapReader(str(path))]


def comments(tshark, path) -> dict[int, str]:
    return {int(n): c for n, c in fields(tshark, path, "frame.number", "frame.comment") if c}


# -- every frame, in order, with its time and link type --------------------------------------------
@pytest.mark.parametrize("name", CAPTURES)
def test_every_frame_kept_with_its_time_and_link_type(tshark, exports, name):
    cols = ("frame.number", "frame.time_epoch", "frame.encap_type", "frame.interface_id")
    before = fields(tshark, PCAPS / f"{name}.pcapng", *cols)
    after = fields(tshark, exports[name], *cols)
    assert len(after) == len(before) > 0
    assert after == before
    assert stat.S_IMODE(os.stat(exports[name]).st_mode) == 0o600
    # frames without an mcsec comment are written byte for byte (another reader: scapy)
    notes = comments(tshark, exports[name])
    old, new = raw_frames(PCAPS / f"{name}.pcapng"), raw_frames(exports[name])
    assert len(old) == len(new)
    for i, (a, b) in enumerate(zip(old, new), 1):
        if i not in notes:
            assert a == b, f"{name} frame {i} changed without a comment"


def test_pcap_input_keeps_nanosecond_times(tshark, tmp_path):
    """A nanosecond pcap (editcap -F nsecpcap) exports with the same times to the nanosecond."""
    src = tmp_path / "in.pcap"
    subprocess.run(["editcap", "-F", "nsecpcap", str(PCAPS / "private-call.pcapng"), str(src)],
                   check=True, capture_output=True)
    out = tmp_path / "out.pcapng"
    mcsec("export", str(src), *KEYS, "--workers", "1", "-q", "-o", str(out))
    cols = ("frame.time_epoch", "frame.encap_type", "frame.len")
    got, want = fields(tshark, out, *cols), fields(tshark, src, *cols)
    assert [g[:2] for g in got] == [w[:2] for w in want] and len(got) == 56
    assert fields(tshark, out, "rtp.payload", display="rtp")  # decrypted as from the pcapng


# -- the media: libsrtp is the oracle --------------------------------------------------------------
def keylog(name: str) -> str:
    return mcsec("keylog", str(PCAPS / f"{name}.pcapng"), "--keys", str(PCAPS / "keyring.toml"),
                 "-o", "-").stdout.decode()


def srtp_keys(text: str):
    """From `mcsec keylog`: {MKI: (master key, salt)} of SRTP lines (TS 33.180 GCM profile) and
    {SSRC: (key, salt, tag length, MKI)} of PSK MIKEY crypto sessions (TEK lines + notes)."""
    by_mki, by_ssrc, teks = {}, {}, {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        kv = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
        if parts[0] == "SRTP":
            by_mki.setdefault(bytes.fromhex(parts[1]), []).append(
                (bytes.fromhex(kv["key"]), bytes.fromhex(kv["salt"])))
        elif parts[0] == "TEK":
            teks[(parts[1], kv["cs"])] = (bytes.fromhex(kv["tek"]), bytes.fromhex(kv["salt"]))
        elif parts[0] == "TICKET" and "notes_b64" in kv:
            for note in kv["notes_b64"].split(","):
                # "CS 1: SRTP AES-CM-128/HMAC-SHA1-80[, MKI dd4a37cc], SSRC 0xb3c4fd58 ROC 0"
                text_ = base64.b64decode(note).decode()
                cs = text_.split(":")[0].split()[1]
                ssrc = int(text_.split("SSRC ")[1].split()[0], 16)
                tag = 4 if "HMAC-SHA1-32" in text_ else 10
                mki = (bytes.fromhex(text_.split("MKI ")[1].split(",")[0]) if "MKI " in text_
                       else b"")
                by_ssrc[ssrc] = (*teks[(parts[1], cs)], tag, mki) if (parts[1], cs) in teks else (
                    parts[1], cs, tag, mki)
    # TEK lines follow their TICKET line: resolve the placeholders
    for ssrc, v in list(by_ssrc.items()):
        if isinstance(v[0], str):
            by_ssrc[ssrc] = (*teks[(v[0], v[1])], v[2], v[3])
    return by_mki, by_ssrc


def _rtcp(payload: bytes) -> bool:
    return len(payload) > 1 and 192 <= payload[1] <= 223


def libsrtp_plain(original: list[bytes], by_mki, by_ssrc) -> dict[int, bytes]:
    """{index: plain RTP/RTCP} of every UDP payload libsrtp opens with the keylog's keys."""
    sessions, out = {}, {}
    for i, pkt in enumerate(original):
        if len(pkt) < 12 or pkt[0] >> 6 != 2:
            continue
        rtcp = _rtcp(pkt)
        ssrc = int.from_bytes(pkt[4:8] if rtcp else pkt[8:12], "big")
        for n in (8, 4):  # TS 33.180: MKI after the GCM tag (PCK-ID / CSK-ID, GMK-ID||GUK-ID)
            # the crypto sessions sharing an MKI (PCK: CS 0 and CS 1): the one whose tag verifies
            # (a session per packet: the server relays the same packet to every member, which
            # libsrtp's replay database would refuse; these streams have ROC 0)
            for keys in by_mki.get(pkt[-n:], ()):
                s = pylibsrtp.Session(pylibsrtp.Policy(
                    key=keys[0] + keys[1], ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                    srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM))
                try:
                    out[i] = (s.unprotect_rtcp if rtcp else s.unprotect)(pkt[:-n])
                    break
                except pylibsrtp.Error:
                    continue
            if i in out or pkt[-n:] in by_mki:
                break
        else:
            if ssrc not in by_ssrc:
                continue
            key, salt, tag, mki = by_ssrc[ssrc]
            if rtcp and tag == 4:
                continue  # pylibsrtp's _32 profile: a 10-octet SRTCP tag (re-protected below)
            profile = (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32 if tag == 4 else
                       pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
            s = sessions.setdefault(("cm", ssrc, rtcp), pylibsrtp.Session(pylibsrtp.Policy(
                key=key + salt, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile)))
            if mki:  # RFC 3711 §3.1: the MKI sits between the encrypted portion and the tag
                pkt = pkt[:-tag - len(mki)] + pkt[-tag:]
            out[i] = (s.unprotect_rtcp if rtcp else s.unprotect)(pkt)
    return out


def _rtp_header_len(pkt: bytes) -> int:
    n = 12 + 4 * (pkt[0] & 0x0F)
    if pkt[0] & 0x10:  # RFC 3550 §5.3.1 header extension
        n += 4 + 4 * int.from_bytes(pkt[n + 2:n + 4], "big")
    return n


@pytest.mark.parametrize("name", ["private-call", "group-call", "psk-call"])
def test_media_is_what_libsrtp_opens(tshark, exports, name):
    by_mki, by_ssrc = srtp_keys(keylog(name))
    assert by_mki or by_ssrc
    cols = ("frame.number", "udp.payload")
    original = {int(n): bytes.fromhex(p) for n, p in fields(tshark, PCAPS / f"{name}.pcapng",
                                                               *cols, display="udp")}
    order = sorted(original)
    plain = {order[i]: v for i, v in libsrtp_plain([original[n] for n in order], by_mki,
                                                   by_ssrc).items()}
    exported = {int(n): (bytes.fromhex(p), rp, ck) for n, p, rp, ck in fields(
        tshark, exports[name], "frame.number", "udp.payload", "rtp.payload", "udp.checksum.status",
        display="udp", extra=["-o", "udp.check_checksum:TRUE"])}
    assert len(plain) >= 8
    rtp_frames = 0
    for n, want in plain.items():
        got, rtp_payload, checksum = exported[n]
        assert got == want, f"{name} frame {n}"
        assert checksum == "1", f"{name} frame {n}: UDP checksum status {checksum}"
        if not _rtcp(want):
            rtp_frames += 1
            assert rtp_payload and bytes.fromhex(rtp_payload.replace(":", "")) == \
                want[_rtp_header_len(want):], f"{name} frame {n}: tshark's rtp.payload"
    assert rtp_frames >= 4
    # every packet mcsec changed is one libsrtp opened, or an SRTCP packet checked below
    changed = {n for n in exported if exported[n][0] != original[n]
               and original[n][0] >> 6 == 2}  # RTP version 2 (SIP frames: the SDP profile)
    assert changed >= set(plain)
    for n in changed - set(plain):
        ssrc = int.from_bytes(original[n][4:8], "big")  # RTCP: the sender's SSRC
        key, salt, tag, mki = by_ssrc[ssrc]
        assert _rtcp(original[n]) and tag == 4
        # libsrtp protects the exported RTCP back into the captured octets (SRTCP index 1,
        # as the generator's first): an HMAC-SHA1-32 suite with a 4-octet SRTCP tag
        pol = L.crypto_policy("AES-CM", 16, tag)
        sender = L.Sender(key, salt, pol, pol, mki, ssrc=ssrc)
        try:
            assert sender.protect_rtcp(exported[n][0]) == original[n], f"{name} frame {n}"
        finally:
            sender.close()


def test_ipv4_header_checksums_and_lengths(tshark, exports):
    rows = fields(tshark, exports["private-call"], "frame.number", "ip.checksum.status",
                  "ip.len", "udp.length", "frame.len", display="rtp or rtcp",
                  extra=["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"])
    assert len(rows) == 26
    for n, status, ip_len, udp_len, frame_len in rows:
        assert status == "1", n
        assert int(ip_len) == int(udp_len) + 20 == int(frame_len) - 14, n


def test_group_call_ipv6(tshark, exports):
    rows = fields(tshark, exports["group-call"], "ipv6.plen", "udp.length", "udp.checksum.status",
                  "rtp.payload", "rtcp.app.name", display="rtp or rtcp",
                  extra=["-o", "udp.check_checksum:TRUE"])
    assert len(rows) == 19
    for plen, udp_len, status, payload, app in rows:
        assert plen == udp_len and status == "1"
        assert payload or app == "MCPT"


# -- floor control: tshark on the export equals dissect --------------------------------------------
def _flat(obj, out):
    """tshark -T json --no-duplicate-keys: repeated fields are lists (of values or subtrees)."""
    for k, v in obj.items():
        for item in (v if isinstance(v, list) else [v]):
            if isinstance(item, dict):
                _flat(item, out)
            elif k.startswith("rtcp.mcptt.") or k in ("rtcp.app.subtype", "rtcp.app.name"):
                out.setdefault(k, []).append(item)
    return out


def _norm(v):
    try:
        return int(v, 0)
    except (TypeError, ValueError):
        return v


@pytest.mark.parametrize("name", ["private-call", "group-call"])
def test_floor_control_fields_equal_dissect(tshark, exports, name):
    proc = mcsec("dissect", str(PCAPS / f"{name}.pcapng"), "--keys", str(PCAPS / "keyring.toml"),
                 "--format", "jsonl-records", "--workers", "1")
    ours = {}
    for line in proc.stdout.decode().splitlines():
        rec = json.loads(line)
        for msg in rec.get("floor_control", ()):
            f = ours.setdefault(rec["frame"], {})
            for k in ("rtcp.app.subtype", "rtcp.app.name"):
                f.setdefault(k, []).append(_norm(str(msg[k])))
            for fld in msg["rtcp.mcptt.fields"]:
                for k, v in fld.items():
                    if not k.endswith("_name") and k != "rtcp.mcptt.fld_val":
                        f.setdefault(k, []).append(_norm(str(v)))
    assert len(ours) >= 5
    out = subprocess.run([tshark, "-r", str(exports[name]), "-T", "json", "--no-duplicate-keys",
                          "-Y", 'rtcp.app.name == "MCPT"'], capture_output=True, text=True,
                         check=True)
    theirs = {}
    for pkt in json.loads(out.stdout):
        layers = pkt["_source"]["layers"]
        flat = _flat(layers["rtcp"], {})
        theirs[int(layers["frame"]["frame.number"])] = {k: [_norm(x) for x in v]
                                                       for k, v in flat.items()}
    assert set(theirs) == set(ours)
    compared = 0
    for frame, f in ours.items():
        for k, values in f.items():
            if k in theirs[frame] or k.startswith("rtcp.app."):
                assert theirs[frame].get(k) == values, (frame, k)
                compared += 1
    assert compared > 3 * len(ours)


# -- SDP profile ----------------------------------------------------------------------------------
def test_sdp_profile_is_needed_and_commented(tshark, exports, tmp_path):
    """With RTP/SAVP kept (--keep-sdp), tshark shows the plain packets as 'SRTP Encrypted
    Payload'; the default export changes the profile, comments the SIP frames, and shows them."""
    kept = tmp_path / "kept.pcapng"
    mcsec("export", *export_args("private-call"), "--keep-sdp", "-o", str(kept))
    assert fields(tshark, kept, "srtp.enc_payload", display="srtp.enc_payload")
    assert not fields(tshark, kept, "rtp.payload", display="rtp.payload")
    notes = comments(tshark, exports["private-call"])
    sdp_frames = [int(n) for (n,) in fields(tshark, exports["private-call"], "frame.number",
                                            display='sdp.media.proto == "RTP/AVPF"')]
    assert sdp_frames and all("RTP/SAVP changed to RTP/AVPF" in notes[n] for n in sdp_frames)
    assert not fields(tshark, exports["private-call"], "frame.number",
                      display='sdp.media.proto == "RTP/SAVP"')
    assert not fields(tshark, exports["private-call"], "frame.number",
                      display="srtp.enc_payload")


# -- verdicts as comments --------------------------------------------------------------------------
def test_key_management_verdicts(tshark, exports):
    manifest = json.loads((PCAPS / "manifest.json").read_text())
    checked, notes_of = 0, {}
    for e in manifest["entries"]:
        if e["kind"] != "mikey-sakke" or e["capture"] not in ("private-call.pcapng",
                                                              "group-call.pcapng"):
            continue
        name = e["capture"][:-7]
        notes = notes_of.get(name) or notes_of.setdefault(name, comments(tshark, exports[name]))
        x = e["expect"]
        key_id = int(x["key_id"], 16) if isinstance(x["key_id"], str) else x["key_id"]
        want = f"MIKEY-SAKKE {x['key_type']} 0x{key_id:08x}"
        assert want in notes[e["frame"]], notes.get(e["frame"])
        assert "signature verified, SSV recovered" in notes[e["frame"]]
        checked += 1
    assert checked >= 6
    bad = comments(tshark, exports["malformed"])
    assert any("signature FAILED" in c for c in bad.values())
    assert any("DECODE ERROR" in c for c in bad.values())
    cms = comments(tshark, exports["smime"])
    assert len(cms) >= 8 and all("opened" in c for c in cms.values())


def test_packet_left_encrypted_says_why(tshark, tmp_path):
    """One SRTP packet with a flipped tag octet stays as captured, with the reason."""
    frames = list(PcapNgReader(str(PCAPS / "private-call.pcapng")))
    pkt = frames[16]  # frame 17: SRTP alice -> bob
    raw = bytearray(bytes(pkt))
    raw[-6] ^= 0x01  # inside the GCM tag (the MKI is the last 4 octets)
    damaged = pkt.__class__(bytes(raw))
    damaged.time = pkt.time
    frames[16] = damaged
    src, out = tmp_path / "damaged.pcap", tmp_path / "out.pcapng"
    wrpcap(str(src), frames)
    mcsec("export", str(src), *KEYS, "--workers", "1", "-q", "-o", str(out))
    notes = comments(tshark, out)
    assert "left encrypted" in notes[17] and "authentication tag mismatch" in notes[17]
    assert raw_frames(out)[16] == bytes(raw)
    assert "plain RTP written" in notes[18]


# -- TLS secrets in a DSB --------------------------------------------------------------------------
def test_sip_over_tls_decrypts_from_the_dsb_alone(tshark, exports):
    with_keylog = fields(tshark, PCAPS / "sip-tls.pcapng", "frame.number", display="sip",
                         extra=["-o", f"tls.keylog_file:{PCAPS / 'sip-tls.keylog'}"])
    without = fields(tshark, PCAPS / "sip-tls.pcapng", "frame.number", display="sip")
    for name in ("sip-tls", "sip-tls-dsb"):
        got = fields(tshark, exports[name], "frame.number", display="sip")
        assert got == with_keylog and len(got) > len(without), name
    # the MSRP session over TLS-PSK too: its master secret came from the MIKEY-TICKET TLS-PSK
    data = fields(tshark, exports["sip-tls"], "data.data", display="tcp.port == 2855 and data")
    assert data and all(bytes.fromhex(d).startswith(b"MSRP ") for (d,) in data)
    assert not fields(tshark, PCAPS / "sip-tls.pcapng", "data.data",
                      display="tcp.port == 2855 and data")


def _dsbs(path) -> list[tuple[int, bytes]]:
    """(secrets type, data) of every Decryption Secrets Block, read with struct (pcapng §4.7)."""
    import struct

    data, out, pos = Path(path).read_bytes(), [], 0
    while pos + 12 <= len(data):
        btype, length = struct.unpack_from("<II", data, pos)
        if btype == 0x0000000A:
            stype, slen = struct.unpack_from("<II", data, pos + 8)
            out.append((stype, data[pos + 16:pos + 16 + slen]))
        pos += length
    return out


def test_dsb_holds_the_keylog_and_the_tls_psk_master_secret(tshark, tmp_path, exports):
    """One DSB of type TLS key log (0x544c534b, what editcap --inject-secrets tls writes) with the
    given key log and the master secret of the TLS-PSK session (the generator's, in the
    manifest); without it (editcap --discard-all-secrets) tshark decrypts nothing."""
    (stype, keylog_data), = _dsbs(exports["sip-tls"])
    assert stype == 0x544C534B
    lines = set(keylog_data.decode().splitlines())
    assert set((PCAPS / "sip-tls.keylog").read_text().split("\n")) - {""} <= lines
    manifest = json.loads((PCAPS / "manifest.json").read_text())
    for t in manifest["captures"]["sip-tls"]["tls"]:
        assert f"CLIENT_RANDOM {t['client_random']} {t['master_secret']}" in lines, t["suite"]
    injected, stripped = tmp_path / "injected.pcapng", tmp_path / "stripped.pcapng"
    subprocess.run(["editcap", "--inject-secrets", f"tls,{PCAPS / 'sip-tls.keylog'}",
                    str(PCAPS / "sip-tls.pcapng"), str(injected)], check=True, capture_output=True)
    assert [t for t, _ in _dsbs(injected)] == [stype]
    assert fields(tshark, injected, "frame.number", display="sip") == fields(
        tshark, exports["sip-tls"], "frame.number", display="sip")
    subprocess.run(["editcap", "--discard-all-secrets", str(exports["sip-tls"]), str(stripped)],
                   check=True, capture_output=True)
    assert fields(tshark, stripped, "frame.number", display="sip") == fields(
        tshark, PCAPS / "sip-tls.pcapng", "frame.number", display="sip")


# -- the file -----------------------------------------------------------------------------------
def test_symlink_refused_and_stdout(tshark, tmp_path):
    target = tmp_path / "elsewhere.pcapng"
    target.write_bytes(b"keep")
    link = tmp_path / "link.pcapng"
    link.symlink_to(target)
    proc = mcsec("export", *export_args("psk-call"), "-o", str(link), check=False)
    assert proc.returncode == 2 and b"symbolic link" in proc.stderr
    assert target.read_bytes() == b"keep" and link.is_symlink()
    proc = mcsec("export", *export_args("psk-call"), "-o", "-")
    piped = tmp_path / "piped.pcapng"
    piped.write_bytes(proc.stdout)
    assert len(fields(tshark, piped, "frame.number")) == 32
    assert fields(tshark, piped, "rtp.payload", display="rtp")


# -- -Y: only the matching frames ------------------------------------------------------------------
def test_display_filter_keeps_only_matching_frames(tshark, tmp_path):
    """-Y over fields both tools have selects the frames tshark -Y selects (same times, in
    order); over mcsec's decrypted fields the frames `mcsec dissect -Y` lists; bad syntax: 2."""
    src = PCAPS / "private-call.pcapng"
    out = tmp_path / "invites.pcapng"
    mcsec("export", *export_args("private-call"), "-Y", 'sip.Method == "INVITE"', "-o", str(out))
    want = fields(tshark, src, "frame.time_epoch", display='sip.Method == "INVITE"')
    assert len(want) >= 4 and fields(tshark, out, "frame.time_epoch") == want
    expr = 'srtcp.floor == "Floor Granted" or mikey.3gpp.key_type == "CSK"'
    out2 = tmp_path / "granted.pcapng"
    mcsec("export", *export_args("private-call"), "-Y", expr, "-o", str(out2))
    listed = mcsec("dissect", str(src), "--keys", str(PCAPS / "keyring.toml"), "--workers", "1",
                   "--format", "json", "-Y", expr).stdout.decode().splitlines()
    frames = [json.loads(line)["frame"] for line in listed]
    times = dict((int(n), t) for n, t in fields(tshark, src, "frame.number", "frame.time_epoch"))
    assert len(frames) >= 4
    assert [t for (t,) in fields(tshark, out2, "frame.time_epoch")] == [times[f] for f in frames]
    granted = fields(tshark, out2, "rtcp.app.subtype", display='rtcp.app.name == "MCPT"')
    assert len(granted) >= 2 and all(g == ["1"] for g in granted)  # Floor Granted, decrypted
    proc = mcsec("export", *export_args("private-call"), "-Y", "sip.Method ==", "-o",
                 str(tmp_path / "bad.pcapng"), check=False)
    assert proc.returncode == 2 and b"-Y" in proc.stderr
    assert not (tmp_path / "bad.pcapng").exists()


def test_not_a_capture_is_exit_1_and_writes_nothing(tmp_path):
    bad, out = tmp_path / "notes.txt", tmp_path / "out.pcapng"
    bad.write_bytes(b"not a capture at all")
    proc = mcsec("export", str(bad), "-o", str(out), check=False)
    assert proc.returncode == 1 and b"not a pcap or pcapng file" in proc.stderr
    assert not out.exists()
    proc = mcsec("export", str(tmp_path / "missing.pcap"), "-o", str(out), check=False)
    assert proc.returncode == 2 and not out.exists()


# -- interfaces and link types --------------------------------------------------------------------
def test_several_interfaces_and_link_types(tshark, tmp_path, exports):
    """private-call re-framed as Linux cooked (SLL) and psk-call as raw IPv4, merged by mergecap
    into one pcapng with two interfaces: the export keeps both interfaces, their link types and
    every time, and tshark shows the same rtp.payload as in the plain Ethernet exports."""
    from scapy.layers.l2 import CookedLinux
    from scapy.utils import PcapWriter

    sll, raw = tmp_path / "sll.pcap", tmp_path / "raw.pcap"
    with PcapWriter(str(sll), linktype=113) as w:
        for pkt in PcapNgReader(str(PCAPS / "private-call.pcapng")):
            f = CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02\0\x5e\0\0\x0a\0\0",
                            proto=0x0800) / pkt.payload
            f.time = pkt.time
            w.write(f)
    with PcapWriter(str(raw), linktype=101) as w:
        for pkt in PcapNgReader(str(PCAPS / "psk-call.pcapng")):
            f = pkt.payload
            f.time = pkt.time
            w.write(f)
    merged, out = tmp_path / "merged.pcapng", tmp_path / "out.pcapng"
    subprocess.run(["mergecap", "-F", "pcapng", "-w", str(merged), str(sll), str(raw)], check=True,
                   capture_output=True)
    mcsec("export", str(merged), *KEYS, "--workers", "1", "-q", "-o", str(out))
    cols = ("frame.time_epoch", "frame.interface_id", "frame.encap_type")
    before, after = fields(tshark, merged, *cols), fields(tshark, out, *cols)
    assert after == before and len(after) == 56 + 32
    assert {(i, e) for _, i, e in after} == {("0", "25"), ("1", "7")}  # SLL, raw IP
    plain = {}
    for name in ("private-call", "psk-call"):
        plain.update({t: p for t, p in fields(tshark, exports[name], "frame.time_epoch",
                                              "rtp.payload", display="rtp")})
    got = {t: p for t, p in fields(tshark, out, "frame.time_epoch", "rtp.payload", display="rtp")}
    assert len(got) == len(plain) >= 24 and got == plain

# -- rewriting headers: scapy recomputes the checksums as the oracle -------------------------------
def _scapy_checksums(frame: bytes):
    """(IP checksum or None, L4 checksum) of ``frame`` as scapy recomputes them from scratch."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether

    pkt = Ether(frame)
    l4 = pkt[UDP] if UDP in pkt else pkt[TCP]
    del l4.chksum
    if IP in pkt:
        del pkt[IP].chksum, pkt[IP].len
    if UDP in pkt:
        del pkt[UDP].len
    again = Ether(bytes(pkt))
    l4b = again[UDP] if UDP in again else again[TCP]
    return (again[IP].chksum if IP in again else None), l4b.chksum, bytes(again)


@pytest.mark.parametrize("kind", ["udp4", "udp6-hop-by-hop", "tcp4", "tcp6"])
def test_rewrite_fixes_lengths_and_checksums(kind):
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import Ether

    from dissectors.pcap.rewrite import rewrite_l4, sdp_profile_edit

    sdp = (b"INVITE sip:b@x SIP/2.0\r\nContent-Length: 60\r\n\r\nv=0\r\nc=IN IP4 192.0.2.9\r\n"
           b"m=audio 49170 RTP/SAVP 96\r\nm=video 49180 RTP/SAVP 97\r\n")
    ip = (IP(src="192.0.2.1", dst="192.0.2.9") if kind.endswith("4") else
          IPv6(src="2001:db8::1", dst="2001:db8::9"))
    if "hop" in kind:
        ip = ip / IPv6ExtHdrHopByHop()
    l4 = UDP(sport=5060, dport=5060) if kind.startswith("udp") else TCP(sport=5060, dport=5060,
                                                                        flags="PA", seq=1000)
    frame = bytes(Ether() / ip / l4 / sdp)
    import ipaddress

    endpoints = {(ipaddress.ip_address("192.0.2.9"), 49171)}  # the RTCP port of the audio
    new = rewrite_l4(1, frame, lambda proto, payload: sdp_profile_edit(payload, endpoints,
                                                                       {49171})[0])
    assert len(new) == len(frame)
    assert b"m=audio 49170 RTP/AVPF 96" in new and b"m=video 49180 RTP/SAVP 97" in new
    ip_sum, l4_sum, rebuilt = _scapy_checksums(new)
    assert rebuilt == new  # scapy computes the same lengths and checksums from scratch

    # a shorter UDP payload: lengths shrink, checksums follow
    if kind.startswith("udp"):
        shorter = rewrite_l4(1, frame, lambda proto, payload: payload[:-20])
        assert len(shorter) == len(frame) - 20
        assert _scapy_checksums(shorter)[2] == shorter
    else:
        from dissectors.pcap.rewrite import NotRewritten

        with pytest.raises(NotRewritten):
            rewrite_l4(1, frame, lambda proto, payload: payload[:-20])


def test_srtp_without_keys_is_commented(tshark, tmp_path, exports):
    """Without --keys nothing is decrypted: every RTP packet the keyed export made plain stays as
    captured and says why (its stream was announced RTP/SAVP by an SDP of the capture)."""
    out = tmp_path / "nokeys.pcapng"
    mcsec("export", str(PCAPS / "private-call.pcapng"), "--workers", "1", "-q", "-o", str(out))
    plain = [int(n) for (n,) in fields(tshark, exports["private-call"], "frame.number",
                                       display="rtp.payload")]
    notes = comments(tshark, out)
    assert len(plain) >= 16
    for n in plain:
        assert "left encrypted" in notes[n] and "no key" in notes[n], n
    assert raw_frames(out) == raw_frames(PCAPS / "private-call.pcapng")
    assert "no key to check it with" in notes[5]
