"""pcap / pcapng reading, checked against tshark on the same files; malformed captures."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec import netheaders, pcapfile
from dissectors.pcap.capture import CaptureFault, Frame, read_frames
from tests.support.capture_util import (block, dsb, epb, idb, ns_text, pb, pcap_file, shb, spb,
                                tshark_fields)

FIELDS = ["frame.number", "frame.time_epoch", "frame.interface_id", "frame.len", "frame.cap_len"]


def _udp_frames(n=6):
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    return [bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                  / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=5060, dport=5060)
                  / (b"x" * (i * 37 % 300))) for i in range(n)]


def _records(path):
    r = read_frames(path)
    recs = list(r)
    return r, recs


def _ours(reader, frames):
    return [[str(f.number), "" if f.ts_ns is None else ns_text(f.ts_ns),
             # tshark has no interface id for pcap files
             str(reader.interfaces[f.interface_id].local_id) if reader.format == "pcapng" else "",
             str(f.orig_len), str(len(f.data))]
            for f in frames]


# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize("endianness", ["<", ">"])
def test_pcap_variants_match_tshark(tmp_path, tshark, nano, endianness):
    from scapy.utils import PcapWriter
    path = tmp_path / "t.pcap"
    w = PcapWriter(str(path), linktype=1, nano=nano, endianness=endianness)
    w.write_header(None)
    for i, data in enumerate(_udp_frames()):
        w.write_packet(data, sec=1_700_000_000 + i, usec=(123_456_789 if nano else 123_456) + i,
                       wirelen=len(data) + (i % 2) * 10)
    w.close()
    reader, recs = _records(path)
    assert all(isinstance(x, Frame) for x in recs) and reader.errors == []
    assert _ours(reader, recs) == tshark_fields(tshark, path, FIELDS)
    assert recs[0].ts_ns == 1_700_000_000_000_000_000 + (123_456_789 if nano else 123_456_000)
    assert recs[1].timestamp == pytest.approx(1_700_000_001.123457, abs=1e-6)


def test_pcapng_sections_interfaces_blocks_match_tshark(tmp_path, tshark):
    """Two sections (LE then BE), three IDBs with different link types and clocks, EPB, SPB,
    obsolete PB, NRB/ISB/unknown blocks skipped, a DSB with a TLS key log."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import CookedLinux
    ip = bytes(IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=1, dport=2) / b"raw")
    eth = _udp_frames(2)[1]
    sll = bytes(CookedLinux(proto=0x800) / IP(src="1.1.1.1", dst="2.2.2.2") / UDP() / b"sll")
    keylog = b"CLIENT_RANDOM " + b"11" * 32 + b" " + b"22" * 48 + b"\n"
    o = "<"
    data = (shb(o) + idb(o, 1, tsresol=9, name="eth0") + idb(o, 101, snaplen=128)
            + idb(o, 113, tsresol=0x94, tsoffset=100)
            + epb(o, 0, 1_700_000_000_123_456_789, eth)
            + epb(o, 1, 1_700_000_000_123_456, ip)
            + epb(o, 2, (1_700_000_000 << 20) + 12345, sll)
            + spb(o, eth) + pb(o, 1, 1_700_000_001_000_000, ip)
            + block(o, 4, bytes(4)) + block(o, 5, struct.pack("<III", 0, 0, 0))
            + block(o, 0x12345678, b"unknown block") + dsb(o, 0x544C534B, keylog)
            + epb(o, 0, 1_700_000_003_000_000_001, eth, orig_len=1500)
            + shb(">") + idb(">", 1) + epb(">", 0, 1_700_000_002_000_000, eth))
    path = tmp_path / "m.pcapng"
    path.write_bytes(data)
    reader, recs = _records(path)
    assert reader.errors == []
    assert _ours(reader, recs) == tshark_fields(tshark, path, FIELDS)
    assert [f.linktype for f in recs] == [1, 101, 113, 1, 101, 1, 1]
    assert [f.interface_id for f in recs] == [0, 1, 2, 0, 1, 0, 3]  # global index
    assert reader.interfaces[0].name == "eth0" and reader.interfaces[3].section == 1
    assert recs[3].ts_ns is None and recs[3].timestamp is None  # SPB: no time
    assert recs[2].ts_ns == 1_700_000_100_000_000_000 + 12345 * 10**9 // 2**20
    assert reader.secrets == [(0x544C534B, keylog)]
    assert reader.tls_keylog() == keylog
    assert keylog.decode()[20:40] not in repr(reader.secrets) and "hidden" in repr(reader.secrets)
    assert reader.stats.skipped_blocks == {"NRB": 1, "ISB": 1, "unknown block type 0x12345678": 1}


