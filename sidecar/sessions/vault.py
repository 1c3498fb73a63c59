"""Sealed session and login-state entries in the store, with the idle and absolute lifetimes.

A session is two entries under the ticket's hash tag: `session` (the sealed record, expiring at
the absolute lifetime) and `seen` (a timestamp, expiring after the idle lifetime and pushed
forward as the session is used). Keeping "last seen" apart means touching a session never
rewrites the tokens, so a touch can never put back a refresh token that a concurrent refresh
has just rotated.

Every end of a session (logout, back-channel logout, `invalid_grant`, an idle or absolute
expiry seen on use) and every refresh is announced on the signal (`sidecar.sessions.events`).
Login and refresh writes wait for `session.min_replicas` replicas (Redis `WAIT`, bounded by
`session.replica_wait_ms`): a failover right after a refresh must not bring back the rotated-out
refresh token. A write still unreplicated then is counted and logged; the request goes on.

The back-channel index maps keyed hashes of `sid` and `sub` (`Sealer.index_tags`) to the store
tags of their sessions; each member expires with its session, the index with its last member.
The `sub` index is also how the session list (`sidecar.sessions.directory`) finds a user's
sessions. `seen` is written when the minute changes (and at least every `_touch_every_s`), so
it is also the list's "last used", to the minute, at no extra write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

import structlog

from sidecar.config.settings import SessionSettings
from sidecar.errors import StoreUnavailable
from sidecar.metrics import Metrics
from sidecar.sessions.cache import SessionCache
from sidecar.sessions.events import SessionEvent, SessionEvents
from sidecar.sessions.record import SessionRecord
from sidecar.sessions.store import SessionStore
from sidecar.sessions.ticket import Sealer, Ticket, session_id_for_tag, store_key_for_tag

SESSION, SEEN, LOCK, LOGIN = "session", "seen", "lock", "login"
META = "meta"  # what the session list shows (sessions/directory.py), sealed without the ticket
BY_SID, BY_SUB = "by-sid", "by-sub"  # index kinds (the key's tag is a keyed hash)
LOGIN_STATE_TTL_S = 600  # CONTRACT: state, nonce and verifier live for 10 minutes

T = TypeVar("T")

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LoginState:
    nonce: str
    code_verifier: str
    rd: str
    browser_binding: str  # also in a short-lived cookie: a callback from another browser fails


class SessionVault:
    def __init__(
        self,
        store: SessionStore,
        sealer: Sealer,
        settings: SessionSettings,
        metrics: Metrics,
        *,
        issuer: str,
        events: SessionEvents,
        cache: SessionCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.events = events
        self._sealer = sealer
        self._settings = settings
        self._metrics = metrics
        self._issuer = issuer
        self._cache = cache
        self._clock = clock
        # Push `seen` forward at most this often: a write per request would double the load.
        self._touch_every_s = max(1, min(60, settings.idle_ttl_s // 20))

    def session_id(self, tag: str) -> str:
        return session_id_for_tag(tag)

    async def load_cached(self, ticket: Ticket) -> SessionRecord | None:
        """`load`, served from memory for up to `session.cache_s` (and never past the next
        touch of `seen`, which a cached read skips)."""
        if not self._cache.enabled:
            return await self.load(ticket)  # no id to hash on the hot path
        session_id = self.session_id(ticket.tag)
        record = self._cache.get(session_id)
        if record is not None and self._remaining_s(record) > 0:
            return record
        return await self._cache.single_flight(
            ticket.value, lambda: self._load_and_keep(ticket, session_id)
        )

    async def _load_and_keep(self, ticket: Ticket, session_id: str) -> SessionRecord | None:
        generation = self._cache.generation
        record = await self.load(ticket)
        if record is not None:
            # Not past the minute: the next use after it reaches `seen` ("last used").
            to_next_minute = 60 - self._clock() % 60
            ttl = min(self._touch_every_s, self._remaining_s(record), to_next_minute)
            self._cache.put(session_id, record, generation, ttl)
        return record

    async def load(self, ticket: Ticket) -> SessionRecord | None:
        sealed, seen = await self._counted(
            self.store.load_many([ticket.store_key(SESSION), ticket.store_key(SEEN)])
        )
        if sealed is None and seen is None:
            return None
        if sealed is None or seen is None:  # idle expiry (or its debris): end it everywhere
            await self._end_tag(ticket.tag)
            return None
        plaintext = self._sealer.unseal(ticket, SESSION, sealed)
        record = SessionRecord.from_bytes(plaintext) if plaintext is not None else None
        if record is None:
            return None
        if self._remaining_s(record) <= 0:  # absolute expiry
            await self.clear(ticket, record)
            return None
        await self._touch(ticket, record, seen)
        return record

    async def save_marker_if_absent(self, key: str, ttl_s: float) -> bool:
        """Mark `key` for `ttl_s` unless it is marked already (a replay guard): whether it
        was absent."""
        return await self._counted(self.store.save_if_absent(key, b"1", ttl_s))

    async def clear_marker(self, key: str) -> None:
        await self._counted(self.store.clear(key))

    async def exists(self, tag: str) -> bool:
        """Whether the session with store tag `tag` is still live (websocket re-checks)."""
        keys = [store_key_for_tag(tag, SESSION), store_key_for_tag(tag, SEEN)]
        sealed, seen = await self._counted(self.store.load_many(keys))
        return sealed is not None and seen is not None

    async def save(self, ticket: Ticket, record: SessionRecord) -> None:
        """A refreshed record: replicated (bounded), then announced as changed."""
        await self._save_record(ticket, record)
        await self.events.publish(SessionEvent("changed", self.session_id(ticket.tag)))

    async def start(self, ticket: Ticket, record: SessionRecord) -> None:
        # `seen` first: the WAIT after the record then covers both (one replication stream).
        await self._save_seen(ticket, record)
        await self._save_record(ticket, record)
        ttl = self._remaining_s(record)
        for kind, value in self._index_entries(record):
            key = store_key_for_tag(self._sealer.index_tags(kind, self._issuer, value)[0], kind)
            await self._counted(self.store.index_add(key, ticket.tag, ttl))

    async def clear(self, ticket: Ticket, record: SessionRecord | None = None) -> None:
        """End the session everywhere: its entries, its index entries, then the signal."""
        if record is not None:
            for kind, value in self._index_entries(record):
                for key in self._index_keys(kind, value):
                    await self._counted(self.store.index_remove(key, ticket.tag))
        await self._end_tag(ticket.tag)

    async def end_indexed(self, kind: str, value: str) -> int:
        """End every session indexed under `sid` or `sub` `value`; how many there were."""
        ended = 0
        for key in self._index_keys(kind, value):
            for tag in await self._counted(self.store.index_members(key)):
                await self._end_tag(tag)
                await self._counted(self.store.index_remove(key, tag))
                ended += 1
        return ended

    async def end_tag(self, tag: str, sub: str) -> None:
        """End the session with store tag `tag` of subject `sub` (the session list, the
        operator's revoke) everywhere, as a logout does."""
        await self._end_tag(tag)
        for key in self._index_keys(BY_SUB, sub):
            await self._counted(self.store.index_remove(key, tag))

    async def tags_of(self, sub: str, newest: int | None = None) -> list[str]:
        """The store tags in `sub`'s index (of each secret's index, the `newest` last added:
        members come in the order they were added, which is the order the sessions began)."""
        found: dict[str, None] = {}
        for key in self._index_keys(BY_SUB, sub):
            members = await self._counted(self.store.index_members(key))
            found.update(dict.fromkeys(members if newest is None else members[-newest:]))
        return list(found)

    async def save_listed(self, ticket: Ticket, record: SessionRecord, sealed: bytes) -> None:
        ttl = self._remaining_s(record)
        await self._counted(self.store.save(ticket.store_key(META), sealed, ttl))

    async def load_listed(self, tag: str) -> tuple[bytes | None, bytes | None]:
        """The sealed list entry and the `seen` time of one session (one round trip)."""
        keys = [store_key_for_tag(tag, META), store_key_for_tag(tag, SEEN)]
        listed, seen = await self._counted(self.store.load_many(keys))
        return listed, seen

    async def _end_tag(self, tag: str) -> None:
        for kind in (SESSION, SEEN, META):
            await self._counted(self.store.clear(store_key_for_tag(tag, kind)))
        await self.events.publish(SessionEvent("ended", self.session_id(tag)))

    def _index_entries(self, record: SessionRecord) -> list[tuple[str, str]]:
        entries = [(BY_SUB, str(record.claims["sub"]))]
        if record.sid is not None:
            entries.append((BY_SID, record.sid))
        return entries

    def _index_keys(self, kind: str, value: str) -> list[str]:
        return [
            store_key_for_tag(tag, kind)
            for tag in self._sealer.index_tags(kind, self._issuer, value)
        ]

    async def _save_record(self, ticket: Ticket, record: SessionRecord) -> None:
        ttl = self._remaining_s(record)
        sealed = self._sealer.seal(ticket, SESSION, record.to_bytes())
        key, wanted = ticket.store_key(SESSION), self._settings.min_replicas
        if wanted <= 0:
            await self._counted(self.store.save(key, sealed, ttl))
            return
        wait_ms = self._settings.replica_wait_ms
        acked = await self._counted(self.store.save_replicated(key, sealed, ttl, wanted, wait_ms))
        if acked < wanted:
            self._metrics.session_unreplicated_writes.inc()
            log.warning(
                "session_write_unreplicated", replicas=acked, wanted=wanted, wait_ms=wait_ms
            )

    async def save_login_state(self, state: LoginState) -> str:
        """Store the login state; returns the `state` parameter that names it."""
        ticket = Ticket.new()
        await self._save_login(ticket, state)
        return ticket.cookie_value()

    async def restore_login_state(self, state_param: str, state: LoginState) -> None:
        """Put back a state taken by a callback that could not finish for an outage, so that
        the browser's retry (the 503's `Retry-After`) can complete the same login."""
        ticket = Ticket.from_cookie(state_param)
        if ticket is not None:
            await self._save_login(ticket, state)

    async def _save_login(self, ticket: Ticket, state: LoginState) -> None:
        sealed = self._sealer.seal(ticket, LOGIN, json.dumps(asdict(state)).encode())
        await self._counted(self.store.save(ticket.store_key(LOGIN), sealed, LOGIN_STATE_TTL_S))

    async def take_login_state(self, state_param: str) -> LoginState | None:
        """The login state named by `state`, at most once (RFC 6749 section 10.12)."""
        ticket = Ticket.from_cookie(state_param)
        if ticket is None:
            return None
        sealed = await self._counted(self.store.take(ticket.store_key(LOGIN)))
        plaintext = self._sealer.unseal(ticket, LOGIN, sealed) if sealed else None
        if plaintext is None:
            return None
        try:
            return LoginState(**json.loads(plaintext))
        except (ValueError, TypeError):
            return None

    async def _touch(self, ticket: Ticket, record: SessionRecord, seen: bytes) -> None:
        try:
            last_seen = float(seen)
        except ValueError:
            last_seen = 0.0
        now = self._clock()
        if now - last_seen >= self._touch_every_s or now // 60 != last_seen // 60:
            await self._save_seen(ticket, record)

    async def _save_seen(self, ticket: Ticket, record: SessionRecord) -> None:
        ttl = min(self._settings.idle_ttl_s, self._remaining_s(record))
        now = str(int(self._clock())).encode()
        await self._counted(self.store.save(ticket.store_key(SEEN), now, ttl))

    def _remaining_s(self, record: SessionRecord) -> float:
        return record.created_at + self._settings.absolute_ttl_s - self._clock()

    async def _counted(self, operation: Awaitable[T]) -> T:
        try:
            return await operation
        except StoreUnavailable:
            self._metrics.session_store_errors.inc()
            raise
