"""The Kong plugin as shipped, in a real nginx + lua-nginx-module (kong/realnginx/), in front of
the real sidecar: kong/spec/handler_spec.lua's cases end to end."""

from __future__ import annotations

import aiohttp
import pytest

from sidecar.pipeline.headers import FORWARDING_HEADERS, SPOOFABLE_HEADERS
from tests.fixtures.gateways import RunningGateway
from tests.fixtures.provider import USERS, OidcProvider
from tests.fixtures.through_gateway import API, BROWSER, EVIL, bearer, received
from tests.fixtures.upstream import EchoUpstream

pytestmark = pytest.mark.kong_nginx

ADMIN, PLAIN = USERS[0], USERS[1]
# Every name the sidecar strips, in three cases and with `_`; the forwarding headers with `_`.
SPOOFED_NAMES = [*sorted(SPOOFABLE_HEADERS), "x-auth-request-email", "x-consumer-id"]
SPOOFED = [
    (form, EVIL)
    for name in SPOOFED_NAMES
    for case in (name, name.upper(), name.title())
    for form in (case, case.replace("-", "_"))
] + [(name.replace("-", "_"), EVIL) for name in sorted(FORWARDING_HEADERS) if "-" in name]


async def test_without_a_session(
    kong: RunningGateway, client: aiohttp.ClientSession, echo_upstream: EchoUpstream
) -> None:
    url = kong.url + "/app/q?a=1&b=2"
    async with client.get(url, headers=API) as resp:
        assert resp.status == 401, kong.log()
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="auth-sidecar"'
        assert (await resp.json())["error"]
    async with client.get(url, headers=BROWSER, allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "/.auth/login?rd=%2Fapp%2Fq%3Fa%3D1%26b%3D2"
    async with client.head(url, headers=BROWSER, allow_redirects=False) as resp:
        assert resp.status == 302
    async with client.post(url, headers=BROWSER, allow_redirects=False) as resp:
        assert resp.status == 401, "only GET/HEAD browsers are sent to the login page"
    async with client.get(url, headers={**API, "Authorization": "Bearer a.b.c"}) as resp:
        assert resp.status == 401
        assert "invalid_token" in resp.headers["WWW-Authenticate"]
    assert echo_upstream.requests == []


@pytest.mark.parametrize("plugin_conf", [{"login_path": ""}], indirect=True)
async def test_without_login_path_browsers_get_401(
    kong: RunningGateway, client: aiohttp.ClientSession
) -> None:
    async with client.get(kong.url + "/app/q", headers=BROWSER, allow_redirects=False) as resp:
        assert resp.status == 401


async def test_identity_reaches_the_app_and_spoofing_does_not(
    kong: RunningGateway,
    oidc_provider: OidcProvider,
    client: aiohttp.ClientSession,
    echo_upstream: EchoUpstream,
) -> None:
    auth = await bearer(oidc_provider, ADMIN)
    headers = [*API.items(), *auth.items(), *SPOOFED]
    async with client.get(kong.url + "/app/x?y=1", headers=headers) as resp:
        assert resp.status == 200, (await resp.text()) + kong.log()
    seen = received(echo_upstream)
    assert sorted(name for name, values in seen.items() if EVIL in values) == []
    assert not [name for name in seen if "_" in name]
    (subject,) = seen["x-auth-subject"]
    assert seen["x-credential-identifier"] == [subject]
    assert seen["x-kong-test-credential"] == [subject], "kong.client.authenticate"
    assert seen["x-auth-email"] == [ADMIN.email]
    assert seen["x-auth-groups"] == [",".join(ADMIN.groups)]
    assert seen["x-auth-assertion"][0].count(".") == 2
    assert "authorization" not in seen
    assert echo_upstream.last()["query_string"] == "y=1"


async def test_decisions_arrive_as_such(
    kong: RunningGateway,
    oidc_provider: OidcProvider,
    client: aiohttp.ClientSession,
    echo_upstream: EchoUpstream,
) -> None:
    auth = await bearer(oidc_provider, PLAIN)
    plain = {**API, **auth}
    forged = {**plain, "X-Forwarded-Uri": "/app/public", "X-Forwarded-Host": "elsewhere"}
    for headers in (plain, forged):
        async with client.get(kong.url + "/app/admin/panel", headers=headers) as resp:
            assert resp.status == 403, kong.log()
    async with client.get(kong.url + "/nowhere", headers=plain) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]
    assert echo_upstream.requests == []
    async with client.post(kong.url + "/app/items", data=b"{}", headers=plain) as resp:
        assert resp.status == 200
    assert echo_upstream.last()["method"] == "POST"
    async with client.get(kong.url + "/app/public/page", headers=API) as resp:
        assert resp.status == 200
    seen = received(echo_upstream)
    assert "x-auth-subject" not in seen
    assert "x-kong-test-credential" not in seen, "a public path authenticates nobody"


async def test_sidecar_down_is_503(
    kong_without_sidecar: RunningGateway,
    client: aiohttp.ClientSession,
    echo_upstream: EchoUpstream,
) -> None:
    for headers in (API, BROWSER, {"Authorization": "Bearer a.b.c"}):
        async with client.get(
            kong_without_sidecar.url + "/app/x", headers=headers, allow_redirects=False
        ) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "5"
            assert await resp.json() == {"error": "auth_unavailable"}
    assert echo_upstream.requests == []
    assert "auth-sidecar verify call failed" in kong_without_sidecar.log()


@pytest.mark.parametrize(
    "plugin_conf",
    [{"verify_status": code} for code in (500, 502, 204, 201)],
    indirect=True,
    ids=lambda conf: str(conf["verify_status"]),
)
async def test_an_unexpected_verify_status_is_503_never_a_pass(
    kong: RunningGateway, client: aiohttp.ClientSession, echo_upstream: EchoUpstream
) -> None:
    async with client.get(kong.url + "/app/x", headers=API) as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "5"
    paths = {request["path"] for request in echo_upstream.requests}
    assert paths == {"/__status"}, "only the verify call reached the echo server"
