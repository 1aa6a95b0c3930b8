"""`mcsec export`: the capture as Wireshark should see it once mcsec has recovered the keys.

Every frame of the input is written, in order, to a pcapng file (the interfaces with their link
types, snap lengths, names and timestamp resolutions; every timestamp as captured), with:

- each SRTP/SRTCP packet mcsec authenticated replaced by the RTP/RTCP packet inside it (the
  header kept; the encrypted portion replaced by the plaintext; the MKI and authentication tag —
  for SRTCP also the E flag and SRTCP index, RFC 3711 §3.4 — removed; UDP length and checksum,
  IPv4 total length and header checksum, IPv6 payload length recomputed), as libsrtp's
  ``rtp_decoder`` writes it and as Wireshark's "Export PDUs" would;
- the TLS secrets recovered in a Decryption Secrets Block of type TLS key log (pcapng §4.7, what
  ``editcap --inject-secrets tls,KEYLOG`` writes): the ``--tls-keylog`` lines, the input's own
  DSBs, and, for each TLS-PSK learnt from a MIKEY-TICKET TLS crypto session (seed 004 Annex X),
  the master secrets tshark derives with it (``--export-tls-session-keys``), since an NSS key
  log has no line for a PSK itself — so Wireshark decrypts SIP over TLS and MSRP over TLS-PSK
  with no preference set;
- an ``opt_comment`` on each frame that carries key management (the verdict: "MIKEY-SAKKE PCK
  0x1b180136: signature verified, SSV recovered"), on each SRTP/SRTCP packet replaced (which keys
  opened it) and on each one left as captured (why).

The file holds secrets (the key log, the plaintext media): it is written 0600 through
:func:`dissectors.safefile.write_secret`, never through a symbolic link.

The signalling is left as captured but for one thing: tshark's SDP dissector gives the streams
of an ``RTP/SAVP`` m-line SRTP conversation data, and its RTP dissector then shows their payload
as "SRTP Encrypted Payload" (tshark 4.0, even with ``a=key-mgmt:mikey`` and no ``a=crypto``), so
the m-lines of the streams mcsec decrypted are made ``RTP/AVPF`` — a plain RTP profile of the
same length, so Content-Length and TCP sequence numbers stay valid — with a comment on the frame
(``--keep-sdp`` leaves them; ``tests/test_export.py`` shows both).  ``-Y EXPR`` keeps only the
frames a display filter selects (:mod:`dissectors.pcap.display_filter`, over the packet JSON of
``mcsec dissect``).
"""

from __future__ import annotations

import io
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

from codec import netheaders, pcapfile
from codec.constructs import StreamError
from dissectors.cli import options as cliopts

EXIT_OK, EXIT_DECODE, EXIT_USAGE = cliopts.EXIT_OK, cliopts.EXIT_DECODE, cliopts.EXIT_USAGE
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


def _addr(text: str):
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
            addr = _addr(m.group(3).decode("ascii", "replace"))
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
    return _addr(netheaders.ip_text(ip.src)), u.sport, _addr(netheaders.ip_text(ip.dst)), u.dport, bytes(u.payload)


# -- plain RTP / RTCP from what the session decrypted --------------------------------------------
def plain_packet(rec: dict) -> bytes:
    """The RTP/RTCP packet of an authenticated SRTP/SRTCP record (``plaintext`` shown: the
    session runs with show_secrets): header and decrypted payload, without MKI, tag, E|index."""
    return bytes.fromhex(rec["plaintext"])


