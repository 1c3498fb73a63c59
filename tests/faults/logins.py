"""Browser sessions made the real way: `/.auth/login` on the sidecar, the provider's login and
consent forms, then `/.auth/callback` on the sidecar, which sets the session cookie.

`login_sessions` runs many of these in parallel batches and returns the session tickets (the
cookie values), to be sent later as `Cookie: <name>=<ticket>` by a load generator.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=30)


async def start_login(
    sidecar_url: str, provider: Any, email: str, http: aiohttp.ClientSession
) -> str:
    """`/.auth/login` then the provider's forms; returns the callback URL (code and state)."""
    async with http.get(sidecar_url + "/.auth/login?rd=/", allow_redirects=False) as response:
        assert response.status == 302, f"/.auth/login answered {response.status}"
        authorize_url = response.headers["Location"]
    user = provider.users[email]
    callback: str = await provider.complete_login(http, authorize_url, email, user.password)
    return callback


async def finish_login(http: aiohttp.ClientSession, callback_url: str, cookie_name: str) -> str:
    """Follow the callback; returns the session ticket the sidecar set."""
    async with http.get(callback_url, allow_redirects=False) as response:
        body = (await response.text())[:200]
        assert response.status == 302, f"/.auth/callback answered {response.status}: {body}"
        morsel = response.cookies.get(cookie_name)
        assert morsel is not None, "the callback set no session cookie"
        assert morsel.value, "the callback set an empty session cookie"
        return morsel.value


async def login_session(
    sidecar_url: str, provider: Any, email: str, cookie_name: str = "sidecar_session"
) -> str:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=TIMEOUT) as http:
        callback = await start_login(sidecar_url, provider, email, http)
        return await finish_login(http, callback, cookie_name)


async def try_login(
    sidecar_url: str, provider: Any, email: str, cookie_name: str = "sidecar_session"
) -> tuple[int, str | None]:
    """A whole login; the callback's status and the ticket it set (None when refused)."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=TIMEOUT) as http:
        callback = await start_login(sidecar_url, provider, email, http)
        async with http.get(callback, allow_redirects=False) as response:
            morsel = response.cookies.get(cookie_name)
            return response.status, morsel.value if morsel is not None else None


async def login_sessions(
    sidecar_url: str,
    provider: Any,
    count: int,
    *,
    emails: tuple[str, ...] = ("user@example.com", "admin-dex@example.com"),
    parallel: int = 8,
    cookie_name: str = "sidecar_session",
) -> tuple[list[str], float]:
    """`count` sessions (emails taken in turn), `parallel` logins at a time; returns the
    tickets and the logins per second achieved."""
    gate = asyncio.Semaphore(parallel)

    async def one(index: int) -> str:
        async with gate:
            email = emails[index % len(emails)]
            return await login_session(sidecar_url, provider, email, cookie_name)

    started = time.monotonic()
    tickets = await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.monotonic() - started
    return list(tickets), count / elapsed if elapsed > 0 else float("inf")
