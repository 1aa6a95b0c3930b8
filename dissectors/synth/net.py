"""Packets and pcapng for `mcsec synth`: hosts on documentation networks, UDP datagrams, TCP
connections (handshake, segmentation, coalescing, teardown) built with scapy, and a byte-stable
pcapng writer (timestamps from the scenario clock, never from the wall clock)."""

from __future__ import annotations

from dataclasses import dataclass, field

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from codec import pcapfile


@dataclass(frozen=True)
class Host:
    name: str
    mac: str
    ip: str

    @property
    def v6(self) -> bool:
        return ":" in self.ip

    def uri_host(self) -> str:
        return f"[{self.ip}]" if self.v6 else self.ip


@dataclass
class Frame:
    data: bytes
    time_us: int
    comment: str | None = None


class Capture:
    """The frames of one pcapng file, numbered from 1 like Wireshark."""

    def __init__(self, name: str, start_us: int):
        self.name = name
        self.now_us = start_us
        self.frames: list[Frame] = []

    def advance(self, ms: float) -> None:
        self.now_us += int(round(ms * 1000))

    def add(self, pkt, gap_ms: float = 1.0, comment: str | None = None) -> int:
        self.advance(gap_ms)
        self.frames.append(Frame(bytes(pkt), self.now_us, comment))
        return len(self.frames)

    @staticmethod
    def _ip(src: Host, dst: Host):
        if src.v6 != dst.v6:
            raise ValueError("src and dst must use the same IP version")
        eth = Ether(src=src.mac, dst=dst.mac)
        if src.v6:
            return eth / IPv6(src=src.ip, dst=dst.ip, hlim=64)
        return eth / IP(src=src.ip, dst=dst.ip, ttl=64, id=0, flags="DF")

    def udp(self, src: Host, dst: Host, sport: int, dport: int, payload: bytes,
            gap_ms: float = 1.0, comment: str | None = None) -> int:
        return self.add(self._ip(src, dst) / UDP(sport=sport, dport=dport) / payload, gap_ms,
                        comment)

    def tcp(self, client: Host, server: Host, cport: int, sport: int, isn_c: int,
            isn_s: int) -> "TcpConnection":
        return TcpConnection(self, client, server, cport, sport, isn_c, isn_s)

    def pcapng(self, secrets: list[tuple[int, bytes]] = ()) -> bytes:
        return write_pcapng(self.frames, secrets=secrets)


@dataclass
class TcpConnection:
    cap: Capture
    client: Host
    server: Host
    cport: int
    sport: int
    seq_c: int
    seq_s: int
    opened: bool = field(default=False)

    def _seg(self, from_client: bool, flags: str, payload: bytes = b"", gap_ms: float = 0.3,
             comment: str | None = None) -> int:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        sp, dp = (self.cport, self.sport) if from_client else (self.sport, self.cport)
        seq, ack = (self.seq_c, self.seq_s) if from_client else (self.seq_s, self.seq_c)
        pkt = Capture._ip(src, dst) / TCP(sport=sp, dport=dp, seq=seq,
                                          ack=ack if "A" in flags else 0, flags=flags,
                                          window=65535, options=[]) / payload
        n = len(payload) + (1 if ("S" in flags or "F" in flags) else 0)
        if from_client:
            self.seq_c = (self.seq_c + n) & 0xFFFFFFFF
        else:
            self.seq_s = (self.seq_s + n) & 0xFFFFFFFF
        return self.cap.add(pkt, gap_ms, comment)

    def open(self) -> None:
        self._seg(True, "S", gap_ms=1.0)
        self._seg(False, "SA")
        self._seg(True, "A")
        self.opened = True

    def send(self, from_client: bool, data: bytes, split: list[int] | None = None,
             comment: str | None = None, gap_ms: float = 1.0) -> list[int]:
        """Send ``data`` in segments of the sizes in ``split`` (the rest in a last one); the
        peer acknowledges.  Returns the frame numbers of the data segments."""
        sizes, rest = [], len(data)
        for s in split or []:
            if 0 < s < rest:
                sizes.append(s)
                rest -= s
        sizes.append(rest)
        frames, pos = [], 0
        for i, s in enumerate(sizes):
            frames.append(self._seg(from_client, "PA", data[pos:pos + s],
                                    gap_ms=gap_ms if i == 0 else 0.2,
                                    comment=comment if i == len(sizes) - 1 else None))
            pos += s
        self._seg(not from_client, "A")
        return frames

    def close(self) -> None:
        self._seg(True, "FA", gap_ms=1.0)
        self._seg(False, "FA")
        self._seg(True, "A")


# -- pcapng (draft-ietf-opsawg-pcapng), built with the reader's schemas in codec.pcapfile -------
_LE = "<"  # the generator writes little-endian sections


def _block(btype: int, body: bytes) -> bytes:
    return pcapfile.pcapng_block(btype, body, _LE)


def _option(code: int, value: bytes) -> bytes:
    return pcapfile.pcapng_option(code, value, _LE)


SECRETS_TLS_KEYLOG = pcapfile.SECRETS_TLS_KEYLOG  # pcapng DSB secrets type: NSS key log


def write_pcapng(frames: list[Frame], linktype: int = 1,
                 secrets: list[tuple[int, bytes]] = ()) -> bytes:
    """SHB, one Ethernet IDB (microsecond timestamps), a Decryption Secrets Block per
    ``(secrets_type, data)`` in ``secrets`` (before the packets they decrypt), one EPB per frame
    (comment as opt_comment)."""
    shb_opts = _option(4, b"mcsec synth") + _option(0, b"")  # shb_userappl, opt_endofopt
    out = [_block(pcapfile.BT_SHB, pcapfile.SHB_BODY[_LE].build(dict(
        byte_order_magic=pcapfile.BYTE_ORDER_MAGIC, major_version=1, minor_version=0,
        section_length=-1, options=shb_opts)))]
    out.append(_block(pcapfile.BT_IDB, pcapfile.IDB_BODY[_LE].build(dict(linktype=linktype, reserved=0,
                                                         snaplen=262144, options=b""))))
    for stype, data in secrets:  # pcapng §4.7 DSB: type, length, data padded to 32 bits
        out.append(_block(pcapfile.BT_DSB, pcapfile.DSB_BODY[_LE].build(dict(
            secrets_type=stype, secrets_length=len(data), secrets_data=data, options=b""))))
    for f in frames:
        options = _option(1, f.comment.encode()) + _option(0, b"") if f.comment else b""
        out.append(_block(pcapfile.BT_EPB, pcapfile.EPB_BODY[_LE].build(dict(
            interface_id=0, ts_high=f.time_us >> 32, ts_low=f.time_us & 0xFFFFFFFF,
            captured_len=len(f.data), original_len=len(f.data), data=f.data, options=options))))
    return b"".join(out)
