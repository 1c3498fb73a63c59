"""Talking to Dex as a client ourselves: the code flow through its pages, its token endpoint.

For tests that need Dex's own tokens without a sidecar in the way (a bearer, a rotated key).
The token endpoint gets `client_secret_basic` form-encoded as RFC 6749 section 2.3.1 says
(`encoded=False` sends the raw credentials, as the sidecar did before issue 16 item 12).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus

import aiohttp

from tests.fixtures.dex import DexServer
from tests.fixtures.dex_pages import Credentials, browse
from tests.fixtures.oidc_flow import AuthorizationRequest, Client, TokenSet


def basic_auth(client_id: str, secret: str, encoded: bool = True) -> str:
    if encoded:
        client_id, secret = quote_plus(client_id, safe=""), quote_plus(secret, safe="")
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def token_post(
    dex: DexServer, form: dict[str, str], encoded: bool = True
) -> tuple[int, dict[str, Any]]:
    """POST `form` to Dex's token endpoint; (status, JSON body)."""
    headers = {"Authorization": basic_auth(dex.client_id, dex.client_secret, encoded)}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.post(dex.token_endpoint, data=form, headers=headers) as response,
    ):
        body: dict[str, Any] = await response.json(content_type=None)
        return response.status, body


async def dex_tokens(dex: DexServer, index: int = 2, connector: str = "local") -> TokenSet:
    """Log in as the admin through Dex's pages with a client of our own making (Dex's
    index-th registered callback, never followed) and redeem the code."""
    redirect = f"{dex.public_url(index)}/.auth/callback"
    request = AuthorizationRequest(Client(dex.client_id, dex.client_secret, redirect))
    user = Credentials(dex.admin.email, dex.admin.password, connector)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        url = request.url(f"{dex.issuer}/auth")
        visit = await browse(session, url, user, dex.issuer, stop_at=redirect)
    assert visit.status == 302, (visit.status, visit.url, visit.text[:300])
    status, body = await token_post(dex, request.code_grant(visit.url))
    assert status == 200, body
    return TokenSet.from_response(body, request.nonce)


async def refresh(dex: DexServer, refresh_token: str) -> tuple[int, dict[str, Any]]:
    return await token_post(dex, {"grant_type": "refresh_token", "refresh_token": refresh_token})
