"""The one "session changed or ended" signal, shared by every replica.

CONTRACT "A session ends everywhere at once": after a logout, a back-channel logout,
`invalid_grant`, or an idle or absolute expiry seen on use, no replica serves the session again
(its memory cache included) and every websocket relayed under it closes. A refresh is a
"changed" event: copies in memory are dropped so the new tokens are read.

- One Redis pub/sub channel. On a Cluster a plain `PUBLISH` is broadcast over the cluster bus
  to every node (sharded `SPUBLISH` would reach one shard only), so one subscription on any one
  node hears everything; on failure the next node is tried. On Sentinel the subscription
  follows the master Sentinel names, checked every `FOLLOW_CHECK_S`, and the store re-asks
  for the master before the signal is called up again (reads then see the new master).
- The subscription is "up" only while its connection answered a ping within `DEAD_AFTER_S`;
  listeners hear every change, and while it is down they serve nothing from memory and
  re-check open websockets against the store (a missed event must never keep a session alive).
- A payload is the event kind and a hash of the session's store tag (`session_id_for_tag`,
  alike on every replica whatever the order of its secrets): never the ticket, a token or an
  identity, nothing the keyspace does not already show.
- The memory store's equivalent (`LocalEvents`) delivers in process and is always up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from sidecar.sessions.redis import OUTAGES
from sidecar.sessions.redis_connect import RedisClient

CHANNEL = "sidecar:session-events"
HEARTBEAT_S = 0.25  # ping the subscription this often...
DEAD_AFTER_S = 0.8  # ...and call it down when no answer came for this long
RECONNECT_AFTER_S = 1.5  # ...and start over on a new connection after this long
RECONNECT_S = (0.1, 0.25, 0.5, 1.0)
FOLLOW_CHECK_S = 1.0
PUBLISH_ATTEMPTS = 2  # the first, and one retry after asking for the master again

_FAILURES: tuple[type[BaseException], ...] = (*OUTAGES, TimeoutError)

EventKind = Literal["ended", "changed"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SessionEvent:
    kind: EventKind
    session_id: str  # session_id_for_tag: a hash of the store tag, never the ticket

    def encode(self) -> bytes:
        return f"{self.kind}:{self.session_id}".encode()

    @classmethod
    def decode(cls, raw: object) -> SessionEvent | None:
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        kind, _, session_id = text.partition(":")
        if kind == "ended":
            return cls("ended", session_id)
        if kind == "changed":
            return cls("changed", session_id)
        return None


class SessionListener(Protocol):
    def session_event(self, event: SessionEvent) -> None:
        """Called for every event, local or from another replica (at least once)."""

    def signal_state(self, up: bool) -> None:
        """Called whenever the subscription goes up or down."""


class SessionEvents(Protocol):
    @property
    def healthy(self) -> bool:
        """True while every event published anywhere reaches this process."""

    def listen(self, listener: SessionListener) -> None: ...

    async def publish(self, event: SessionEvent) -> None:
        """Deliver to this process at once, then to every other replica."""

    async def run(self) -> None:
        """The subscription, until cancelled."""


class _Hub:
    def __init__(self) -> None:
        self._listeners: list[SessionListener] = []

    def listen(self, listener: SessionListener) -> None:
        self._listeners.append(listener)

    def _deliver(self, event: SessionEvent) -> None:
        for listener in self._listeners:
            listener.session_event(event)

    def _announce(self, up: bool) -> None:
        for listener in self._listeners:
            listener.signal_state(up)


class LocalEvents(_Hub):
    """One process (the memory store): delivery is a function call, always up."""

    @property
    def healthy(self) -> bool:
        return True

    async def publish(self, event: SessionEvent) -> None:
        self._deliver(event)

    async def run(self) -> None:
        return None


SubscriberFactory = Callable[[], Awaitable[Redis]]
MasterMoved = Callable[[PubSub], Awaitable[bool]]


class RedisEvents(_Hub):
    def __init__(
        self,
        publisher: RedisClient,
        new_subscriber: SubscriberFactory,
        *,
        timeout_s: float,
        master_moved: MasterMoved | None = None,
        find_master: Callable[[], Awaitable[object]] | None = None,
        on_publish_error: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__()
        # Sentinel: re-ask for the master now (as before a write), before every PUBLISH and
        # before the subscription is called up. A PUBLISH on the old master (a replica by now,
        # or about to be) would reach only that node's subscribers, and the others have
        # already moved to the new master. And what listeners read once the signal is up (the
        # websocket catch-up, a session put in the memory cache) must come from the master the
        # subscription is on: the old master goes on answering reads, with whatever the new
        # one deleted since, until Sentinel converts it (up to ~10 s). That stale read is
        # done only once, so it would keep a logged-out websocket open for good.
        self._find_master = find_master
        self._publisher = publisher
        self._new_subscriber = new_subscriber
        self._timeout_s = timeout_s
        self._master_moved = master_moved
        self._on_publish_error = on_publish_error
        self._up = False
        self._last_pong = float("-inf")

    @property
    def healthy(self) -> bool:
        return self._up and time.monotonic() - self._last_pong < DEAD_AFTER_S

    async def publish(self, event: SessionEvent) -> None:
        """Deliver here, then PUBLISH for the other replicas; a failed PUBLISH is tried once
        more after asking for the master again (a failover may just have moved it). The
        store write that ended the session already happened, and replicas whose own
        subscription is down re-check the store anyway; but a replica whose subscription
        stayed up would never hear of it, so a second failure is counted and logged as an
        error (`sidecar_session_signal_publish_failures_total`)."""
        self._deliver(event)
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                async with asyncio.timeout(self._timeout_s):
                    if self._find_master is not None:
                        await self._find_master()
                    await self._publisher.publish(CHANNEL, event.encode())
                return
            except _FAILURES:
                log.warning("session_signal_publish_retry", kind=event.kind, attempt=attempt + 1)
        self._on_publish_error()
        log.error("session_signal_publish_failed", kind=event.kind)

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._subscribe_and_listen()
                failures = 0
            except _FAILURES as exc:
                log.warning("session_signal_down", error=type(exc).__name__)
                failures += 1
            finally:
                self._set_up(False)
            await asyncio.sleep(RECONNECT_S[min(failures, len(RECONNECT_S) - 1)])

    async def _subscribe_and_listen(self) -> None:
        client = await self._new_subscriber()
        pubsub = client.pubsub()
        try:
            async with asyncio.timeout(self._timeout_s):
                await pubsub.subscribe(CHANNEL)
                while (await pubsub.get_message(timeout=self._timeout_s)) is None:
                    pass  # the first message is the subscription's confirmation
                if self._find_master is not None:
                    await self._find_master()  # the store reads where we now listen
            self._last_pong = time.monotonic()
            self._set_up(True)
            await self._listen(pubsub)
        finally:
            with contextlib.suppress(*OUTAGES):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(*OUTAGES):
                await client.aclose()

    async def _listen(self, pubsub: PubSub) -> None:
        next_ping = next_follow = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=HEARTBEAT_S)
            if message is not None:
                self._handle(message)
            now = time.monotonic()
            # Judged after reading, so a busy event loop (a pong waiting unread) is no outage;
            # `healthy` meanwhile already says no (nothing served from memory).
            if now - self._last_pong > RECONNECT_AFTER_S:
                raise TimeoutError("the subscription stopped answering")
            if now >= next_ping:
                next_ping = now + HEARTBEAT_S
                await pubsub.ping()
            if self._master_moved is not None and now >= next_follow:
                next_follow = now + FOLLOW_CHECK_S
                if await self._master_moved(pubsub):
                    log.info("session_signal_follows_master")
                    return

    def _handle(self, message: dict[str, object]) -> None:
        if message.get("type") == "pong":
            self._last_pong = time.monotonic()
            return
        if message.get("type") != "message":
            return
        self._last_pong = time.monotonic()  # any traffic proves the link
        event = SessionEvent.decode(message.get("data"))
        if event is not None:
            self._deliver(event)

    def _set_up(self, up: bool) -> None:
        if up != self._up:
            self._up = up
            log.info("session_signal_up" if up else "session_signal_lost")
            self._announce(up)