def test_dsb_written_by_editcap(tmp_path, tshark):
    """editcap --inject-secrets (Wireshark's own writer) makes the DSB we read."""
    editcap = shutil.which("editcap")
    assert editcap, "editcap (wireshark-common) is needed"
    from scapy.utils import wrpcap
    from scapy.layers.l2 import Ether
    pcap = tmp_path / "a.pcap"
    wrpcap(str(pcap), [Ether(f) for f in _udp_frames(3)])
    keys = tmp_path / "keys.txt"
    keylog = (b"CLIENT_RANDOM " + b"ab" * 32 + b" " + b"cd" * 48 + b"\n"
              + b"CLIENT_HANDSHAKE_TRAFFIC_SECRET " + b"01" * 32 + b" " + b"02" * 32 + b"\n")
    keys.write_bytes(keylog)
    out = tmp_path / "b.pcapng"
    subprocess.run([editcap, "--inject-secrets", f"tls,{keys}", str(pcap), str(out)], check=True,
                   capture_output=True)
    reader, recs = _records(out)
    assert len(recs) == 3 and reader.errors == []
    assert [s.type for s in reader.secrets] == [pcapfile.SECRETS_TLS_KEYLOG]
    assert reader.tls_keylog() == keylog


def test_modified_pcap_magic(tmp_path, tshark):
    data = _udp_frames(3)
    hdr = struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1)
    recs = b"".join(struct.pack("<IIIIIHBB", 1_700_000_000 + i, 5, len(d), len(d), 2, 0x800, 0, 0)
                    + d for i, d in enumerate(data))
    path = tmp_path / "mod.pcap"
    path.write_bytes(hdr + recs)
    reader, got = _records(path)
    assert reader.format == "pcap-modified" and reader.errors == []
    assert _ours(reader, got) == tshark_fields(tshark, path, FIELDS)


# ------------------------------------------------------------------------------------------
# Malformed captures
def _good_pcap():
    return pcap_file("<", 1, [(1_700_000_000 + i, i, d) for i, d in enumerate(_udp_frames(8))])


def _good_pcapng():
    o = "<"
    return (shb(o) + idb(o, 1) + b"".join(epb(o, 0, 1_700_000_000_000_000 + i, d)
                                          for i, d in enumerate(_udp_frames(8)))
            + dsb(o, 0x544C534B, b"CLIENT_RANDOM aa bb\n"))


def _read_bytes(data, **kw):
    reader = read_frames(io.BytesIO(data), **kw)
    return reader, list(reader)


def _boundaries(data):
    """Record/block boundaries of a good file, found by the test's own struct reading."""
    if data[:4] == b"\n\r\r\n":
        pos, out = 0, []
        while pos < len(data):
            pos += struct.unpack_from("<I", data, pos + 4)[0]
            out.append(pos)
        return out
    pos, out = 24, [24]
    while pos < len(data):
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
        out.append(pos)
    return out


