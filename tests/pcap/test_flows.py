"""Link → IP → UDP/TCP decoding and reassembly, checked against tshark on the same captures."""

from __future__ import annotations

import re
import struct
import subprocess

import pytest
from hypothesis import example, HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import (IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                                IPv6ExtHdrRouting, fragment6)
from scapy.layers.l2 import CookedLinux, Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

from dissectors.pcap.capture import read_frames
from dissectors.pcap.flows import (Anomaly, Datagram, FlowTable, Limits, StreamData, StreamEnd,
                              StreamGap, StreamStart, flow_events)
from tests.support.capture_util import pcap_file, tshark_fields

try:
    from scapy.layers.l2 import CookedLinuxV2
except ImportError:  # pragma: no cover
    CookedLinuxV2 = None


def Eth(**kw):
    """Ethernet with both MACs given (else scapy tries to resolve them on the network)."""
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", **kw)


def _write(path, linktype, frames):
    path.write_bytes(pcap_file("<", linktype, [(1_700_000_000, i, bytes(f))
                                              for i, f in enumerate(frames)]))
    return path


def _events(path, limits=None):
    return list(flow_events(read_frames(path), FlowTable(limits)))


def _datagrams_vs_tshark(tshark, path):
    ours = [[str(e.frames[-1]), e.src, e.dst, str(e.sport), str(e.dport), e.payload.hex()]
            for e in _events(path) if isinstance(e, Datagram)]
    rows = tshark_fields(tshark, path, ["frame.number", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst",
                                        "udp.srcport", "udp.dstport", "udp.payload"])
    theirs = [[r[0], r[1] or r[2], r[3] or r[4], r[5], r[6], r[7].replace(":", "")]
              for r in rows if len(r) > 5 and r[5]]
    return ours, theirs


def _udp4(payload=b"sip", sport=5060):
    return IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=sport, dport=5060) / Raw(payload)


def _udp6(payload=b"sip6", sport=5060):
    return IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=sport, dport=5060) / Raw(payload)


LINKS = {
    "ethernet": (1, lambda ip: Eth() / ip),
    "vlan": (1, lambda ip: Eth() / Dot1Q(vlan=42) / ip),
    "qinq": (1, lambda ip: Eth() / Dot1AD(vlan=7) / Dot1Q(vlan=42) / ip),
    "sll": (113, lambda ip: CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02" * 6,
                                        proto=0x0800 if ip.version == 4 else 0x86DD) / ip),
    "raw101": (101, lambda ip: ip),
    "raw12": (12, lambda ip: ip),
    "raw14": (14, lambda ip: ip),
    "null_le": (0, lambda ip: struct.pack("<I", 2 if ip.version == 4 else 24) + bytes(ip)),
    "null_be": (0, lambda ip: struct.pack(">I", 2 if ip.version == 4 else 30) + bytes(ip)),
    "loop108": (108, lambda ip: struct.pack(">I", 2 if ip.version == 4 else 24) + bytes(ip)),
}


@pytest.mark.parametrize("link", sorted(LINKS))
def test_udp_over_link_types_matches_tshark(tmp_path, tshark, link):
    linktype, wrap = LINKS[link]
    frames = [wrap(_udp4(b"INVITE %d" % i, 5060 + i)) for i in range(3)]
    frames += [wrap(_udp6(b"v6 %d" % i, 6000 + i)) for i in range(2)]
    ours, theirs = _datagrams_vs_tshark(tshark, _write(tmp_path / f"{link}.pcap", linktype, frames))
    assert len(ours) == 5
    assert ours == theirs


def test_udp_over_sll2_and_dlt_ipv4_ipv6(tmp_path, tshark):
    assert CookedLinuxV2 is not None, "scapy with CookedLinuxV2 is needed"
    f2 = [CookedLinuxV2(proto=0x0800, ifindex=3) / _udp4(b"sll2"),
          CookedLinuxV2(proto=0x86DD) / _udp6(b"sll2 v6")]
    o1, t1 = _datagrams_vs_tshark(tshark, _write(tmp_path / "sll2.pcap", 276, f2))
    o2, t2 = _datagrams_vs_tshark(tshark, _write(tmp_path / "v4.pcap", 228, [_udp4(b"228")]))
    o3, t3 = _datagrams_vs_tshark(tshark, _write(tmp_path / "v6.pcap", 229, [_udp6(b"229")]))
    assert (len(o1), len(o2), len(o3)) == (2, 1, 1)
    assert (o1, o2, o3) == (t1, t2, t3)


