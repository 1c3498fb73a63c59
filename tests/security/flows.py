"""Browser-side helpers: a cookie-keeping client that follows no redirect, and the login
round trip through the sidecar (against the lying provider: three requests, no forms)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

COOKIE = "sidecar_session"
HTML = {"Accept": "text/html"}


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


@dataclass
class Hop:
    status: int
    location: str | None
    set_cookies: list[str]
    body: str


async def hop(http: aiohttp.ClientSession, url: str, **kw: Any) -> Hop:
    async with http.get(url, allow_redirects=False, **kw) as response:
        return Hop(
            response.status,
            response.headers.get("Location"),
            response.headers.getall("Set-Cookie", []),
            await response.text(),
        )


async def begin_login(http: aiohttp.ClientSession, base: str, rd: str | None = None) -> str:
    """`/.auth/login` -> the provider's authorization URL (the sidecar's 302)."""
    params = {} if rd is None else {"rd": rd}
    async with http.get(base + "/.auth/login", params=params, allow_redirects=False) as r:
        assert r.status == 302, await r.text()
        return r.headers["Location"]


async def lying_login(http: aiohttp.ClientSession, base: str, rd: str | None = None) -> Hop:
    """The whole login against the lying provider; the callback's answer."""
    authorize = await begin_login(http, base, rd)
    back = await hop(http, authorize)
    assert back.status == 302, back
    assert back.location, back
    return await hop(http, back.location)


def session_cookie(http: aiohttp.ClientSession) -> str | None:
    for cookie in http.cookie_jar:
        if cookie.key == COOKIE and cookie.value:
            return cookie.value
    return None


async def me_status(base: str, cookie: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(base + "/.auth/me", headers={"Cookie": f"{COOKIE}={cookie}"}) as response,
    ):
        return response.status
