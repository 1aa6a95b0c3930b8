"""SIP over TLS: the capture and its TLS key log are handed to tshark, which decrypts the TLS
records and reassembles the SIP messages; mcsec then analyses those SIP messages like any other.

    for unit in tls_sip_units("capture.pcapng", b"CLIENT_RANDOM ... ...\\n"):
        session.analyze(unit)                    # dissectors.pcap.session.Unit, transport "tls"

Key material: an NSS key log (``SSLKEYLOGFILE`` format; a path or its bytes) and/or the pcapng's
own Decryption Secrets Blocks, which tshark reads by itself.

Why tshark is run directly (``tshark -T json -x``) rather than through pyshark: pyshark 0.6
hands back the ``*_raw`` fields as layer objects rather than the hex, drops the
``tcp.segments``/``tls.segments`` subtrees from its layer list, and runs an asyncio event loop
for a plain file read (which clashes with callers that already run one).  The JSON output of
tshark itself gives, per frame, ``sip_raw`` — the exact octets of every SIP message the SIP
dissector was handed (from the "Decrypted TLS" or "Reassembled TLS" data source, so messages
spanning several TLS records or TCP segments come out whole, and several messages in one record
come out as a list) — and the frame numbers of the TLS records (``tls.segment``) and TCP
segments (``tcp.segment``) that carried it.  The output is parsed one packet at a time as tshark
writes it (memory stays flat), in frame order.

:class:`TlsHook` is the glue used by :func:`dissectors.pcap.dissect.records`: it recognises TLS
streams, keeps them away from the plain-text SIP framing, runs tshark when key material is at
hand, hands the decrypted units back in capture order and says when TLS traffic was present but
could not be decrypted.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
from typing import Iterator

from codec.sip import is_sip
from dissectors.pcap.flows import StreamData, StreamEnd, StreamStart
from dissectors.pcap.session import Unit

SIPS_PORT = 5061  # RFC 3261 §26.2.2 (tshark's tls.port for SIP)
MAX_FLOW_NOTES = 20  # TLS streams named one by one in notes; the rest are counted
TLS_CONTENT_TYPES = range(20, 25)  # change_cipher_spec .. heartbeat (RFC 5246 §6.2.1, RFC 6520)


class TlsError(Exception):
    """tshark is missing or failed."""


def looks_like_tls(data: bytes) -> bool:
    """A TLS record header: content type 20..24, version 3.0..3.4 (SSLv3 .. TLS 1.3 legacy)."""
    return len(data) >= 5 and data[0] in TLS_CONTENT_TYPES and data[1] == 3 and data[2] <= 4


def _as_list(v) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _raw_hexes(raw) -> list[str]:
    """The hex strings of a ``<field>_raw`` value: ``[hex, pos, len, bitmask, type]`` or, for a
    repeated field (``--no-duplicate-keys``), a list of those."""
    if not raw:
        return []
    if isinstance(raw[0], str):
        return [raw[0]]
    return [r[0] for r in raw if isinstance(r, list) and r and isinstance(r[0], str)]


def _packets(stream) -> Iterator[dict]:
    """The packet objects of ``tshark -T json`` output, one at a time.  tshark writes each packet
    as a pretty-printed object whose first and last lines are ``  {`` and ``  }``."""
    buf: list[str] = []
    for line in stream:
        stripped = line.rstrip("\r\n")
        if not buf:
            if stripped == "  {":
                buf.append(line)
            continue
        buf.append(line)
        if stripped in ("  }", "  },"):
            text = "".join(buf).rstrip().rstrip(",")
            buf = []
            yield json.loads(text)


def _unit(layers: dict) -> list[Unit]:
    frame = layers.get("frame", {})
    number = int(frame.get("frame.number", 0))
    when = float(frame.get("frame.time_epoch", 0.0))
    ip = layers.get("ip") or layers.get("ipv6") or {}
    if isinstance(ip, list):  # tunnelled: the innermost header
        ip = ip[-1]
    pre = "ip" if "ip" in layers else "ipv6"
    tcp = layers.get("tcp", {})
    if isinstance(tcp, list):
        tcp = tcp[-1]
    frames = {number}
    for seg_key, seg_field in (("tcp.segments", "tcp.segment"), ("tls.segments", "tls.segment")):
        for segs in _as_list(layers.get(seg_key)):
            frames.update(int(f) for f in _as_list(segs.get(seg_field)))
    ordered = sorted(frames)
    out = []
    for hexdata in _raw_hexes(layers.get("sip_raw")):
        out.append(Unit(list(ordered), when, "tls", ip.get(f"{pre}.src", ""),
                        int(tcp.get("tcp.srcport", 0)), ip.get(f"{pre}.dst", ""),
                        int(tcp.get("tcp.dstport", 0)), bytes.fromhex(hexdata)))
    return out


def tshark_path() -> str:
    path = shutil.which("tshark")
    if path is None:
        raise TlsError("tshark is not installed (needed to decrypt SIP over TLS)")
    return path


def tls_sip_units(path, keylog=None, *, sip_ports=(), tshark: str | None = None,
                  psk: bytes | None = None) -> Iterator[Unit]:
    """The SIP messages tshark decrypts from the TLS streams of the capture at ``path``, in frame
    order, as :class:`~dissectors.pcap.session.Unit` (transport ``"tls"``; ``frames`` = the TCP
    segments and TLS records that carried the message, the last one completing it).

    ``keylog``: an NSS key log as bytes, or the path of one (``None``: only the capture's own
    Decryption Secrets Blocks).  SIP over TLS is looked for on TCP 5061 and on ``sip_ports``.
    ``psk``: a TLS-PSK (``tls.psk``).  Raises :class:`TlsError` when tshark is missing or fails.
    """
    exe = tshark or tshark_path()
    tmp = None
    args = [exe, "-r", _capture_arg(path), "-n", "-o", "tls.desegment_ssl_records:TRUE",
            "-o", "tls.desegment_ssl_application_data:TRUE",
            "-o", "tcp.desegment_tcp_streams:TRUE"]
    try:
        if isinstance(keylog, (bytes, bytearray)):
            fd, tmp = tempfile.mkstemp(prefix="mcsec-keylog-")  # mode 0600
            with os.fdopen(fd, "wb") as f:
                f.write(keylog)
            args += ["-o", f"tls.keylog_file:{tmp}"]
        elif keylog is not None:
            args += ["-o", f"tls.keylog_file:{os.fspath(keylog)}"]
        if psk:
            args += ["-o", f"tls.psk:{psk.hex()}"]
        for port in sip_ports:
            if port != SIPS_PORT:
                args += ["-d", f"tcp.port=={int(port)},tls", "-d", f"tls.port=={int(port)},sip"]
        args += ["-Y", "sip && tls", "-T", "json", "-x", "--no-duplicate-keys"]
        for pkt in _packets(_tshark_lines(args, _spool(path))):
            yield from _unit(pkt.get("_source", {}).get("layers", {}))
    finally:
        if tmp is not None:
            os.unlink(tmp)


def tls_psk_units(path, psk: bytes, *, tshark: str | None = None) -> Iterator[Unit]:
    """The application data tshark decrypts with the TLS-PSK ``psk`` (seed 004 Annex X: the
    MSRP session keyed by a MIKEY-TICKET TLS crypto session), one Unit per frame (transport
    ``"tls-psk"``), in frame order.  MSRP is left undissected by tshark so that the decrypted
    octets come out as ``data``; mcsec frames and decodes them (:mod:`codec.msrp`)."""
    exe = tshark or tshark_path()
    fields = ["frame.number", "frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst",
              "ipv6.dst", "tcp.dstport", "data.data"]
    args = [exe, "-r", _capture_arg(path), "-n", "-o", f"tls.psk:{psk.hex()}",
            "--disable-protocol", "msrp", "-Y", "tls && data", "-T", "fields",
            "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        args += ["-e", f]
    for line in _tshark_lines(args, _spool(path)):
        cols = line.rstrip("\r\n").split("|")
        if len(cols) != len(fields) or not cols[0].isdigit():
            continue
        number, when, src4, src6, sport, dst4, dst6, dport, data = cols
        payload = b"".join(bytes.fromhex(h.replace(":", "")) for h in data.split(",") if h)
        if payload:
            yield Unit([int(number)], float(when or 0), "tls-psk", src4 or src6,
                       int(sport.split(",")[-1] or 0), dst4 or dst6,
                       int(dport.split(",")[-1] or 0), payload)


def _readable(path) -> bool:
    """A capture tshark can read: a file, or a spooled stream (:mod:`dissectors.pcap.live`)."""
    return isinstance(path, (str, bytes, os.PathLike)) or _spool(path) is not None


def _spool(path):
    from dissectors.pcap.live import Spool

    return path if isinstance(path, Spool) else None


def _capture_arg(path) -> str:
    return "-" if _spool(path) is not None else os.fspath(path)


def _tshark_lines(args, spool=None) -> Iterator[str]:
    """tshark's standard output line by line as it writes it; TlsError when it fails.  The
    process is killed if the consumer stops early.  ``spool``: fed to tshark's standard input
    (``-r -``) as it grows."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            encoding="utf-8", errors="replace", env={**os.environ, "LC_ALL": "C"},
                            stdin=subprocess.PIPE if spool is not None else subprocess.DEVNULL)
    if spool is not None:
        from dissectors.pcap.live import feed_process

        feed_process(spool, proc.stdin.buffer if hasattr(proc.stdin, "buffer") else proc.stdin)
    try:
        yield from proc.stdout
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise TlsError(f"tshark failed (exit {proc.returncode}): "
                           f"{err.strip().splitlines()[-1] if err.strip() else ''}")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


