"""A websocket whose upstream handshake is in flight at the logout (issue 16 item 3).

CONTRACT "A session ends everywhere at once": every websocket relayed under a session closes
with 1008 within 1 s of the logout. The socket below is not open yet when the logout happens:
its upgrade passed the sidecar's checks and waits for the upstream's answer. Before the fix
the session watch was registered only after that answer, so the socket opened afterwards and
relayed for good. Real provider (npm oidc-provider), real login, real `POST /.auth/logout`.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tests.auth.test_login_flow import COOKIE, browser, login
from tests.auth.test_logout import post_logout
from tests.fixtures.ws_upstream import WsUpstream, ws_upstream

__all__ = ["ws_upstream"]

CLOSE_WITHIN_S = 1.0


async def _receive_close(ws: aiohttp.ClientWebSocketResponse, timeout_s: float) -> int | None:
    """The close code once the sidecar closes the socket; fails when a frame is relayed
    instead or nothing happens within `timeout_s`."""
    message = await ws.receive(timeout=timeout_s)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
    return ws.close_code


async def test_a_socket_whose_handshake_spans_the_logout_closes_with_1008(
    fresh_provider, sidecar_factory, ws_upstream: WsUpstream
):
    sidecar = await sidecar_factory(upstream=ws_upstream.url)
    async with browser() as http:
        done = await login(http, sidecar.url, fresh_provider)
    ws_upstream.gate.clear()  # the upstream holds every handshake until the test lets go
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
        opening = asyncio.create_task(
            client.ws_connect(sidecar.url + "/live", headers={"Cookie": f"{COOKIE}={done.cookie}"})
        )
        await asyncio.wait_for(ws_upstream.arrived.wait(), 5)  # the handshake is in flight
        assert (await post_logout(sidecar.url, done.cookie)).status == 302
        ws_upstream.gate.set()
        released = time.monotonic()
        async with await asyncio.wait_for(opening, 5) as ws:
            code = await _receive_close(ws, CLOSE_WITHIN_S)
        assert code == 1008
        assert time.monotonic() - released < CLOSE_WITHIN_S
    # The upstream's hop is closed the same way; it never had a frame to echo.
    for _ in range(50):
        if ws_upstream.close_codes:
            break
        await asyncio.sleep(0.02)
    assert ws_upstream.close_codes == [1008]


async def test_a_socket_of_a_live_session_opened_through_a_slow_handshake_relays(
    fresh_provider, sidecar_factory, ws_upstream: WsUpstream
):
    """The control: the same slow handshake without a logout opens and relays."""
    sidecar = await sidecar_factory(upstream=ws_upstream.url)
    async with browser() as http:
        done = await login(http, sidecar.url, fresh_provider)
    ws_upstream.gate.clear()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
        opening = asyncio.create_task(
            client.ws_connect(sidecar.url + "/live", headers={"Cookie": f"{COOKIE}={done.cookie}"})
        )
        await asyncio.wait_for(ws_upstream.arrived.wait(), 5)
        await asyncio.sleep(0.2)
        ws_upstream.gate.set()
        async with await asyncio.wait_for(opening, 5) as ws:
            await ws.send_str("still signed in")
            assert await ws.receive_str(timeout=5) == "still signed in"
