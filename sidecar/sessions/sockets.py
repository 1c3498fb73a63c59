"""The websockets relayed under each session, closed when the session ends anywhere.

CONTRACT "A session ends everywhere at once": every websocket relayed under a session closes
with 1008 (policy violation, RFC 6455 section 7.4.1) within 1 s of a logout, a back-channel
logout or `invalid_grant` on any replica. The "ended" event closes them at once; while the
subscription is down (and once right after it comes back, for what it may have missed) each
watched session is looked up in the store every `RECHECK_S`.

A watch can start after its session's "ended" event went by: the request that opens the
socket was authenticated before the logout, and the watch starts only when the request reaches
the proxy (a store round trip or a token refresh later). So the registry remembers the
sessions that ended in the last `ENDED_MEMORY_S`, and a watch of one of them is set at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator

import structlog
from aiohttp import web

from sidecar.errors import StoreUnavailable
from sidecar.sessions.events import SessionEvent, SessionEvents

RECHECK_S = 0.5  # twice a second: a session ended during an outage closes within ~1 s
# Longer than an authentication can take (a refresh waits on the provider's timeout); the
# memory holds at most `ENDED_MEMORY_MAX` ids (32 bytes each), the oldest dropped first.
ENDED_MEMORY_S = 60.0
ENDED_MEMORY_MAX = 10_000

# Set by the session manager on a request authenticated by its cookie: the session's store tag.
SESSION_TAG = web.RequestKey("session_tag", str)

log = structlog.get_logger(__name__)


class SocketRegistry:
    def __init__(
        self,
        events: SessionEvents,
        session_id: Callable[[str], str],
        session_exists: Callable[[str], Awaitable[bool]],
    ) -> None:
        self._events = events
        self._session_id = session_id
        self._exists = session_exists
        self._watchers: dict[str, dict[asyncio.Event, str]] = {}  # session id -> event -> tag
        self._ended: dict[str, float] = {}  # session id -> when it ended; oldest first
        self._wake = asyncio.Event()
        events.listen(self)

    def __len__(self) -> int:
        return sum(len(watchers) for watchers in self._watchers.values())

    @contextlib.contextmanager
    def watch(self, tag: str) -> Iterator[asyncio.Event]:
        """An event set when the session with store tag `tag` ends, for as long as the block
        runs (one relayed websocket)."""
        session_id, ended = self._session_id(tag), asyncio.Event()
        self._watchers.setdefault(session_id, {})[ended] = tag
        if time.monotonic() - self._ended.get(session_id, -ENDED_MEMORY_S) < ENDED_MEMORY_S:
            ended.set()  # it ended while the request was on its way here
        try:
            yield ended
        finally:
            watchers = self._watchers.get(session_id, {})
            watchers.pop(ended, None)
            if not watchers:
                self._watchers.pop(session_id, None)

    def session_event(self, event: SessionEvent) -> None:
        if event.kind == "ended":
            self._end(event.session_id)

    def signal_state(self, up: bool) -> None:
        if up:
            self._wake.set()  # catch up on whatever ended while nobody was listening

    async def run(self) -> None:
        """Until cancelled: re-check every watched session while the signal is down."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RECHECK_S)
            woken = self._wake.is_set()
            self._wake.clear()
            if woken or not self._events.healthy:
                await self._recheck()

    async def _recheck(self) -> None:
        for session_id, watchers in list(self._watchers.items()):
            tag = next(iter(watchers.values()), None)
            if tag is None:
                continue
            try:
                alive = await self._exists(tag)
            except StoreUnavailable:
                continue  # cannot tell: ask again on the next round
            if not alive:
                self._end(session_id)

    def _end(self, session_id: str) -> None:
        self._remember_ended(session_id)
        for ended in self._watchers.get(session_id, {}):
            ended.set()

    def _remember_ended(self, session_id: str) -> None:
        now, memory = time.monotonic(), self._ended
        memory.pop(session_id, None)  # re-inserted last: the dict stays in time order
        memory[session_id] = now
        while len(memory) > ENDED_MEMORY_MAX or next(iter(memory.values())) < now - ENDED_MEMORY_S:
            del memory[next(iter(memory))]


SOCKETS = web.AppKey("sockets", SocketRegistry)
