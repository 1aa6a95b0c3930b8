"""The events and limits of :class:`dissectors.pcap.flows.FlowTable` (see that module's docs).

Slotted dataclasses, yielded in capture order: UDP datagrams, TCP stream starts, data, gaps,
evictions and ends, and anomalies; :class:`Limits` bounds memory, :class:`FlowStats` accounts for
every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ------------------------------------------------------------------------------------------
# Events
# ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Datagram:
    frames: tuple
    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes
    ip_version: int


@dataclass(slots=True)
class StreamStart:
    flow_id: int
    frame: int
    src: str
    dst: str
    sport: int
    dport: int
    ip_version: int
    midstream: bool = False


@dataclass(slots=True)
class StreamData:
    flow_id: int
    direction: int
    frames: tuple
    data: bytes
    offset: int


@dataclass(slots=True)
class StreamGap:
    flow_id: int
    direction: int
    offset: int
    missing_bytes: int
    reason: str = ""


@dataclass(slots=True)
class StreamEvicted:
    flow_id: int
    direction: int
    frames: tuple  # frames of the out-of-order segments given up (the consumer adds its own)
    octets: int  # out-of-order octets given up here
    reason: str = ""


@dataclass(slots=True)
class StreamEnd:
    flow_id: int
    direction: int
    reason: str


@dataclass(slots=True)
class Anomaly:
    frame: int | None
    what: str
    layer: str = ""
    offset: int | None = None  # offset in the frame where the failing layer starts


@dataclass
class Limits:
    frag_timeout_frames: int = 10_000
    max_fragments: int = 128
    max_datagram_bytes: int = 65_535 + 40
    max_pending_datagrams: int = 4_096
    max_segments: int = 1_024
    max_flow_buffer: int = 1 << 20
    max_total_buffer: int = 16 << 20  # the stream memory budget (mcsec dissect --max-stream-memory)
    max_flows: int = 65_536
    max_closed_flows: int = 4_096
    flow_idle_frames: int = 5_000_000
    history_bytes: int = 4_096
    max_ext_headers: int = 16


@dataclass
class FlowStats:
    frames: int = 0
    ipv4: int = 0
    ipv6: int = 0
    udp: int = 0
    tcp: int = 0
    fragments: int = 0
    reassembled: int = 0
    non_ip: int = 0  # ARP, LLC, ...: counted, not decoded
    other_ip: dict = field(default_factory=dict)  # IP protocol -> count (ICMP, ESP, SCTP, ...)
    unsupported_linktype: dict = field(default_factory=dict)
    decode_errors: int = 0
    truncated: int = 0
    tcp_flows: int = 0
    tcp_gaps: int = 0
    tcp_gap_bytes: int = 0
    tcp_retransmitted_bytes: int = 0
    tcp_conflicts: int = 0
    tcp_late_segments: int = 0  # segments of a finished (FIN/RST) connection
    tcp_evicted: int = 0  # stream directions whose buffered data the memory budget gave up
    tcp_evicted_bytes: int = 0
    fragments_dropped: int = 0
    anomalies: int = 0

