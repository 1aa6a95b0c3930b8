"""The export pipeline of ``mcsec export`` (dissectors/cli/export.py): the capture as Wireshark
should see it once mcsec has recovered the keys.

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
(``--keep-sdp`` leaves them; the export tests show both).  ``-Y EXPR`` keeps only the
frames a display filter selects (:mod:`dissectors.pcap.display_filter`, over the packet JSON of
``mcsec dissect``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

from codec import pcapfile
from dissectors.pcap.rewrite import (SAVP, NotRewritten, canonical_address, replace_udp_payload,
                                     rewrite_l4, savp_m_lines, sdp_profile_edit, udp_endpoints)


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
                stats.endpoints.add((canonical_address(addr), port))
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
        from dissectors.pcap.records import MediaRecord
        from dissectors.pcap.render import record_json

        for typed in dissect.records(path, session, tls_keylog=tls_keylog, workers=workers):
            rec = record_json(typed, session.show_secrets)
            if isinstance(typed, MediaRecord):  # the UDP payload it was opened from
                rec["_wire"] = typed.wire
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


def export_capture(source, session, *, tls_keylog: bytes | None = None,
                   workers: int | None = None, display_filter=None,
                   display_filter_text: str | None = None,
                   rewrite_sdp: bool = True) -> tuple[bytes, ExportStats, set | None]:
    """The whole export of ``source``: dissected with ``session`` (its media records carry the
    wire payloads they were opened from), then written as pcapng octets; with the statistics, and the frames
    ``display_filter`` (``-Y``, its text ``display_filter_text``) selected (None: every frame)."""
    plans, stats, selected = plan(source, session, tls_keylog=tls_keylog, workers=workers,
                                  display_filter=display_filter)
    if selected is not None:
        stats.notes.append(f"only the {len(selected)} frame(s) matching -Y "
                           f"{display_filter_text!r}; frame numbers in comments are the "
                           "input's")
    data = write_export(source, plans, stats, tls_keylog, list(session.tls_psks),
                        select=None if selected is None else selected.__contains__,
                        rewrite_sdp=rewrite_sdp)
    return data, stats, selected
