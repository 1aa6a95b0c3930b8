"""Phase 1 of ``--engine dask`` (:mod:`dissectors.pcap.distributed`): the index of one file.

The index keeps every frame that may change the analysis state and, of the media, only the
frames phase 2 needs to predict the SRTP state at the next file boundary.  It must cost little
next to the dissection of the same file (phase 3), since it reads every packet once more: so it
does not run the flow table.  It reads the capture records (a classic pcap file read whole and
walked with :func:`struct.unpack_from`; pcapng, or a pcap file with anything irregular in its
framing, through :class:`~dissectors.pcap.capture.CaptureReader`, which numbers frames and times
them the same way) and looks at fixed offsets of each frame's link, IP and UDP headers
(:func:`media_datagram`).

A frame is *media* — dropped from the index unless it is a key frame — only when the flow table
would certainly turn it, alone, into one UDP datagram that the session hands to nothing but its
SRTP/SRTCP code (:meth:`dissectors.pcap.session.Session.analyze`): a link layer the flow table
knows, an IPv4 header without fragmentation (RFC 791 §3.1: MF clear, offset 0) or an IPv6
header whose next header is UDP (RFC 8200 §3: no extension header), all of the IP packet and
UDP datagram captured, and a UDP payload of 12 octets or more whose first two bits are version 2
(RFC 3550 §5.1), sent from and to ports other than MIKEY's 2269 (RFC 3830 §7).  Such a payload
cannot start a SIP, RTSP, HTTP or MSRP message (their first octet is an ASCII letter; version 2
puts the first octet at 0x80–0xBF).  Every other frame is kept: TCP, fragments, IPv6 extension
headers, ICMP, ARP, odd or cut-short headers, unknown link types — when unsure, keep the frame.

Per media stream (addresses, ports, SSRC, RTP or RTCP) the index keeps its *key frames*: the
first and last packet of the stream in the file and the packets on both sides of each wrap of
the RTP sequence number (RFC 3711 §3.3.1: the rollover counter moves there).  With a keyring
that can decrypt, the file's MIKEY-SAKKE I_MESSAGEs are verified and decrypted here too (the
costly public-key work, in parallel), found by running the kept frames — not the media — through
the usual pipeline.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

from codec import netheaders as nh
from dissectors.pcap.capture import CaptureFault, CaptureReader, Frame
from codec.pcapfile import BT_DSB, BT_EPB, BT_IDB, BT_PB, BT_SHB, BT_SPB
from dissectors.pcap.capture_records import MAX_BLOCK, MAX_RECORD
from dissectors.pcap.distributed_state import MIKEY_PORT, SEQ_WRAP, FileSpec, _Pipeline, loads

# Link layers (codec.netheaders.link_layer): link type -> how to find the IP header
_ETHERTYPE_IP = {nh.ETHERTYPE_IPV4: 4, nh.ETHERTYPE_IPV6: 6}
_VLAN = nh.ETHERTYPE_VLAN  # 802.1Q, 802.1ad, old QinQ (IEEE 802.1Q §9.6)
_NULL_FAMILIES = nh.NULL_FAMILIES  # BSD AF_ values, either byte order (Wireshark's packet-null.c)
_RAW_IP = (nh.LINKTYPE_RAW, *nh.LINKTYPE_DLT_RAW)
_RTCP_TYPES = range(200, 205)  # RFC 5761 §4: SR, RR, SDES, BYE, APP

# pcap file header magic (draft-ietf-opsawg-pcap §4) -> (byte order, time units per second)
_PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1_000_000), b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
                b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
                b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000)}
_U16, _U32 = struct.Struct("!H").unpack_from, struct.Struct("!I").unpack_from
_UDP_PORTS_LENGTH = struct.Struct("!HHH").unpack_from
# Ethernet (ethertype), IPv4 (version/IHL, total length, flags/fragment offset, protocol,
# addresses), UDP (ports, length), RTP (first two octets, sequence number, timestamp or RTCP
# sender SSRC, SSRC): 54 octets at fixed offsets when there are no VLAN tags nor IP options
_ETHERNET_IPV4_UDP_RTP = struct.Struct("!12xHBxH2xHxB2x4s4sHHH2xBBHII").unpack_from


@dataclass
class FileIndex:
    frames: int = 0  # frames in the file
    state: list = field(default_factory=list)  # (local number, ts_ns, linktype, orig_len, data)
    media_frames: int = 0
    key_frames: int = 0
    has_secrets: bool = False  # Decryption Secrets Blocks (TLS: run sequentially)
    # MIKEY-SAKKE results (ECCSI verified, SAKKE decapsulated) with the keyring given, by wire
    sakke: dict = field(default_factory=dict)
    sakke_seconds: float = 0.0
    scan: str = ""  # how the records were read: "pcap", "pcapng" (straight), "reader"


@dataclass(frozen=True)
class IndexSummary:
    """What the client keeps of a :class:`FileIndex`: frame count and phase-1 crypto figures."""

    frames: int
    sakke: int  # MIKEY-SAKKE messages verified/decrypted
    sakke_seconds: float


def index_summary(index: FileIndex) -> IndexSummary:
    """A task on the worker holding ``index``: its few numbers, not its frames."""
    return IndexSummary(index.frames, len(index.sakke), index.sakke_seconds)


def _ip_offset(linktype: int, buf, at: int, end: int) -> tuple[int, int] | None:
    """(IP version, offset of the IP header) of the frame ``buf[at:end]``, or None: not IP, or
    a link layer this fast path leaves to the flow table (the frame is then kept)."""
    if linktype == nh.LINKTYPE_ETHERNET:  # any number of VLAN tags
        off = at + 14
        if end < off:
            return None
        ethertype = _U16(buf, off - 2)[0]
        while ethertype in _VLAN:
            off += 4
            if end < off:
                return None
            ethertype = _U16(buf, off - 2)[0]
        version = _ETHERTYPE_IP.get(ethertype)
        return None if version is None else (version, off)
    if linktype in _RAW_IP:
        return (buf[at] >> 4, at) if end > at else None
    if linktype == nh.LINKTYPE_IPV4:
        return 4, at
    if linktype == nh.LINKTYPE_IPV6:
        return 6, at
    if linktype == nh.LINKTYPE_LINUX_SLL:  # protocol (an EtherType) at 14
        version = _ETHERTYPE_IP.get(_U16(buf, at + 14)[0]) if end >= at + 16 else None
        return None if version is None else (version, at + 16)
    if linktype == nh.LINKTYPE_LINUX_SLL2:  # protocol at 0
        version = _ETHERTYPE_IP.get(_U16(buf, at)[0]) if end >= at + 20 else None
        return None if version is None else (version, at + 20)
    if linktype in (nh.LINKTYPE_NULL, nh.LINKTYPE_LOOP) and end >= at + 4:
        family = int.from_bytes(buf[at:at + 4],
                                "little" if linktype == nh.LINKTYPE_NULL else "big")
        version = _NULL_FAMILIES.get(family)
        return None if version is None else (version, at + 4)
    return None


def media_datagram(linktype: int, buf, at: int = 0, end: int | None = None):
    """``(src, dst, sport, dport, payload offset, payload length)`` when the frame
    ``buf[at:end]`` is one whole UDP datagram with an RTP/RTCP version 2 payload not on the
    MIKEY port (see the module docstring: what the session treats as media only), else None
    (keep the frame)."""
    if end is None:
        end = len(buf)
    ip = _ip_offset(linktype, buf, at, end)
    if ip is None:
        return None
    version, off = ip
    if version == 4:  # RFC 791 §3.1
        if end < off + 20:
            return None
        b0 = buf[off]
        ihl = (b0 & 15) * 4
        if b0 >> 4 != 4 or ihl < 20 or buf[off + 9] != nh.IPPROTO_UDP:
            return None
        total = _U16(buf, off + 2)[0]
        if (buf[off + 6] & 0x3F) or buf[off + 7] or total < ihl + 8 or end < off + total:
            return None  # MF set or an offset (a fragment), or cut short
        src, dst = buf[off + 12:off + 16], buf[off + 16:off + 20]
        udp, ip_end = off + ihl, off + total
    elif version == 6:  # RFC 8200 §3
        if end < off + 48 or buf[off] >> 4 != 6 or buf[off + 6] != nh.IPPROTO_UDP:
            return None  # an extension header, or not UDP
        plen = _U16(buf, off + 4)[0]
        if plen < 8 or end < off + 40 + plen:
            return None
        src, dst = buf[off + 8:off + 24], buf[off + 24:off + 40]
        udp, ip_end = off + 40, off + 40 + plen
    else:
        return None
    sport, dport, length = _UDP_PORTS_LENGTH(buf, udp)
    if length < 20 or udp + length > ip_end or MIKEY_PORT in (sport, dport):
        return None  # RFC 768: cut short, or no room for 12 octets of RTP
    if buf[udp + 8] >> 6 != 2:  # RFC 3550 §5.1 version 2
        return None
    return src, dst, sport, dport, udp + 8, length - 8


def _pcap_records(path: str):
    """The records ``(local number, file octets, linktype, start, end)`` of a classic pcap file
    (draft-ietf-opsawg-pcap §4, §5) read whole, and the function that gives a record's time
    (ns) and original length (read only for the frames kept); None when the file is not one
    or anything in its framing is irregular (a record longer than the snaplen or 256 KiB, a
    cut-off tail): CaptureReader then reads it, with its error records and resynchronisation."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24 or head[:4] not in _PCAP_MAGICS:
            return None
        buf = head + f.read()
    order, units = _PCAP_MAGICS[buf[:4]]
    snaplen, lt = struct.unpack_from(order + "II", buf, 16)
    limit = min(snaplen, MAX_RECORD) if snaplen else MAX_RECORD
    to_ns = 1_000_000_000 // units
    unpack = struct.Struct(order + "IIII").unpack_from
    linktype = lt & 0xFFFF
    size = len(buf)
    out = []
    pos, number = 24, 0
    while pos < size:
        if pos + 16 > size:
            return None
        incl = unpack(buf, pos)[2]
        start = pos + 16
        pos = start + incl
        if incl > limit or pos > size:
            return None
        number += 1
        out.append((number, buf, linktype, start, pos))

    def time_and_length(rec) -> tuple[int, int]:  # of a kept frame only: from its header
        sec, frac, _, orig = unpack(buf, rec[3] - 16)
        return sec * 1_000_000_000 + frac * to_ns, orig

    return out, time_and_length