@pytest.mark.parametrize("make", [_good_pcap, _good_pcapng])
def test_truncated_at_every_offset(make):
    data = make()
    _, full = _read_bytes(data)
    full_frames = [(f.number, f.data) for f in full]
    clean = set()
    for cut in range(len(data)):
        reader, recs = _read_bytes(data[:cut])
        frames = [(f.number, f.data) for f in recs if isinstance(f, Frame)]
        errors = [e for e in recs if isinstance(e, CaptureFault)]
        assert frames == full_frames[:len(frames)]
        # a cut inside a record leaves exactly one fatal error pointing at/before the cut
        assert len(errors) <= 1 and all(e.fatal and e.offset <= cut for e in errors)
        if not errors:
            clean.add(cut)
    # the reader ends without an error exactly at the record/block boundaries
    assert clean == {b for b in _boundaries(data) if b < len(data)}


def test_truncated_reports_the_cut():
    data = _good_pcap()
    reader, recs = _read_bytes(data[:-5])
    assert isinstance(recs[-1], CaptureFault) and recs[-1].fatal
    assert "cut short" in recs[-1].what and recs[-1].after_frame == 7
    assert sum(isinstance(r, Frame) for r in recs) == 7


def test_pcap_absurd_length_resyncs():
    frames = _udp_frames(8)
    data = bytearray(_good_pcap())
    # corrupt record 3's incl_len (the 4th record) to an absurd value
    off = 24 + sum(16 + len(f) for f in frames[:3])
    struct.pack_into("<I", data, off + 8, 0x7FFFFFF0)
    tracemalloc.start()
    reader, recs = _read_bytes(bytes(data))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    errors = [r for r in recs if isinstance(r, CaptureFault)]
    got = [r.data for r in recs if isinstance(r, Frame)]
    assert len(errors) == 1 and errors[0].offset == off and not errors[0].fatal
    assert "exceeds" in errors[0].what and errors[0].skipped == 16 + len(frames[3])
    assert got == frames[:3] + frames[4:]
    assert [r.number for r in recs if isinstance(r, Frame)] == list(range(1, 8))
    assert peak < 8 << 20


def test_pcap_record_longer_than_snaplen():
    frames = _udp_frames(4)
    data = pcap_file("<", 1, [(1_700_000_000, 0, d) for d in frames], snaplen=60)
    reader, recs = _read_bytes(data)
    errors = [r for r in recs if isinstance(r, CaptureFault)]
    assert errors and all("snaplen" in e.what for e in errors)


def test_pcap_no_resync_stops():
    data = bytearray(_good_pcap())
    struct.pack_into("<I", data, 24 + 8, 0x7FFFFFF0)
    reader, recs = _read_bytes(bytes(data), resync=False)
    assert len(recs) == 1 and recs[0].fatal and recs[0].offset == 24


