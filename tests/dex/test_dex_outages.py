"""Dex's signing-key rotation, and Dex down then back: what keeps working, what answers 503."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import jwt
import pytest

from tests.dex.conftest import sign_in
from tests.dex.flows import dex_tokens, refresh
from tests.dex.test_dex_refresh import ID_TOKEN_S, sidecar_overrides, wait_until_refresh_due
from tests.fixtures.dex_pages import Credentials, browse

pytestmark = pytest.mark.dex
JSON = {"Accept": "application/json"}
ROTATION_WAIT_S = 120  # Dex checks its keys every 30 s


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def bearer_status(url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", **JSON}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client,
        client.get(url, headers=headers) as response,
    ):
        return response.status


async def test_tokens_signed_after_dex_rotates_its_key_are_accepted_without_restart(
    dex_factory, start_sidecar
):
    # A short `expiry.signingKeys`: Dex rotates at its next 30 s check.
    dex = dex_factory(storage="memory", signing_keys="5s")
    sidecar = await start_sidecar(dex)
    first = await dex_tokens(dex)
    assert await bearer_status(sidecar.url + "/api", first.id_token) == 200

    deadline = time.monotonic() + ROTATION_WAIT_S
    while kid_of(first.id_token) == dex.kids()[0] and len(dex.kids()) == 1:
        assert time.monotonic() < deadline, "Dex did not rotate its key"
        await asyncio.sleep(2)
    status, body = await refresh(dex, first.refresh_token)
    assert status == 200, body
    rotated = body["id_token"]
    assert kid_of(rotated) != kid_of(first.id_token)  # signed by the new key

    assert await bearer_status(sidecar.url + "/api", rotated) == 200  # unknown kid: one refetch
    assert await bearer_status(sidecar.url + "/api", first.id_token) == 200  # old key still out


async def test_dex_down_bearer_works_refresh_and_callback_get_503_then_recover(
    dex_factory, start_sidecar, browser
):
    dex = dex_factory(storage="sqlite", id_tokens=f"{ID_TOKEN_S}s")
    sidecar = await start_sidecar(dex, overrides=sidecar_overrides())
    bearer = (await dex_tokens(dex, connector="local")).id_token
    assert (await sign_in(browser, dex, sidecar.url + "/app")).status == 200
    # A second browser half way through a login: Dex gave it a code, the callback is next.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as late:
        user = Credentials(dex.admin.email, dex.admin.password)
        callback = sidecar.url + "/.auth/callback"
        halfway = await browse(late, sidecar.url + "/late", user, dex.issuer, stop_at=callback)
        assert halfway.status == 302

        dex.stop()
        assert await bearer_status(sidecar.url + "/api", bearer) == 200  # cached keys
        exp = await wait_until_refresh_due(browser, sidecar)
        async with browser.get(sidecar.url + "/app/refresh-fails", headers=JSON) as response:
            assert response.status == 200  # the refresh failed, the id token is still good
        await asyncio.sleep(max(0.0, exp - time.time()) + 1.0)
        async with browser.get(sidecar.url + "/app/needs-refresh", headers=JSON) as response:
            assert response.status == 503
            assert int(response.headers["Retry-After"]) > 0
        async with late.get(halfway.url, allow_redirects=False) as response:
            assert response.status == 503
            assert int(response.headers["Retry-After"]) > 0

        dex.start()  # same sqlite file: the refresh token is still good
        async with browser.get(sidecar.url + "/app/recovered", headers=JSON) as response:
            assert response.status == 200
        again = await sign_in(late, dex, sidecar.url + "/late-again")
        assert again.status == 200
