"""RTP and RTCP headers (RFC 3550) as construct schemas, for SRTP/SRTCP (codec/srtp.py), the
media matching of codec/media.py and floor control (codec/floor.py)."""

from __future__ import annotations

import struct

import construct as c

from codec.errors import McsecError

# RFC 3550 §5.1 RTP fixed header, CSRC list and §5.3.1 header extension
RTP_FIXED = c.Struct(
    "_b0" / c.BitStruct("version" / c.BitsInteger(2), "padding" / c.Flag,
                        "extension" / c.Flag, "csrc_count" / c.BitsInteger(4)),
    "_b1" / c.BitStruct("marker" / c.Flag, "payload_type" / c.BitsInteger(7)),
    "sequence_number" / c.Int16ub,
    "timestamp" / c.Int32ub,
    "ssrc" / c.Int32ub,
)
RTP_HEADER = c.Struct(
    "fixed" / RTP_FIXED,
    "csrc" / c.Array(c.this.fixed._b0.csrc_count, c.Int32ub),
    "header_extension" / c.If(c.this.fixed._b0.extension, c.Struct(
        "profile" / c.Int16ub, "length" / c.Int16ub,  # in 32-bit words
        "data" / c.Bytes(c.this.length * 4))),
)
_RTP_FIXED = RTP_FIXED.compile()
_RTP = RTP_HEADER.compile()

# RFC 3550 §6.4.1 RTCP common header; every RTCP packet type carries the sender's SSRC next
RTCP_HEADER = c.Struct(
    "_bits" / c.BitStruct("version" / c.BitsInteger(2), "padding" / c.Flag,
                          "count" / c.BitsInteger(5)),
    "pt" / c.Int8ub,
    "length" / c.Int16ub,  # in 32-bit words minus one
)
RTCP_SSRC_HEADER = c.Struct("header" / RTCP_HEADER, "ssrc" / c.Int32ub)
_RTCP = RTCP_SSRC_HEADER.compile()
RTCP_TYPES = range(200, 205)  # SR, RR, SDES, BYE, APP (RFC 3550 §12.1)

# RFC 3711 §3.4 (RFC 7714 §9): the SRTCP E flag and index after the encrypted portion
SRTCP_INDEX = c.BitStruct("encrypted" / c.Flag, "index" / c.BitsInteger(31))


class HeaderError(McsecError, ValueError):
    """An RTP/RTCP header that does not fit in its packet."""


def _parse(compiled, packet: bytes, what: str):
    try:
        return compiled.parse(packet)
    except (c.ConstructError, struct.error):  # compiled parsers raise either
        raise HeaderError(f"{what} longer than the {len(packet)}-octet packet") from None


class RtpHeader:
    """What SRTP needs of an RTP header: its length, SSRC and sequence number; HeaderError when
    the fixed header, CSRC list or extension runs past the packet."""

    __slots__ = ("length", "ssrc", "seq")

    def __init__(self, packet: bytes):
        h = _parse(_RTP, packet, "RTP header (CSRC list, extension)")
        self.ssrc, self.seq = h.fixed.ssrc, h.fixed.sequence_number
        self.length = 12 + 4 * h.fixed._b0.csrc_count + (
            4 + len(h.header_extension.data) if h.header_extension is not None else 0)


def is_rtp_v2(packet: bytes) -> bool:
    return len(packet) >= 12 and packet[0] >> 6 == 2


def is_rtcp(packet: bytes) -> bool:
    """RFC 5761 §4: RTP and RTCP told apart by the second octet (RTCP packet types 200–204)."""
    return len(packet) >= 8 and packet[1] in RTCP_TYPES


def rtcp_ssrc(packet: bytes) -> int:
    return _parse(_RTCP, packet, "RTCP header").ssrc


def stream_ssrc(packet: bytes) -> int:
    """The SSRC that names an RTP or RTCP packet's stream."""
    return (rtcp_ssrc(packet) if is_rtcp(packet)
            else _parse(_RTP_FIXED, packet, "RTP fixed header").ssrc)
