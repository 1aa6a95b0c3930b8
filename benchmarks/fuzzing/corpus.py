"""The fuzz campaign's seeds: everything in ``pcaps/`` (sample MIKEY and CMS messages, SIP and
SDP from the manifest and the captures, TCP SIP streams, KMS XML documents, the captures
themselves and a classic pcap of each, floor-control RTCP and MSRP), and the sample keyring.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"


@dataclass
class Corpus:
    mikey: list = field(default_factory=list)
    cms: list = field(default_factory=list)
    sip: list = field(default_factory=list)  # complete SIP messages (bytes)
    sip_streams: list = field(default_factory=list)  # TCP SIP byte streams (one direction)
    sdp: list = field(default_factory=list)
    kms: list = field(default_factory=list)
    captures: list = field(default_factory=list)  # (name, bytes)
    rtcp: list = field(default_factory=list)  # plaintext RTCP with MCPTT floor control
    msrp: list = field(default_factory=list)  # plaintext MSRP streams
    trk: bytes = b""
    keyring: object = None


def _pcap_from_frames(frames, linktype) -> bytes:
    """A classic pcap (µs, little endian) of the same frames, so the pcap path is fuzzed too."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for f in frames:
        ts = f.ts_ns or 0
        out.append(struct.pack("<IIII", ts // 10**9, (ts % 10**9) // 1000, len(f.data),
                               f.orig_len) + f.data)
    return b"".join(out)


def load_corpus() -> Corpus:
    from codec import sdp as S
    from codec import sip as SIP
    from dissectors.pcap.capture import CaptureFault, read_frames
    from dissectors.pcap.flows import Datagram, StreamData, flow_events
    from dissectors.keys import load_keys

    c = Corpus()
    manifest = json.loads((PCAPS / "manifest.json").read_text())
    c.trk = bytes.fromhex(manifest["transport_key"])
    c.keyring = load_keys([PCAPS / manifest["keyring"], PCAPS / manifest["pem"]],
                          transport_key=c.trk)
    for e in manifest["entries"]:
        if e.get("mikey"):
            c.mikey.append(bytes.fromhex(e["mikey"]))
        if e.get("cms"):
            c.cms.append(bytes.fromhex(e["cms"]))
        if e.get("floor_message"):
            c.rtcp.append(bytes.fromhex(e["rtcp"]))
    c.msrp += [bytes.fromhex(e["msrp"]) for e in manifest.get("tls_entries", ()) if e.get("msrp")]
    msgs = PCAPS / "messages"
    c.mikey.append(bytes.fromhex((msgs / "mikey-sakke-pck.hex").read_text().split()[0]))
    gmk_sdp = (msgs / "mikey-sakke-gmk.sdp").read_text()
    c.sdp.append(gmk_sdp)
    c.mikey += [k.data for k in S.key_mgmt_attributes(gmk_sdp)]
    for p in sorted((PCAPS / "kms").glob("*.xml")):
        c.kms.append(p.read_bytes())
    for p in sorted(PCAPS.glob("*.pcapng")):
        data = p.read_bytes()
        c.captures.append((p.name, data))
        frames = [r for r in read_frames(io.BytesIO(data)) if not isinstance(r, CaptureFault)]
        if frames and len({f.linktype for f in frames}) == 1:
            c.captures.append((p.stem + ".pcap", _pcap_from_frames(frames, frames[0].linktype)))
        streams: dict = {}
        for ev in flow_events(read_frames(io.BytesIO(data))):
            if isinstance(ev, Datagram) and SIP.is_sip(ev.payload):
                c.sip.append(ev.payload)
            elif isinstance(ev, StreamData):
                streams.setdefault((ev.flow_id, ev.direction), bytearray()).extend(ev.data)
        for s in streams.values():
            if SIP.is_sip(bytes(s[:64])):
                c.sip_streams.append(bytes(s))
                c.sip += [f.data for f in SIP.StreamFramer().feed(bytes(s)) if f.data]
    for m in c.sip:
        if b"v=0" in m:
            body = m.split(b"\r\n\r\n", 1)[-1]
            if b"a=key-mgmt" in body:
                c.sdp.append(body.decode("latin-1"))
    # dedupe, keep order
    c.rtcp.append(b"".join(c.rtcp[:3]))  # a compound packet
    for name in ("mikey", "cms", "sip", "sip_streams", "sdp", "kms", "rtcp", "msrp"):
        setattr(c, name, list(dict.fromkeys(getattr(c, name))))
    return c
