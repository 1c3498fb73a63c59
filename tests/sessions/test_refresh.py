"""Session refresh against the real provider: rotation, revocation, outages.

`refresh_margin_s` larger than the id token's lifetime makes every request of a fresh session
want a refresh at once; a short lifetime set before login and a long one after it makes exactly
the login's token stale.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.auth.test_login_flow import browser, call, login

USER = "user@example.com"
FORCE_REFRESH = {"session": {"refresh_margin_s": 3600}}


def refreshes(provider) -> int:
    return int(provider.counters()["token"].get("refresh_token", 0))


async def refresh_metric(admin_url: str) -> dict[str, float]:
    """`sidecar_token_refresh_total` by `result`."""
    async with aiohttp.ClientSession() as http, http.get(admin_url + "/metrics") as r:
        text = await r.text()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "sidecar_token_refresh_total":
                found[sample.labels["result"]] = sample.value
    return found


async def logged_in(provider, running, email: str = USER) -> str:
    async with browser() as http:
        return (await login(http, running.url, provider, email=email)).cookie


async def test_a_stale_session_refreshes_once_and_keeps_working(fresh_provider, sidecar_factory):
    running = await sidecar_factory(FORCE_REFRESH)
    fresh_provider.set_id_token_ttl(60)  # inside the margin: stale at once
    cookie = await logged_in(fresh_provider, running)
    fresh_provider.set_id_token_ttl(3600 + 600)  # the refreshed token is outside it
    before = refreshes(fresh_provider)
    status, _, body = await call(running.url, "/.auth/me", cookie)
    assert status == 200
    assert body["expires_at"] > time.time() + 3600  # the new id token's
    assert refreshes(fresh_provider) == before + 1
    for _ in range(3):
        assert (await call(running.url, "/x", cookie))[0] == 200
    assert refreshes(fresh_provider) == before + 1  # fresh now: no more refreshes
    assert (await refresh_metric(running.admin_url)).get("ok") == 1


async def test_a_revoked_grant_ends_the_session(fresh_provider, sidecar_factory):
    running = await sidecar_factory(FORCE_REFRESH)
    fresh_provider.set_id_token_ttl(60)
    api_cookie = await logged_in(fresh_provider, running)
    browser_cookie = await logged_in(fresh_provider, running)
    assert fresh_provider.revoke_user(USER) >= 1
    status, headers, body = await call(running.url, "/x", api_cookie)
    assert status == 401
    assert body["error"] == "session_expired"
    assert "WWW-Authenticate" in headers
    status, headers, _ = await call(running.url, "/x?y=1", browser_cookie, browser_nav=True)
    assert status == 302
    assert headers["Location"] == running.url + "/.auth/login?rd=%2Fx%3Fy%3D1"
    spent = refreshes(fresh_provider)
    # Ended for good: no second try with a dead refresh token.
    assert (await call(running.url, "/x", api_cookie))[0] == 401
    assert refreshes(fresh_provider) == spent
    assert (await refresh_metric(running.admin_url)).get("invalid_grant") == 2


async def test_provider_error_serves_a_still_valid_session(fresh_provider, sidecar_factory):
    running = await sidecar_factory(FORCE_REFRESH)
    fresh_provider.set_id_token_ttl(60)  # valid for a minute, stale at once
    cookie = await logged_in(fresh_provider, running)
    fresh_provider.set_fault("token", "error")
    try:
        status, _, body = await call(running.url, "/x", cookie)
        assert status == 200, body
    finally:
        fresh_provider.set_fault("token", None)
    assert (await refresh_metric(running.admin_url)).get("error") == 1
    before = refreshes(fresh_provider)
    assert (await call(running.url, "/x", cookie))[0] == 200
    assert refreshes(fresh_provider) == before + 1
    assert (await refresh_metric(running.admin_url)).get("ok") == 1


async def test_provider_down_with_an_expired_token_is_503_then_recovers(
    fresh_provider, sidecar_factory
):
    running = await sidecar_factory()
    fresh_provider.set_id_token_ttl(2)
    cookie = await logged_in(fresh_provider, running)
    fresh_provider.set_id_token_ttl(600)
    await asyncio.sleep(3)  # the session's id token has expired
    fresh_provider.stop()
    try:
        status, headers, body = await call(running.url, "/x", cookie)
        assert status == 503
        assert body["error"] == "provider_unavailable"
        assert int(headers["Retry-After"]) > 0
        # A browser gets the 503 too: a login redirect would only loop while the IdP is down.
        assert (await call(running.url, "/x", cookie, browser_nav=True))[0] == 503
    finally:
        fresh_provider.start()
    status, _, body = await call(running.url, "/.auth/me", cookie)
    assert status == 200, body  # the session survived the outage
    assert body["expires_at"] > time.time() + 60
    assert refreshes(fresh_provider) == 1
