"""A hostile client's headers, sent as exact bytes, against the real sidecar (issue 16).

- `Connection` naming injected headers (Traefik CVE-2024-45410's class): RFC 9110 section
  7.6.1 makes every field the client's `Connection` names hop-by-hop. Applied after the
  sidecar injected its headers, `Connection: X-Auth-Subject, X-Forwarded-For` removed them on
  the way upstream. The list applies to the client's own fields only, on HTTP and websocket.
- The login-binding cookie (`<cookie_name>_login_<hash>`) is the sidecar's, like the session
  cookie: it never reaches the upstream.
- `HEAD` under a rule listing `GET` (RFC 9110 section 9.3.2): judged by that rule, not by the
  next one, so a restricted GET is not readable by HEAD.
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.fixtures.ws_upstream import WsUpstream, ws_upstream
from tests.security.rawhttp import send

__all__ = ["ws_upstream"]

INJECTED = ["X-Forwarded-For", "X-Auth-Subject", "X-Auth-Assertion", "X-Request-ID"]
CONNECTION = "keep-alive, " + ", ".join(INJECTED)


def _bearer(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {token}")


def _names(pairs: Any) -> set[str]:
    return {name.lower() for name, _ in pairs}


async def test_connection_cannot_name_injected_headers_away(
    lying_sidecar, lying_provider, echo_upstream
):
    """The issue's request: `Connection: keep-alive, X-Forwarded-For, X-Auth-Subject,
    X-Auth-Assertion, X-Request-ID` with a valid token. The upstream still gets every header
    the sidecar sets; a field of the client's own that `Connection` names is dropped."""
    token = lying_provider.signer.token()
    headers = [_bearer(token), ("Connection", CONNECTION + ", X-Hop"), ("X-Hop", "this hop")]
    response = await send(lying_sidecar.url, "GET", "/x", headers)
    assert response.status == 200, response
    seen = dict((name.lower(), value) for name, value in echo_upstream.last()["headers"])
    assert seen["x-auth-subject"] == lying_provider.signer.claims()["sub"]
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert len(seen["x-request-id"]) == 32  # generated: the client sent none
    assert seen["x-auth-assertion"].count(".") == 2
    assert {"x-forwarded-proto", "x-forwarded-host", "x-credential-identifier"} <= set(seen)
    assert not {"x-hop", "connection", "keep-alive"} & set(seen)


async def test_connection_cannot_name_the_verified_token_away(
    lying_sidecar_factory, lying_provider, echo_upstream
):
    """With `headers.forward_token` the upstream gets the verified token even when the client
    names `Authorization` in `Connection`; and `Host` is never a connection option."""
    sidecar = await lying_sidecar_factory({"headers": {"forward_token": True}})
    token = lying_provider.signer.token()
    headers = [_bearer(token), ("Connection", "Authorization, Host, X-Auth-Email")]
    response = await send(sidecar.url, "GET", "/x", headers)
    assert response.status == 200, response
    seen = dict((name.lower(), value) for name, value in echo_upstream.last()["headers"])
    assert seen["authorization"] == f"Bearer {token}"
    assert seen["x-auth-email"] == "user@example.com"
    assert "host" in seen


async def _upgrade(base: str, headers: list[tuple[str, str]]) -> int:
    """A websocket handshake as raw bytes; the status of the answer (101 when upgraded)."""
    parts = urlsplit(base)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /socket HTTP/1.1",
        f"Host: {parts.netloc}",
        "Upgrade: websocket",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers),
    ]
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()
    return int(head.split(b" ", 2)[1])


async def test_connection_cannot_name_injected_headers_away_on_a_websocket(
    lying_sidecar_factory, lying_provider, ws_upstream: WsUpstream
):
    """The same list on an upgrade (`Connection: Upgrade, ...`): the upstream's handshake
    carries the identity and forwarding headers all the same."""
    sidecar = await lying_sidecar_factory(upstream=ws_upstream.url)
    token = lying_provider.signer.token()
    status = await _upgrade(sidecar.url, [_bearer(token), ("Connection", "Upgrade, " + CONNECTION)])
    assert status == 101
    (handshake,) = ws_upstream.handshakes
    assert handshake["X-Auth-Subject"] == lying_provider.signer.claims()["sub"]
    assert handshake["X-Forwarded-For"] == "127.0.0.1"
    assert {"X-Auth-Assertion", "X-Request-ID"} <= set(handshake.keys())


async def test_login_binding_cookie_never_reaches_the_upstream(lying_sidecar, echo_upstream):
    """A browser that started a login (and left it) holds the binding cookie: on its next
    request to a public page the upstream gets the browser's other cookies only."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        async with browser.get(lying_sidecar.url + "/.auth/login?rd=/", allow_redirects=False) as r:
            assert r.status == 302
        binding = [c.key for c in jar if c.key.startswith("sidecar_session_login_")]
        assert binding, "the login set its binding cookie"
        jar.update_cookies({"theme": "dark"})
        async with browser.get(lying_sidecar.url + "/public/page") as r:
            assert r.status == 200
    cookies = [v for n, v in echo_upstream.last()["headers"] if n.lower() == "cookie"]
    assert cookies == ["theme=dark"]


async def test_own_cookies_stripped_from_every_cookie_line(lying_sidecar, echo_upstream):
    """Session and binding cookies anywhere in any `Cookie` line; look-alikes are kept."""
    headers = [
        ("Cookie", "a=1; sidecar_session_login_0123456789ab=x; sidecar_session=t"),
        ("Cookie", "sidecar_session_login_fedcba987654=y"),
        ("Cookie", "sidecar_session_other=keep; b=2"),
    ]
    response = await send(lying_sidecar.url, "GET", "/public/x", headers)
    assert response.status == 200
    cookies = [v for n, v in echo_upstream.last()["headers"] if n.lower() == "cookie"]
    assert cookies == ["a=1", "sidecar_session_other=keep; b=2"]


GET_ONLY_POLICY = {
    "policy": [
        {"path": "/reports", "methods": ["GET"], "groups": ["admins"]},
        {"path": "/", "allow": "authenticated"},
    ]
}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_head_is_judged_by_the_get_rule(
    lying_sidecar_factory, lying_provider, echo_upstream, method
):
    """`methods: [GET]` restricted to admins: a signed-in non-admin gets 403 for GET and for
    HEAD (before, HEAD fell through to `/` and got the document's headers and length)."""
    sidecar = await lying_sidecar_factory(GET_ONLY_POLICY)
    token = lying_provider.signer.token(groups=["devs"])
    response = await send(sidecar.url, method, "/reports/q3", [_bearer(token)])
    assert response.status == 403, response
    assert echo_upstream.requests == []
    admin = lying_provider.signer.token(groups=["admins"])
    assert (await send(sidecar.url, method, "/reports/q3", [_bearer(admin)])).status == 200
    assert [seen["method"] for seen in echo_upstream.requests] == [method]
    # Other methods still fall through to the next rule.
    assert (await send(sidecar.url, "POST", "/reports/q3", [_bearer(token)])).status == 200
