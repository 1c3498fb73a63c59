"""A browser login through each gateway of docs/gateways.md, and what reaches the app of the
Cookie header afterwards (the session cookie is the sidecar's alone)."""

from __future__ import annotations

from urllib.parse import urljoin

import aiohttp
import pytest

from tests.fixtures.gateway_kinds import KINDS
from tests.fixtures.gateways import RunningGateway
from tests.fixtures.provider import USERS, OidcProvider
from tests.fixtures.upstream import EchoUpstream
from tests.gateways.test_forward_auth import API, BROWSER, received

pytestmark = [
    pytest.mark.gateways,
    pytest.mark.parametrize("kind", sorted(KINDS), indirect=True),
]

ADMIN = USERS[0]
# The Cookie header the client sends (T: the session ticket) -> what the app gets.
COOKIE_CASES = [
    ("theme=dark; sidecar_session=T; lang=en", ["theme=dark; lang=en"]),
    ("sidecar_session=T; theme=dark", ["theme=dark"]),
    ("theme=dark; sidecar_session=T", ["theme=dark"]),
    ("sidecar_session=T", []),
    ("sidecar_session_login=x; sidecar_session=T", ["sidecar_session_login=x"]),
    ("sidecar_session=T; x=1; sidecar_session=T", ["x=1"]),
]


async def login(
    gateway: RunningGateway, client: aiohttp.ClientSession, provider: OidcProvider, path: str
) -> None:
    """From a protected page through the login page and the provider back to `path`."""
    url = gateway.url + path
    for _ in range(3):  # the gateway's redirect, the sidecar's login page
        async with client.get(url, headers=BROWSER, allow_redirects=False) as resp:
            assert resp.status == 302, (await resp.text()) + gateway.log()
            url = urljoin(url, resp.headers["Location"])
        if url.startswith(provider.authorization_endpoint):
            break
    assert url.startswith(provider.authorization_endpoint), url
    callback = await provider.complete_login(client, url, ADMIN.email, ADMIN.password)
    assert callback.startswith(gateway.url + "/.auth/callback"), "public_url is the gateway's"
    async with client.get(callback, headers=BROWSER, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        assert resp.headers["Location"].endswith(path)


async def test_browser_login_through_the_gateway(
    stack: RunningGateway,
    oidc_provider: OidcProvider,
    client: aiohttp.ClientSession,
    echo_upstream: EchoUpstream,
) -> None:
    await login(stack, client, oidc_provider, "/reports/q?a=1")
    async with client.get(stack.url + "/reports/q?a=1", headers=BROWSER) as resp:
        assert resp.status == 200
    seen = received(echo_upstream)
    assert echo_upstream.last()["path"] == "/reports/q"
    assert seen["x-auth-email"] == [ADMIN.email]
    assert "sidecar_session" not in "; ".join(seen.get("cookie", []))
    ticket = next(c.value for c in client.cookie_jar if c.key == "sidecar_session")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        for sent, stripped in COOKIE_CASES:
            cookie = sent.replace("=T", "=" + ticket)
            async with bare.get(stack.url + "/app", headers={**API, "Cookie": cookie}) as resp:
                assert resp.status == 200, sent
            seen = received(echo_upstream)
            assert seen.get("cookie", []) == stripped, sent
            assert seen["x-auth-email"] == [ADMIN.email]
        three = "; ".join([f"sidecar_session={ticket}"] * 3 + ["x=1"])
        async with bare.get(stack.url + "/app", headers={**API, "Cookie": three}) as resp:
            # nginx cuts two copies and refuses a third; the others cut them all.
            assert resp.status in (200, 400)
            if resp.status == 200:
                assert ticket not in "; ".join(received(echo_upstream).get("cookie", []))
    await logout(stack, client, ticket)


async def logout(gateway: RunningGateway, client: aiohttp.ClientSession, ticket: str) -> None:
    """The sign-out form's POST through the gateway ends the session: the ticket is refused."""
    headers = {**BROWSER, "Origin": gateway.url}
    async with client.post(
        gateway.url + "/.auth/logout?rd=/", headers=headers, allow_redirects=False
    ) as resp:
        assert resp.status == 302, await resp.text()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        cookie = {"Cookie": f"sidecar_session={ticket}"}
        async with bare.get(gateway.url + "/app", headers={**API, **cookie}) as resp:
            assert resp.status == 401
