"""Display-filter fields: the occurrences of the names an expression uses in one packet object.

Field names are the JSON keys of a ``--format json`` packet (every dotted key in its ``layers``,
each layer as a protocol, mcsec's undotted keys qualified by the enclosing name), and the
envelope under Wireshark's names (``frame.number``, ``ip.src``/``ip.dst``/``ip.addr``,
``udp.port``, …; ``wireshark-filter(4)`` "Protocol fields").  A field occurring several times
yields several occurrences; a protocol or structured field yields :data:`PRESENT`.
Used by :mod:`dissectors.pcap.display_filter` and the parquet export.
"""

from __future__ import annotations

import re

FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*$")
# first components of the names a packet can hold: a dotted word on the right of a comparison
# that starts with one of these is a field (``ip.src == ip.dst``), any other is a value
# (``sip.To contains mcptt.example.org``)
PROTOCOLS = frozenset({"frame", "ip", "ipv6", "udp", "tcp", "sip", "sdp", "mikey", "cms",
                       "x509af", "srtp", "srtcp", "rtcp", "rtp", "msrp", "mcsec", "psk-smime",
                       "kms-xml", "kms", "mime", "rtsp", "http"})
PRESENT = object()  # an occurrence of a protocol or structured field (no value to compare)
_ENVELOPE = ("frame.number", "frame.time_epoch", "frame", "ip", "ipv6", "udp", "tcp", "ip.src",
             "ip.dst", "ip.addr", "ipv6.src", "ipv6.dst", "ipv6.addr", "udp.srcport",
             "udp.dstport", "udp.port", "tcp.srcport", "tcp.dstport", "tcp.port")


def _envelope(pkt: dict, want, out: dict) -> None:
    def add(name, value):
        if name in want:
            out.setdefault(name, []).append(value)
    add("frame", PRESENT)
    add("frame.number", pkt.get("frame"))
    if pkt.get("time") is not None:
        add("frame.time_epoch", pkt["time"])
    src, dst = pkt.get("src"), pkt.get("dst")
    if src is not None:
        ip = "ipv6" if ":" in str(src) else "ip"
        add(ip, PRESENT)
        add(f"{ip}.src", src)
        add(f"{ip}.dst", dst)
        add(f"{ip}.addr", src)
        add(f"{ip}.addr", dst)
    tr = pkt.get("transport")
    if tr in ("udp", "tcp") and pkt.get("sport") is not None:
        add(tr, PRESENT)
        add(f"{tr}.srcport", pkt["sport"])
        add(f"{tr}.dstport", pkt["dport"])
        add(f"{tr}.port", pkt["sport"])
        add(f"{tr}.port", pkt["dport"])


def _walk(obj, prefix: str, want, out: dict) -> None:
    """Collect the occurrences of the wanted fields below ``obj`` (named under ``prefix``)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k[:1] == "_":
                continue  # internal (e.g. the records kept for text output)
            if "." in k:
                name = k
            elif not prefix or k == prefix.rsplit(".", 1)[-1]:
                name = k if not prefix else prefix
            else:
                name = f"{prefix}.{k}"
            if name in want:
                _occurrences(v, out.setdefault(name, []))
            if isinstance(v, (dict, list)):
                _walk(v, name, want, out)
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, (dict, list)):
                _walk(v, prefix, want, out)


def _occurrences(v, acc: list) -> None:
    if isinstance(v, list):
        for x in v:
            if isinstance(x, (dict, list)):
                if isinstance(x, dict):
                    acc.append(PRESENT)
                else:
                    _occurrences(x, acc)
            elif x is not None:
                acc.append(x)
    elif isinstance(v, dict):
        acc.append(PRESENT)
    elif v is not None:
        acc.append(v)


def fields_of(pkt: dict, want) -> dict:
    """``{name: [occurrence, …]}`` for the names in ``want`` found in a packet object."""
    out: dict = {}
    if want & _ENVELOPE_SET:
        _envelope(pkt, want, out)
    layers = pkt.get("layers")
    if isinstance(layers, dict):
        _walk(layers, "", want, out)
    return out


_ENVELOPE_SET = frozenset(_ENVELOPE)
