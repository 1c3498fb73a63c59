"""`workers: 2`: two processes share the listeners (SO_REUSEPORT) and one assertion key."""

import asyncio
import os
import signal

import aiohttp
import jwt

from tests.fixtures.ports import free_port
from tests.fixtures.sidecar import base_config, merge


async def one_request(url: str, **kwargs) -> aiohttp.ClientResponse:
    # A connection per request, so the kernel spreads them over both workers.
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
        http.get(url, **kwargs) as response,
    ):
        await response.read()
        return response


async def test_two_workers_share_one_assertion_key_and_stop_on_sigterm(
    oidc_provider, echo_upstream, redis_standalone, spawn_sidecar
):
    port, admin_port = free_port(), free_port()
    config = merge(
        base_config(oidc_provider, port, admin_port, echo_upstream.url),
        {"workers": 2, "session": {"redis_url": redis_standalone.url}},
    )
    running = spawn_sidecar(config, name="workers")
    tokens = await oidc_provider.login("admin-dex@example.com", "password")
    bearer = {"Authorization": f"Bearer {tokens.id_token}"}

    statuses = [
        (await one_request(running.url + f"/w/{i}", headers=bearer)).status for i in range(30)
    ]
    assert statuses == [200] * 30
    assertions = [
        dict((k.lower(), v) for k, v in request["headers"])["x-auth-assertion"]
        for request in echo_upstream.requests[-30:]
    ]
    for _ in range(10):  # whichever worker answers, every assertion verifies
        async with (
            aiohttp.ClientSession() as http,
            http.get(running.url + "/.auth/jwks") as response,
        ):
            keys = jwt.PyJWKSet.from_dict(await response.json())
        for assertion in assertions:
            kid = jwt.get_unverified_header(assertion)["kid"]
            jwt.decode(assertion, keys[kid].key, algorithms=["ES256"], audience=echo_upstream.url)

    children = _children(running.process.pid)
    assert len(children) == 2
    running.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(running.process.wait, 30) == 0
    for child in children:
        assert not os.path.exists(f"/proc/{child}")


def _children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    with open(path) as handle:
        return [int(child) for child in handle.read().split()]