def test_pcapng_garbage_block_resyncs():
    o = "<"
    frames = _udp_frames(6)
    good = [epb(o, 0, 1_700_000_000_000_000 + i, d) for i, d in enumerate(frames)]
    garbage = b"\x06\x00\x00\x00\xff\xff\xff\x7f" + bytes(range(64))  # EPB with a huge length
    bad_trailer = bytearray(good[2])
    struct.pack_into("<I", bad_trailer, len(bad_trailer) - 4, 12345)
    data = shb(o) + idb(o, 1) + good[0] + garbage + good[1] + bytes(bad_trailer) + b"".join(good[3:])
    tracemalloc.start()
    reader, recs = _read_bytes(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    errors = [r for r in recs if isinstance(r, CaptureFault)]
    got = [r.data for r in recs if isinstance(r, Frame)]
    assert got == [frames[0], frames[1]] + frames[3:]
    assert len(errors) == 2 and not any(e.fatal for e in errors)
    assert errors[0].skipped == len(garbage) and "length" in errors[0].what
    assert "trailing length" in errors[1].what
    assert peak < 8 << 20


def test_pcapng_block_content_errors_are_records():
    o = "<"
    d = _udp_frames(1)[0]
    bad_caplen = bytearray(epb(o, 0, 0, d))
    struct.pack_into("<I", bad_caplen, 20, len(d) + 100)  # captured length overruns the block
    data = (shb(o) + idb(o, 1) + bytes(bad_caplen) + epb(o, 7, 0, d)  # unknown interface 7
            + epb(o, 0, 5, d))
    reader, recs = _read_bytes(data)
    kinds = [type(r).__name__ for r in recs]
    assert kinds == ["CaptureFault", "CaptureFault", "Frame"]
    assert "EPB" in recs[0].what and "interface 7" in recs[1].what
    assert recs[2].number == 1


def test_not_a_capture():
    for data in (b"", b"abc", b"hello world, not a capture"):
        reader, recs = _read_bytes(data)
        assert len(recs) == 1 and isinstance(recs[0], CaptureFault) and recs[0].fatal


def test_pcapng_without_shb():
    reader, recs = _read_bytes(idb("<", 1))
    assert len(recs) == 1 and recs[0].fatal


def _check_records(recs):
    n = 0
    for r in recs:
        assert isinstance(r, (Frame, CaptureFault))
        if isinstance(r, Frame):
            n += 1
            assert r.number == n and isinstance(r.data, bytes)
            assert len(r.data) <= 16 << 20
    return n


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.sampled_from([b"", b"\xd4\xc3\xb2\xa1", b"\n\r\r\n",
                                                 b"\xa1\xb2\x3c\x4d"]))
def test_random_bytes_never_raise(data, prefix):
    _check_records(_read_bytes(prefix + data)[1])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["pcap", "pcapng"]),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, 10_000))
def test_mutated_captures_never_raise(kind, flips, cut):
    data = bytearray(_good_pcap() if kind == "pcap" else _good_pcapng())
    for pos, val in flips:
        data[pos % len(data)] = val
    recs = _read_bytes(bytes(data[:len(data) - cut % 64]), resync_window=4096)[1]
    n = _check_records(recs)
    assert n <= 16


# ------------------------------------------------------------------------------------------
# The codec's Layout: compiled and interpreted parses agree, build inverts parse
@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=120))
def test_layout_compiled_equals_interpreted(data):
    for layout in (netheaders.IPV4, netheaders.IPV6, netheaders.TCP, netheaders.UDP, pcapfile.PCAP_RECORD["<"], pcapfile.EPB_BLOCK[">"]):
        try:
            expected = layout.parse(data)
        except netheaders.StreamError:
            expected = "error"
        except Exception as e:  # construct wraps errors from the interpreted path
            expected = "error" if "StreamError" in type(e).__name__ or isinstance(
                e, netheaders.StreamError) else e
        try:
            got = layout.parse_bytes(data)
        except netheaders.StreamError:
            got = "error"
        assert got == expected
        if got != "error" and layout is not pcapfile.EPB_BLOCK[">"]:
            rebuilt = layout.build(got)
            assert layout.parse_bytes(rebuilt) == got


def test_decode_options_tcp_mss_matches_tshark(tmp_path, tshark):
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap
    pkt = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(dst="192.0.2.9") / TCP(options=[("MSS", 1380), ("NOP", None), ("WScale", 7),
                                        ("SAckOK", b""), ("Timestamp", (1, 2))])
    wrpcap(str(tmp_path / "o.pcap"), [pkt])
    t = netheaders.TCP.parse_bytes(bytes(pkt)[34:])
    opts, err = netheaders.decode_options(t.options)
    assert err is None
    mss = struct.unpack(">H", dict(opts)[2])[0]  # the test's own reading of the value
    (row,) = tshark_fields(tshark, tmp_path / "o.pcap", ["tcp.options.mss_val",
                                                          "tcp.options.wscale.shift"])
    assert [str(mss), str(dict(opts)[3][0])] == row
    assert netheaders.decode_options(b"\x02\x01")[1] is not None  # length < 2
