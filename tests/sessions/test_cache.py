"""`session.cache_s`: the memory copy, with the in-process signal (the memory store's)."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from sidecar.config.model import SessionSettings
from sidecar.metrics import Metrics
from sidecar.sessions.cache import SessionCache
from sidecar.sessions.events import LocalEvents, SessionEvent
from sidecar.sessions.memory import MemoryStore
from sidecar.sessions.record import SessionRecord
from sidecar.sessions.ticket import Sealer, Ticket
from sidecar.sessions.vault import SessionVault

RECORD = SessionRecord.new(0, "id", "access", "refresh", {"sub": "s", "exp": 10})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_entries_live_at_most_cache_s_and_their_own_ttl() -> None:
    clock = Clock()
    cache = SessionCache(5, LocalEvents(), clock=clock)
    cache.put("a", RECORD, cache.generation, ttl_s=60)
    cache.put("b", RECORD, cache.generation, ttl_s=2)
    clock.now += 3
    assert cache.get("a") is RECORD
    assert cache.get("b") is None  # its own TTL (the next touch of `seen`) came first
    clock.now += 2.5
    assert cache.get("a") is None


async def test_an_event_drops_the_copy_and_a_load_begun_before_it_is_not_kept() -> None:
    events = LocalEvents()
    cache = SessionCache(30, events)
    cache.put("a", RECORD, cache.generation, ttl_s=60)
    loading = cache.generation  # a load of "b" starts here...
    await events.publish(SessionEvent("ended", "a"))
    assert cache.get("a") is None
    cache.put("b", RECORD, loading, ttl_s=60)  # ...and ends after the event: not kept
    assert cache.get("b") is None
    cache.put("b", RECORD, cache.generation, ttl_s=60)
    assert cache.get("b") is RECORD
    await events.publish(SessionEvent("changed", "b"))
    assert cache.get("b") is None


def test_zero_turns_it_off_and_the_bound_holds() -> None:
    off = SessionCache(0, LocalEvents())
    off.put("a", RECORD, off.generation, ttl_s=60)
    assert off.get("a") is None
    small = SessionCache(30, LocalEvents(), max_entries=3)
    for name in "abcde":
        small.put(name, RECORD, small.generation, ttl_s=60)
    assert len(small) == 3
    assert small.get("a") is None
    assert small.get("e") is RECORD


def test_a_signal_change_empties_it() -> None:
    cache = SessionCache(30, LocalEvents())
    cache.put("a", RECORD, cache.generation, ttl_s=60)
    cache.signal_state(False)
    assert len(cache) == 0


def test_event_payloads_round_trip_and_refuse_garbage() -> None:
    event = SessionEvent("ended", "0123abcd")
    assert SessionEvent.decode(event.encode()) == event
    assert SessionEvent.decode(b"evil:x") is None
    assert SessionEvent.decode(b"") is None


@pytest.mark.parametrize("cache_s", [0, 30])
async def test_with_the_cache_off_no_session_id_is_computed_per_request(
    monkeypatch: pytest.MonkeyPatch, cache_s: float
) -> None:
    """The hot path: `cache_s: 0` needs no name for the session (websockets ask for one only
    when they register)."""
    events = LocalEvents()
    vault = SessionVault(
        MemoryStore(),
        Sealer([secrets.token_bytes(32)]),
        SessionSettings(secrets=(), cache_s=cache_s),
        Metrics(),
        issuer="https://issuer.example",
        events=events,
        cache=SessionCache(cache_s, events),
        clock=lambda: 100.0,
    )
    ticket = Ticket.new()
    await vault.start(ticket, RECORD)
    named: list[str] = []
    original = SessionVault.session_id

    def counting(self: SessionVault, tag: str) -> str:
        named.append(tag)
        return original(self, tag)

    monkeypatch.setattr(SessionVault, "session_id", counting)
    for _ in range(3):
        assert await vault.load_cached(ticket) == RECORD
    assert len(named) == (0 if cache_s == 0 else 3)


class CountingStore(MemoryStore):
    """The memory store, counting the reads of session records."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    async def load_many(self, keys: list[str]) -> list[bytes | None]:
        self.loads += 1
        await asyncio.sleep(0.01)  # a store round trip: the burst arrives meanwhile
        return await super().load_many(keys)


async def saved_session(store: CountingStore, events: LocalEvents) -> tuple[SessionVault, Ticket]:
    settings = SessionSettings(secrets=(secrets.token_bytes(32),), cache_s=5)
    vault = SessionVault(
        store,
        Sealer(settings.secrets),
        settings,
        Metrics(),
        issuer="https://issuer.example",
        events=events,
        cache=SessionCache(settings.cache_s, events),
    )
    ticket = Ticket.new()
    await vault.start(ticket, SessionRecord.new(int(time.time()), "id", "a", "r", {"sub": "s"}))
    store.loads = 0
    return vault, ticket


async def test_a_cold_entry_is_loaded_once_for_a_burst_of_requests() -> None:
    store, events = CountingStore(), LocalEvents()
    vault, ticket = await saved_session(store, events)
    records = await asyncio.gather(*(vault.load_cached(ticket) for _ in range(32)))
    assert store.loads == 1
    assert all(record is not None and record.claims["sub"] == "s" for record in records)
    other = Ticket.new()  # another session's burst has a load of its own
    assert await asyncio.gather(vault.load_cached(other), vault.load_cached(other)) == [None] * 2
    assert store.loads == 2


async def test_a_request_after_an_event_does_not_join_a_load_begun_before_it() -> None:
    store, events = CountingStore(), LocalEvents()
    vault, ticket = await saved_session(store, events)
    first = asyncio.ensure_future(vault.load_cached(ticket))
    await asyncio.sleep(0)  # the first load is under way
    await vault.clear(ticket, None)  # a logout: deletes the session, publishes "ended"
    assert await vault.load_cached(ticket) is None  # its own load, after the event
    await first
    assert store.loads == 2
