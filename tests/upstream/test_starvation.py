"""Issue 16 item 2, pool starvation: long-lived answers (server-sent events, long polls) that
hold every connection to an upstream leave a further request a 504 within
`upstream_connect_timeout_s`, never a request hanging with no answer.

The limit is `upstream_max_connections` (1024 by default, `tests/config`); here 4, so that
the test holds 4 answers, not 1024. The proxy's connect timeout is 0.5 s: the bound below
(10 s) is generous, only there so that a hang fails the test instead of stalling it.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.upstream.hostile import call, hostile_upstream, proxy_to

LIMIT = 4
HANG_S = 10.0


@pytest.fixture
async def client():
    # Its own connection per held request: aiohttp's default limit (100) is above LIMIT.
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.mark.parametrize("streamed", [False, True], ids=["pooled", "streamed"])
async def test_a_request_beyond_the_limit_gets_504_not_a_hang(
    client: aiohttp.ClientSession, streamed: bool
):
    method = "POST" if streamed else "GET"
    async with (
        hostile_upstream() as upstream,
        proxy_to(upstream.url, max_connections=LIMIT) as proxy,
    ):
        held = [
            asyncio.create_task(call(client, method, proxy / "hold", f"u{n}", streamed=streamed))
            for n in range(LIMIT)
        ]
        try:
            async with asyncio.timeout(HANG_S):
                while upstream.held < LIMIT:
                    await asyncio.sleep(0.01)
                late = await call(client, method, proxy / "me", "late", streamed=streamed)
        finally:
            upstream.hold.set()  # the held answers end
        assert late[0] == 504
        body = json.loads(late[1])
        assert (set(body), body["error"]) == ({"error", "request_id"}, "upstream_timeout")
        async with asyncio.timeout(HANG_S):
            for task in held:  # every held answer completes
                status, text, _ = await task
                assert (status, text.strip(".")) == (200, "done")
            # and the freed connections serve again
            bob = await call(client, method, proxy / "me", "bob", streamed=streamed)
            assert bob == (200, "for:bob", None)
