"""SRTP/SRTCP media protected with keys from key management, and MCPTT floor control.

:class:`MediaKeys` collects what MIKEY processing derived — per-crypto-session master keys and
salts with their MKIs (TS 33.180 §7.4: PCK-ID, CSK-ID …) and GMKs, whose senders' keys depend on
the sender's GUK-ID carried in the MKI (GMK-ID ‖ GUK-ID, §7.4.2) — and opens packets with the AES-GCM
default profile of :mod:`codec.srtp` or the transform key management chose (:class:`srtp.Transform`:
AES-CM-128/256, NULL cipher, HMAC-SHA1 or NULL auth, KDR).  Packets are matched to keys by their
MKI (at the end after a GCM tag, before an HMAC tag: RFC 3711 §3.1, RFC 7714 §8), or —
for crypto sessions named by an SRTP-ID map (RFC 3830 §6.1.1) or GENERIC-ID Session Data
(RFC 6043 §6.1.1), which use no MKI — by their SSRC, starting from the ROC the map gives; keys
bound to no SSRC and no MKI (an SSRC 0 entry, RFC 3830 §6.1.1, or an Empty map) are tried on
streams no other key opens and bound to the first SSRC whose tag they verify.
Floor-control messages (RTCP APP with name "MCPT", TS 24.380 §8.2) are decoded after opening
(:mod:`codec.floor`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace

import construct as c
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
    ctx: srtp.Context
    label: str
    alt_rtcp: srtp.Context | None = None  # HMAC-SHA1-32: SRTCP tag of 4 or of 10 octets
    ssrc: int | None = None  # the stream the CS ID map names, if any


def _label(label: str, t: srtp.Transform) -> str:
    return label if t == srtp.GCM_DEFAULT or (t.gcm and t.key_len == 16) else f"{label} ({t.name})"


# Bounds on what media packets alone can add (a capture's packets are untrusted): the keys
# derived for GMK senders from the GUK-ID in a packet's MKI (TS 33.180 §7.4.2; any packet naming
# a known GMK-ID makes one, before its tag is checked) and the streams tracked.  Least recently
# used first out: a sender key is derived again when needed; a stream idle while MAX_STREAMS
# others were opened loses its rollover counter (RFC 3711 §3.3.1) and restarts from 0.
MAX_DERIVED = 4096
MAX_STREAMS = 65_536


def _touch(table: OrderedDict, key, value, limit: int) -> None:
    """table[key] = value as the most recently used entry, the least recently used beyond
    ``limit`` dropped."""
    table[key] = value
    table.move_to_end(key)
    while len(table) > limit:
        table.popitem(last=False)


@dataclass
class MediaKeys:
    sessions: dict = field(default_factory=dict)  # MKI -> [_Entry] (PCK: CS 0 and 1 share one)
    # (SSRC, MKI, kind) -> the _Entry that opened it (bounded: MAX_STREAMS)
    by_ssrc: OrderedDict = field(default_factory=OrderedDict)
    groups: dict = field(default_factory=dict)  # GMK-ID -> (gmk, rand, prf_func, cs_id, label)
    roc: OrderedDict = field(default_factory=OrderedDict)  # SSRC -> (roc, last seq or None)
    # GMK sender keys by MKI (GMK-ID || GUK-ID), derived from packets (bounded: MAX_DERIVED)
    derived: OrderedDict = field(default_factory=OrderedDict)
    ssrc_sessions: dict = field(default_factory=dict)  # SSRC -> [_Entry] (maps without MKI)
    any_sessions: list = field(default_factory=list)  # [_Entry] bound to no SSRC nor MKI
    # (MKI length, octets after the MKI in SRTP, in SRTCP) of the keys known, to find MKIs
    layouts: set = field(default_factory=lambda: {(8, 0, 0), (4, 0, 0)})

    def add_session(self, mki: bytes, master_key: bytes, master_salt: bytes, label: str,
                    ssrc: int | None = None, roc: int | None = None,
                    transform: srtp.Transform | None = None) -> str | None:
        """Keys for the packets with this MKI / SSRC (``transform`` None: the AES-GCM default
        profile, TS 33.180 §7.4).  Returns why the keys cannot be used, or None."""
        mki = bytes(mki)
        if transform is None:
            if len(master_salt) != 12:
                return "AES-GCM default profile needs a 12-octet master salt"
            transform = srtp.GCM_DEFAULT
        if transform.mki_len != len(mki):
            transform = replace(transform, mki_len=len(mki))
        try:
            ctx = srtp.Context(transform, bytes(master_key), bytes(master_salt))
        except srtp.TransformError as e:
            return str(e)
        entry = _Entry(ctx, _label(label, transform), ssrc=ssrc or None)
        if transform.auth == srtp.AUTH_HMAC_SHA1 and transform.rtp_tag_len == 4:
            other = 10 if transform.rtcp_tag_len == 4 else 4  # RFC 3711 §4.2 vs RFC 4568 §6.2.1
            entry.alt_rtcp = srtp.Context(replace(transform, rtcp_tag_len=other),
                                          ctx.master_key, ctx.master_salt)
        if mki:
            for t in (transform, entry.alt_rtcp.transform if entry.alt_rtcp else transform):
                self.layouts.add((len(mki), -srtp.mki_offset(t, 0, False) - len(mki),
                                  -srtp.mki_offset(t, 0, True) - len(mki)))
        elif ssrc in (None, 0):  # no MKI, no SSRC (RFC 3830 §6.1.1 SSRC 0, Empty map)
            if not transform.gcm and transform.auth == srtp.AUTH_NULL:
                return "no MKI, no SSRC and no authentication tag: no packet can be matched"
            self.any_sessions[:] = [e for e in self.any_sessions if e.label != entry.label]
            self.any_sessions.append(entry)
            del self.any_sessions[:-64]  # bounded
            return None
        tables = ([(self.sessions, mki)] if mki else []) + (
            [(self.ssrc_sessions, ssrc)] if ssrc is not None else [])
        for table, key in tables:
            entries = table.setdefault(key, [])
            entries[:] = [e for e in entries if e.label != entry.label]  # re-keyed CS replaces it
            entries.append(entry)
        if ssrc is not None and roc is not None:  # RFC 3830 §6.1.1: the ROC to start from
            _touch(self.roc, ssrc, (roc, None), MAX_STREAMS)
        return None

    def add_group(self, gmk_id: int, gmk: bytes, rand: bytes, prf_func: int, cs_id: int,
                  label: str):
        self.groups[gmk_id] = (gmk, rand, prf_func, cs_id, label)

    def _lookup(self, packet: bytes, rtcp: bool):
        size = len(packet)
        for n, after_rtp, after_rtcp in sorted(self.layouts, reverse=True):
            after = after_rtcp if rtcp else after_rtp
            if size <= n + after + 12:
                continue
            mki = bytes(packet[size - after - n:size - after])
            entries = self.sessions.get(mki)
            if entries:
                return mki, entries
            if n == 8 and not after:
                entries = self.derived.get(mki)
                if entries:
                    self.derived.move_to_end(mki)
                    return mki, entries
                gmk_id, guk_id = GMK_MKI.parse(mki)  # TS 33.180 §7.4.2: GMK-ID || GUK-ID
                group = self.groups.get(gmk_id)
                if group is not None:  # the sender's GUK-ID is the CSB ID of its keys
                    gmk, rand, prf_func, cs_id, label = group
                    key, salt = prf.srtp_master(gmk, cs_id, guk_id, rand, 16, 12, prf_func)
                    entry = _Entry(srtp.Context(replace(srtp.GCM_DEFAULT, mki_len=8), key, salt),
                                   f"{label}, sender GUK-ID 0x{guk_id:08x}")
                    _touch(self.derived, mki, [entry], MAX_DERIVED)
                    return mki, [entry]
        return None, None

    def open(self, packet: bytes) -> MediaResult | None:
        """Open an SRTP or SRTCP packet whose MKI names known keys (None when none does)."""
        if not rtp.is_rtp_v2(packet):
            return None
        rtcp = rtp.is_rtcp(packet)
        mki, entries = self._lookup(packet, rtcp)
        if not entries and not self.ssrc_sessions and not self.any_sessions:
            return None  # the common case without keys: no header parsed
        try:
            ssrc = rtp.stream_ssrc(packet)
        except rtp.HeaderError:
            return None
        kind = "srtcp" if rtcp else "srtp"
        if not entries:
            mki, entries = b"", self.ssrc_sessions.get(ssrc)
            if not entries:
                bound = self.by_ssrc.get((ssrc, b"", kind))
                if bound is None and not self.any_sessions:
                    return None
                # keys bound to no stream: try them (authenticated transforms only)
                entries = [bound] if bound is not None else list(self.any_sessions)
                res = None
                for entry in entries:
                    res = self._open_with(entry, packet, b"", rtcp, ssrc)
                    if res.ok:
                        _touch(self.by_ssrc, (ssrc, b"", kind), entry, MAX_STREAMS)
                        return res
                return res if bound is not None else None
        known = self.by_ssrc.get((ssrc, mki, kind))
        # the stream's own keys first (several CSs may share an MKI; NULL auth cannot tell them
        # apart), then those bound to no SSRC, then the rest
        rest = sorted((e for e in entries if e is not known),
                      key=lambda e: 0 if e.ssrc == ssrc else 1 if e.ssrc is None else 2)
        ordered = ([known] if known else []) + rest
        res = None
        for entry in ordered:  # the GCM tag tells which crypto session a stream belongs to
            res = self._open_with(entry, packet, mki, rtcp, ssrc)
            if res.ok:
                _touch(self.by_ssrc, (ssrc, mki, kind), entry, MAX_STREAMS)
                return res
        if len(ordered) > 1:
            res.label = " / ".join(e.label for e in ordered)
        return res

    def _open_with(self, entry, packet, mki, rtcp, ssrc):
        if rtcp:
            res = MediaResult("srtcp", False, mki, entry.label, ssrc)
            try:
                plain = entry.ctx.unprotect_rtcp(packet)
            except ValueError as e:
                res.error = str(e)
                if entry.alt_rtcp is None:
                    return res
                try:  # the other SRTCP tag length HMAC-SHA1-32 suites use
                    plain = entry.alt_rtcp.unprotect_rtcp(packet)
                except ValueError:
                    return res
                res.error = None
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
            hdr = rtp.RtpHeader(packet)
            seq = hdr.seq
        except rtp.HeaderError as e:
            res.error = f"malformed RTP header: {e}"
            return res
        roc, last = self.roc.get(ssrc, (0, None))
        if last is not None and seq < last and last - seq > 0x8000:  # RFC 3711 §3.3.1: wrapped
            roc += 1
        try:
            plain = entry.ctx.unprotect_rtp(packet, roc, hdr)
        except ValueError as e:  # srtp.AuthError, a packet cut short
            res.error = str(e)
            return res
        _touch(self.roc, ssrc, (roc, seq), MAX_STREAMS)
        res.ok, res.plaintext = True, plain
        return res
