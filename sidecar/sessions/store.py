"""The session store protocol: a narrow, byte-level key/value store with TTLs and leases.

The store knows nothing about tickets, sealing or tokens (the manager owns those): it is handed
opaque keys (already derived from the ticket, with a `{hash tag}` so a session's keys share a
Redis Cluster slot) and opaque sealed values. Every method raises `StoreUnavailable` when the
backend cannot be reached within its timeout; never anything else for an outage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class SessionStore(Protocol):
    async def save(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store `value` under `key`, replacing any value, expiring after `ttl_s` seconds."""

    async def load(self, key: str) -> bytes | None:
        """The value under `key`, or None when absent or expired."""

    async def load_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values under `keys`, in order (None where absent or expired), in one round
        trip. The keys must share one `{hash tag}` (one Redis Cluster slot)."""

    async def save_replicated(
        self, key: str, value: bytes, ttl_s: float, replicas: int, timeout_ms: int
    ) -> int:
        """`save`, then wait (Redis `WAIT`, on the connection that wrote) until `replicas`
        replicas hold it or `timeout_ms` passed; returns how many acknowledged. A store without
        replicas returns 0 at once."""

    async def save_if_absent(self, key: str, value: bytes, ttl_s: float) -> bool:
        """Store `value` only when `key` holds nothing; True when this call stored it."""

    async def index_add(self, key: str, member: str, ttl_s: float) -> None:
        """Add `member` to the index `key` for `ttl_s` seconds. Each member expires on its own;
        the index itself lives as long as its longest-lived member, so it never outlives the
        sessions it names (and expired members are pruned on every add)."""

    async def index_members(self, key: str) -> list[str]:
        """The members of the index `key` that have not expired."""

    async def index_remove(self, key: str, member: str) -> None:
        """Remove `member` from the index `key` (absent: not an error)."""

    async def take(self, key: str) -> bytes | None:
        """Atomically read and delete: a second `take` of the same key returns None.
        (Login state: RFC 6749 section 10.12, a `state` is accepted once.)"""

    async def clear(self, key: str) -> None:
        """Delete `key`; deleting an absent key is not an error."""

    async def acquire_lock(self, key: str, owner: str, lease_s: float) -> bool:
        """Take the lock `key` for `owner` for `lease_s` seconds; False while anyone (the same
        owner included: it is not reentrant) holds it."""

    async def renew_lock(self, key: str, owner: str, lease_s: float) -> bool:
        """Extend the lease if `owner` still holds it; False when the lock was lost."""

    async def release_lock(self, key: str, owner: str) -> None:
        """Release the lock only if `owner` holds it (compare-and-delete)."""

    async def ping(self) -> None:
        """Raise `StoreUnavailable` unless the backend answers (readiness)."""

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""