def test_fragmented_udp_matches_tshark(tmp_path, tshark):
    """IPv4 fragments in and out of order, IPv6 fragments behind extension headers."""
    big = bytes(range(256)) * 12
    v4 = fragment(_udp4(big), fragsize=600)
    v6 = fragment6(IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop()
                   / IPv6ExtHdrFragment(id=77) / UDP(sport=1, dport=2) / Raw(big[:2500]), 1280)
    frames = ([Eth() / f for f in v4] + [Eth() / f for f in reversed(fragment(
        _udp4(big[:1800], 5070), fragsize=400))] + [Eth() / f for f in v6]
        + [Eth() / _udp6(b"after", 7)])
    path = _write(tmp_path / "frag.pcap", 1, frames)
    ours, theirs = _datagrams_vs_tshark(tshark, path)
    assert len(ours) == 4
    assert ours == theirs
    ev = [e for e in _events(path) if isinstance(e, Datagram)]
    assert ev[0].frames == tuple(range(1, len(v4) + 1))
    assert ev[0].payload == big


def test_ipv6_extension_headers(tmp_path, tshark):
    pkt = (IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop()
           / IPv6ExtHdrRouting(addresses=["2001:db8::9"], segleft=0) / IPv6ExtHdrDestOpt()
           / UDP(sport=9, dport=10) / Raw(b"behind three extension headers"))
    ours, theirs = _datagrams_vs_tshark(tshark, _write(tmp_path / "ext.pcap", 1, [Eth() / pkt]))
    assert len(ours) == 1 and ours == theirs


def test_ip_fragment_overlap_with_different_data_is_reported(tmp_path):
    p = _udp4(b"A" * 64)
    f1, f2 = fragment(p, fragsize=32)[:2]
    evil = f2.copy()
    evil.frag = 2  # overlaps f1's octets 16..31 with other data
    evil[Raw].load = b"Z" * len(evil[Raw].load)
    frames = [Eth() / f1, Eth() / evil] + [Eth() / f for f in fragment(p, fragsize=32)[1:]]
    ev = _events(_write(tmp_path / "ov.pcap", 1, frames))
    anomalies = [e for e in ev if isinstance(e, Anomaly)]
    assert any("different data" in a.what and a.frame == 2 for a in anomalies)
    (dg,) = [e for e in ev if isinstance(e, Datagram)]
    assert dg.payload[:16] != b"Z" * 16  # the first received fragment wins


def test_fragment_limits_and_timeout(tmp_path):
    p = _udp4(bytes(3000))
    frags = fragment(p, fragsize=200)
    lim = Limits(max_fragments=4)
    ev = _events(_write(tmp_path / "many.pcap", 1, [Eth() / f for f in frags]), lim)
    assert not [e for e in ev if isinstance(e, Datagram)]
    assert any("more than 4 fragments" in e.what for e in ev if isinstance(e, Anomaly))
    # an incomplete datagram times out after frag_timeout_frames frames
    frames = [Eth() / frags[0]] + [Eth() / _udp4(b"x")] * 5
    ev = _events(_write(tmp_path / "to.pcap", 1, frames), Limits(frag_timeout_frames=3))
    timeouts = [e for e in ev if isinstance(e, Anomaly) and "incomplete after 3" in e.what]
    assert len(timeouts) == 1 and timeouts[0].frame == 5
    # and at the end of the capture, an incomplete one is reported too
    ev = _events(_write(tmp_path / "end.pcap", 1, [Eth() / frags[0]]))
    assert any("end of the capture" in e.what for e in ev if isinstance(e, Anomaly))


# ------------------------------------------------------------------------------------------
# TCP
def _tcp(src, dst, sport, dport, seq, flags, data=b"", ack=0, v6=False):
    ip = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)
    pkt = Eth() / ip / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags)
    return pkt / Raw(data) if data else pkt


