"""`session.cache_s`: unsealed sessions served from process memory for a few seconds.

Safe only because of the signal (`sidecar.sessions.events`): an entry is dropped the moment any
replica reports the session changed or ended; nothing is served while the subscription is down,
and everything is dropped when it goes down or comes back (events may have been missed).

A load that started before an event must not put back what the event removed: `put` takes the
generation read before the load and refuses when any event arrived since.

A cold entry is loaded once however many requests for that session arrive together
(`single_flight`): the others wait for that load instead of each reading the store. A request
joins a load only when no event arrived since it began, so nobody is handed a copy read before
a logout.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from sidecar.sessions.events import SessionEvent, SessionEvents
from sidecar.sessions.record import SessionRecord

MAX_ENTRIES = 10_000


class SessionCache:
    def __init__(
        self,
        ttl_s: float,
        events: SessionEvents,
        *,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._events = events
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[SessionRecord, float]] = OrderedDict()
        self.generation = 0
        # Loads under way, by the session's full ticket (never only its public tag).
        self._flights: dict[bytes, tuple[int, asyncio.Future[SessionRecord | None]]] = {}
        events.listen(self)

    @property
    def enabled(self) -> bool:
        return self._ttl_s > 0

    def get(self, session_id: str) -> SessionRecord | None:
        if not self.enabled or not self._events.healthy:
            return None
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        record, expires_at = entry
        if self._clock() >= expires_at:
            del self._entries[session_id]
            return None
        return record

    def put(self, session_id: str, record: SessionRecord, generation: int, ttl_s: float) -> None:
        """Keep `record` for at most `min(cache_s, ttl_s)`, unless an event came after
        `generation` was read (that event may concern this very session)."""
        if not self.enabled or generation != self.generation or not self._events.healthy:
            return
        self._entries[session_id] = (record, self._clock() + min(self._ttl_s, ttl_s))
        self._entries.move_to_end(session_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def single_flight(
        self, key: bytes, load: Callable[[], Awaitable[SessionRecord | None]]
    ) -> SessionRecord | None:
        """`load()`, or the result of the same load already under way for `key` when no
        event arrived since it began. A caller that gives up (cancelled) leaves the load
        running for the others (`shield`)."""
        flight = self._flights.get(key)
        if flight is None or flight[0] != self.generation:
            flight = (self.generation, asyncio.ensure_future(load()))
            self._flights[key] = flight
            flight[1].add_done_callback(lambda done: self._land(key, done))
        return await asyncio.shield(flight[1])

    def _land(self, key: bytes, done: asyncio.Future[SessionRecord | None]) -> None:
        flight = self._flights.get(key)
        if flight is not None and flight[1] is done:
            del self._flights[key]
        if not done.cancelled():
            done.exception()  # retrieved: an outage is raised to the waiters, never lost

    def session_event(self, event: SessionEvent) -> None:
        self.generation += 1
        self._entries.pop(event.session_id, None)

    def signal_state(self, up: bool) -> None:
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
