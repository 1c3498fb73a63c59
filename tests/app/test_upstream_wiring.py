"""The whole sidecar in front of the hostile upstream (`tests/upstream/hostile.py`): the
`upstream_max_connections` key reaches both clients (issue 16 item 2), and with aiohttp's
internals moved the app starts on the public client alone and serves (item 17)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import structlog
from yarl import URL

from sidecar import aiohttp_internals
from tests.upstream.hostile import call, hostile_upstream

PUBLIC = {"policy": [{"path": "/", "allow": "public"}]}
HANG_S = 10.0  # generous: only there so that a hang fails instead of stalling


@pytest.mark.parametrize("streamed", [False, True], ids=["pooled", "streamed"])
async def test_the_configured_limit_gives_504_with_the_contract_body(
    sidecar_factory: Callable[..., Any], streamed: bool
):
    limits = {"upstream_max_connections": 2, "upstream_connect_timeout_s": 0.5}
    method = "POST" if streamed else "GET"
    async with hostile_upstream() as upstream, aiohttp.ClientSession() as client:
        sidecar = await sidecar_factory(PUBLIC | limits, upstream=str(upstream.url))
        url = URL(sidecar.url)
        held = [
            asyncio.create_task(call(client, method, url / "hold", f"u{n}", streamed=streamed))
            for n in range(2)
        ]
        try:
            async with asyncio.timeout(HANG_S):
                while upstream.held < 2:
                    await asyncio.sleep(0.01)
                async with client.request(
                    method, url / "me", data=b"x" if streamed else None
                ) as late:
                    body = await late.json()
                    assert late.status == 504, body
                    assert body == {
                        "error": "upstream_timeout",
                        "request_id": late.headers["X-Request-ID"],
                    }
        finally:
            upstream.hold.set()
        async with asyncio.timeout(HANG_S):
            assert [(await task)[0] for task in held] == [200, 200]


@pytest.fixture
def moved_internals(monkeypatch: pytest.MonkeyPatch):
    wanted = aiohttp_internals._RESPONSE_PARAMS | {"renamed_in_a_later_release"}
    monkeypatch.setattr(aiohttp_internals, "_RESPONSE_PARAMS", wanted)
    aiohttp_internals.usable.cache_clear()
    yield
    aiohttp_internals.usable.cache_clear()


async def test_with_aiohttp_internals_moved_the_sidecar_serves_on_the_public_client(
    sidecar_factory: Callable[..., Any], moved_internals: None
):
    async with hostile_upstream() as upstream, aiohttp.ClientSession() as client:
        with structlog.testing.capture_logs() as logs:
            sidecar = await sidecar_factory(PUBLIC, upstream=str(upstream.url))
            url = URL(sidecar.url)
            assert await call(client, "GET", url / "me", "bob") == (200, "for:bob", None)
            assert (await call(client, "POST", url / "me", "bob", streamed=True))[:2] == (
                200,
                "for:bob",
            )
            # the server side falls back too: aiohttp's own answer to an unparsable request
            reader, writer = await asyncio.open_connection(url.host, url.port)
            writer.write(b"GET /me HTTP/1.1\r\nBad Header\r\n\r\n")
            status_line = await reader.readline()
            writer.close()
    assert status_line.split(b" ")[1] == b"400", status_line
    assert [e["event"] for e in logs].count("aiohttp_internals_moved") == 1