def _conversation(c, s, cp, sp, isn_c, isn_s, v6=False, variant=0):
    """A handshake, client data in pieces (out of order, retransmitted, overlapping), replies, FIN."""
    T = lambda *a, **k: _tcp(*a, v6=v6, **k)  # noqa: E731
    msg = (b"INVITE sip:bob@example.org SIP/2.0\r\nContent-Length: 5\r\n\r\nhello" * 3)
    pieces = [(0, msg[:40]), (80, msg[80:120]), (40, msg[40:80]), (20, msg[20:60]),
              (120, msg[120:]), (100, msg[100:140])]
    if variant:
        pieces = pieces[::-1]
    out = [T(c, s, cp, sp, isn_c, "S"), T(s, c, sp, cp, isn_s, "SA", ack=isn_c + 1),
           T(c, s, cp, sp, isn_c + 1, "A", ack=isn_s + 1)]
    for off, data in pieces:
        out.append(T(c, s, cp, sp, (isn_c + 1 + off) & 0xFFFFFFFF, "PA", data, ack=isn_s + 1))
    reply = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    out.append(T(s, c, sp, cp, isn_s + 1, "PA", reply[:10]))
    out.append(T(s, c, sp, cp, isn_s + 11, "PA", reply[10:]))
    out.append(T(s, c, sp, cp, isn_s + 1, "PA", reply[:20]))  # retransmission
    end_c = (isn_c + 1 + len(msg)) & 0xFFFFFFFF
    out.append(T(c, s, cp, sp, end_c, "FA"))
    out.append(T(s, c, sp, cp, isn_s + 1 + len(reply), "FA"))
    out.append(T(c, s, cp, sp, (end_c + 1) & 0xFFFFFFFF, "A"))
    return out, msg, reply


def _follow(tshark, path, stream):
    out = subprocess.run([tshark, "-r", str(path), "-q", "-z", f"follow,tcp,raw,{stream}"],
                         capture_output=True, text=True, check=True).stdout
    node0 = re.search(r"Node 0: (\S+)", out).group(1)
    body = out.split("Node 1:", 1)[1].split("\n", 1)[1].split("=====")[0]
    d0, d1 = [], []
    for line in body.splitlines():
        (d1 if line.startswith("\t") else d0).append(line.strip())
    return node0, bytes.fromhex("".join(d0)), bytes.fromhex("".join(d1))


def _streams(events):
    starts = {e.flow_id: e for e in events if isinstance(e, StreamStart)}
    data = {}
    for e in events:
        if isinstance(e, StreamData):
            buf = data.setdefault((e.flow_id, e.direction), bytearray())
            assert e.offset == len(buf)  # offsets are contiguous when there is no gap
            buf += e.data
    return starts, data


def test_tcp_reassembly_matches_tshark_follow(tmp_path, tshark):
    frames = []
    convs = [_conversation("10.0.0.1", "10.0.0.2", 40000, 5060, 1000, 9000),
             _conversation("2001:db8::1", "2001:db8::2", 40001, 5060, 0xFFFFFFF0, 77, v6=True),
             _conversation("10.0.0.3", "10.0.0.4", 40002, 5060, 0x7FFFFFFF, 5, variant=1)]
    for conv, _msg, _reply in convs:
        frames += conv
    path = _write(tmp_path / "tcp.pcap", 1, frames)
    events = _events(path)
    starts, data = _streams(events)
    assert len(starts) == 3
    assert not [e for e in events if isinstance(e, (Anomaly, StreamGap))]
    ends = [(e.flow_id, e.direction, e.reason) for e in events if isinstance(e, StreamEnd)]
    assert sorted(ends) == [(f, d, "fin") for f in range(3) for d in (0, 1)]
    for fid, (conv, msg, reply) in enumerate(convs):
        node0, t0, t1 = _follow(tshark, path, fid)
        s = starts[fid]
        assert node0.rsplit(":", 1)[1] == str(s.sport)
        assert (bytes(data[(fid, 0)]), bytes(data[(fid, 1)])) == (t0, t1) == (msg, reply)


