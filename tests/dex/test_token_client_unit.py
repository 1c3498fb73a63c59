"""The token client as Dex needs it, without Dex (the Dex half is `test_dex_login.py` and
`test_dex_refresh.py`):
- `client_secret_basic` as RFC 6749 section 2.3.1 wants it: id and secret form-urlencoded
  (Appendix B) before base64, so a provider that decodes them (Dex: `url.QueryUnescape`) reads
  back the very secret it was given;
- a refresh refused with 400 `invalid_request` (Dex's answer to a dead refresh token) ends the
  grant as `invalid_grant` does, while a 5xx stays "provider unavailable".
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote_plus

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.errors import ProviderUnavailable
from sidecar.oidc.metadata import ProviderMetadata
from sidecar.oidc.token_client import InvalidGrant, TokenClient

RESERVED_SECRET = "s3cr:t+with/all%of=them and&more~é"
CLIENT_ID = "auth sidecar:1"


TOKENS = {"id_token": "x", "access_token": "y", "token_type": "bearer"}


async def _token_endpoint(seen: list[str], status: int = 200, body: Any = None) -> TestServer:
    async def token(request: web.Request) -> web.Response:
        seen.append(request.headers["Authorization"])
        return web.json_response(TOKENS if body is None else body, status=status)

    app = web.Application()
    app.router.add_post("/token", token)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


def _metadata(url: str) -> ProviderMetadata:
    return ProviderMetadata(
        issuer=url,
        authorization_endpoint=f"{url}/auth",
        token_endpoint=f"{url}/token",
        jwks_uri=f"{url}/keys",
        end_session_endpoint=None,
        code_challenge_methods=("S256",),
    )


async def test_the_basic_header_holds_form_encoded_id_and_secret() -> None:
    seen: list[str] = []
    server = await _token_endpoint(seen)
    url = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as session:
            client = TokenClient(session, lambda: _metadata(url), CLIENT_ID, RESERVED_SECRET)
            await client.refresh("a-refresh-token")
    finally:
        await server.close()
    scheme, _, credentials = seen[0].partition(" ")
    user, _, password = base64.b64decode(credentials).decode("ascii").partition(":")
    assert scheme == "Basic"
    # Exactly one `:` survives, the separator; everything reserved is escaped.
    assert user == "auth+sidecar%3A1"
    assert password == "s3cr%3At%2Bwith%2Fall%25of%3Dthem+and%26more~%C3%A9"
    # What a decoding provider reads back is what it was given.
    assert (unquote_plus(user), unquote_plus(password)) == (CLIENT_ID, RESERVED_SECRET)


DEX_DEAD_REFRESH = {
    "error": "invalid_request",
    "error_description": "Refresh token is invalid or has already been claimed by another client.",
}


@pytest.mark.parametrize(
    ("status", "body", "raised"),
    [
        (400, DEX_DEAD_REFRESH, InvalidGrant),
        (400, {"error": "invalid_grant"}, InvalidGrant),
        (500, {"error": "invalid_request"}, ProviderUnavailable),
    ],
    ids=["dex-invalid-request", "rfc-invalid-grant", "server-error"],
)
async def test_a_refused_refresh_ends_the_grant_and_an_outage_does_not(status, body, raised):
    server = await _token_endpoint([], status, body)
    url = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as session:
            client = TokenClient(session, lambda: _metadata(url), CLIENT_ID, RESERVED_SECRET)
            with pytest.raises(raised):
                await client.refresh("spent-refresh-token")
    finally:
        await server.close()
