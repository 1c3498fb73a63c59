"""Refresh against Dex, which rotates refresh tokens on every use and, with
`expiry.refreshTokens.reuseInterval` unset (the default), refuses a second use as "claimed
twice": the sidecar must send exactly one refresh grant per session however many requests need
it. And what a Dex restart does to live sessions, by storage."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.dex.conftest import sign_in
from tests.dex.flows import dex_tokens, refresh

pytestmark = pytest.mark.dex
JSON = {"Accept": "application/json"}
ID_TOKEN_S = 20  # Dex's expiry.idTokens here
MARGIN_S = 15  # the sidecar refreshes when the id token expires within this


async def expires_at(browser, sidecar) -> float:
    async with browser.get(sidecar.url + "/.auth/me", headers=JSON) as response:
        assert response.status == 200, await response.text()
        return float((await response.json())["expires_at"])


async def wait_until_refresh_due(browser, sidecar) -> float:
    """Sleep until the session's id token is within the refresh margin; returns its exp."""
    exp = await expires_at(browser, sidecar)
    await asyncio.sleep(max(0.0, exp - MARGIN_S - time.time()) + 1.0)
    return exp


async def statuses(browser, url: str, count: int) -> list[int]:
    async def one() -> int:
        async with browser.get(url, headers=JSON) as response:
            await response.read()
            return response.status

    return list(await asyncio.gather(*(one() for _ in range(count))))


def sidecar_overrides() -> dict:
    return {"session": {"refresh_margin_s": MARGIN_S}}


async def test_fifty_concurrent_requests_after_expiry_make_one_refresh_grant(
    dex_factory, start_sidecar, browser
):
    dex = dex_factory(storage="sqlite", id_tokens=f"{ID_TOKEN_S}s")
    sidecar = await start_sidecar(dex, overrides=sidecar_overrides())
    assert (await sign_in(browser, dex, sidecar.url + "/app")).status == 200
    first_exp = await wait_until_refresh_due(browser, sidecar)
    before = dex.token_requests()

    assert await statuses(browser, sidecar.url + "/app/x", 50) == [200] * 50

    after = dex.token_requests()
    assert after.get("200", 0) - before.get("200", 0) == 1  # one refresh grant, no more
    assert after.get("400", 0) == before.get("400", 0)  # never "claimed twice"
    second_exp = await expires_at(browser, sidecar)
    assert second_exp > first_exp
    # The rotated refresh token works in turn: the next refresh succeeds too.
    await asyncio.sleep(max(0.0, second_exp - MARGIN_S - time.time()) + 1.0)
    assert await statuses(browser, sidecar.url + "/app/y", 10) == [200] * 10
    assert await expires_at(browser, sidecar) > second_exp
    assert dex.token_requests().get("200", 0) - before.get("200", 0) == 2


async def test_sessions_keep_refreshing_across_a_dex_restart_on_postgres(
    dex_factory, start_sidecar, browser
):
    dex = dex_factory(storage="postgres", id_tokens=f"{ID_TOKEN_S}s")
    sidecar = await start_sidecar(dex, overrides=sidecar_overrides())
    assert (await sign_in(browser, dex, sidecar.url + "/app")).status == 200
    dex.restart()  # same database: keys, refresh tokens and clients survive
    exp = await wait_until_refresh_due(browser, sidecar)
    assert await statuses(browser, sidecar.url + "/app/after-restart", 5) == [200] * 5
    assert await expires_at(browser, sidecar) > exp


async def test_a_dex_restart_on_memory_storage_ends_sessions_cleanly(
    dex_factory, start_sidecar, browser
):
    dex = dex_factory(storage="memory", id_tokens=f"{ID_TOKEN_S}s")
    sidecar = await start_sidecar(dex, overrides=sidecar_overrides())
    assert (await sign_in(browser, dex, sidecar.url + "/app")).status == 200
    dex.restart()  # new keys, and the refresh token is gone: invalid_grant
    await wait_until_refresh_due(browser, sidecar)

    async with browser.get(sidecar.url + "/app/z", headers=JSON) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    async with browser.get(sidecar.url + "/.auth/me", headers=JSON) as response:
        assert response.status == 401  # the session is gone, not half alive
    # A browser is sent to log in again, and that works against the restarted Dex.
    again = await sign_in(browser, dex, sidecar.url + "/app/again")
    assert (again.status, again.pages) == (200, ["login", "approval"])


async def test_dex_refuses_a_replayed_refresh_token_with_invalid_request_and_keeps_the_grant(dex):
    """What the sidecar must expect from Dex (the stand-in differs: `invalid_grant`, and it
    revokes the whole grant on a replay)."""
    first = await dex_tokens(dex)
    status, rotated = await refresh(dex, first.refresh_token)
    assert status == 200
    assert rotated["refresh_token"] != first.refresh_token  # rotated on every use
    status, replayed = await refresh(dex, first.refresh_token)
    assert (status, replayed["error"]) == (400, "invalid_request")
    assert "claimed" in replayed["error_description"]
    status, body = await refresh(dex, rotated["refresh_token"])
    assert status == 200, body  # the replay did not end the grant
