"""Token refresh that survives Dex's rotating refresh tokens.

Dex rotates the refresh token on every use and, by default, refuses a second use of the old one
("refresh token claimed twice"), ending the grant. So at most one refresh per session may run at
a time across every process and replica:

1. within a process, concurrent requests for one session share one refresh (single flight);
2. across processes, a store lock with an owner token and a lease, renewed while the token call
   runs (an unrenewed short lease, oauth2-proxy's known failure, lets a second refresh start);
3. after taking the lock the session is read again: another replica may have refreshed it;
4. the others wait, bounded, polling for the new tokens, then use them.

`invalid_grant` ends the session. A provider outage keeps a session whose id token is still
valid serving; once it has expired the answer is 503, never a login loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from typing import Any

import structlog

from sidecar.errors import (
    InvalidToken,
    LoginFailed,
    ProviderUnavailable,
    SessionEnded,
    StoreUnavailable,
)
from sidecar.metrics import Metrics
from sidecar.oidc.token_client import InvalidGrant, TokenClient
from sidecar.oidc.userinfo import UserinfoClient, UserinfoMismatch, merge_userinfo
from sidecar.sessions.record import SessionRecord
from sidecar.sessions.ticket import Ticket
from sidecar.sessions.vault import LOCK, SessionVault
from sidecar.tokens.id_tokens import TokenValidator

POLL_INTERVAL_S = 0.05

log = structlog.get_logger(__name__)


class Refresher:
    def __init__(
        self,
        vault: SessionVault,
        token_client: TokenClient,
        validator: TokenValidator,
        metrics: Metrics,
        *,
        margin_s: float,
        provider_timeout_s: float,
        clock: Callable[[], float] = time.time,
        userinfo: UserinfoClient | None = None,
    ) -> None:
        self._vault = vault
        self._userinfo = userinfo  # `oidc.userinfo`: its claims merged at every refresh
        self._tokens = token_client
        self._validator = validator
        self._metrics = metrics
        self._margin_s = margin_s
        # The lease outlives the token call; renewal covers a call slower than its timeout.
        self._lease_s = provider_timeout_s + 5.0
        self._wait_s = provider_timeout_s + 2.0
        self._clock = clock
        self._inflight: dict[str, asyncio.Future[SessionRecord]] = {}

    def needs_refresh(self, record: SessionRecord) -> bool:
        return record.id_token_exp - self._clock() <= self._margin_s

    async def refresh(self, ticket: Ticket, record: SessionRecord) -> SessionRecord:
        """The session with tokens fresh enough to serve (possibly the same record)."""
        if record.refresh_token is None:
            if record.id_token_exp > self._clock():
                return record
            raise SessionEnded("expired and not refreshable")
        key = ticket.store_key(LOCK)
        shared = self._inflight.get(key)
        if shared is None:
            shared = asyncio.ensure_future(self._refresh_once(ticket, record))
            self._inflight[key] = shared
            shared.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(shared)

    async def _refresh_once(self, ticket: Ticket, record: SessionRecord) -> SessionRecord:
        owner = secrets.token_hex(16)
        lock = ticket.store_key(LOCK)
        if not await self._vault.store.acquire_lock(lock, owner, self._lease_s):
            return await self._wait_for_other(ticket, record)
        renewal = asyncio.create_task(self._keep_lease(lock, owner))
        try:
            return await self._refresh_holding_lock(ticket)
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError, StoreUnavailable):
                await renewal
            with contextlib.suppress(StoreUnavailable):  # the lease expires by itself
                await self._vault.store.release_lock(lock, owner)

    async def _refresh_holding_lock(self, ticket: Ticket) -> SessionRecord:
        current = await self._vault.load(ticket)  # another replica may have refreshed it
        if current is None:
            raise SessionEnded("session gone")
        if not self.needs_refresh(current):
            self._metrics.token_refresh.labels(result="shared").inc()
            return current
        assert current.refresh_token is not None
        try:
            tokens = await self._tokens.refresh(current.refresh_token)
            claims = await self._validator.validate_refreshed_id_token(
                tokens.id_token, sub=current.claims["sub"]
            )
            if self._userinfo is not None:
                claims = await self._merged_userinfo(tokens.access_token, claims, current)
        except (InvalidGrant, UserinfoMismatch) as exc:
            # A userinfo `sub` not the session's (OIDC Core 5.3.2) ends it like invalid_grant.
            self._metrics.token_refresh.labels(result=exc.error).inc()
            await self._vault.clear(ticket, current)  # ends it on every replica
            raise SessionEnded("refresh refused") from None
        except (ProviderUnavailable, LoginFailed, InvalidToken) as exc:
            self._metrics.token_refresh.labels(result="error").inc()
            log.warning("token_refresh_failed", reason=exc.error)
            return self._still_valid_or_unavailable(current)
        refreshed = current.refreshed(
            tokens.id_token, tokens.access_token, tokens.refresh_token, claims
        )
        await self._vault.save(ticket, refreshed)
        self._metrics.token_refresh.labels(result="ok").inc()
        return refreshed

    async def _merged_userinfo(
        self, access_token: str, claims: dict[str, Any], current: SessionRecord
    ) -> dict[str, Any]:
        """`claims` with the userinfo claims merged (`UserinfoMismatch` ends the session).
        Userinfo unreachable or refusing: the refresh token is already spent (Dex rotates it
        on every use), so the new tokens must be kept; the session's claims of the last merge
        stand in for userinfo's until the next refresh asks again."""
        assert self._userinfo is not None
        try:
            return await self._userinfo.merged(access_token, claims)
        except UserinfoMismatch:
            raise
        except (ProviderUnavailable, LoginFailed) as exc:
            log.warning("userinfo_failed_at_refresh", reason=exc.error)
            return merge_userinfo(claims, current.claims)

    async def _wait_for_other(self, ticket: Ticket, record: SessionRecord) -> SessionRecord:
        """Another process holds the lock: wait (bounded) for the tokens it is fetching."""
        deadline = self._clock() + self._wait_s
        while self._clock() < deadline:
            await asyncio.sleep(POLL_INTERVAL_S)
            current = await self._vault.load(ticket)
            if current is None:
                raise SessionEnded("session ended during refresh")
            if current.id_token != record.id_token:
                self._metrics.token_refresh.labels(result="shared").inc()
                return current
        self._metrics.token_refresh.labels(result="wait_timeout").inc()
        return self._still_valid_or_unavailable(record)

    def _still_valid_or_unavailable(self, record: SessionRecord) -> SessionRecord:
        if record.id_token_exp > self._clock():
            return record
        raise ProviderUnavailable("cannot refresh an expired session now")

    async def _keep_lease(self, lock: str, owner: str) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            if not await self._vault.store.renew_lock(lock, owner, self._lease_s):
                log.warning("refresh_lock_lost")
                return