def _pcapng_records(path: str):
    """The records of :func:`_pcap_records` for a pcapng file of one section (pcapng §4.1-§4.3,
    §4.7): its EPBs, their interfaces' link types and clocks taken from CaptureReader itself
    (run over the SHB and IDBs alone: :func:`_clocks`); None when anything is irregular (a
    second section, a Simple or obsolete Packet Block, a Decryption Secrets Block, a bad length,
    an EPB before its IDB …)."""
    with open(path, "rb") as f:
        buf = f.read()
    size = len(buf)
    if size < 28 or buf[:4] != b"\x0a\x0d\x0d\x0a":
        return None
    magic = buf[8:12]
    order = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">" if magic == b"\x1a\x2b\x3c\x4d" else None
    if order is None:
        return None
    head = struct.Struct(order + "II").unpack_from
    u32 = struct.Struct(order + "I").unpack_from
    epb = struct.Struct(order + "IIIII").unpack_from
    headers = []  # the SHB and IDBs, for CaptureReader to make the interfaces of
    clocks = []  # per interface: (ns_mul, ns_div, ns_offset, linktype)
    out = []
    pos, number = 0, 0
    while pos < size:
        if pos + 12 > size:
            return None
        btype, length = head(buf, pos)
        end = pos + length
        if (length < 12 or length & 3 or length > MAX_BLOCK or end > size
                or u32(buf, end - 4)[0] != length):
            return None
        if btype == BT_EPB:
            if length < 32:
                return None
            iface, _, _, caplen, _ = epb(buf, pos + 8)
            if iface >= len(clocks) or pos + 28 + caplen > end - 4:
                return None
            number += 1
            out.append((number, buf, clocks[iface][3], pos + 28, pos + 28 + caplen))
        elif btype == BT_IDB:
            headers.append(buf[pos:end])
            clocks = _clocks(headers)
            if clocks is None:
                return None
        elif btype == BT_SHB:
            if pos:
                return None  # a second section: its interfaces are numbered on
            headers.append(buf[pos:end])
        elif btype in (BT_SPB, BT_PB, BT_DSB):
            return None  # numbered frames without an EPB; secrets (CaptureReader reads them)
        pos = end  # NRB, ISB, custom and unknown blocks: skipped, as CaptureReader does

    def time_and_length(rec) -> tuple[int, int]:  # of a kept frame only: from its EPB
        iface, high, low, _, orig = epb(buf, rec[3] - 20)
        mul, div, offset, _ = clocks[iface]
        return (high << 32 | low) * mul // div + offset, orig

    return out, time_and_length


