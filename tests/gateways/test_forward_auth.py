"""Forward-auth behind real gateways (docs/gateways.md): the same cases for each gateway.

nginx `auth_request`, Traefik ForwardAuth, Caddy `forward_auth` and Envoy `ext_authz`, each
configured exactly as the doc says, in front of the real sidecar (route table, no upstream),
the echo upstream and the stand-in OpenID provider.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.fixtures.gateway_kinds import KINDS, Kind
from tests.fixtures.gateways import RunningGateway
from tests.fixtures.provider import USERS, OidcProvider
from tests.fixtures.through_gateway import API, BROWSER, EVIL, bearer, received
from tests.fixtures.upstream import EchoUpstream

pytestmark = [
    pytest.mark.gateways,
    pytest.mark.parametrize("kind", sorted(KINDS), indirect=True),
]

ADMIN, PLAIN = USERS[0], USERS[1]
# The contract's identity headers (CONTRACT "Identity headers sent upstream"), one name of each
# family; each is sent as written, lower case, upper case, and each of those with `_`.
IDENTITY_NAMES = [
    "X-Auth-Subject", "X-Auth-Email", "X-Auth-Username", "X-Auth-Name", "X-Auth-Groups",
    "X-Auth-Assertion", "X-Auth-Actor", "X-Credential-Identifier", "X-Forwarded-User",
    "X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Preferred-Username",
    "X-Auth-Request-Email", "X-Consumer-Username", "X-Authenticated-Userid",
    "X-Anonymous-Consumer", "X-Userinfo", "X-Id-Token", "X-Access-Token",
]  # fmt: skip
# Names of the families no gateway config lists one by one.
UNLISTED = ["X-Auth-Request-Whatever", "X-Consumer-Whatever", "X-Authenticated-Whatever"]


def spoofed(names: list[str]) -> list[tuple[str, str]]:
    forms = [form for n in names for form in (n, n.lower(), n.upper())]
    return [(f, EVIL) for f in forms] + [(f.replace("-", "_"), EVIL) for f in forms]


async def test_without_a_session(
    stack: RunningGateway,
    kind: Kind,
    client: aiohttp.ClientSession,
    echo_upstream: EchoUpstream,
) -> None:
    url = stack.url + "/app/q?a=1&b=2"
    async with client.get(url, headers=API) as resp:
        assert resp.status == 401, stack.log()
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    bad = {**API, "Authorization": "Bearer not.a.token"}
    async with client.get(url, headers=bad) as resp:
        assert resp.status == 401
        assert "invalid_token" in resp.headers["WWW-Authenticate"]
    async with client.get(url, headers=BROWSER, allow_redirects=False) as resp:
        assert resp.status == 302
        login = resp.headers["Location"]
    async with client.head(url, headers=BROWSER, allow_redirects=False) as resp:
        assert resp.status == 302
    async with client.post(url, headers=BROWSER, allow_redirects=False) as resp:
        assert resp.status == 401, "only GET and HEAD browsers go to the login page"
    assert urlsplit(login).path == "/.auth/login", login
    # nginx cannot escape $request_uri: rd loses what follows the first `&`.
    rd = "/app/q?a=1&b=2" if kind.escapes_rd else "/app/q?a=1"
    assert parse_qs(urlsplit(login).query)["rd"] == [rd]
    assert echo_upstream.requests == []


async def test_identity_reaches_the_app_and_nothing_else(
    stack: RunningGateway,
    kind: Kind,
    oidc_provider: OidcProvider,
    client: aiohttp.ClientSession,
    echo_upstream: EchoUpstream,
) -> None:
    headers = [*API.items(), *(await bearer(oidc_provider, ADMIN)).items()]
    headers += spoofed(IDENTITY_NAMES + UNLISTED)
    async with client.get(stack.url + "/app/x", headers=headers) as resp:
        assert resp.status == 200, (await resp.text()) + stack.log()
    seen = received(echo_upstream)
    leaked = sorted(name for name, values in seen.items() if EVIL in values)
    expected_leaks = [] if kind.by_prefix else sorted(n.lower() for n in UNLISTED)
    assert leaked == expected_leaks
    assert not [name for name in seen if "_" in name], "a name with _ reached the app"
    (subject,) = seen["x-auth-subject"]
    assert seen["x-credential-identifier"] == [subject]
    assert seen["x-auth-email"] == [ADMIN.email]
    assert seen["x-auth-groups"] == [",".join(ADMIN.groups)]
    assert seen["x-auth-assertion"][0].count(".") == 2
    assert "x-auth-actor" not in seen
    assert "authorization" not in seen, "the client's bearer token reached the app"


async def test_policy_and_route_table_answers_arrive_as_such(
    stack: RunningGateway,
    oidc_provider: OidcProvider,
    client: aiohttp.ClientSession,
    echo_upstream: EchoUpstream,
) -> None:
    plain = {**API, **(await bearer(oidc_provider, PLAIN))}
    async with client.get(stack.url + "/app/admin/panel", headers=plain) as resp:
        assert resp.status == 403, stack.log()
    forged = {**plain, "X-Forwarded-Uri": "/app/public", "X-Original-URI": "/app/public"}
    async with client.get(stack.url + "/app/admin/panel", headers=forged) as resp:
        assert resp.status == 403, "a client's X-Forwarded-Uri was believed"
    async with client.get(stack.url + "/nowhere", headers=plain) as resp:
        assert resp.status == 404, stack.log()
    assert echo_upstream.requests == []
    async with client.get(stack.url + "/app/public/page", headers=API) as resp:
        assert resp.status == 200
    assert echo_upstream.last()["path"] == "/app/public/page"


async def test_sidecar_down_is_5xx_never_a_pass(
    stack_without_sidecar: RunningGateway,
    client: aiohttp.ClientSession,
    echo_upstream: EchoUpstream,
) -> None:
    for headers in (API, BROWSER, {**API, "Authorization": "Bearer a.b.c"}):
        async with client.get(
            stack_without_sidecar.url + "/app/x", headers=headers, allow_redirects=False
        ) as resp:
            assert 500 <= resp.status < 600, resp.status
    assert echo_upstream.requests == []


async def test_other_methods_are_decided_too(
    stack: RunningGateway,
    oidc_provider: OidcProvider,
    client: aiohttp.ClientSession,
    echo_upstream: EchoUpstream,
) -> None:
    auth = {**API, **(await bearer(oidc_provider, ADMIN))}
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        async with client.request(
            method, stack.url + "/app/items", data=b"{}", headers=API
        ) as resp:
            assert resp.status == 401, (method, stack.log())
        async with client.request(
            method, stack.url + "/app/items", data=b"{}", headers=auth
        ) as resp:
            assert resp.status == 200, (method, await resp.text())
        assert echo_upstream.last()["method"] == method
        assert echo_upstream.last()["body_len"] == 2


@pytest.mark.parametrize(
    "sidecar_overrides", [{"headers": {"forward_token": True}}], indirect=True, ids=["token"]
)
async def test_forward_token_gives_the_app_the_sidecars_token(
    stack: RunningGateway,
    oidc_provider: OidcProvider,
    client: aiohttp.ClientSession,
    echo_upstream: EchoUpstream,
) -> None:
    auth = await bearer(oidc_provider, ADMIN)
    async with client.get(stack.url + "/app/x", headers={**API, **auth}) as resp:
        assert resp.status == 200
    # The sidecar's answer for a bearer caller carries the same token it verified.
    assert received(echo_upstream).get("authorization", []) == [auth["Authorization"]]
