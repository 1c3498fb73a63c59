"""Signing key rotation on the live provider, counted at the provider's JWKS endpoint.

CONTRACT: an unknown `kid` triggers at most one refetch per 10 s, shared by all concurrent
requests. The sidecar fetched the JWKS when it started, so each test waits until 10 s after
that before presenting a kid the sidecar has not seen (a wait, not a timed assertion).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import aiohttp
import jwt

from tests.app.conftest import USER, bearer
from tests.app.forge import kid_of, rsa_key

REFETCH_INTERVAL_S = 10.0


async def statuses(url: str, tokens: list[str]) -> list[int]:
    """Send every token at once; the status of each."""
    async with aiohttp.ClientSession() as http:

        async def one(token: str) -> int:
            async with http.get(url, headers=bearer(token)) as response:
                await response.read()
                return response.status

        return list(await asyncio.gather(*(one(token) for token in tokens)))


async def wait_past_refetch_interval(loaded_at: float) -> None:
    await asyncio.sleep(max(0.0, loaded_at + REFETCH_INTERVAL_S + 0.5 - time.monotonic()))


def forged_unknown_kids(claims: dict[str, Any], count: int) -> list[str]:
    key = rsa_key()
    return [
        jwt.encode(claims, key, algorithm="RS256", headers={"kid": secrets.token_hex(20)})
        for _ in range(count)
    ]


async def test_rotated_key_is_accepted_after_exactly_one_refetch(fresh_provider, sidecar_factory):
    old = (await fresh_provider.login(USER, "password")).id_token
    sidecar = await sidecar_factory()
    loaded_at = time.monotonic()
    fresh_provider.reset_counters()
    url = sidecar.url + "/x"

    assert await statuses(url, [old]) == [200]
    new_kid = fresh_provider.rotate_keys()
    new = (await fresh_provider.login(USER, "password")).id_token
    assert kid_of(new) == new_kid
    assert new_kid != kid_of(old)
    assert fresh_provider.counters()["jwks"] == 0

    await wait_past_refetch_interval(loaded_at)
    assert await statuses(url, [new]) == [200]
    assert fresh_provider.counters()["jwks"] == 1
    # Both keys are known now: neither token causes another fetch.
    assert await statuses(url, [new, old, new, old]) == [200] * 4
    assert fresh_provider.counters()["jwks"] == 1


async def test_flood_of_unknown_kids_fetches_at_most_once_per_interval(
    fresh_provider, sidecar_factory, id_tokens
):
    sidecar = await sidecar_factory()
    fresh_provider.reset_counters()
    url = sidecar.url + "/x"
    claims = jwt.decode(id_tokens[USER], options={"verify_signature": False})

    # The first flood: one fetch, shared by the whole flood (and a real token among it).
    flood = [*forged_unknown_kids(claims, 100), id_tokens[USER]]
    assert await statuses(url, flood) == [401] * 100 + [200]
    # The interval runs from that fetch, somewhere inside the flood: timing it from after the
    # flood keeps the wait below long enough however slowly a loaded machine sends the flood.
    fetched_by = time.monotonic()
    assert fresh_provider.counters()["jwks"] == 1

    # A second flood within the interval: none.
    assert await statuses(url, forged_unknown_kids(claims, 100)) == [401] * 100
    assert fresh_provider.counters()["jwks"] == 1

    # The next interval: one more, shared again.
    await wait_past_refetch_interval(fetched_by)
    assert await statuses(url, forged_unknown_kids(claims, 100)) == [401] * 100
    assert fresh_provider.counters()["jwks"] == 2
