"""Reading pcap files (draft-ietf-opsawg-pcap §4 file header, §5 packet record; nanosecond and
Kuznetzov's modified records too), mixed into :class:`dissectors.pcap.capture.CaptureReader`.

A record longer than the snaplen or ``max_record`` is an error before its octets are read; the
reader then resynchronises on two consecutive plausible record headers (lengths within the
limits, sub-second part below the resolution, seconds within a day of the previous record).
"""

from __future__ import annotations

from typing import Iterator

from codec import pcapfile
from codec.constructs import StreamError
from dissectors.pcap.capture_records import BoundedSource, Frame, Interface


class PcapReading:
    """The pcap half of :class:`~dissectors.pcap.capture.CaptureReader` (needs its limits,
    ``_error``, ``_number``, ``stats`` and ``interfaces``)."""

    def _read_pcap(self, src: BoundedSource, modified: bool, order: str, units: int) -> Iterator:
        if not src.ensure(24):
            yield self._error(0, f"pcap file header cut short: {src.available()} of 24 octets",
                              fatal=True)
            return
        hdr = pcapfile.PCAP_HEADER[order].reader()(src.stream)
        snaplen = hdr.snaplen
        self.interfaces.append(Interface(linktype=hdr.linktype, snaplen=snaplen,
                                         units_per_second=units))
        limit = min(snaplen, self.max_record) if snaplen else self.max_record
        read_rec = (pcapfile.PCAP_MODIFIED_RECORD if modified else pcapfile.PCAP_RECORD)[order].reader()
        read_hdr = (pcapfile.PCAP_MODIFIED_RECORD_HEADER if modified else pcapfile.PCAP_RECORD_HEADER)[order].reader()
        hsize = 24 if modified else 16
        linktype = hdr.linktype
        to_ns = 1_000_000_000 // units
        last_sec = None
        stats = self.stats
        while True:
            stream = src.stream
            pos = stream.tell()
            try:
                rec = read_rec(stream)
            except StreamError:
                stream.seek(pos)
                rec = None
            if rec is None or rec.incl_len > limit:
                # slow path: refill, check the announced length before reading it
                stream.seek(pos)
                if not src.ensure(hsize):
                    if src.available():
                        yield self._error(src.offset(), f"record header cut short: "
                                          f"{src.available()} of {hsize} octets", fatal=True)
                    return
                stream = src.stream
                pos = stream.tell()
                h = read_hdr(stream)
                stream.seek(pos)
                bad = self._bad_pcap_record(h, limit, snaplen, units)
                if bad is None and not src.ensure(hsize + h.incl_len):
                    yield self._error(src.offset(), f"record cut short: needs {hsize + h.incl_len} "
                                      f"octet(s), {src.available()} left", fatal=True)
                    return
                if bad is not None:
                    at = src.offset()
                    if not self.resync:
                        yield self._error(at, bad, fatal=True)
                        return
                    skipped = self._resync_pcap(src, read_hdr, hsize, limit, snaplen, units, last_sec)
                    if skipped is None:
                        yield self._error(at, f"{bad}; no plausible record in the next "
                                          f"{self.resync_window} octets", fatal=True)
                        return
                    yield self._error(at, bad, skipped=skipped)
                    continue
                stream = src.stream
                pos = stream.tell()
                rec = read_rec(stream)
            self._number += 1
            stats.frames += 1
            last_sec = rec.ts_sec
            yield Frame(self._number, rec.ts_sec * 1_000_000_000 + rec.ts_frac * to_ns, 0,
                        linktype, rec.orig_len, rec.data, src.base + pos)

    def _bad_pcap_record(self, h, limit, snaplen, units) -> str | None:
        if h.incl_len > self.max_record:
            return f"record length {h.incl_len} exceeds the {self.max_record}-octet limit"
        if snaplen and h.incl_len > snaplen:
            return f"record length {h.incl_len} exceeds the snaplen {snaplen}"
        return None

    def _plausible_pcap(self, h, limit, units, last_sec) -> bool:
        return (h.incl_len <= limit and h.incl_len <= h.orig_len <= 0x3FFFFFFF
                and h.ts_frac < units
                and (last_sec is None or abs(h.ts_sec - last_sec) <= 86400))

    def _resync_pcap(self, src, read_hdr, hsize, limit, snaplen, units, last_sec) -> int | None:
        """Scan for a record header whose successor is also plausible; octets skipped or None."""
        start = src.offset()
        src.ensure(self.resync_window + hsize + limit + hsize)
        stream = src.stream
        origin = stream.tell()
        avail = src.available()
        for delta in range(1, min(self.resync_window, avail) + 1):
            if avail - delta < hsize:
                break
            stream.seek(origin + delta)
            h = read_hdr(stream)
            if not self._plausible_pcap(h, limit, units, last_sec):
                continue
            nxt = delta + hsize + h.incl_len
            if nxt == avail and src.eof:
                ok = True
            elif avail - nxt >= hsize:
                stream.seek(origin + nxt)
                ok = self._plausible_pcap(read_hdr(stream), limit, units, h.ts_sec)
            else:
                ok = False
            if ok:
                stream.seek(origin + delta)
                return src.offset() - start
        stream.seek(origin)
        return None