def _clocks(headers: list) -> list | None:
    """(ns_mul, ns_div, ns_offset, linktype) of each interface of a section, as CaptureReader
    makes them (if_tsresol, if_tsoffset: dissectors/pcap/capture_records.Interface) from its SHB
    and IDBs; None if it finds anything wrong in them."""
    import io

    reader = CaptureReader(io.BytesIO(b"".join(headers)))
    for rec in reader:
        if isinstance(rec, CaptureFault):
            return None
    clocks = [(i.ns_mul, i.ns_div, i.ns_offset, i.linktype) for i in reader.interfaces]
    return clocks if len(clocks) == len(headers) - 1 else None


def _reader_records(path: str, idx: FileIndex, times: dict):
    """The records of :func:`_pcap_records` through CaptureReader (a pcap or pcapng file with
    anything irregular, the octets of each frame its own); capture errors are left out (phase 3
    reports them, reading the file again)."""
    reader = CaptureReader(path)
    try:
        for rec in reader:
            if isinstance(rec, CaptureFault):
                continue
            data = bytes(rec.data)
            times[rec.number] = rec.ts_ns, rec.orig_len
            yield rec.number, data, rec.linktype, 0, len(data)
    except OSError:
        pass
    idx.has_secrets = bool(reader.secrets)


