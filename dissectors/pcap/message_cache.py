"""A bounded least-recently-used cache for what the dissector computes once per distinct message.

Captures repeat MIKEY messages octet for octet (retransmissions, forks, a group key fanned out to
every member, a proxy's next hop): decoding such a message (:func:`codec.mikey.decode`) and
rendering its JSON (:func:`codec.mikey.render.to_json`) are pure functions of its octets (and of
``--show-secrets``), so the session and the renderer keep their results here by those octets
(issue 17: render once per distinct message).  Bounded by entry count *and* by the octets the
entries stand for, so that memory stays flat whatever the capture; the least recently used
entries go first.  ``enabled = False`` (tests) makes every lookup a miss and stores nothing.
"""

from __future__ import annotations

from collections import OrderedDict

MAX_ENTRIES = 1024
MAX_OCTETS = 8 << 20  # the sizes given to put(): wire octets, or JSON text length


class BoundedCache:
    """``get(key)`` / ``put(key, value, size)``; at most ``max_entries`` entries whose sizes add
    up to at most ``max_octets`` (an entry larger than that is not kept)."""

    __slots__ = ("max_entries", "max_octets", "octets", "entries", "enabled", "hits", "misses")

    def __init__(self, max_entries: int = MAX_ENTRIES, max_octets: int = MAX_OCTETS):
        self.max_entries, self.max_octets = max_entries, max_octets
        self.entries: OrderedDict = OrderedDict()  # key -> (value, size)
        self.octets = 0
        self.enabled = True
        self.hits = self.misses = 0

    def get(self, key):
        """The value kept for ``key`` (now the most recently used), or None."""
        entry = self.entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self.entries.move_to_end(key)
        return entry[0]

    def put(self, key, value, size: int) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.octets -= old[1]
        if not self.enabled or size > self.max_octets:
            return
        self.entries[key] = (value, size)
        self.octets += size
        while len(self.entries) > self.max_entries or self.octets > self.max_octets:
            _, (_, dropped) = self.entries.popitem(last=False)
            self.octets -= dropped

    def clear(self) -> None:
        self.entries.clear()
        self.octets = 0

    def __len__(self) -> int:
        return len(self.entries)


def set_enabled(enabled: bool) -> None:
    """Turn every cache of the dissector on or off (off: each message decoded and rendered anew,
    the behaviour the caches must not change; tests compare the two)."""
    for cache in ALL:
        cache.enabled = enabled
        cache.clear()


# decoded MIKEY messages by wire octets (dissectors/pcap/session.py)
DECODED = BoundedCache()
# rendered MIKEY JSON by (wire octets, show_secrets) (dissectors/pcap/render.py)
RENDERED = BoundedCache()
ALL = (DECODED, RENDERED)
