"""A browser login through each gateway of docs/gateways.md, and what reaches the app of the
Cookie header afterwards (the session cookie is the sidecar's alone)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.fixtures.gateway_kinds import KINDS
from tests.fixtures.gateways import RunningGateway
from tests.fixtures.provider import OidcProvider
from tests.fixtures.through_gateway import (
    API,
    assert_session_cookie_cut,
    login,
    logout,
    received,
)
from tests.fixtures.upstream import EchoUpstream

pytestmark = [
    pytest.mark.gateways,
    pytest.mark.parametrize("kind", sorted(KINDS), indirect=True),
]


async def test_browser_login_through_the_gateway(
    stack: RunningGateway,
    oidc_provider: OidcProvider,
    client: aiohttp.ClientSession,
    echo_upstream: EchoUpstream,
) -> None:
    ticket = await login(stack, client, oidc_provider, echo_upstream, "/reports/q?a=1")
    assert echo_upstream.last()["path"] == "/reports/q"
    await assert_session_cookie_cut(stack.url + "/app", ticket, echo_upstream)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        three = "; ".join([f"sidecar_session={ticket}"] * 3 + ["x=1"])
        async with bare.get(stack.url + "/app", headers={**API, "Cookie": three}) as resp:
            # nginx cuts two copies and refuses a third; the others cut them all.
            assert resp.status in (200, 400)
            if resp.status == 200:
                assert ticket not in "; ".join(received(echo_upstream).get("cookie", []))
    await logout(stack, client, ticket)