def index_file(spec: FileSpec, keyring: bytes | None = None,
               decrypt_unverified: bool = False) -> FileIndex:
    """Phase 1: the frames of one file that may change the session, and its media key frames;
    with a (pickled) ``keyring`` that can decrypt, the file's MIKEY-SAKKE messages verified and
    decrypted too (see the module docstring)."""
    from dissectors.pcap import workers

    idx = FileIndex()
    got = None
    for scan in (_pcap_records, _pcapng_records):
        try:
            got = scan(spec.path)
        except OSError:  # phase 3 reports it, reading the file again
            got = None
        if got is not None:
            idx.scan = "pcap" if scan is _pcap_records else "pcapng"
            records, time_and_length = got
            break
    else:
        idx.scan = "reader"
        times: dict = {}  # local number -> (ts_ns, orig_len)
        records = _reader_records(spec.path, idx, times)

        def time_and_length(rec):
            return times[rec[0]]

    kept: dict = {}  # local number -> record (non-media and key frames)
    streams: dict = {}  # (addresses, ports, SSRC, RTCP) -> [first, last, last sequence number]
    key_frames: set = set()  # first and last of a stream, either side of a wrap
    media = n = 0
    common = _ETHERNET_IPV4_UDP_RTP
    for rec in records:
        n, buf, linktype, at, end = rec
        # the common case first, in one read: Ethernet, IPv4 without options or fragmentation,
        # UDP, RTP/RTCP version 2, all of it captured; anything else: media_datagram decides
        if (linktype == 1 and end - at >= 54
                and (f := common(buf, at))[0] == 0x0800 and f[1] == 0x45 and f[4] == 17
                and not (f[3] & 0x3FFF) and 20 <= f[9] <= f[2] - 20
                and at + 14 + f[2] <= end and f[10] >> 6 == 2 and MIKEY_PORT not in f[7:9]):
            src, dst, sport, dport = f[5], f[6], f[7], f[8]
            if f[11] in _RTCP_TYPES:  # RFC 5761 §4; RFC 3550 §6.4.1: the sender's SSRC
                rtcp, ssrc, seq = True, f[13], None
            else:  # RFC 3550 §5.1
                rtcp, ssrc, seq = False, f[14], f[12]
        else:
            m = media_datagram(linktype, buf, at, end)
            if m is None:
                kept[n] = rec
                continue
            src, dst, sport, dport, p, length = m
            if buf[p + 1] in _RTCP_TYPES:
                rtcp, ssrc, seq = True, _U32(buf, p + 4)[0], None
            else:
                rtcp, ssrc, seq = False, _U32(buf, p + 8)[0], _U16(buf, p + 2)[0]
        media += 1
        key = (src, sport, dst, dport, ssrc, rtcp)
        s = streams.get(key)
        if s is None:
            streams[key] = [rec, rec, seq]
            key_frames.add(n)
            continue
        if seq is not None and s[2] is not None and seq < s[2] and s[2] - seq > SEQ_WRAP:
            key_frames.add(s[1][0])  # RFC 3711 §3.3.1: both sides of a wrap
            key_frames.add(n)
            kept[s[1][0]] = s[1]
            kept[n] = rec
        s[1] = rec
        if seq is not None:
            s[2] = seq
    idx.frames = n
    for first, last, _ in streams.values():
        kept[first[0]] = first
        kept[last[0]] = last
        key_frames.add(last[0])
    idx.media_frames, idx.key_frames = media, len(key_frames)
    idx.state = []
    for k in sorted(kept):
        rec = kept[k]
        n, buf, linktype, at, end = rec
        ts_ns, orig_len = time_and_length(rec)
        idx.state.append((n, ts_ns, linktype, orig_len, bytes(buf[at:end])))
    ring = loads(keyring) if keyring is not None else None
    if workers.can_decrypt(ring):
        _verify_sakke(idx, ring, decrypt_unverified)
    return idx


