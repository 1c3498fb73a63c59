"""A real gateway in front of the running sidecar: nginx in proxy mode (proxy_pass) and in
forward-auth mode (auth_request /.auth/verify), the sidecar trusting only 127.0.0.1, run as the
console script. (docs/gateways.md's nginx configuration is tested in test_forward_auth.py.)

What must hold through the gateway: the identity reaches the echo upstream, spoofed identity
headers do not, 401 / 403 / the browser's 302 come back to the client, and a browser login
through the gateway ends with a session cookie that works.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.fixtures import gateways
from tests.fixtures.gateways_nginx import Gateway, spawn_sidecar_cli, start_nginx
from tests.fixtures.ports import free_port
from tests.fixtures.procs import log_tail, stop_process
from tests.fixtures.provider import USERS, OidcProvider
from tests.fixtures.sidecar import base_config
from tests.fixtures.through_gateway import (
    API,
    BROWSER,
    assert_session_cookie_cut,
    bearer,
    received,
    session_ticket,
)
from tests.fixtures.upstream import EchoUpstream

pytestmark = pytest.mark.gateways

ADMIN, PLAIN = USERS[0], USERS[1]
# Sent by the client on every request; none may reach the upstream with these values.
SPOOFED = {
    "X-Auth-Subject": "evil",
    "X-Auth-Email": "evil@example.com",
    "X-Auth-Groups": "admins",
    "X-Credential-Identifier": "evil",
    "X-Forwarded-User": "evil",
    "X-Auth-Request-Email": "evil@example.com",
    "X-Consumer-Username": "evil",
    "X-Userinfo": "evil",
    "X_Auth_Subject": "evil",
    "X_Credential_Identifier": "evil",
}


def assert_no_spoofing(headers: dict[str, list[str]]) -> None:
    for name, value in SPOOFED.items():
        assert value not in headers.get(name.lower(), []), f"spoofed {name} reached upstream"
    assert not [n for n in headers if "_" in n], "underscore header names reached upstream"


@pytest.fixture
def nginx() -> str:
    binary = gateways.binary("nginx")
    if binary is None:
        pytest.skip("nginx is not installed (Debian nginx-light; `make deps` installs it)")
    return binary


@pytest.fixture
def processes() -> Iterator[list[Any]]:
    """Everything a test starts, stopped at the end even when the test fails."""
    started: list[Any] = []
    yield started
    for handle in reversed(started):
        stop_process(handle.process)


MODES = ["proxy", "forward-auth"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Each test runs in both modes."""
    return str(request.param)


@pytest.fixture
def gateway(
    mode: str,
    tmp_path: Path,
    nginx: str,
    oidc_provider: OidcProvider,
    echo_upstream: EchoUpstream,
    processes: list[Any],
) -> Gateway:
    """nginx in `mode` in front of the sidecar run as the console script."""
    port, sidecar_port, admin_port = free_port(), free_port(), free_port()
    upstream_port = urlsplit(echo_upstream.url).port
    assert upstream_port
    upstream = echo_upstream.url if mode == "proxy" else None
    config = base_config(oidc_provider, sidecar_port, admin_port, upstream)
    config["public_url"] = f"http://127.0.0.1:{port}"  # what the browser sees: nginx
    config["trusted_proxies"] = "127.0.0.1/32"
    config["log"] = {"level": "info"}  # the "serving" line tells that it listens
    processes.append(spawn_sidecar_cli(config, tmp_path))
    gateway = start_nginx(
        nginx,
        mode,
        tmp_path / f"nginx-{mode}",
        port,
        sidecar_port=sidecar_port,
        upstream_port=upstream_port,
    )
    processes.append(gateway)
    return gateway


async def test_identity_reaches_upstream_and_spoofing_does_not(
    gateway: Gateway,
    oidc_provider: OidcProvider,
    echo_upstream: EchoUpstream,
    client: aiohttp.ClientSession,
    processes: list[Any],
) -> None:
    auth = await bearer(oidc_provider, ADMIN)
    headers = {**API, **auth, **SPOOFED}
    async with client.get(gateway.url + "/hello?x=1", headers=headers) as resp:
        body = await resp.text()
        assert resp.status == 200, body + log_tail(processes[0].log_path)
    seen = received(echo_upstream)
    assert echo_upstream.last()["path"] == "/hello"
    assert_no_spoofing(seen)
    (subject,) = seen["x-auth-subject"]
    assert subject
    assert subject != "evil"
    assert seen["x-credential-identifier"] == [subject]
    assert seen["x-auth-email"] == [ADMIN.email]
    assert seen["x-auth-groups"] == [",".join(ADMIN.groups)]
    assert len(seen["x-auth-assertion"]) == 1
    assert seen["x-auth-assertion"][0].count(".") == 2
    assert "authorization" not in seen, "the client's bearer token reached the upstream"


