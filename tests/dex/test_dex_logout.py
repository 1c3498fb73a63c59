"""Logout against a Dex that has it: Dex's main branch at ab64ed778070 (after PR #4945) with
DEX_SESSIONS_ENABLED=true; no release has RP-initiated or back-channel logout yet.

Two sidecar processes share one Redis (two replicas behind one `public_url` host); Dex posts
its logout token to the first replica's `/.auth/backchannel-logout`."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.dex.conftest import COOKIE, sign_in
from tests.fixtures.ports import free_port
from tests.fixtures.sidecar import base_config, merge, new_secret, oidc_of

pytestmark = pytest.mark.dex
JSON = {"Accept": "application/json"}


@pytest.fixture
def logout_dex(dex_factory):
    return dex_factory(variant="main", storage="memory", sessions=True)


@pytest.fixture
def replicas(logout_dex, spawn_sidecar, redis_standalone, echo_upstream):
    """Two sidecar processes on Dex's first two callback ports, one Redis, one secret."""
    shared = {"session": {"redis_url": redis_standalone.url, "secret": new_secret()}}
    started = []
    for index in (0, 1):
        port = logout_dex.callback_ports[index]
        config = base_config(logout_dex, port, free_port(), echo_upstream.url)
        config = merge(merge(config, oidc_of(logout_dex)), shared)
        started.append(spawn_sidecar(config, name=f"replica-{index}"))
    return started


def session_cookie(browser: aiohttp.ClientSession) -> str:
    return next(c.value for c in browser.cookie_jar if c.key == COOKIE)


async def status_of(url: str, cookie: str) -> int:
    headers = {"Cookie": f"{COOKIE}={cookie}", **JSON}
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.get(url, headers=headers, allow_redirects=False) as response,
    ):
        return response.status


async def open_socket(http: aiohttp.ClientSession, base: str, cookie: str):
    ws = await http.ws_connect(base.replace("http", "ws", 1) + "/__ws",
                               headers={"Cookie": f"{COOKIE}={cookie}"})  # fmt: skip
    await ws.send_str("hello")
    assert await ws.receive_str(timeout=10) == "hello"
    return ws


async def test_dex_back_channel_logout_ends_the_session_on_every_replica_and_its_sockets(
    logout_dex, replicas, browser
):
    first, second = replicas
    assert (await sign_in(browser, logout_dex, first.url + "/app")).status == 200
    cookie = session_cookie(browser)
    assert await status_of(second.url + "/app", cookie) == 200
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        sockets = [await open_socket(http, r.url, cookie) for r in replicas]
        # The user signs out at Dex itself (another app's logout, or Dex's own page): Dex ends
        # its session and posts a logout token (with `sid`) to the sidecar's back channel.
        async with browser.post(logout_dex.issuer + "/logout", allow_redirects=False) as response:
            assert response.status < 400, await response.text()
        for ws in sockets:
            message = await ws.receive(timeout=30)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == 1008
    for replica in replicas:
        assert await status_of(replica.url + "/app", cookie) == 401
        assert await status_of(replica.url + "/.auth/me", cookie) == 401
    assert "backchannel" in first.log_path.read_text()


async def test_rp_initiated_logout_goes_through_dex_and_back_to_rd(logout_dex, replicas, browser):
    first, second = replicas
    assert (await sign_in(browser, logout_dex, first.url + "/app")).status == 200
    cookie = session_cookie(browser)
    origin = {"Origin": first.url}
    async with browser.post(
        first.url + "/.auth/logout?rd=/bye", headers=origin, allow_redirects=False
    ) as response:
        assert response.status == 302
        to_dex = response.headers["Location"]
    assert to_dex.startswith(logout_dex.issuer + "/logout?")
    query = parse_qs(urlsplit(to_dex).query)
    assert query["post_logout_redirect_uri"] == [first.url + "/.auth/logout/done"]
    assert "id_token_hint" in query
    assert "state" in query

    async with browser.get(to_dex, allow_redirects=False) as response:
        assert response.status in (302, 303), await response.text()
        back = response.headers["Location"]
    assert back.startswith(first.url + "/.auth/logout/done?")
    async with browser.get(back, allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"].endswith("/bye")
    assert await status_of(second.url + "/app", cookie) == 401
    # Dex's own session ended too: the next login asks for the password again (Dex keeps
    # the consent it was given, so no approval screen this time).
    again = await sign_in(browser, logout_dex, first.url + "/again")
    assert (again.status, again.pages[:1]) == (200, ["login"])


async def test_without_logout_dex_signs_the_user_in_again_silently(logout_dex, replicas, browser):
    """The control for the test above: Dex's session alone logs the browser in again."""
    first, _ = replicas
    assert (await sign_in(browser, logout_dex, first.url + "/app")).status == 200
    browser.cookie_jar.clear(lambda cookie: cookie.key == COOKIE)
    again = await sign_in(browser, logout_dex, first.url + "/again")
    assert (again.status, again.pages) == (200, [])
