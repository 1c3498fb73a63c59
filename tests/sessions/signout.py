"""Helpers for the sign-out tests: Logout Tokens signed with the real provider's own key, the
identity behind a session cookie, and websockets relayed under a session.

The provider keeps its signing keys in its temporary state directory (`keys.json`, generated
at run time, never committed): signing with that key is what a provider (or an attacker who
stole its key) can do, so the sidecar trusts it, and every refusal a test shows is the
sidecar's own check, not a signature failure.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from tests.auth.test_login_flow import COOKIE, call, upstream_headers
from tests.fixtures.provider import OidcProvider

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
DELETE = object()


def provider_signing_key(provider: OidcProvider) -> tuple[str, Any]:
    """(kid, private key) of the key the provider signs with now."""
    saved = json.loads((provider.workdir / "keys.json").read_text())
    jwk = saved["signing"][0]
    return jwk["kid"], jwt.PyJWK(jwk).key


def logout_token(
    provider: OidcProvider,
    *,
    headers: dict[str, Any] | None = None,
    key: Any = None,
    **claims: Any,
) -> str:
    """A Logout Token (Back-Channel Logout 1.0 section 2.4) signed with the provider's key;
    `claims` override the defaults (`DELETE` removes one)."""
    kid, signing_key = provider_signing_key(provider)
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": provider.issuer,
        "aud": provider.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(16),
        "events": {BACKCHANNEL_EVENT: {}},
    }
    for name, value in claims.items():
        if value is DELETE:
            body.pop(name, None)
        else:
            body[name] = value
    header = {"kid": kid, "typ": "logout+jwt", **(headers or {})}
    return jwt.encode(body, key or signing_key, algorithm="RS256", headers=header)


async def post_logout_token(base: str, token: str | None, **form: str) -> tuple[int, Any, str]:
    """POST /.auth/backchannel-logout as the provider does: status, JSON body, Cache-Control."""
    data = {"logout_token": token, **form} if token is not None else form
    async with (
        aiohttp.ClientSession() as http,
        http.post(base + "/.auth/backchannel-logout", data=data) as r,
    ):
        text = await r.text()
        return r.status, json.loads(text) if text else None, r.headers.get("Cache-Control", "")


async def session_claims(base: str, cookie: str) -> dict[str, Any]:
    """The id token claims behind a session (the sidecar must run with forward_token)."""
    status, _, echo = await call(base, "/whoami", cookie)
    assert status == 200, echo
    token = upstream_headers(echo)["authorization"].removeprefix("Bearer ")
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


@dataclass
class RelayedSocket:
    """A websocket through a sidecar to the echo upstream, under a session cookie."""

    ws: aiohttp.ClientWebSocketResponse
    http: aiohttp.ClientSession

    @classmethod
    async def open(cls, base: str, cookie: str) -> RelayedSocket:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        ws = await http.ws_connect(base + "/__ws", headers={"Cookie": f"{COOKIE}={cookie}"})
        await ws.send_str("ping")
        assert (await ws.receive_str(timeout=5)) == "ping"
        return cls(ws, http)

    async def wait_closed(self, timeout_s: float = 10.0) -> tuple[int | None, float]:
        """Wait for the close: (close code, `time.monotonic()` when it arrived)."""
        async with asyncio.timeout(timeout_s):
            message = await self.ws.receive()
            while message.type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                message = await self.ws.receive()
        return self.ws.close_code, time.monotonic()

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()
