"""The embedded session store: one process, bounded, no background task.

Used when `session.redis_url` is unset. Every method runs without an `await` inside, so each
one is atomic on the event loop (that is what makes `take` and the locks safe here). Sessions,
login states and locks share one keyspace, as they do in Redis; a lock's value is its owner.

Expired entries vanish on read, and are pruned a few at a time on every write (amortized, no
timer task). When the store is full, the entry that would expire soonest makes room. An index
(a set of members, each with its own expiry) is one entry whose value is kept decoded.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Clock = Callable[[], float]

# Expired heap entries removed per write: enough to keep up with any write rate, since each
# write adds at most one entry.
PRUNE_PER_WRITE = 8


@dataclass(slots=True)
class _Entry:
    value: bytes | dict[str, float]  # bytes, or an index: member -> expiry time
    expires_at: float
    seq: int  # identifies the heap item that tracks this version of the entry


class MemoryStore:
    """A `SessionStore` in a dict, with a heap of expiry times for pruning and eviction."""

    def __init__(self, max_entries: int = 100_000, clock: Clock = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._expiry_heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        """Entries held, including expired ones not yet pruned."""
        return len(self._entries)

    async def save(self, key: str, value: bytes, ttl_s: float) -> None:
        self._put(key, bytes(value), ttl_s)

    async def save_replicated(
        self, key: str, value: bytes, ttl_s: float, replicas: int, timeout_ms: int
    ) -> int:
        self._put(key, bytes(value), ttl_s)
        return 0  # one process, no replicas

    async def save_if_absent(self, key: str, value: bytes, ttl_s: float) -> bool:
        if self._live(key) is not None:
            return False
        self._put(key, bytes(value), ttl_s)
        return True

    async def load(self, key: str) -> bytes | None:
        return self._bytes(self._live(key))

    async def load_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self._bytes(self._live(key)) for key in keys]

    async def take(self, key: str) -> bytes | None:
        entry = self._live(key)
        if entry is None:
            return None
        del self._entries[key]
        return self._bytes(entry)

    async def index_add(self, key: str, member: str, ttl_s: float) -> None:
        now = self._clock()
        members = {m: t for m, t in self._index(key).items() if t > now}
        members[member] = max(members.get(member, now), now + max(ttl_s, 0.0))
        self._put(key, members, max(members.values()) - now)

    async def index_members(self, key: str) -> list[str]:
        now = self._clock()
        return [member for member, expires in self._index(key).items() if expires > now]

    async def index_remove(self, key: str, member: str) -> None:
        self._index(key).pop(member, None)

    async def clear(self, key: str) -> None:
        self._entries.pop(key, None)

    async def acquire_lock(self, key: str, owner: str, lease_s: float) -> bool:
        if self._live(key) is not None:
            return False
        self._put(key, owner.encode(), lease_s)
        return True

    async def renew_lock(self, key: str, owner: str, lease_s: float) -> bool:
        if not self._held_by(key, owner):
            return False
        self._put(key, owner.encode(), lease_s)
        return True

    async def release_lock(self, key: str, owner: str) -> None:
        if self._held_by(key, owner):
            del self._entries[key]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
        self._expiry_heap.clear()

    # ---- internals ---------------------------------------------------------------------------

    def _held_by(self, key: str, owner: str) -> bool:
        entry = self._live(key)
        return entry is not None and entry.value == owner.encode()

    @staticmethod
    def _bytes(entry: _Entry | None) -> bytes | None:
        return entry.value if entry is not None and isinstance(entry.value, bytes) else None

    def _index(self, key: str) -> dict[str, float]:
        entry = self._live(key)
        return entry.value if entry is not None and isinstance(entry.value, dict) else {}

    def _live(self, key: str) -> _Entry | None:
        """The entry under `key` unless it has expired (an expired one is dropped here)."""
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at <= self._clock():
            del self._entries[key]
            return None
        return entry

    def _put(self, key: str, value: bytes | dict[str, float], ttl_s: float) -> None:
        now = self._clock()
        self._prune(now, PRUNE_PER_WRITE)
        if key not in self._entries:
            self._make_room()
        seq = next(self._seq)
        expires_at = now + max(ttl_s, 0.0)
        self._entries[key] = _Entry(value, expires_at, seq)
        heapq.heappush(self._expiry_heap, (expires_at, seq, key))
        self._compact_heap()

    def _prune(self, now: float, budget: int) -> None:
        """Drop up to `budget` expired or superseded heap items (and their expired entries)."""
        heap = self._expiry_heap
        while budget > 0 and heap and (heap[0][0] <= now or not self._is_current(heap[0])):
            _, seq, key = heapq.heappop(heap)
            entry = self._entries.get(key)
            if entry is not None and entry.seq == seq:
                del self._entries[key]
            budget -= 1

    def _make_room(self) -> None:
        """Full: evict the entry that expires soonest (expired ones first, by construction)."""
        heap = self._expiry_heap
        while len(self._entries) >= self._max_entries and heap:
            _, seq, key = heapq.heappop(heap)
            entry = self._entries.get(key)
            if entry is not None and entry.seq == seq:
                del self._entries[key]

    def _is_current(self, item: tuple[float, int, str]) -> bool:
        entry = self._entries.get(item[2])
        return entry is not None and entry.seq == item[1]

    def _compact_heap(self) -> None:
        """Overwrites and deletes leave stale heap items; rebuild when they dominate."""
        if len(self._expiry_heap) > 2 * len(self._entries) + 64:
            self._expiry_heap = [
                (entry.expires_at, entry.seq, key) for key, entry in self._entries.items()
            ]
            heapq.heapify(self._expiry_heap)