def _verify_sakke(idx: FileIndex, ring, decrypt_unverified: bool) -> None:
    """The file's MIKEY-SAKKE I_MESSAGEs verified and decrypted with ``ring``: the kept frames
    (all the signalling) through the pipeline of the sequential run, its units' MIKEY messages
    (dissectors/pcap/workers.py finds them as the look-ahead workers do)."""
    from codec import rtp
    from dissectors.pcap import workers
    from dissectors.pcap.session import Unit

    collector = workers._Collector()
    pipe = _Pipeline()
    t0 = time.perf_counter()
    items = []
    for n, ts_ns, linktype, orig_len, data in idx.state:
        items.extend(pipe.feed(Frame(n, ts_ns, 0, linktype, orig_len, data, 0)))
        for item in items:
            if isinstance(item, Unit) and not (item.transport == "udp"
                                               and rtp.is_rtp_v2(item.data)):
                for wire in collector.mikey_messages(item):
                    if workers.is_sakke_i_message(wire) and wire not in idx.sakke:
                        idx.sakke[wire] = _sakke(wire, ring, decrypt_unverified)
        items.clear()
    idx.sakke_seconds = time.perf_counter() - t0


def _sakke(data: bytes, ring, decrypt_unverified: bool):
    """A MIKEY-SAKKE message's result (codec.mikey.sakke.process), None if it does not decode."""
    from codec.errors import DecodeError
    from codec.mikey import decode as mikey_decode
    from codec.mikey import sakke as mikey_sakke

    try:
        msg = mikey_decode(data)
    except DecodeError:
        return None
    return mikey_sakke.process(msg, data, ring, decrypt_unverified=decrypt_unverified)
