"""Real credentials for the runs: an id token from a real login at the provider (the bearer
case), and a session cookie from a real login through the sidecar (the browser case)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from tests.fixtures.provider import OidcProvider

USER = "admin-dex@example.com"
PASSWORD = "password"
COOKIE_NAME = "sidecar_session"  # the default `session.cookie_name`
TIMEOUT = aiohttp.ClientTimeout(total=30)


@dataclass(frozen=True)
class Bearer:
    token: str
    sub: str


async def bearer(provider: OidcProvider) -> Bearer:
    tokens = await provider.login(USER, PASSWORD)
    return Bearer(tokens.id_token, str(tokens.claims()["sub"]))


async def session_cookie(provider: OidcProvider, sidecar_url: str) -> str:
    """`GET /.auth/login`, the provider's forms, the callback: the `Cookie` header value."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=TIMEOUT) as http:
        async with http.get(sidecar_url + "/.auth/login?rd=/", allow_redirects=False) as start:
            if start.status != 302:
                raise RuntimeError(f"/.auth/login answered {start.status}")
            authorize_url = start.headers["Location"]
        callback = await provider.complete_login(http, authorize_url, USER, PASSWORD)
        async with http.get(callback, allow_redirects=False) as done:
            if done.status != 302 or COOKIE_NAME not in done.cookies:
                raise RuntimeError(f"/.auth/callback answered {done.status} without a session")
            return f"{COOKIE_NAME}={done.cookies[COOKIE_NAME].value}"


async def check_target(url: str, headers: dict[str, str], expected_sub: str | None) -> None:
    """One request before measuring: a 200 from the upstream, with the identity expected.
    wrk counts any answer as a request, so a 401 benchmark would otherwise look fast."""
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as http,
        http.get(url, headers=headers) as response,
    ):
        body = await response.json(content_type=None)
        if response.status != 200 or body.get("subject") != expected_sub:
            raise RuntimeError(f"{url}: {response.status} {body}")


async def relying_party_cookie(provider: OidcProvider, protected_url: str, cookie: str) -> str:
    """A peer's own login (mod_auth_openidc, oauth2-proxy): a browser navigation to a
    protected URL, its redirect to the provider, the forms, its redirect URI (callback): the
    `Cookie` header value of its session."""
    jar = aiohttp.CookieJar(unsafe=True)
    navigation = {"Accept": "text/html"}
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=TIMEOUT) as http:
        async with http.get(protected_url, headers=navigation, allow_redirects=False) as start:
            if start.status != 302:
                raise RuntimeError(f"{protected_url} answered {start.status}, not a login")
            authorize_url = start.headers["Location"]
        callback = await provider.complete_login(http, authorize_url, USER, PASSWORD)
        async with http.get(callback, headers=navigation, allow_redirects=False) as done:
            if done.status != 302 or cookie not in done.cookies:
                raise RuntimeError(f"{callback.split('?')[0]} answered {done.status}, no session")
            return f"{cookie}={done.cookies[cookie].value}"