def test_tcp_overlap_with_different_data(tmp_path, tshark):
    c, s = "10.0.0.1", "10.0.0.2"
    frames = [_tcp(c, s, 1, 2, 100, "S"), _tcp(c, s, 1, 2, 101, "PA", b"AAAA"),
              _tcp(c, s, 1, 2, 109, "PA", b"XXXX"), _tcp(c, s, 1, 2, 107, "PA", b"YYQQ"),
              _tcp(c, s, 1, 2, 105, "PA", b"BBCC"), _tcp(c, s, 1, 2, 103, "PA", b"AAZZ")]
    path = _write(tmp_path / "ov.pcap", 1, frames)
    events = _events(path)
    _, data = _streams(events)
    _node0, t0, _t1 = _follow(tshark, path, 0)
    # in-order data wins over buffered data, buffered data over later overlapping segments
    assert bytes(data[(0, 0)]) == t0 == b"AAAABBCCXXXX"
    conflicts = [e for e in events if isinstance(e, Anomaly) and "different data" in e.what]
    assert {a.frame for a in conflicts} == {4, 6}


def test_tcp_gap_reported_at_end_and_after_buffer_limit(tmp_path):
    c, s = "10.0.0.1", "10.0.0.2"
    frames = [_tcp(c, s, 1, 2, 0, "S"), _tcp(c, s, 1, 2, 1, "PA", b"head"),
              # octets 5..14 lost
              _tcp(c, s, 1, 2, 15, "PA", b"tail"), _tcp(c, s, 1, 2, 19, "FA")]
    path = _write(tmp_path / "gap.pcap", 1, frames)
    events = _events(path)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["StreamStart", "StreamData", "StreamGap", "StreamData", "StreamEnd",
                     "StreamEnd"]
    gap = events[2]
    assert (gap.offset, gap.missing_bytes, gap.reason) == (4, 10, "capture end")
    assert (events[3].data, events[3].offset, events[3].frames) == (b"tail", 14, (3,))
    # a tiny per-flow buffer forces the gap as soon as it overflows
    frames = [_tcp(c, s, 1, 2, 0, "S"), _tcp(c, s, 1, 2, 1, "PA", b"head")]
    frames += [_tcp(c, s, 1, 2, 100 + 10 * i, "PA", b"0123456789") for i in range(5)]
    events = _events(_write(tmp_path / "lim.pcap", 1, frames), Limits(max_flow_buffer=25))
    gaps = [e for e in events if isinstance(e, StreamGap)]
    assert gaps[0].reason == "per-flow buffer limit reached" and gaps[0].missing_bytes == 95
    tail = b"".join(e.data for e in events if isinstance(e, StreamData) and e.offset >= 99)
    assert tail == b"0123456789" * 5


def test_tcp_rst_midstream_and_port_reuse(tmp_path):
    c, s = "10.0.0.1", "10.0.0.2"
    frames = [
        _tcp(s, c, 5060, 1234, 500, "PA", b"server first"),  # capture starts mid-connection
        _tcp(c, s, 1234, 5060, 77, "PA", b"client"),
        _tcp(c, s, 1234, 5060, 83, "R"),
        _tcp(c, s, 1234, 5060, 83, "A"),  # late ACK of the reset flow: no new flow
        _tcp(c, s, 1234, 5060, 9000, "S"),  # the ports are reused
        _tcp(s, c, 5060, 1234, 100, "SA"),
        _tcp(c, s, 1234, 5060, 9001, "PA", b"again"),
    ]
    events = _events(_write(tmp_path / "rst.pcap", 1, frames))
    starts = [e for e in events if isinstance(e, StreamStart)]
    assert [(e.flow_id, e.src, e.sport, e.midstream) for e in starts] == [
        (0, s, 5060, True), (1, c, 1234, False)]
    ends = [(e.flow_id, e.direction, e.reason) for e in events if isinstance(e, StreamEnd)]
    assert ends[:2] == [(0, 0, "rst"), (0, 1, "rst")]
    _, data = _streams(events)
    assert data == {(0, 0): b"server first", (0, 1): b"client", (1, 0): b"again"}


