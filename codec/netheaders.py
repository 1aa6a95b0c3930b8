"""Construct schemas of the packet headers the dissector walks.

One declarative schema per header, I/O-free, built from :class:`codec.constructs.Layout`:

- link layers: Ethernet with 802.1Q/802.1ad tags, Linux cooked v1 (SLL, LINKTYPE 113) and v2
  (SLL2, 276), BSD null/loopback (0, 108), raw IP (12, 14, 101, 228, 229: just the IP header);
- IPv4 (RFC 791, options kept as octets, :func:`decode_options` splits them), IPv6 (RFC 8200) and
  its extension headers incl. the Fragment header (§4.5), UDP (RFC 768), TCP (RFC 9293, options).

Capture files themselves (pcap, pcapng) are in :mod:`codec.pcapfile`.
"""

from __future__ import annotations

import io
import socket

import construct as c
from construct import StreamError, this

from codec.constructs import BitFields, Layout, Rest, UpTo, VarBytes
from codec.errors import DecodeError

__all__ = [
    "ETHERNET", "VLAN_TAG", "SLL", "SLL2", "NULL_LE", "NULL_BE", "IP_VERSION",
    "IPV4", "IPV6", "IPV6_EXT", "IPV6_AH", "IPV6_FRAGMENT", "UDP", "TCP", "TLV_OPTION",
    "decode_options", "ip_text", "StreamError", "link_layer", "LinkLayerError",
    "LinkHeaderCutShort", "UnsupportedLinkType", "RawIpVersionError",
]


# ============================================================================================
# Link layers
# ============================================================================================
LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_LOOP = 0, 1, 108
LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6 = 101, 228, 229
LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2 = 113, 276
LINKTYPE_DLT_RAW = (12, 14)  # DLT_RAW as written by some BSDs' libpcap (Wireshark maps both)
LINKTYPE_NAMES = {0: "BSD loopback (null)", 1: "Ethernet", 12: "Raw IP", 14: "Raw IP",
                  101: "Raw IP", 108: "OpenBSD loopback", 113: "Linux cooked (SLL)",
                  228: "Raw IPv4", 229: "Raw IPv6", 276: "Linux cooked v2 (SLL2)"}
ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)  # 802.1Q, 802.1ad, old QinQ

ETHERNET = Layout("Ethernet", "dst" / c.Bytes(6), "src" / c.Bytes(6), "ethertype" / c.Int16ub)
VLAN_TAG = Layout("Dot1Q", BitFields(c.Int16ub, [("pcp", 3), ("dei", 1), ("vid", 12)]),
                  "ethertype" / c.Int16ub)
SLL = Layout("SLL", "packet_type" / c.Int16ub, "arphrd_type" / c.Int16ub,
             "addr_len" / c.Int16ub, "addr" / c.Bytes(8), "protocol" / c.Int16ub)
SLL2 = Layout("SLL2", "protocol" / c.Int16ub, "reserved" / c.Int16ub,
              "interface_index" / c.Int32ub, "arphrd_type" / c.Int16ub,
              "packet_type" / c.Int8ub, "addr_len" / c.Int8ub, "addr" / c.Bytes(8))
# DLT_NULL: the address family in the capturing host's byte order; DLT_LOOP: always big endian.
NULL_LE = Layout("Null", "family" / c.Int32ul)
NULL_BE = Layout("Loop", "family" / c.Int32ub)
# BSD AF_ values for IP (Wireshark's packet-null.c): 2 = IPv4; 24, 28, 30 = IPv6 (NetBSD/OpenBSD,
# FreeBSD, Darwin).  Either byte order, since the writer's order is unknown for DLT_NULL.
NULL_FAMILIES = {2: 4, 24: 6, 28: 6, 30: 6,
                 0x02000000: 4, 0x18000000: 6, 0x1C000000: 6, 0x1E000000: 6}
IP_VERSION = Layout("IPVersion", BitFields(c.Int8ub, [("version", 4), ("low", 4)]))
_IP_VERSION_OF_ETHERTYPE = {ETHERTYPE_IPV4: 4, ETHERTYPE_IPV6: 6}


class LinkLayerError(DecodeError):
    """A frame whose link layer does not lead to an IP header (``path`` names the layer)."""