# -- frame comments ------------------------------------------------------------------------------
def _verdict_mikey(rec: dict) -> str:
    doc = rec.get("mikey") or {}
    payloads = doc.get("mikey") or [{}]
    hdr = payloads[0].get("mikey.hdr", {})
    what = hdr.get("mikey.type_name", f"type {hdr.get('mikey.type', '?')}")
    name = f"MIKEY-{what}" if what in ("SAKKE",) else f"MIKEY {what}"
    if "mikey.3gpp.key_id" in hdr:
        name += f" {hdr.get('mikey.3gpp.key_type')} 0x{hdr['mikey.3gpp.key_id']:08x}"
    elif "mikey.csb_id" in hdr:
        name += f" CSB ID 0x{hdr['mikey.csb_id']:08x}"
    verdicts = []
    flat = {}
    for p in payloads:
        for obj in p.values():
            if isinstance(obj, dict):
                flat.update(obj)
    labels = (("mikey.sign.verified", "signature"), ("mikey.kemac.verified", "KEMAC MAC"),
              ("mikey.v.verified", "V MAC"), ("mikey.ticket.verified", "ticket MAC"))
    for key, label in labels:
        if key in flat:
            v = flat[key]
            err = flat.get(key.replace("verified", "error"))
            verdicts.append(f"{label} " + ("verified" if v is True else "FAILED" if v is False
                                           else "not checked")
                            + (f" ({err})" if err and v is not True else ""))
    if "mikey.sakke.ssv" in flat:
        verdicts.append("SSV recovered" + (" (signature NOT verified)"
                                           if flat.get("mikey.sakke.unverified") else ""))
    elif "mikey.sakke.error" in flat:
        verdicts.append(f"SSV not recovered ({flat['mikey.sakke.error']})")
    sessions = doc.get("mikey.ticket.session_keys") or []
    if sessions:
        verdicts.append(f"{len(sessions)} crypto session key(s) recovered"
                        + (" (a TLS-PSK)" if any("mikey.ticket.tls_psk" in s for s in sessions)
                           else ""))
    cs = doc.get("mikey.3gpp.crypto_sessions") or []
    if cs:
        verdicts.append("SRTP keys for MKI " + ", ".join(sorted({c["mikey.3gpp.mki"] for c in cs})))
    if doc.get("mikey.ticket.replay"):
        verdicts.append(f"replay cache: {doc['mikey.ticket.replay']}")
    if "mikey.replay" in doc:
        verdicts.append(f"REPLAY of frame {doc['mikey.replay']}")
    if "mikey.clock_skew" in doc:
        verdicts.append(f"clock skew {doc['mikey.clock_skew']:+.3f} s")
    if rec.get("error"):
        e = rec["error"]
        verdicts.append(f"DECODE ERROR {e.get('path')} at offset {e.get('offset')}: "
                        f"{e.get('reason')}")
    elif not verdicts:
        verdicts.append("decoded; no key to check it with")
    return f"{name} ({rec.get('carrier')}): " + ", ".join(verdicts)


def verdict(rec: dict) -> str | None:
    """The comment for one record on its frame (None: the record says nothing to add)."""
    kind = rec.get("kind")
    if kind == "mikey":
        return _verdict_mikey(rec)
    if kind == "cms":
        opened = rec.get("cms_open")
        if rec.get("error"):
            e = rec["error"]
            return f"CMS {rec.get('smime_type')}: DECODE ERROR {e.get('path')}: {e.get('reason')}"
        if not opened:
            return f"CMS {rec.get('smime_type')}: decoded; no key to open it with"
        ok = opened.get("cms.ok", opened.get("ok"))
        err = opened.get("cms.error", opened.get("error"))
        return f"CMS {rec.get('smime_type')}: " + ("opened" if ok else f"FAILED ({err})")
    if kind == "psk-smime":
        return ("seed 004 PSK S/MIME: " + ("opened" if rec.get("ok") else
                                          f"FAILED ({rec.get('error')})")
                + f", proof of origin {rec.get('proof_of_origin')}, replay cache: "
                  f"{rec.get('replay')}")
    if kind == "kms-xml":
        if "kms_request" in rec:
            req = rec["kms_request"]
            if isinstance(req, dict):
                return (f"KMS request from {req.get('UserUri')} to {req.get('KmsUri')} "
                        f"at {req.get('Time')}")
            return f"KMS request: {req}"
        if rec.get("error"):
            return f"KMS XML: {rec['error'].get('reason')}"
        kms = rec.get("kms") or {}
        sets = ", ".join(f"{k['uri']} period {k['period']} ("
                         + ("/".join(k["keys"]) or "keys wrapped: --trk opens them") + ")"
                         for k in kms.get("key_sets", ()))
        return "KMS document: " + (f"key sets {sets}" if sets else
                                   f"{len(kms.get('certificates', ()))} KMS certificate(s)")
    if kind == "msrp" and rec.get("decrypted"):
        return (f"MSRP decrypted by mcsec ({rec['decrypted']}); the TLS secrets are in this "
                "file's Decryption Secrets Block")
    if kind == "anomaly" and rec.get("frame"):
        return f"anomaly ({rec.get('layer')}): {rec.get('what')}"
    if kind in ("sip", "mime", "rtsp") and rec.get("error"):
        e = rec["error"]
        return f"{kind.upper()} DECODE ERROR {e.get('path')} at offset {e.get('offset')}: " \
               f"{e.get('reason')}"
    return None


