"""Browser sessions: from a request's cookie to an `Identity`, and the session's lifecycle.

The cookie holds only the ticket (CONTRACT "Sessions, tokens and keys"): `HttpOnly` (no script
reads it), `SameSite=Lax` (sent on top-level navigations such as the return from Dex, not on
cross-site subresource requests), `Path` = the public path, `Secure` unless the public URL is
plain http.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import hdrs, web

from sidecar.config.settings import SessionSettings
from sidecar.errors import SessionEnded
from sidecar.oidc.token_client import TokenSet
from sidecar.sessions.directory import ClientInfo, SessionDirectory
from sidecar.sessions.record import SessionRecord
from sidecar.sessions.refresh import Refresher
from sidecar.sessions.sockets import SESSION_TAG
from sidecar.sessions.ticket import Ticket
from sidecar.sessions.vault import LOGIN_STATE_TTL_S, SessionVault
from sidecar.tokens.identity import Identity, IdentityMemo

# Remembered Cookie headers: at most this many, each at most this long (~4 MB at worst).
TICKET_MEMO_SIZE = 4096
TICKET_MEMO_MAX_HEADER = 1024


class SessionManager:
    def __init__(
        self,
        vault: SessionVault,
        refresher: Refresher,
        settings: SessionSettings,
        cookie_path: str,
        clock: Callable[[], float] = time.time,
        directory: SessionDirectory | None = None,
    ) -> None:
        self.vault = vault
        self.directory = directory
        self._refresher = refresher
        self._settings = settings
        self._cookie_path = cookie_path or "/"
        self._clock = clock
        self.login_cookie_name = settings.cookie_name + "_login"
        # Cookie header -> ticket, and claims -> identity: the work of turning a cookie into
        # an identity, done once per session rather than per request.
        self._tickets: dict[str, Ticket | bool] = {}
        self._identities = IdentityMemo()

    async def identity_for(self, request: web.Request) -> Identity | None:
        """The session's identity; None without a cookie; `SessionEnded` for a dead one."""
        raw = request.headers.get(hdrs.COOKIE)
        if raw is None:  # most API calls: no cookie to parse at all
            return None
        found = self._ticket_in(request, raw)
        if found is None:
            return None
        ticket = found if isinstance(found, Ticket) else None
        record = await self.vault.load_cached(ticket) if ticket is not None else None
        if ticket is None or record is None:
            raise SessionEnded("no such session")
        if self._refresher.needs_refresh(record):
            record = await self._refresher.refresh(ticket, record)
        request[SESSION_TAG] = ticket.tag  # relayed websockets are watched under it
        return self._identities.identity(record.claims, "session", record.id_token)

    def _ticket_in(self, request: web.Request, raw: str) -> Ticket | bool | None:
        """The ticket in the request's cookie: None without the session cookie, False for a
        malformed one. Remembered per `Cookie` header value (a browser sends the same one on
        every request), so that the parse and the ticket's hashes run once per session."""
        if len(raw) <= TICKET_MEMO_MAX_HEADER:
            found = self._tickets.get(raw)
            if found is not None:
                return found
        # `request.cookies` parses exactly this header (the first Cookie field), as before.
        cookie = request.cookies.get(self._settings.cookie_name)
        if cookie is None:
            return None
        ticket = Ticket.from_cookie(cookie)
        result: Ticket | bool = ticket if ticket is not None else False
        if len(raw) <= TICKET_MEMO_MAX_HEADER:
            if len(self._tickets) >= TICKET_MEMO_SIZE:
                del self._tickets[next(iter(self._tickets))]
            self._tickets[raw] = result
        return result

    async def start(
        self, tokens: TokenSet, claims: dict[str, Any], client: ClientInfo | None = None
    ) -> Ticket:
        """A new session under a new ticket (never the one the browser came with), with what
        the session list shows of it."""
        ticket = Ticket.new()
        record = SessionRecord.new(
            int(self._clock()), tokens.id_token, tokens.access_token, tokens.refresh_token, claims
        )
        await self.vault.start(ticket, record)
        if self.directory is not None and client is not None:
            await self.directory.record(ticket, record, client)
        return ticket

    def ticket_of(self, request: web.Request) -> Ticket | None:
        """The well-formed ticket in the request's session cookie, if any."""
        cookie = request.cookies.get(self._settings.cookie_name)
        return Ticket.from_cookie(cookie) if cookie else None

    async def end(self, request: web.Request) -> SessionRecord | None:
        """End the session named by the request's cookie on every replica; the record, if
        there was one."""
        ticket = self.ticket_of(request)
        if ticket is None:
            return None
        record = await self.vault.load(ticket)
        await self.vault.clear(ticket, record)
        return record

    def set_session_cookie(self, response: web.StreamResponse, ticket: Ticket) -> None:
        response.set_cookie(
            self._settings.cookie_name,
            ticket.cookie_value(),
            max_age=self._settings.absolute_ttl_s,
            **self._cookie_flags(),
        )

    def clear_session_cookie(self, response: web.StreamResponse) -> None:
        response.del_cookie(self._settings.cookie_name, **self._cookie_flags())

    def set_login_cookie(self, response: web.StreamResponse, suffix: str, binding: str) -> None:
        response.set_cookie(
            self.login_cookie_name + suffix,
            binding,
            max_age=LOGIN_STATE_TTL_S,
            **self._cookie_flags(),
        )

    def clear_login_cookie(self, response: web.StreamResponse, suffix: str) -> None:
        response.del_cookie(self.login_cookie_name + suffix, **self._cookie_flags())

    def _cookie_flags(self) -> dict[str, Any]:
        return {
            "path": self._cookie_path,
            "secure": self._settings.cookie_secure,
            "httponly": True,
            "samesite": "Lax",
        }
