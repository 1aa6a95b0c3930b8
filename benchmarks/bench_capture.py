"""Capture reading throughput: mcsec's reader (and flow layer) against dpkt and tshark.

Run with ``make bench`` (or ``python benchmarks/bench_capture.py``).  The capture is generated
here: Ethernet/IPv4/UDP SIP-sized datagrams (600 octets of payload) with one TCP connection
interleaved every 10th packet (SYN, data, FIN), written as pcap (scapy) and converted to pcapng
(``editcap -F pcapng``).

Measured on the same files in the same run, packets per second, best of 3:

- ``mcsec read``: ``read_frames`` only (record framing, timestamps, Frame objects);
- ``mcsec flows``: ``read_frames`` + ``FlowTable`` (link, IP, UDP/TCP decode, TCP reassembly,
  events) — what the SIP layer consumes;
- ``dpkt read``: ``dpkt.pcap.Reader`` / ``dpkt.pcapng.Reader`` iteration;
- ``dpkt decode``: the same + ``dpkt.ethernet.Ethernet`` down to the UDP/TCP payload (dpkt does
  no reassembly: this is less work than ``mcsec flows``);
- ``tshark``: ``tshark -r FILE -T fields -e frame.number`` on N1 and N2 packets, as
  (N2 - N1) / (t(N2) - t(N1)) so tshark's start-up time is removed.

dpkt is only needed here (``pip install dpkt``); without it the dpkt rows are skipped.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dissectors.pcap.capture import read_frames  # noqa: E402
from dissectors.pcap.flows import FlowTable  # noqa: E402


def make_capture(path: Path, n: int, ng: bool) -> None:
    """pcap by scapy's writer; pcapng converted from it by Wireshark's editcap."""
    if ng:
        pcap = path.with_suffix(".tmp.pcap")
        make_capture(pcap, n, False)
        subprocess.run(["editcap", "-F", "pcapng", str(pcap), str(path)], check=True)
        pcap.unlink()
        return
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import PcapWriter

    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    body = (b"INVITE sip:bob@example.org SIP/2.0\r\nContent-Length: 540\r\n\r\n"
            + bytes(540))[:600]
    writer = PcapWriter(str(path), linktype=1)
    writer.write_header(None)
    seq = 1000
    udp_tmpl = bytes(eth / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=5060, dport=5060)
                     / Raw(body))
    for i in range(n):
        if i % 10 == 9:
            flags = "S" if i % 100 == 9 else ("F" if i % 100 == 99 else "PA")
            pkt = eth / IP(src="192.0.2.3", dst="192.0.2.4") / TCP(
                sport=40000 + i // 100, dport=5060, seq=seq, flags=flags) / (
                Raw(body) if flags == "PA" else b"")
            seq = (seq + (len(body) if flags == "PA" else 1)) & 0xFFFFFFFF
            if flags == "S":
                seq = 1001
            raw = bytes(pkt)
        else:
            raw = udp_tmpl
        writer.write_packet(raw, sec=1_700_000_000 + i // 1000, usec=i % 1000)
    writer.close()


def best_of(fn, repeat=3) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def mcsec_read(path):
    n = 0
    for _ in read_frames(path):
        n += 1
    return n


def mcsec_flows(path):
    table = FlowTable()
    feed = table.feed
    n = 0
    for f in read_frames(path):
        n += len(feed(f))
    n += len(table.flush())
    return n


def dpkt_read(path, ng):
    import dpkt
    with open(path, "rb") as f:
        reader = (dpkt.pcapng.Reader if ng else dpkt.pcap.Reader)(f)
        n = 0
        for _ts, _buf in reader:
            n += 1
    return n


def dpkt_decode(path, ng):
    import dpkt
    with open(path, "rb") as f:
        reader = (dpkt.pcapng.Reader if ng else dpkt.pcap.Reader)(f)
        n = 0
        for _ts, buf in reader:
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if isinstance(ip, dpkt.ip.IP):
                l4 = ip.data
                if isinstance(l4, (dpkt.udp.UDP, dpkt.tcp.TCP)):
                    n += len(l4.data)
    return n


def tshark_rate(tshark, small: Path, big: Path, n1: int, n2: int) -> float:
    def run(p):
        subprocess.run([tshark, "-r", str(p), "-T", "fields", "-e", "frame.number"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                       env={**os.environ, "LC_ALL": "C"})
    t1 = best_of(lambda: run(small))
    t2 = best_of(lambda: run(big))
    return (n2 - n1) / (t2 - t1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n1", type=int, default=10_000)
    ap.add_argument("--n2", type=int, default=110_000)
    ap.add_argument("--no-tshark", action="store_true")
    a = ap.parse_args()
    try:
        import dpkt  # noqa: F401
        have_dpkt = True
    except ImportError:
        have_dpkt = False
        print("dpkt is not installed (pip install dpkt): dpkt rows skipped")
    tshark = None if a.no_tshark else shutil.which("tshark")
    with tempfile.TemporaryDirectory() as d:
        for ng in (False, True) if shutil.which("editcap") else (False,):
            fmt = "pcapng" if ng else "pcap"
            small, big = Path(d) / f"small.{fmt}", Path(d) / f"big.{fmt}"
            make_capture(small, a.n1, ng)
            make_capture(big, a.n2, ng)
            n = a.n2
            assert mcsec_read(big) == n
            rows = {"mcsec read": n / best_of(lambda: mcsec_read(big)),
                    "mcsec flows": n / best_of(lambda: mcsec_flows(big))}
            if have_dpkt:
                assert dpkt_read(big, ng) == n
                rows["dpkt read"] = n / best_of(lambda: dpkt_read(big, ng))
                rows["dpkt decode"] = n / best_of(lambda: dpkt_decode(big, ng))
            if tshark:
                rows["tshark -T fields -e frame.number"] = tshark_rate(tshark, small, big,
                                                                       a.n1, a.n2)
            print(f"\n{fmt}: {n:,} packets ({big.stat().st_size / 1e6:.1f} MB), packets/s "
                  f"(µs/packet), ratio = mcsec / other")
            for label, r in rows.items():
                print(f"  {label:34s} {r:>12,.0f}/s  {1e6 / r:6.2f} µs")
            for mine in ("mcsec read", "mcsec flows"):
                for other in rows:
                    if other.startswith("mcsec"):
                        continue
                    print(f"  {mine} / {other}: {rows[mine] / rows[other]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