class LinkHeaderCutShort(LinkLayerError):
    """A link-layer header (``path``: ``"link"``, or ``"vlan"`` after the Ethernet header)
    with fewer octets than it needs; ``reason`` is the schema's message."""


class UnsupportedLinkType(LinkLayerError):
    def __init__(self, linktype: int):
        super().__init__("link", 0, f"link type {linktype} is not supported")
        self.linktype = linktype


class RawIpVersionError(LinkLayerError):
    """A raw-IP frame (LINKTYPE_RAW, DLT_RAW) whose version nibble is neither 4 nor 6."""

    def __init__(self, version: int):
        super().__init__("ip", 0, f"raw IP with IP version {version}")
        self.version = version


_link_readers: dict = {}


def _reader(layout):
    r = _link_readers.get(layout.name)
    if r is None:
        r = _link_readers[layout.name] = layout.reader()
    return r


def link_layer(linktype: int, stream) -> int:
    """The one link-layer ladder: walk the link header(s) of a frame whose octets ``stream``
    holds and leave the stream at the IP header.  Returns the IP version the link layer
    announces (4 or 6), or 0 for a frame that carries something else (ARP, LLC, ...).

    Ethernet with any number of 802.1Q/802.1ad tags (IEEE 802.1Q §9.6), SLL and SLL2 (their
    protocol field is an EtherType), raw IP (the version nibble; LINKTYPE_IPV4/IPV6 say it
    themselves), BSD null/loopback (the AF_ value).  Raises :class:`LinkHeaderCutShort`,
    :class:`UnsupportedLinkType` or :class:`RawIpVersionError`."""
    layer = "link"
    try:
        if linktype == LINKTYPE_ETHERNET:
            ethertype = _reader(ETHERNET)(stream).ethertype
            layer = "vlan"
            while ethertype in ETHERTYPE_VLAN:
                ethertype = _reader(VLAN_TAG)(stream).ethertype
            return _IP_VERSION_OF_ETHERTYPE.get(ethertype, 0)
        if linktype == LINKTYPE_LINUX_SLL:
            return _IP_VERSION_OF_ETHERTYPE.get(_reader(SLL)(stream).protocol, 0)
        if linktype == LINKTYPE_LINUX_SLL2:
            return _IP_VERSION_OF_ETHERTYPE.get(_reader(SLL2)(stream).protocol, 0)
        if linktype == LINKTYPE_RAW or linktype in LINKTYPE_DLT_RAW:
            start = stream.tell()
            version = _reader(IP_VERSION)(stream).version
            stream.seek(start)
            if version not in (4, 6):
                raise RawIpVersionError(version)
            return version
        if linktype == LINKTYPE_IPV4:
            return 4
        if linktype == LINKTYPE_IPV6:
            return 6
        if linktype == LINKTYPE_NULL:
            return NULL_FAMILIES.get(_reader(NULL_LE)(stream).family, 0)
        if linktype == LINKTYPE_LOOP:
            return NULL_FAMILIES.get(_reader(NULL_BE)(stream).family, 0)
    except StreamError as e:
        raise LinkHeaderCutShort(layer, stream.tell(), str(e)) from None
    raise UnsupportedLinkType(linktype)

# ============================================================================================
# IP, UDP, TCP
# ============================================================================================
IPPROTO_HOPOPTS, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ROUTING, IPPROTO_FRAGMENT = 0, 6, 17, 43, 44
IPPROTO_ESP, IPPROTO_AH, IPPROTO_NONE, IPPROTO_DSTOPTS = 50, 51, 59, 60
IPV6_EXT_HEADERS = (0, 43, 60, 135, 139, 140, 253, 254)  # RFC 8200 §4 + mobility, HIP, shim6

# RFC 791 §3.1
IPV4 = Layout("IPv4", BitFields(c.Int8ub, [("version", 4), ("ihl", 4)]),
              BitFields(c.Int8ub, [("dscp", 6), ("ecn", 2)]),
              "total_length" / c.Int16ub, "identification" / c.Int16ub,
              BitFields(c.Int16ub, [("reserved", 1), ("df", 1), ("mf", 1), ("frag_offset", 13)]),
              "ttl" / c.Int8ub, "protocol" / c.Int8ub, "checksum" / c.Int16ub,
              "src" / c.Bytes(4), "dst" / c.Bytes(4),
              "options" / VarBytes(this.ihl * 4 - 20),
              "payload" / UpTo(this.total_length - this.ihl * 4))
