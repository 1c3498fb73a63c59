"""Pick the session store from the settings: Redis when `session.redis_url` is set, else the
embedded memory store (one process only)."""

from __future__ import annotations

from collections.abc import Callable

from sidecar.config.settings import SessionSettings
from sidecar.sessions.events import LocalEvents, RedisEvents, SessionEvents
from sidecar.sessions.memory import MemoryStore
from sidecar.sessions.redis import RedisStore
from sidecar.sessions.redis_connect import connect
from sidecar.sessions.store import SessionStore

# Redis commands in flight per process. Each takes well under a millisecond and Redis runs them
# one at a time, so a few connections carry thousands of requests a second; beyond this callers
# queue (within the store timeout). Kept small because a cold burst opens them all at once and
# a TLS handshake costs ~25 ms of CPU on this 2-core machine: 64 of them took 1.6 s.
REDIS_MAX_IN_FLIGHT = 16
# Pools get a little more than the commands in flight: a Cluster client reloading its slot map
# borrows a connection of its own.
REDIS_POOL_HEADROOM = 4
MEMORY_MAX_ENTRIES = 100_000


def build_store(settings: SessionSettings) -> SessionStore:
    """The store for `settings`; `ValueError` for a malformed or unsupported Redis URL."""
    if not settings.redis_url:
        return MemoryStore(max_entries=MEMORY_MAX_ENTRIES)
    connection = connect(
        settings.redis_url,
        cluster=settings.redis_cluster,
        timeout_s=settings.store_timeout_s,
        max_connections=REDIS_MAX_IN_FLIGHT + REDIS_POOL_HEADROOM,
    )
    return RedisStore(
        connection, timeout_s=settings.store_timeout_s, max_in_flight=REDIS_MAX_IN_FLIGHT
    )


def build_events(
    store: SessionStore, timeout_s: float, on_publish_error: Callable[[], None]
) -> SessionEvents:
    """The "session changed or ended" signal that fits `store`: Redis pub/sub on the same
    Redis, or in-process delivery for the memory store (and any store that is not Redis)."""
    if not isinstance(store, RedisStore):
        return LocalEvents()
    connection = store.connection
    return RedisEvents(
        connection.client,
        connection.new_subscriber,
        timeout_s=timeout_s,
        master_moved=connection.master_moved,
        find_master=connection.prepare_write or connection.prepare,
        on_publish_error=on_publish_error,
    )
