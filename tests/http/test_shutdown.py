"""Graceful shutdown of a real `python -m sidecar` process (CONTRACT "Command line"): on
SIGTERM it stops accepting, reports not ready, lets in-flight requests finish within
`shutdown_grace_s`, and exits 0. (A bad configuration exiting 2 without binding a port is
tests/test_cli.py::test_bad_config_exits_2_without_binding.)"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.app.conftest import USER, bearer
from tests.fixtures.ports import LOOPBACK, free_port
from tests.fixtures.sidecar import base_config, merge
from tests.fixtures.upstream import echo_app

IN_FLIGHT = 5


class CountingUpstream:
    """The echo upstream, telling the test when requests have arrived (before `/__slow`
    sleeps), so SIGTERM is sent while they are provably in flight."""

    def __init__(self) -> None:
        self.arrived = 0
        self.all_arrived = asyncio.Event()
        self.url = ""

    @web.middleware
    async def count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.arrived += 1
        if self.arrived >= IN_FLIGHT:
            self.all_arrived.set()
        return await handler(request)


@pytest.fixture
async def upstream(aiohttp_server: Callable[..., Any]) -> CountingUpstream:
    counting = CountingUpstream()
    app = echo_app([])
    app.middlewares.append(counting.count)
    server = await aiohttp_server(app, host=LOOPBACK)
    counting.url = f"http://{LOOPBACK}:{server.port}"
    return counting


def spawn(spawn_sidecar, oidc_provider, upstream, grace_s: float):
    config = base_config(oidc_provider, free_port(), free_port(), upstream.url)
    return spawn_sidecar(merge(config, {"shutdown_grace_s": grace_s}), "shutdown")


async def refuses_connections(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        _, writer = await asyncio.open_connection(host, int(port))
    except (ConnectionRefusedError, ConnectionResetError):
        # Reset: the connection reached the backlog just as the listener closed; the kernel
        # then answers it with RST. Either way the sidecar accepted no new connection.
        return True
    writer.close()
    return False


async def wait_until(check: Callable[[], Any], timeout_s: float = 5.0) -> bool:
    """Poll an async check until true (bounded)."""
    async with asyncio.timeout(timeout_s):
        while not await check():
            await asyncio.sleep(0.02)
    return True


async def test_sigterm_finishes_in_flight_requests_then_exits_0(
    spawn_sidecar, oidc_provider, upstream, id_tokens
):
    grace_s = 15.0
    sidecar = spawn(spawn_sidecar, oidc_provider, upstream, grace_s)
    async with aiohttp.ClientSession() as http:

        async def slow() -> tuple[int, str]:
            url = sidecar.url + "/__slow?delay=2"
            async with http.get(url, headers=bearer(id_tokens[USER])) as response:
                return response.status, (await response.json())["path"]

        in_flight = [asyncio.ensure_future(slow()) for _ in range(IN_FLIGHT)]
        async with asyncio.timeout(10):
            await upstream.all_arrived.wait()
        sidecar.process.send_signal(signal.SIGTERM)

        await wait_until(lambda: refuses_connections(sidecar.url))
        draining = not all(task.done() for task in in_flight)

        async def not_ready() -> bool:
            async with http.get(sidecar.admin_url + "/readyz") as response:
                return (
                    response.status == 503 and "not_draining" in (await response.json())["missing"]
                )

        assert await wait_until(not_ready)
        results = await asyncio.gather(*in_flight)

    assert draining, "new connections were refused while the requests were still in flight"
    assert results == [(200, "/__slow")] * IN_FLIGHT
    assert await asyncio.to_thread(sidecar.process.wait, grace_s) == 0


async def test_requests_beyond_the_grace_do_not_hold_the_exit(
    spawn_sidecar, oidc_provider, upstream, id_tokens
):
    sidecar = spawn(spawn_sidecar, oidc_provider, upstream, grace_s=1)
    async with aiohttp.ClientSession() as http:

        async def too_slow() -> int:
            url = sidecar.url + "/__slow?delay=60"
            async with http.get(url, headers=bearer(id_tokens[USER])) as response:
                await response.read()
                return response.status

        stuck = [asyncio.ensure_future(too_slow()) for _ in range(IN_FLIGHT)]
        async with asyncio.timeout(10):
            await upstream.all_arrived.wait()
        sidecar.process.send_signal(signal.SIGTERM)
        # Well before the requests' 60 s: the grace (1 s) bounds the wait.
        assert await asyncio.to_thread(sidecar.process.wait, 20) == 0
        outcomes = await asyncio.gather(*stuck, return_exceptions=True)
    assert all(isinstance(outcome, aiohttp.ClientError) for outcome in outcomes), outcomes