# -- the export ----------------------------------------------------------------------------------
@dataclass
class _FramePlan:
    comments: list = field(default_factory=list)
    replace: tuple | None = None  # (old UDP payload, new UDP payload)


@dataclass
class ExportStats:
    frames: int = 0
    replaced: int = 0
    left_encrypted: int = 0
    comments: int = 0
    tls_secret_lines: int = 0
    sdp_rewritten: int = 0
    capture_errors: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    endpoints: set = field(default_factory=set)  # (address, port) of the packets replaced
    ports: set = field(default_factory=set)


def _media_label(rec: dict) -> str:
    return f"{rec['kind'].upper()} SSRC 0x{(rec.get('ssrc') or 0):08x}"


def plan(path, session, *, tls_keylog: bytes | None = None, workers: int | None = None,
         display_filter=None) -> tuple[dict, ExportStats, set | None]:
    """Dissect ``path`` and decide, per frame, the comments and the payload replacement; with
    ``display_filter`` (``-Y``, a compiled :mod:`dissectors.pcap.display_filter` expression tested on
    each packet's ``dissect --format json`` object; ``session`` then is an
    :class:`~dissectors.pcap.output.PacketSession`) also the set of frames it selects."""
    from dissectors.pcap import dissect

    plans: dict = {}
    stats = ExportStats()

    def at(frame: int) -> _FramePlan:
        return plans.setdefault(frame, _FramePlan())

    def feed(rec):
        kind = rec.get("kind")
        wire = rec.pop("_wire", None)
        if kind == "capture-error":
            stats.capture_errors.append(rec["error"])
            return
        if kind in ("srtp", "srtcp"):
            frame = rec["frame"]
            label = _media_label(rec)
            if not rec.get("ok"):
                reason = (rec.get("error") or {}).get("reason", "not authenticated")
                at(frame).comments.append(f"{label} left encrypted: {reason} (keys {rec['keys']})")
                stats.left_encrypted += 1
                return
            if rec.get("transport") != "udp" or len(rec.get("frames", ())) != 1 or wire is None:
                why = ("carried in a TCP stream (RTSP interleaved): rewriting it would shift the "
                       "TCP sequence numbers" if rec.get("transport") != "udp" else
                       "its IP datagram spans several frames (fragmented)")
                at(frame).comments.append(f"{label} decrypted by mcsec with {rec['keys']} but left "
                                          f"as captured: {why}")
                stats.left_encrypted += 1
                return
            p = at(frame)
            p.replace = (wire, plain_packet(rec))
            for addr, port in ((rec["src"], rec["sport"]), (rec["dst"], rec["dport"])):
                stats.endpoints.add((_addr(addr), port))
                stats.ports.add(port)
            floor = f"; floor control: {rec['floor']}" if rec.get("floor") else ""
            p.comments.append(f"{label} authenticated and decrypted by mcsec with {rec['keys']} "
                              f"(MKI {rec.get('mki') or 'none'}): plain "
                              f"{'RTP' if rec['kind'] == 'srtp' else 'RTCP'} written{floor}")
            return
        text = verdict(rec)
        if text and rec.get("frame"):
            at(rec["frame"]).comments.append(text)

    def fed():
        for rec in dissect.records(path, session, tls_keylog=tls_keylog, workers=workers):
            feed(rec)
            yield rec

    if display_filter is None:
        for _ in fed():
            pass
        return plans, stats, None
    from dissectors.pcap import output
    from dissectors.pcap.capture import read_frames

    packets = output.Packets(fed(), session, filt="all", frames=read_frames(path),
                             display_filter=display_filter)
    selected = {pkt["frame"] for pkt in packets}
    return plans, stats, selected


