"""The OpenID provider stops under a steady mixed load, then comes back (same port and keys).

What needs the provider, and what does not (CONTRACT "Sessions, tokens and keys"):
- bearer tokens verify against the cached JWKS: 200 throughout;
- `/.auth/login` needs only the cached metadata: it still answers 302 (the browser then
  cannot reach the provider, which is the provider's page to show, not ours);
- `/.auth/callback` needs the token endpoint for the code exchange: 503 with Retry-After;
- a session whose id token is still valid serves (no refresh needed): 200 throughout;
- a session whose id token has expired needs a refresh: 503 until the provider returns, then
  it refreshes and serves again (its refresh token survives: the provider keeps its storage).
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tests.faults.load import Actor, MixedLoad, bearer, count, session
from tests.faults.logins import TIMEOUT, finish_login, login_sessions, start_login
from tests.faults.scenario import (
    assert_retry_after_on_503,
    hold,
    session_statuses,
    wait_recovered,
)

SESSIONS = 10
SHORT_ID_TOKEN_TTL_S = 2


async def get_status(url: str, http: aiohttp.ClientSession) -> tuple[int, str | None]:
    async with http.get(url, allow_redirects=False) as response:
        return response.status, response.headers.get("Retry-After")


async def test_provider_down_then_back(start_sidecar, fresh_provider, profile, fault_table):
    sidecar = start_sidecar()
    cookie = sidecar.cookie_name
    valid, _ = await login_sessions(sidecar.url, fresh_provider, SESSIONS)
    fresh_provider.set_id_token_ttl(SHORT_ID_TOKEN_TTL_S)
    expiring, _ = await login_sessions(sidecar.url, fresh_provider, SESSIONS)
    fresh_provider.set_id_token_ttl(600)
    tokens = await fresh_provider.login("user@example.com", "password")
    actors: list[Actor] = [
        a
        for t in valid
        for a in (session(cookie, t, kind="valid_session"), bearer(tokens.id_token))
    ]
    # A login stopped before its callback, to be completed while the provider is down.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=TIMEOUT) as browser:
        callback_url = await start_login(sidecar.url, fresh_provider, "user@example.com", browser)
        await asyncio.sleep(SHORT_ID_TOKEN_TTL_S + 0.5)  # the short id tokens have expired

        load = MixedLoad(sidecar.url, actors, rate_per_s=profile.rate_per_s)
        async with load.running():
            await hold(2.0)
            await asyncio.to_thread(fresh_provider.stop)
            stopped_at = time.monotonic()
            load.set_actors(
                [*actors, *(session(cookie, t, kind="expired_session") for t in expiring)]
            )
            login_during = await get_status(sidecar.url + "/.auth/login?rd=/", browser)
            callback_during = await get_status(callback_url, browser)
            await hold(profile.fault_hold_s)
            restarting_at = time.monotonic()
            await asyncio.to_thread(fresh_provider.start)
            recovery = await wait_recovered(
                load, ["expired_session", "valid_session", "bearer"], restarting_at
            )
            # The same callback again: its state was spent by the first attempt.
            callback_retry = await get_status(callback_url, browser)
            new_callback = await start_login(
                sidecar.url, fresh_provider, "user@example.com", browser
            )
            new_login_ticket = await finish_login(browser, new_callback, cookie)
            await hold(1.0)
    after = await session_statuses(sidecar.url, cookie, [*valid, *expiring])

    outage = load.within(stopped_at, restarting_at)
    fault_table(
        fault="OpenID provider stopped, then restarted",
        hold_s=round(restarting_at - stopped_at, 1),
        requests=len(load.outcomes),
        bearer=load.by_status("bearer"),
        valid_session=load.by_status("valid_session"),
        expired_session=load.by_status("expired_session"),
        expired_session_during_outage=count(outage, "expired_session"),
        login_during_outage=login_during[0],
        callback_during_outage=callback_during[0],
        same_callback_after_return=callback_retry[0],
        new_login_after_return=bool(new_login_ticket),
        sessions_before=2 * SESSIONS,
        sessions_after=after.get(200, 0),
        recovery_s=round(recovery, 2),
    )
    assert not load.failures("bearer"), load.by_status("bearer")
    assert not load.failures("valid_session"), load.by_status("valid_session")
    # Expired sessions cannot refresh: 503 (never 401, never a login loop) until it returns.
    assert set(count(outage, "expired_session")) == {503}, count(outage, "expired_session")
    assert set(load.by_status("expired_session")) <= {200, 503}
    assert_retry_after_on_503(load.outcomes)
    assert login_during[0] == 302, "the login redirect needs only cached metadata"
    assert callback_during[0] == 503, callback_during
    assert callback_during[1], "503 without Retry-After"
    assert callback_retry[0] == 302, "the same callback, retried after the outage, logs in"
    assert after == {200: 2 * SESSIONS}, after
