"""Replay and timestamp checks that apply to every I_MESSAGE (RFC 3830 §5.4).

RFC 3830 §5.4: the responder keeps the I_MESSAGEs it accepted while their timestamps are within
the allowed clock skew and rejects one seen again; a timestamp too far from its own clock is
rejected too.  This holds for MIKEY-SAKKE I_MESSAGEs (RFC 6509) as for the other data types, not
only MIKEY-TICKET's TRANSFER_INIT (whose seed 004 cache is :class:`codec.mikey.ticket.ReplayCache`).

:class:`SeenIMessages` remembers the first sighting of each I_MESSAGE by (data type, CSB ID,
RAND, T) and its octets, and answers with where the first copy was seen (a frame number, or a
message index).  A message with the same CSB ID, RAND and T but other octets (say, a tampered
signature) is not a copy: it is another, forged message, and its signature check reports it.  The dissector
keeps one table per receiving host: the same message forwarded by a proxy to its next hop is
not a replay, the same message delivered twice to one host is.  I/O-free.
"""

from __future__ import annotations

from collections import OrderedDict

# RFC 3830 §6.1 / RFC 4650 / RFC 4738 / RFC 6043 / RFC 6509 data types of initiator messages
I_MESSAGE_TYPES = frozenset({0, 2, 4, 7, 9, 11, 12, 14, 16, 17, 26})
NTP_UNIX_OFFSET = 2208988800
DEFAULT_MAX_CLOCK_SKEW = 300.0  # seconds; RFC 3830 §5.4 leaves the allowed skew to the policy


def replay_key(msg) -> tuple | None:
    """(data type, CSB ID, RAND, T) of an I_MESSAGE, or None (not an I_MESSAGE, no T or RAND)."""
    hdr = getattr(msg, "hdr", None)
    if hdr is None or hdr.data_type not in I_MESSAGE_TYPES:
        return None
    t, rand = msg.find("T"), msg.find("RAND")
    if t is None or rand is None:
        return None
    return hdr.data_type, hdr.csb_id, bytes(rand.rand), t.ts_type, t.ts_value


def _digest(wire: bytes | None) -> bytes | None:
    import hashlib

    return None if wire is None else hashlib.sha256(bytes(wire)).digest()


def t_unix(msg) -> float | None:
    """The T payload as Unix seconds (NTP-UTC / NTP types 0 and 1, RFC 3830 §6.6), or None."""
    t = msg.find("T") if getattr(msg, "hdr", None) is not None else None
    if t is None or t.ts_type not in (0, 1):
        return None
    return (t.ts_value >> 32) - NTP_UNIX_OFFSET + (t.ts_value & 0xFFFFFFFF) / 2 ** 32


def clock_skew(msg, capture_time: float | None, max_skew: float | None) -> float | None:
    """T minus the capture time in seconds when it exceeds ``max_skew`` either way, else None."""
    if capture_time is None or max_skew is None:
        return None
    t = t_unix(msg)
    if t is None:
        return None
    skew = t - capture_time
    return round(skew, 3) if abs(skew) > max_skew else None


class SeenIMessages:
    """First sightings of I_MESSAGEs, bounded (the oldest are forgotten first)."""

    def __init__(self, capacity: int = 65536):
        self.capacity = capacity
        self.first: OrderedDict = OrderedDict()

    def check(self, msg, where, scope=None, wire: bytes | None = None):
        """Where the first copy of ``msg`` (octets ``wire``) was seen (within ``scope``), or
        None when this is the first; the first sighting is remembered at ``where``."""
        key = replay_key(msg)
        if key is None:
            return None
        key = (scope, key, _digest(wire))
        seen = self.first.get(key)
        if seen is not None:
            return seen
        self.first[key] = where
        while len(self.first) > self.capacity:
            self.first.popitem(last=False)
        return None
