"""Sealed session and login-state entries in the store, with the idle and absolute lifetimes.

A session is two entries under the ticket's hash tag: `session` (the sealed record, expiring at
the absolute lifetime) and `seen` (a timestamp, expiring after the idle lifetime and pushed
forward as the session is used). Keeping "last seen" apart means touching a session never
rewrites the tokens, so a touch can never put back a refresh token that a concurrent refresh
has just rotated.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

from sidecar.config.settings import SessionSettings
from sidecar.errors import StoreUnavailable
from sidecar.metrics import Metrics
from sidecar.sessions.record import SessionRecord
from sidecar.sessions.store import SessionStore
from sidecar.sessions.ticket import Sealer, Ticket

SESSION, SEEN, LOCK, LOGIN = "session", "seen", "lock", "login"
LOGIN_STATE_TTL_S = 600  # CONTRACT: state, nonce and verifier live for 10 minutes

T = TypeVar("T")


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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._sealer = sealer
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        # Push `seen` forward at most this often: a write per request would double the load.
        self._touch_every_s = max(1, min(60, settings.idle_ttl_s // 20))

    async def load(self, ticket: Ticket) -> SessionRecord | None:
        sealed, seen = await self._counted(
            self.store.load_many([ticket.store_key(SESSION), ticket.store_key(SEEN)])
        )
        if sealed is None or seen is None:
            return None
        plaintext = self._sealer.unseal(ticket, SESSION, sealed)
        record = SessionRecord.from_bytes(plaintext) if plaintext is not None else None
        if record is None or self._remaining_s(record) <= 0:
            return None
        await self._touch(ticket, record, seen)
        return record

    async def save(self, ticket: Ticket, record: SessionRecord) -> None:
        ttl = self._remaining_s(record)
        sealed = self._sealer.seal(ticket, SESSION, record.to_bytes())
        await self._counted(self.store.save(ticket.store_key(SESSION), sealed, ttl))

    async def start(self, ticket: Ticket, record: SessionRecord) -> None:
        await self.save(ticket, record)
        await self._save_seen(ticket, record)

    async def clear(self, ticket: Ticket) -> None:
        for kind in (SESSION, SEEN):
            await self._counted(self.store.clear(ticket.store_key(kind)))

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
        if self._clock() - last_seen >= self._touch_every_s:
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