def tls_secrets(path, reader_secrets, tls_keylog: bytes | None, psks, stats) -> bytes:
    """The NSS key log lines for the DSB: the given key log, the input's TLS DSBs and the master
    secrets of the TLS-PSK sessions (derived by tshark; a key log has no PSK line)."""
    parts, seen = [], set()

    def add(blob: bytes):
        for line in blob.splitlines():
            line = line.strip()
            if line and not line.startswith(b"#") and line not in seen:
                seen.add(line)
                parts.append(line + b"\n")

    if tls_keylog:
        add(tls_keylog)
    for s in reader_secrets:
        if s.type == pcapfile.SECRETS_TLS_KEYLOG:
            add(s.data)
    for psk in psks:
        derived = _psk_master_secrets(path, psk, stats)
        if derived:
            add(derived)
    return b"".join(parts)


def _psk_master_secrets(path, psk: bytes, stats: ExportStats) -> bytes:
    """``tshark -o tls.psk:… --export-tls-session-keys``: the CLIENT_RANDOM lines of the sessions
    the TLS-PSK opens (TLS 1.2 PSK suites, RFC 4279 §2), written in a private directory."""
    exe = shutil.which("tshark")
    if exe is None:
        stats.notes.append("tshark is not installed: the master secrets of the TLS-PSK sessions "
                           "are not in the Decryption Secrets Block")
        return b""
    with tempfile.TemporaryDirectory(prefix="mcsec-export-") as tmp:  # 0700
        keys = os.path.join(tmp, "tls.keys")
        from dissectors.pcap.live import Spool

        spooled = isinstance(path, Spool)  # standard input: the spool fed to tshark's -r -
        if spooled:
            spooled_data = _spool_bytes(path)
        proc = subprocess.run([exe, "-r", "-" if spooled else os.fspath(path), "-n", "-o",
                               f"tls.psk:{psk.hex()}", "--export-tls-session-keys", keys,
                               "-Y", "tls", "-q"],
                              input=spooled_data if spooled else None,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        proc.stderr = proc.stderr.decode("utf-8", "replace")
        if proc.returncode != 0:
            stats.notes.append(f"tshark could not derive the TLS-PSK sessions' master secrets: "
                               f"{proc.stderr.strip()[-200:]}")
            return b""
        try:
            with open(keys, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""


def _spool_bytes(spool) -> bytes:
    """Everything a spooled standard input holds (the export has read it to its end)."""
    with spool.open() as reader:
        chunks = []
        while chunk := reader.read1(1 << 20):
            chunks.append(chunk)
    return b"".join(chunks)


def _tsresol(ups: int) -> bytes | None:
    """if_tsresol (pcapng §4.2) for ``ups`` units per second, when it is a power of 10 or 2."""
    for base, flag in ((10, 0), (2, 0x80)):
        n, v = 0, 1
        while v < ups:
            v *= base
            n += 1
        if v == ups and n <= 0x7F:
            return bytes([flag | n])
    return None


def _idb(iface) -> tuple[bytes, int, int]:
    """The IDB of an input interface, and (units per second, offset in ns) its EPBs use."""
    opt = pcapfile.pcapng_option
    opts = b""
    if iface.name:
        opts += opt(pcapfile.IF_NAME, iface.name.encode())
    if iface.description:
        opts += opt(pcapfile.IF_DESCRIPTION, iface.description.encode())
    ups = iface.units_per_second
    res = _tsresol(ups) if ups <= 1_000_000_000 else None
    if res is None:
        ups, res = 1_000_000_000, bytes([9])  # finer or odd resolutions: nanoseconds
    if res != bytes([6]):
        opts += opt(pcapfile.IF_TSRESOL, res)
    offset_ns = 0
    if iface.tsoffset and ups == iface.units_per_second:
        opts += opt(pcapfile.IF_TSOFFSET, pcapfile.TSOFFSET["<"].build(dict(seconds=iface.tsoffset)))
        offset_ns = iface.tsoffset * 1_000_000_000
    if opts:
        opts += opt(pcapfile.OPT_ENDOFOPT, b"")
    body = pcapfile.IDB_BODY["<"].build(dict(linktype=iface.linktype, reserved=0,
                                      snaplen=iface.snaplen, options=opts))
    return pcapfile.pcapng_block(pcapfile.BT_IDB, body), ups, offset_ns


def _note_savp(frame, data: bytes, savp: dict) -> None:
    """Remember the RTP and RTCP endpoints of the RTP/SAVP m-lines a SIP/SDP frame announces."""
    info = udp_endpoints(frame.linktype, data)
    payload = info[4] if info is not None else None
    if payload is None:  # SIP over TCP: the segment's payload
        def grab(proto, p):
            nonlocal payload
            payload = p
            return p
        try:
            rewrite_l4(frame.linktype, data, grab)
        except NotRewritten:
            return
    for _start, port, addr in savp_m_lines(payload or b""):
        if addr is not None:
            for p in (port, port + 1):  # RTP, and RTCP on the next port (RFC 3550 §11)
                savp[(addr, p)] = frame.number
    while len(savp) > 4096:  # bounded
        del savp[next(iter(savp))]


def _unopened_srtp(frame, data: bytes, savp: dict) -> str | None:
    """Why an RTP-like datagram to an endpoint an RTP/SAVP m-line announced is left encrypted
    (mcsec made no SRTP record of it: no key it knows has this MKI / SSRC)."""
    info = udp_endpoints(frame.linktype, data)
    if info is None or len(info[4]) < 12 or info[4][0] >> 6 != 2:
        return None
    sdp_frame = savp.get((info[2], info[3]))
    if sdp_frame is None:
        return None
    kind = "SRTCP" if 192 <= info[4][1] <= 223 else "SRTP"
    return (f"{kind} (RTP/SAVP per the SDP of frame {sdp_frame}) left encrypted: no key mcsec "
            "recovered or was given matches its MKI or SSRC (the MIKEY message keying it was not "
            "opened — see its comment — or is not in the capture)")


def _sdp_rewrite(linktype: int, data: bytes, stats: ExportStats) -> tuple[bytes, str | None]:
    """The SIP/SDP frame with the profile of the decrypted streams made plain (see SAVP)."""
    changed: list = []

    def edit(proto, payload):
        new, what = sdp_profile_edit(payload, stats.endpoints, stats.ports)
        changed.extend(what)
        return new

    try:
        new = rewrite_l4(linktype, data, edit)
    except NotRewritten:
        return data, None
    if not changed:
        return data, None
    stats.sdp_rewritten += 1
    return new, (f"SDP profile RTP/SAVP changed to RTP/AVPF ({', '.join(changed)}) so that "
                 "Wireshark dissects the streams mcsec decrypted as plain RTP/RTCP (with RTP/SAVP "
                 "it shows an 'SRTP Encrypted Payload'); same length, so Content-Length and TCP "
                 "sequence numbers are unchanged")


def _comment_options(comments: list[str]) -> bytes:
    if not comments:
        return b""
    return b"".join(pcapfile.pcapng_option(pcapfile.OPT_COMMENT, ("mcsec: " + c).encode("utf-8"))
                    for c in comments) + pcapfile.pcapng_option(pcapfile.OPT_ENDOFOPT, b"")


def write_export(path, plans: dict, stats: ExportStats, tls_keylog: bytes | None, psks,
                 select=None, rewrite_sdp: bool = True) -> bytes:
    """The pcapng octets of the export (see the module docstring).  ``select(frame_number)``:
    whether to write a frame (None: every frame); ``rewrite_sdp``: make the RTP/SAVP profile of
    the decrypted streams RTP/AVPF (see :data:`SAVP`)."""
    from dissectors.pcap.capture import CaptureFault, read_frames

    reader = read_frames(path)
    savp: dict = {}  # (address, port) of RTP/SAVP streams announced so far -> frame of the SDP
    epbs = []
    clocks: dict = {}
    idbs: list = []
    for frame in reader:
        if isinstance(frame, CaptureFault):
            continue
        while len(idbs) < len(reader.interfaces):
            block, ups, offset_ns = _idb(reader.interfaces[len(idbs)])
            idbs.append(block)
            clocks[len(idbs) - 1] = (ups, offset_ns)
        if select is not None and not select(frame.number):
            continue
        stats.frames += 1
        p = plans.get(frame.number)
        data, orig_len = bytes(frame.data), frame.orig_len
        comments = list(p.comments) if p else []
        if p is not None and p.replace is not None:
            old, new = p.replace
            try:
                data = replace_udp_payload(frame.linktype, data, old, new)
                orig_len = max(len(data), orig_len - (len(frame.data) - len(data)))
                stats.replaced += 1
            except NotRewritten as e:
                comments = [c.replace("plain RTP written", f"left as captured: {e}")
                            .replace("plain RTCP written", f"left as captured: {e}")
                            for c in comments]
                stats.left_encrypted += 1
        else:
            if SAVP in data:  # SDP offering SRTP: where its packets will go
                _note_savp(frame, data, savp)
                if rewrite_sdp and stats.endpoints:
                    data, comment = _sdp_rewrite(frame.linktype, data, stats)
                    if comment:
                        comments.append(comment)
            elif savp and not comments:
                why = _unopened_srtp(frame, data, savp)
                if why:
                    comments.append(why)
                    stats.left_encrypted += 1
        ups, offset_ns = clocks[frame.interface_id]
        if frame.ts_ns is None:  # a Simple Packet Block has no time (pcapng §4.4)
            units = 0
            comments.append("no timestamp in the input (Simple Packet Block)")
        else:
            units = (frame.ts_ns - offset_ns) * ups // 1_000_000_000
        stats.comments += len(comments)
        epbs.append(pcapfile.pcapng_block(pcapfile.BT_EPB, pcapfile.EPB_BODY["<"].build(dict(
            interface_id=frame.interface_id, ts_high=(units >> 32) & 0xFFFFFFFF,
            ts_low=units & 0xFFFFFFFF, captured_len=len(data), original_len=orig_len, data=data,
            options=_comment_options(comments)))))
    keylog = tls_secrets(path, reader.secrets, tls_keylog, psks, stats)
    stats.tls_secret_lines = keylog.count(b"\n")
    shb_comments = [f"exported by mcsec: {stats.replaced} SRTP/SRTCP packet(s) replaced by "
                    f"plain RTP/RTCP, {stats.left_encrypted} left encrypted (see their "
                    f"comments); TLS secrets: {stats.tls_secret_lines} key log line(s) in the "
                    "Decryption Secrets Block"]
    shb_comments += [f"capture error in the input: {e}" for e in stats.capture_errors]
    shb_comments += stats.notes
    shb_opts = b"".join(pcapfile.pcapng_option(pcapfile.OPT_COMMENT, c.encode("utf-8")) for c in shb_comments)
    shb_opts += pcapfile.pcapng_option(pcapfile.SHB_USERAPPL, b"mcsec export") + pcapfile.pcapng_option(
        pcapfile.OPT_ENDOFOPT, b"")
    out = [pcapfile.pcapng_block(pcapfile.BT_SHB, pcapfile.SHB_BODY["<"].build(dict(
        byte_order_magic=pcapfile.BYTE_ORDER_MAGIC, major_version=1, minor_version=0,
        section_length=-1, options=shb_opts)))]
    out += idbs
    secrets = ([(pcapfile.SECRETS_TLS_KEYLOG, keylog)] if keylog else []) + [
        (s.type, s.data) for s in reader.secrets if s.type != pcapfile.SECRETS_TLS_KEYLOG]
    for stype, data in secrets:  # pcapng §4.7, before the packets they decrypt
        out.append(pcapfile.pcapng_block(pcapfile.BT_DSB, pcapfile.DSB_BODY["<"].build(dict(
            secrets_type=stype, secrets_length=len(data), secrets_data=data, options=b""))))
    out += epbs
    return b"".join(out)


# -- the command ---------------------------------------------------------------------------------
def cmd_export(args) -> int:
    from codec.mikey.ticket import ReplayCache
    from dissectors.cli.common import load_keyring
    from dissectors.cli.options import clock_skew_limit
    from dissectors.safefile import UnsafeTarget, write_secret
    from dissectors.pcap.session import Session

    dfilter = cliopts.display_filter(args.display_filter)  # compiled before anything is read
    keyring = load_keyring(args)
    keylog = cliopts.read_tls_keylog(args.tls_keylog)
    if args.output == "-" and sys.stdout.isatty():
        print("mcsec: export -o -: standard output is a terminal; redirect it (> out.pcapng) or "
              "pipe it (| tshark -r -)", file=sys.stderr)
        return EXIT_USAGE
    if args.output != "-":
        try:  # refuse a symlink / directory before the (long) analysis, not after it
            from dissectors.safefile import check_target

            check_target(args.output)
        except UnsafeTarget as e:
            print(f"mcsec: cannot write {e}", file=sys.stderr)
            return EXIT_USAGE
    options = dict(keyring=keyring, show_secrets=True,  # the plaintext goes into the file
                   decrypt_unverified=args.decrypt_unverified,
                   transport_key=bytes.fromhex(args.trk) if args.trk else None,
                   replay_cache=ReplayCache(args.replay_cache_size),
                   max_clock_skew=clock_skew_limit(args.max_clock_skew))
    if dfilter is not None:  # the packets' sip/sdp fields, for the filter
        from dissectors.pcap.output import PacketSession

        session = PacketSession(**options)
    else:
        session = Session(**options)
    _wire_payloads(session)
    from dissectors.cli.common import resolve_captures

    if resolve_captures(args) is not None:  # several files, directories, globs: one capture
        return EXIT_USAGE
    source, workers = args.capture, args.workers
    if args.capture == "-":  # a pipe (tcpdump -w - | mcsec export -): spooled as it arrives,
        from dissectors.pcap import live  # read by the analysis and by the writer (dissectors/pcap/live.py)

        source = live.Spool(sys.stdin.buffer)
        workers = 1 if workers is None else workers
    try:
        return _export(args, session, source, workers, keylog, dfilter)
    finally:
        if source is not args.capture or hasattr(source, "open_reader"):
            source.close()  # a spool, or a capture set's merged file for tshark


def _export(args, session, source, workers, keylog, dfilter) -> int:
    from dissectors.safefile import UnsafeTarget, write_secret

    try:
        plans, stats, selected = plan(source, session, tls_keylog=keylog,
                                      workers=workers, display_filter=dfilter)
        if selected is not None:
            stats.notes.append(f"only the {len(selected)} frame(s) matching -Y "
                               f"{args.display_filter!r}; frame numbers in comments are the "
                               "input's")
        data = write_export(source, plans, stats, keylog, list(session.tls_psks),
                            select=None if selected is None else selected.__contains__,
                            rewrite_sdp=not args.keep_sdp)
    except OSError as e:
        print(f"mcsec: cannot read {args.capture}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    if stats.capture_errors and not stats.frames and selected is None:
        for err in stats.capture_errors:
            print(f"mcsec: {args.capture}: {err}", file=sys.stderr)
        return EXIT_DECODE  # nothing to export: not a capture (no file written)
    if args.output == "-":
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            pass
    else:
        try:
            write_secret(args.output, data)  # key log and plaintext inside: 0600, no symlink
        except UnsafeTarget as e:
            print(f"mcsec: cannot write {e}", file=sys.stderr)
            return EXIT_USAGE
    if not args.quiet:
        print(f"mcsec: {stats.frames} frame(s) written to {args.output}: {stats.replaced} "
              f"SRTP/SRTCP packet(s) replaced by plain RTP/RTCP, {stats.left_encrypted} left "
              f"encrypted, {stats.comments} frame comment(s), {stats.tls_secret_lines} TLS key "
              f"log line(s) in a Decryption Secrets Block", file=sys.stderr)
        for note in stats.notes:
            print(f"mcsec: note: {note}", file=sys.stderr)
    return EXIT_OK


def _wire_payloads(session) -> None:
    """Have the session's media records carry the UDP payload they were opened from (``_wire``),
    so the export replaces exactly those octets."""
    media = session._media

    def _media(base, data):
        recs = media(base, data)
        for r in recs:
            r["_wire"] = bytes(data)
        return recs

    session._media = _media


def register(subparsers) -> None:
    """Add the `export` command to the `mcsec` parser."""
    from codec.mikey.replay import DEFAULT_MAX_CLOCK_SKEW
    from dissectors.cli import options as O

    e = subparsers.add_parser(
        "export", help="write the capture with SRTP/SRTCP decrypted, TLS secrets and verdicts, "
                       "for Wireshark",
        description="Dissect CAPTURE with --keys and write it again as pcapng, every frame in "
                    "order: each SRTP/SRTCP packet mcsec authenticated replaced by its plain "
                    "RTP/RTCP (MKI, tag and SRTCP index removed; UDP/IP lengths and checksums "
                    "fixed), the TLS secrets (--tls-keylog, the input's DSBs, TLS-PSK sessions "
                    "of MIKEY-TICKET) in a Decryption Secrets Block, and a comment with mcsec's "
                    "verdict on every key-management frame and every packet left encrypted.  "
                    "The file holds secrets: it is created with mode 0600, never through a "
                    "symbolic link.")
    e.add_argument("capture", metavar="CAPTURE", nargs="+",
                   help="pcap or pcapng file, or - to read one from standard input "
                        "(tcpdump -w - | mcsec export - ...); several files, directories and "
                        "globs are read as one capture (as for dissect)")
    e.add_argument("-o", "--output", required=True, metavar="OUT.pcapng",
                   help="pcapng file to write (- = standard output)")
    e.add_argument("--keys", action="append", metavar="FILE",
                   help="keyring TOML, KMS XML or PEM/DER key file (repeatable)")
    e.add_argument("--trk", metavar="HEX", type=O.transport_key_hex,
                   help="transport key (TrK) for wrapped keys in KMS XML")
    e.add_argument("--tls-keylog", metavar="FILE",
                   help="NSS key log for SIP over TLS: used for the analysis and written into "
                        "the Decryption Secrets Block")
    e.add_argument("-Y", "--display-filter", metavar="EXPR",
                   help="write only the frames this Wireshark display filter selects, over the "
                        "packet JSON of `mcsec dissect -Y` (e.g. 'mikey or srtp.ok == 1')")
    e.add_argument("--keep-sdp", action="store_true",
                   help="leave the SDP of the decrypted streams as captured (RTP/SAVP): "
                        "Wireshark then shows their payload as 'SRTP Encrypted Payload'; by "
                        "default their profile becomes RTP/AVPF (same length), with a comment")
    e.add_argument("--decrypt-unverified", action="store_true")
    e.add_argument("--replay-cache-size", type=O.positive_int, default=1024, metavar="N")
    e.add_argument("--max-clock-skew", type=float, default=DEFAULT_MAX_CLOCK_SKEW,
                   metavar="SECONDS", help="as for dissect (a negative value turns it off)")
    e.add_argument("--workers", type=O.int_range(1, O.MAX_WORKERS), default=None, metavar="N",
                   help="processes for MIKEY-SAKKE crypto (as for dissect)")
    e.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    e.set_defaults(func=cmd_export)