async def test_api_caller_without_credential_gets_401(
    gateway: Gateway,
    echo_upstream: EchoUpstream,
    client: aiohttp.ClientSession,
) -> None:
    async with client.get(gateway.url + "/hello", headers={**API, **SPOOFED}) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    async with client.get(
        gateway.url + "/hello", headers={**API, "Authorization": "Bearer not.a.token"}
    ) as resp:
        assert resp.status == 401
        assert "invalid_token" in resp.headers["WWW-Authenticate"]
    assert echo_upstream.requests == []


async def test_policy_refusal_gets_403(
    gateway: Gateway,
    oidc_provider: OidcProvider,
    echo_upstream: EchoUpstream,
    client: aiohttp.ClientSession,
) -> None:
    auth = await bearer(oidc_provider, PLAIN)
    async with client.get(gateway.url + "/admin/panel", headers={**API, **auth}) as resp:
        assert resp.status == 403
    # A client-supplied original URI is not believed: the gateway's own decides.
    spoof = {**API, **auth, "X-Forwarded-Uri": "/public", "X-Original-URI": "/public"}
    async with client.get(gateway.url + "/admin/panel", headers=spoof) as resp:
        assert resp.status == 403
    assert echo_upstream.requests == []
    async with client.get(gateway.url + "/public/page", headers=API) as resp:
        assert resp.status == 200
    assert echo_upstream.last()["path"] == "/public/page"


async def test_browser_login_through_the_gateway(
    mode: str,
    gateway: Gateway,
    oidc_provider: OidcProvider,
    echo_upstream: EchoUpstream,
    client: aiohttp.ClientSession,
) -> None:
    async with client.get(
        gateway.url + "/reports/q?a=1", headers=BROWSER, allow_redirects=False
    ) as resp:
        assert resp.status == 302
        login = resp.headers["Location"]
    assert urlsplit(login).path.endswith("/.auth/login")
    async with client.get(
        _absolute(gateway, login), headers=BROWSER, allow_redirects=False
    ) as resp:
        assert resp.status == 302
        authorize = resp.headers["Location"]
    assert authorize.startswith(oidc_provider.authorization_endpoint)
    callback = await oidc_provider.complete_login(client, authorize, ADMIN.email, ADMIN.password)
    assert callback.startswith(gateway.url + "/.auth/callback"), "public_url is the gateway's"
    async with client.get(callback, headers=BROWSER, allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"].endswith("/reports/q?a=1")
    async with client.get(gateway.url + "/reports/q?a=1", headers={**BROWSER, **SPOOFED}) as resp:
        assert resp.status == 200
    seen = received(echo_upstream)
    assert_no_spoofing(seen)
    assert seen["x-auth-email"] == [ADMIN.email]
    assert "sidecar_session" not in "; ".join(seen.get("cookie", []))
    await _session_cookie_stays_at_the_gateway(gateway, client, echo_upstream, mode)


async def _session_cookie_stays_at_the_gateway(
    gateway: Gateway, client: aiohttp.ClientSession, upstream: EchoUpstream, mode: str
) -> None:
    """Both modes give the upstream the same request: the session cookie (a bearer credential
    for the whole session) cut out of Cookie, the other cookies kept."""
    ticket = session_ticket(client)
    await assert_session_cookie_cut(gateway.url + "/app", ticket, upstream)
    if mode == "forward-auth":
        # nginx strips two copies; a third is refused rather than passed on.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
            three = "; ".join([f"sidecar_session={ticket}"] * 3)
            async with bare.get(gateway.url + "/app", headers={**API, "Cookie": three}) as resp:
                assert resp.status == 400


def _absolute(gateway: Gateway, location: str) -> str:
    return location if location.startswith("http") else gateway.url + location