# RFC 8200 §3
IPV6 = Layout("IPv6",
              BitFields(c.Int32ub, [("version", 4), ("traffic_class", 8), ("flow_label", 20)]),
              "payload_length" / c.Int16ub, "next_header" / c.Int8ub, "hop_limit" / c.Int8ub,
              "src" / c.Bytes(16), "dst" / c.Bytes(16),
              "payload" / UpTo(this.payload_length))
# RFC 8200 §4.3-4.6 (Hop-by-Hop, Routing, Destination Options: length in 8-octet units after 8)
IPV6_EXT = Layout("IPv6Extension", "next_header" / c.Int8ub, "hdr_ext_len" / c.Int8ub,
                  "data" / VarBytes(this.hdr_ext_len * 8 + 6))
# RFC 4302 §2.2 (AH: length in 4-octet units minus 2)
IPV6_AH = Layout("AH", "next_header" / c.Int8ub, "payload_len" / c.Int8ub,
                 "data" / VarBytes(this.payload_len * 4 + 2))
# RFC 8200 §4.5
IPV6_FRAGMENT = Layout("IPv6Fragment", "next_header" / c.Int8ub, "reserved" / c.Int8ub,
                       BitFields(c.Int16ub, [("frag_offset", 13), ("res", 2), ("m", 1)]),
                       "identification" / c.Int32ub, "payload" / Rest())
# RFC 768
UDP = Layout("UDP", "sport" / c.Int16ub, "dport" / c.Int16ub, "length" / c.Int16ub,
             "checksum" / c.Int16ub, "payload" / UpTo(this.length - 8))
# RFC 9293 §3.1 (flags: NS/AE, CWR, ECE, URG, ACK, PSH, RST, SYN, FIN)
TCP = Layout("TCP", "sport" / c.Int16ub, "dport" / c.Int16ub, "seq" / c.Int32ub,
             "ack" / c.Int32ub,
             BitFields(c.Int16ub, [("data_offset", 4), ("reserved", 3), ("flags", 9)]),
             "window" / c.Int16ub, "checksum" / c.Int16ub, "urgent_pointer" / c.Int16ub,
             "options" / VarBytes(this.data_offset * 4 - 20), "payload" / Rest())
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

# Option TLVs of IPv4 (RFC 791 §3.1) and TCP (RFC 9293 §3.1): kinds 0 (end) and 1 (no-op) are
# one octet, every other kind has a length octet counting kind and length.
TLV_OPTION = c.Struct(
    "kind" / c.Int8ub,
    "length" / c.If(this.kind > 1, c.Int8ub),
    "data" / c.If(this.kind > 1, VarBytes(this.length - 2)),
)
TCP_OPTION_NAMES = {0: "EOL", 1: "NOP", 2: "MSS", 3: "WS", 4: "SACK_PERM", 5: "SACK",
                    8: "TIMESTAMP", 28: "USER_TO", 29: "TCP-AO", 30: "MPTCP", 34: "TFO"}


def decode_options(data: bytes) -> tuple[list[tuple[int, bytes]], str | None]:
    """Split IPv4 or TCP options into ``[(kind, data)]``; the error (with offset) if malformed."""
    out = []
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        start = stream.tell()
        try:
            opt = TLV_OPTION.parse_stream(stream)
        except c.ConstructError as e:
            return out, f"option at offset {start}: {e}"
        if opt.kind > 1 and opt.length < 2:
            return out, f"option at offset {start}: length {opt.length} < 2"
        out.append((opt.kind, opt.data or b""))
        if opt.kind == 0:
            break
    return out, None


def ip_text(addr: bytes) -> str:
    """Presentation form of a 4- or 16-octet IP address (RFC 5952 for IPv6, as tshark prints)."""
    if len(addr) == 4:
        return socket.inet_ntoa(addr)
    return socket.inet_ntop(socket.AF_INET6, addr)
