"""SRTP/SRTCP media protected with keys from key management, and MCPTT floor control.

:class:`MediaKeys` collects what MIKEY processing derived — per-crypto-session master keys and
salts with their MKIs (TS 33.180 §7.4: PCK-ID, CSK-ID …) and GMKs, whose senders' keys depend on
the sender's GUK-ID carried in the MKI (GMK-ID ‖ GUK-ID, §7.4.2) — and opens packets with the AES-GCM
default profile of :mod:`codec.srtp`.  Packets are matched to keys by their trailing MKI, or —
for crypto sessions named by an SRTP-ID map (RFC 3830 §6.1.1) or GENERIC-ID Session Data
(RFC 6043 §6.1.1), which use no MKI — by their SSRC, starting from the ROC the map gives.
Floor-control messages (RTCP APP with name "MCPT", TS 24.380 §8.2) are decoded after opening
(:mod:`codec.floor`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import construct as c
from cryptography.exceptions import InvalidTag

from codec import floor, rtp, srtp
from codec.crypto import prf
from codec.errors import DecodeError



GMK_MKI = c.Sequence(c.Int32ub, c.Int32ub)  # TS 33.180 §7.4.2: MKI = GMK-ID || GUK-ID


@dataclass
class MediaResult:
    kind: str  # "srtp" | "srtcp"
    ok: bool
    mki: bytes
    label: str = ""
    ssrc: int | None = None
    plaintext: bytes | None = None
    error: str | None = None
    floor: str | None = None  # TS 24.380 message name for MCPTT floor control
    floor_control: list = field(default_factory=list)  # decoded MCPT APP packets (codec.floor)
    floor_errors: list = field(default_factory=list)  # DecodeErrors of MCPT APP packets


@dataclass
class _Entry:
    keys: srtp.SessionKeys
    label: str


@dataclass
class MediaKeys:
    sessions: dict = field(default_factory=dict)  # MKI -> [_Entry] (PCK: CS 0 and 1 share one)
    by_ssrc: dict = field(default_factory=dict)  # (SSRC, MKI, kind) -> the _Entry that opened it
    groups: dict = field(default_factory=dict)  # GMK-ID -> (gmk, rand, prf_func, cs_id, label)
    roc: dict = field(default_factory=dict)  # SSRC -> (roc, last seq or None)
    ssrc_sessions: dict = field(default_factory=dict)  # SSRC -> [_Entry] (maps without MKI)

    def add_session(self, mki: bytes, master_key: bytes, master_salt: bytes, label: str,
                    ssrc: int | None = None, roc: int | None = None):
        if len(master_salt) != 12:
            return
        entry = _Entry(srtp.SessionKeys(master_key, master_salt), label)
        tables = ([(self.sessions, bytes(mki))] if mki else []) + (
            [(self.ssrc_sessions, ssrc)] if ssrc is not None else [])
        for table, key in tables:
            entries = table.setdefault(key, [])
            entries[:] = [e for e in entries if e.label != label]  # a re-keyed CS replaces its entry
            entries.append(entry)
        if ssrc is not None and roc is not None:  # RFC 3830 §6.1.1: the ROC to start from
            self.roc[ssrc] = (roc, None)

    def add_group(self, gmk_id: int, gmk: bytes, rand: bytes, prf_func: int, cs_id: int,
                  label: str):
        self.groups[gmk_id] = (gmk, rand, prf_func, cs_id, label)

    def _lookup(self, packet: bytes):
        for n in (8, 4):
            if len(packet) <= n + 16:
                continue
            mki = bytes(packet[len(packet) - n:])
            entries = self.sessions.get(mki)
            if entries:
                return mki, entries
            if n == 8:
                gmk_id, guk_id = GMK_MKI.parse(mki)  # TS 33.180 §7.4.2: GMK-ID || GUK-ID
                group = self.groups.get(gmk_id)
                if group is not None:  # the sender's GUK-ID is the CSB ID of its keys
                    gmk, rand, prf_func, cs_id, label = group
                    key, salt = prf.srtp_master(gmk, cs_id, guk_id, rand, 16, 12, prf_func)
                    entry = _Entry(srtp.SessionKeys(key, salt), f"{label}, sender GUK-ID "
                                                                 f"0x{guk_id:08x}")
                    self.sessions[mki] = [entry]
                    return mki, [entry]
        return None, None

    def open(self, packet: bytes) -> MediaResult | None:
        """Open an SRTP or SRTCP packet whose MKI names known keys (None when none does)."""
        if not rtp.is_rtp_v2(packet):
            return None
        mki, entries = self._lookup(packet)
        if not entries and not self.ssrc_sessions:
            return None  # the common case without keys: no header parsed
        rtcp = rtp.is_rtcp(packet)
        try:
            ssrc = rtp.stream_ssrc(packet)
        except rtp.HeaderError:
            return None
        if not entries:
            mki, entries = b"", self.ssrc_sessions.get(ssrc)
            if not entries:
                return None
        kind = "srtcp" if rtcp else "srtp"
        known = self.by_ssrc.get((ssrc, mki, kind))
        ordered = ([known] if known else []) + [e for e in entries if e is not known]
        res = None
        for entry in ordered:  # the GCM tag tells which crypto session a stream belongs to
            res = self._open_with(entry, packet, mki, rtcp, ssrc)
            if res.ok:
                self.by_ssrc[(ssrc, mki, kind)] = entry
                return res
        if len(ordered) > 1:
            res.label = " / ".join(e.label for e in ordered)
        return res

    def _open_with(self, entry, packet, mki, rtcp, ssrc):
        if rtcp:
            res = MediaResult("srtcp", False, mki, entry.label, ssrc)
            try:
                plain = srtp.unprotect_rtcp(entry.keys, packet, len(mki))
            except (InvalidTag, ValueError) as e:
                res.error = "authentication tag mismatch" if isinstance(e, InvalidTag) else str(e)
                return res
            res.ok, res.plaintext = True, plain
            for _, msg in floor.floor_messages(plain):  # TS 24.380 §8.2, in the compound packet
                if isinstance(msg, DecodeError):
                    res.floor_errors.append(msg)
                    continue
                res.floor_control.append(msg)
                res.floor = res.floor or msg["rtcp.app.subtype_name"]
            return res
        res = MediaResult("srtp", False, mki, entry.label, ssrc)
        try:
            seq = rtp.RtpHeader(packet).seq
        except rtp.HeaderError as e:
            res.error = f"malformed RTP header: {e}"
            return res
        roc, last = self.roc.get(ssrc, (0, None))
        if last is not None and seq < last and last - seq > 0x8000:  # RFC 3711 §3.3.1: wrapped
            roc += 1
        try:
            plain = srtp.unprotect_rtp(entry.keys, packet, roc, len(mki))
        except (InvalidTag, ValueError) as e:
            res.error = "authentication tag mismatch" if isinstance(e, InvalidTag) else str(e)
            return res
        self.roc[ssrc] = (roc, seq)
        res.ok, res.plaintext = True, plain
        return res
