"""`session.cache_s`: unsealed sessions served from process memory for a few seconds.

Safe only because of the signal (`sidecar.sessions.events`): an entry is dropped the moment any
replica reports the session changed or ended; nothing is served while the subscription is down,
and everything is dropped when it goes down or comes back (events may have been missed).

A load that started before an event must not put back what the event removed: `put` takes the
generation read before the load and refuses when any event arrived since.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

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

    def session_event(self, event: SessionEvent) -> None:
        self.generation += 1
        self._entries.pop(event.session_id, None)

    def signal_state(self, up: bool) -> None:
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