class TlsHook:
    """SIP over TLS for :func:`dissectors.pcap.dissect.records`.

    ``claim(event)`` returns ``None`` for events the plain path handles, else the records it
    produces instead (TLS stream data is never framed as SIP: it is ciphertext).  ``ready(n)``
    yields the decrypted units completed by frame ``n``; ``finish()`` the rest and the notes.
    tshark runs once, when the first TLS stream is seen and key material is at hand (the caller's
    ``keylog`` or the pcapng's Decryption Secrets Blocks, read before the packets they decrypt)."""

    def __init__(self, path, reader, keylog=None, psks: list | None = None):
        self.path, self.reader, self.keylog = path, reader, keylog
        # TLS-PSKs the session learns from MIKEY-TICKET TLS crypto sessions (seed 004 Annex X):
        # each starts a tshark run over the capture for the TLS streams left undecrypted
        self.psks = psks if psks is not None else []
        self.psk_runs: list = []  # [iterator, peeked Unit or None]
        self.psks_started = 0
        self.flows: dict = {}  # flow_id -> StreamStart
        self.tls_flows: dict = {}  # flow_id -> (StreamStart, first frame)
        self.plain: set = set()  # flows decided not TLS
        self.units: Iterator[Unit] | None = None
        self.peek: Unit | None = None
        self.decrypted: set = set()  # (src, sport, dst, dport) of decrypted units
        self.started = False
        self.failed: str | None = None
        self.quiet = 0  # TLS streams noted as not decrypted

    # -- events --------------------------------------------------------------------------------
    def claim(self, ev) -> list | None:
        if isinstance(ev, StreamStart):
            self.flows[ev.flow_id] = ev
            return None
        if isinstance(ev, StreamEnd):  # bounded memory: forget what was decided for the flow
            self.plain.discard(ev.flow_id)
            self.flows.pop(ev.flow_id, None)
            return None
        if not isinstance(ev, StreamData) or ev.flow_id in self.plain:
            return None
        if ev.flow_id in self.tls_flows:
            return []
        start = self.flows.get(ev.flow_id)
        data = bytes(ev.data)
        if start is None or is_sip(data.lstrip(b"\r\n")) or not (
                looks_like_tls(data) or SIPS_PORT in (start.sport, start.dport)):
            self.plain.add(ev.flow_id)
            return None
        self.tls_flows[ev.flow_id] = (start, ev.frames[0] if ev.frames else None)
        return self._start(start, ev)

    def _secrets(self):
        if self.keylog is not None:
            return self.keylog
        dsb = self.reader.tls_keylog() if callable(getattr(self.reader, "tls_keylog", None)) \
            else None
        return b"" if dsb else None  # b"": tshark reads the DSBs itself

    def _start(self, start, ev) -> list:
        where = (f"TCP {start.src}:{start.sport} <-> {start.dst}:{start.dport}")
        frame = ev.frames[0] if ev.frames else None
        if self.started:
            return []
        keys = self._secrets()
        if keys is None:
            self.quiet += 1
            if self.quiet > MAX_FLOW_NOTES:  # one summary in finish()
                return []
            return [_note(frame, f"TLS traffic ({where}) present but not decrypted: no TLS key "
                                 f"log (give one with --tls-keylog FILE, or use a pcapng with "
                                 f"Decryption Secrets Blocks)")]
        if not _readable(self.path):
            self.started, self.failed = True, "the capture is not a file tshark can read"
            return [_note(frame, f"TLS traffic ({where}) present but not decrypted: "
                                 f"{self.failed}")]
        self.started = True
        self.units = tls_sip_units(self.path, keys or None)
        return []

    # -- decrypted units in capture order ------------------------------------------------------
    def _next(self) -> Unit | None:
        if self.peek is None and self.units is not None:
            try:
                self.peek = next(self.units)
            except StopIteration:
                self.units = None
            except (TlsError, OSError) as e:
                self.units, self.failed = None, str(e)
        return self.peek

    def _start_psk_runs(self) -> None:
        """A tshark run per TLS-PSK, as soon as a TLS stream that is not SIP's has been seen
        (a run reads the whole capture: later streams under the same PSK come out of it too)."""
        if self.psks_started >= len(self.psks) or not _readable(self.path):
            return
        if not any(_conn(st.src, st.sport, st.dst, st.dport) not in self.decrypted
                   and SIPS_PORT not in (st.sport, st.dport) for st, _ in self.tls_flows.values()):
            return  # no candidate stream yet: keep the PSKs for when one appears
        while self.psks_started < len(self.psks):
            psk = self.psks[self.psks_started]
            self.psks_started += 1
            self.psk_runs.append([tls_psk_units(self.path, psk), None])

    def _next_psk(self, run) -> Unit | None:
        if run[1] is None and run[0] is not None:
            try:
                run[1] = next(run[0])
            except StopIteration:
                run[0] = None
            except (TlsError, OSError) as e:
                run[0], self.failed = None, str(e)
        return run[1]

    def ready(self, frame_number: int) -> Iterator[Unit]:
        self._start_psk_runs()
        while True:
            candidates = []
            if self.units is not None or self.peek is not None:
                u = self._next()
                if u is not None:
                    candidates.append((u.frames[-1], 0, None, u))
            for i, run in enumerate(self.psk_runs):
                u = self._next_psk(run)
                if u is not None:
                    candidates.append((u.frames[-1], 1 + i, run, u))
            if not candidates:
                return
            last, _, run, u = min(candidates, key=lambda c: (c[0], c[1]))
            if frame_number is not None and last > frame_number:
                return
            if run is None:
                self.peek = None
            else:
                run[1] = None
            self.decrypted.add(_conn(u.src, u.sport, u.dst, u.dport))
            yield u

    def finish(self) -> Iterator:
        """Units not yet handed out (Unit), then notes (dict) when tshark failed or nothing
        could be decrypted; the notes on streams left undecrypted come from :meth:`notes`, once
        the session can learn no more TLS-PSKs."""
        yield from self.ready(None)
        if self.failed:
            yield _note(None, f"SIP over TLS not decrypted: {self.failed}")
            self.failed = None
        if not self.started and self.quiet > MAX_FLOW_NOTES:
            yield _note(None, f"{self.quiet - MAX_FLOW_NOTES} more TLS stream(s) present "
                              f"but not decrypted (no TLS key log)")
            self.quiet = 0

    def notes(self) -> Iterator[dict]:
        """Notes on the TLS streams nothing decrypted (after the last TLS-PSK run)."""
        if self.failed:
            yield _note(None, f"TLS not decrypted: {self.failed}")
        if not self.started:
            return
        left = [(start, frame) for start, frame in self.tls_flows.values()
                if _conn(start.src, start.sport, start.dst, start.dport) not in self.decrypted]
        if len(left) > MAX_FLOW_NOTES:
            yield _note(None, f"{len(left) - MAX_FLOW_NOTES} more TLS stream(s) not decrypted")
        for start, frame in left[:MAX_FLOW_NOTES]:
            why = ("no SIP decrypted: the key log has no secret for this session?"
                   if SIPS_PORT in (start.sport, start.dport) else
                   "not SIP over TLS (only TCP 5061 is decrypted as SIP) and no TLS-PSK from a "
                   "MIKEY-TICKET TLS crypto session opened it")
            yield _note(frame, f"TLS traffic (TCP {start.src}:{start.sport} <-> "
                               f"{start.dst}:{start.dport}) not decrypted: {why}")

    def close(self) -> None:
        if self.units is not None:
            self.units.close()
            self.units = None
        for run in self.psk_runs:
            if run[0] is not None:
                run[0].close()
        self.psk_runs = []


def _conn(src, sport, dst, dport) -> frozenset:
    """A TCP connection's endpoints, either way round, addresses in canonical text."""
    def norm(a):
        try:
            return ipaddress.ip_address(a).compressed
        except ValueError:
            return a
    return frozenset({(norm(src), int(sport)), (norm(dst), int(dport))})


def _note(frame, message: str) -> dict:
    rec = {"kind": "note", "layer": "tls", "message": message}
    if frame is not None:
        rec["frame"] = frame
    return rec


__all__ = ["tls_sip_units", "tls_psk_units", "TlsHook", "TlsError", "looks_like_tls"]