def test_flow_limit_evicts_least_recently_used(tmp_path):
    c, s = "10.0.0.1", "10.0.0.2"
    frames = [_tcp(c, s, 1000 + i, 5060, 1, "PA", b"x") for i in range(4)]
    events = _events(_write(tmp_path / "ev.pcap", 1, frames), Limits(max_flows=2))
    evicted = [e for e in events if isinstance(e, StreamEnd) and e.reason == "evicted"]
    assert {e.flow_id for e in evicted} == {0, 1}
    assert any("more than 2 flows" in e.what for e in events if isinstance(e, Anomaly))


def test_truncated_packet_is_reported(tmp_path):
    pkt = bytes(Eth() / _udp4(b"x" * 200))
    path = tmp_path / "snap.pcap"
    path.write_bytes(pcap_file("<", 1, [(0, 0, pkt[:80])], snaplen=80))
    events = _events(path)
    assert [type(e) for e in events] == [Anomaly]
    assert "cut short" in events[0].what and events[0].layer == "ipv4"


def test_every_frame_is_counted(tmp_path):
    from scapy.layers.l2 import ARP
    from scapy.layers.inet import ICMP
    frames = [Eth() / ARP(), Eth() / IP(dst="192.0.2.9") / ICMP(), Eth() / _udp4(),
              Eth(type=0x0800) / b"\x45\x00"]
    table = FlowTable()
    events = list(flow_events(read_frames(_write(tmp_path / "mix.pcap", 1, frames)), table))
    st = table.stats
    assert st.frames == 4 and st.non_ip == 1 and st.other_ip == {1: 1} and st.udp == 1
    assert st.decode_errors == 1 and sum(isinstance(e, Anomaly) for e in events) == 1


class _F:
    def __init__(self, n, lt, data):
        self.number, self.linktype, self.data = n, lt, data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([0, 1, 12, 101, 108, 113, 228, 229, 276, 147]),
                          st.binary(max_size=120)), max_size=20))
def test_random_frames_never_raise(frames):
    table = FlowTable(Limits(max_flows=4, max_flow_buffer=64, max_fragments=3))
    for i, (lt, data) in enumerate(frames, 1):
        for e in table.feed(_F(i, lt, data)):
            assert isinstance(e, (Datagram, StreamStart, StreamData, StreamGap, StreamEnd, Anomaly))
    table.flush()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 60), st.binary(min_size=0, max_size=12),
                          st.sampled_from(["PA", "S", "F", "R", "A", "FA"])), max_size=30),
       st.integers(0, 2**32 - 1))
# regressions: a late SYN re-anchoring the stream gave gaps of 0 and -1 octets
@example(segs=[(0, b"\x00", "PA"), (2, b"\x00", "PA"), (1, b"", "S")], isn=0)
@example(segs=[(0, b"\x00", "PA"), (2, b"\x00", "PA"), (2, b"", "S")], isn=0)
def test_random_tcp_segments_stay_consistent(segs, isn):
    """Whatever arrives, delivered offsets are contiguous between gaps and memory stays bounded."""
    c, s = "10.0.0.1", "10.0.0.2"
    table = FlowTable(Limits(max_flow_buffer=40, max_segments=5))
    events = []
    for i, (off, data, flags) in enumerate(segs, 1):
        pkt = bytes(_tcp(c, s, 1, 2, (isn + off) & 0xFFFFFFFF, flags, data))
        events += table.feed(_F(i, 1, pkt))
        assert sum(h.buffered for f in table._flows.values() for h in f.halves) <= 40 + 12
        assert table.budget.total == sum(  # the budget holds what the halves hold, no more
            h.buffered + len(h.history) for f in table._flows.values() for h in f.halves
            if not h.closed)
    events += table.flush()
    pos = {}
    for e in events:
        if isinstance(e, StreamStart):
            pos = {k: v for k, v in pos.items() if k[0] != e.flow_id}
        if isinstance(e, StreamData):
            assert e.offset == pos.get((e.flow_id, e.direction), e.offset)
            pos[(e.flow_id, e.direction)] = e.offset + len(e.data)
        if isinstance(e, StreamGap):
            assert e.missing_bytes > 0
            pos[(e.flow_id, e.direction)] = e.offset + e.missing_bytes
    assert table.budget.total == 0 and len(table.budget) == 0
