"""Rewriting a captured frame: its UDP or TCP payload replaced, the UDP length and checksum, the
IPv4 total length and header checksum, the IPv6 payload length recomputed (``mcsec export``
writes the plain RTP/RTCP of the SRTP/SRTCP packets it opened this way), and the RTP/SAVP
profile of the SDP of the streams it decrypted made plain.  Used by :mod:`dissectors.pcap.export`.
"""

from __future__ import annotations

import io
import ipaddress
import re

from codec import netheaders
from codec.constructs import StreamError

IPPROTO_UDP = netheaders.IPPROTO_UDP


# -- RFC 1071 Internet checksum, RFC 768 / RFC 8200 §8.1 pseudo-headers -------------------------
def internet_checksum(data: bytes) -> int:
    """RFC 1071: the ones' complement of the ones' complement sum of the 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class NotRewritten(Exception):
    """Why a decrypted packet stays as captured in the export."""


def _ip_offset(linktype: int, data: bytes) -> int:
    """Offset of the IP header in a frame of ``linktype`` (the link layers dissect reads)."""
    s = io.BytesIO(data)
    if linktype == netheaders.LINKTYPE_ETHERNET:
        et = netheaders.ETHERNET.reader()(s).ethertype
        while et in netheaders.ETHERTYPE_VLAN:
            et = netheaders.VLAN_TAG.reader()(s).ethertype
    elif linktype == netheaders.LINKTYPE_LINUX_SLL:
        netheaders.SLL.reader()(s)
    elif linktype == netheaders.LINKTYPE_LINUX_SLL2:
        netheaders.SLL2.reader()(s)
    elif linktype in (netheaders.LINKTYPE_NULL, netheaders.LINKTYPE_LOOP):
        s.seek(4)
    elif linktype in (netheaders.LINKTYPE_RAW, netheaders.LINKTYPE_IPV4, netheaders.LINKTYPE_IPV6) or (
            linktype in netheaders.LINKTYPE_DLT_RAW):
        pass
    else:
        raise NotRewritten(f"link type {linktype} is not rewritten")
    return s.tell()


def replace_udp_payload(linktype: int, data: bytes, old: bytes, new: bytes) -> bytes:
    """The frame ``data`` with its UDP payload ``old`` replaced by ``new``: UDP length and
    checksum (left 0 when the IPv4 sender sent none), IPv4 total length and header checksum, IPv6
    payload length.  Raises :class:`NotRewritten` when the frame cannot be rewritten that way
    (a fragment, IPv6 AH or a routing header with segments left, a payload that differs)."""
    def edit(proto, payload):
        if proto != IPPROTO_UDP:
            raise NotRewritten(f"IP protocol {proto}, not UDP")
        if bytes(payload) != old:
            raise NotRewritten("the UDP payload differs from the packet analysed")
        return new

    return rewrite_l4(linktype, data, edit)


def rewrite_l4(linktype: int, data: bytes, edit) -> bytes:
    """The frame ``data`` with its UDP or TCP payload replaced by ``edit(protocol, payload)``
    (a TCP payload keeps its length: the sequence numbers stay valid), the lengths and checksums
    recomputed.  Raises :class:`NotRewritten` when the frame cannot be rewritten."""
    try:
        off = _ip_offset(linktype, data)
        version = netheaders.IP_VERSION.parse_bytes(data[off:off + 1]).version
        if version == 4:
            return _rewrite_v4(data, off, edit)
        if version == 6:
            return _rewrite_v6(data, off, edit)
    except StreamError as e:
        raise NotRewritten(f"headers do not decode: {e}") from None
    raise NotRewritten(f"IP version {version}")


def _fields(obj) -> dict:
    return {k: getattr(obj, k) for k in obj._fields} if hasattr(obj, "_fields") else dict(obj)


def _new_l4(proto: int, l4: bytes, src: bytes, dst: bytes, edit, keep_zero: bool) -> bytes:
    """The UDP datagram / TCP segment ``l4`` with its payload edited, checksum recomputed."""
    if proto == IPPROTO_UDP:
        u = netheaders.UDP.parse_bytes(l4)
        if len(u.payload) != u.length - 8:
            raise NotRewritten("the UDP datagram is cut short")
        new = edit(proto, bytes(u.payload))
        f = dict(sport=u.sport, dport=u.dport, length=8 + len(new), checksum=0, payload=new)
        if keep_zero and u.checksum == 0:  # RFC 768: the IPv4 sender computed none
            return netheaders.UDP.build(f)
        f["checksum"] = _l4_checksum(src, dst, proto, netheaders.UDP.build(f)) or 0xFFFF
        return netheaders.UDP.build(f)
    if proto == netheaders.IPPROTO_TCP:
        t = netheaders.TCP.parse_bytes(l4)
        new = edit(proto, bytes(t.payload))
        if len(new) != len(t.payload):
            raise NotRewritten("a TCP payload cannot change length (the sequence numbers would "
                               "shift)")
        f = _fields(t)
        f.update(checksum=0, payload=new)
        f["checksum"] = _l4_checksum(src, dst, proto, netheaders.TCP.build(f))
        return netheaders.TCP.build(f)
    raise NotRewritten(f"IP protocol {proto}, neither UDP nor TCP")


def _l4_checksum(src: bytes, dst: bytes, proto: int, segment: bytes) -> int:
    if len(src) == 4:  # RFC 768 / RFC 9293 §3.1: src, dst, zero, protocol, length
        pseudo = src + dst + bytes([0, proto]) + len(segment).to_bytes(2, "big")
    else:  # RFC 8200 §8.1: src, dst, upper-layer length (32 bits), 3 zero octets, next header
        pseudo = src + dst + len(segment).to_bytes(4, "big") + bytes([0, 0, 0, proto])
    return internet_checksum(pseudo + segment)


def _rewrite_v4(data: bytes, off: int, edit) -> bytes:
    ip = netheaders.IPV4.parse_bytes(data[off:])
    if ip.mf or ip.frag_offset:
        raise NotRewritten("an IPv4 fragment (the datagram spans several frames)")
    if len(ip.payload) != ip.total_length - ip.ihl * 4:
        raise NotRewritten("the IPv4 packet is cut short by the capture")
    l4 = _new_l4(ip.protocol, bytes(ip.payload), ip.src, ip.dst, edit, keep_zero=True)
    fields = _fields(ip)
    fields.update(total_length=ip.ihl * 4 + len(l4), checksum=0, payload=b"")
    fields["checksum"] = internet_checksum(netheaders.IPV4.build(fields))
    return data[:off] + netheaders.IPV4.build(fields) + l4 + data[off + ip.total_length:]


_V6_SKIPPABLE = (netheaders.IPPROTO_HOPOPTS, netheaders.IPPROTO_DSTOPTS, netheaders.IPPROTO_ROUTING)


def _rewrite_v6(data: bytes, off: int, edit) -> bytes:
    ip = netheaders.IPV6.parse_bytes(data[off:])
    if ip.payload_length == 0:
        raise NotRewritten("an IPv6 jumbogram")
    if len(ip.payload) != ip.payload_length:
        raise NotRewritten("the IPv6 packet is cut short by the capture")
    s = io.BytesIO(ip.payload)
    nh = ip.next_header
    read_ext = netheaders.IPV6_EXT.reader()
    for _ in range(16):  # RFC 8200 §4: Hop-by-Hop, Destination Options, Routing
        if nh not in _V6_SKIPPABLE:
            break
        ext = read_ext(s)
        if nh == netheaders.IPPROTO_ROUTING and len(ext.data) >= 2 and ext.data[1]:
            raise NotRewritten("an IPv6 routing header with segments left (the checksum "
                               "covers the final destination)")
        nh = ext.next_header
    if nh == netheaders.IPPROTO_FRAGMENT:
        raise NotRewritten("an IPv6 fragment (the datagram spans several frames)")
    if nh == netheaders.IPPROTO_AH:
        raise NotRewritten("IPv6 AH (RFC 4302): its ICV covers the payload")
    ext_len = s.tell()
    l4 = _new_l4(nh, bytes(ip.payload[ext_len:]), ip.src, ip.dst, edit, keep_zero=False)
    fields = _fields(ip)
    fields.update(payload_length=ext_len + len(l4), payload=bytes(ip.payload[:ext_len]) + l4)
    return data[:off] + netheaders.IPV6.build(fields) + data[off + 40 + ip.payload_length:]


# -- SDP: the profile of the streams decrypted --------------------------------------------------
# Wireshark's SDP dissector gives every stream of an RTP/SAVP m-line SRTP conversation data, and
# its RTP dissector then shows the payload as "SRTP Encrypted Payload" (no rtp.payload), even
# when no a=crypto line keys it (tested with tshark 4.0).  RTP/AVPF (RFC 4585) is a plain RTP
# profile of the same length: the SIP Content-Length and TCP sequence numbers stay valid.
SAVP, PLAIN_PROFILE = b"RTP/SAVP", b"RTP/AVPF"
_SDP_LINE = re.compile(rb"^(?:(v)=|(c)=IN IP[46] ([^\s/]+)|(m)=[a-z]+ ([0-9]+)(?:/[0-9]+)? "
                       rb"(RTP/SAVP)[ \r\n])", re.M)


def canonical_address(text: str):
    """An address in one form whatever its spelling (IPv6 in SDP need not be RFC 5952's)."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return text


def savp_m_lines(payload: bytes) -> list[tuple[int, int, object]]:
    """``[(offset of "RTP/SAVP", port, connection address or None)]`` of the RTP/SAVP m-lines
    in ``payload`` (one or more SDP bodies; the media-level c= line, else the session's)."""
    out: list = []
    session_c = current = None
    for m in _SDP_LINE.finditer(payload):
        if m.group(1):  # v=0: a new SDP body
            if current is not None:
                out.append(current)
            session_c = current = None
        elif m.group(2):
            addr = canonical_address(m.group(3).decode("ascii", "replace"))
            if current is None:
                session_c = addr
            else:
                current = (current[0], current[1], addr)
        elif m.group(4):
            if current is not None:
                out.append(current)
            current = (m.start(6), int(m.group(5)), session_c)
    if current is not None:
        out.append(current)
    return out


def sdp_profile_edit(payload: bytes, endpoints: set, ports: set) -> tuple[bytes, list[str]]:
    """``payload`` with the RTP/SAVP m-lines of decrypted streams made RTP/AVPF: those whose
    connection address and port (or port + 1, RTCP) is an endpoint of a packet replaced, or —
    when the c= line is not in this payload — whose port is; and what was changed."""
    if SAVP not in payload:
        return payload, []
    out, changes = bytearray(payload), []
    for start, port, addr in savp_m_lines(payload):
        if any(((addr, p) in endpoints) if addr is not None else (p in ports)
               for p in (port, port + 1)):
            out[start:start + len(SAVP)] = PLAIN_PROFILE
            changes.append(f"m= port {port}")
    return bytes(out), changes


def udp_endpoints(linktype: int, data: bytes):
    """``(source address, source port, destination address, destination port, payload)`` of a
    frame's UDP datagram, or None (not UDP, a fragment, headers that do not decode)."""
    try:
        off = _ip_offset(linktype, data)
        version = netheaders.IP_VERSION.parse_bytes(data[off:off + 1]).version
        if version == 4:
            ip = netheaders.IPV4.parse_bytes(data[off:])
            if ip.mf or ip.frag_offset or ip.protocol != IPPROTO_UDP:
                return None
            l4 = ip.payload
        elif version == 6:
            ip = netheaders.IPV6.parse_bytes(data[off:])
            s, nh = io.BytesIO(ip.payload), ip.next_header
            read_ext = netheaders.IPV6_EXT.reader()
            for _ in range(16):
                if nh not in _V6_SKIPPABLE:
                    break
                nh = read_ext(s).next_header
            if nh != IPPROTO_UDP:
                return None
            l4 = ip.payload[s.tell():]
        else:
            return None
        u = netheaders.UDP.parse_bytes(bytes(l4))
    except (StreamError, NotRewritten):
        return None
    return (canonical_address(netheaders.ip_text(ip.src)), u.sport,
            canonical_address(netheaders.ip_text(ip.dst)), u.dport, bytes(u.payload))
