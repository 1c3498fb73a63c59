"""Login through Dex's own pages, Dex's tokens as bearers, and Dex's reading of the client
secret (RFC 6749 section 2.3.1, issue 16 item 12), against Dex v2.45.1 on Postgres storage."""

from __future__ import annotations

import aiohttp
import jwt
import pytest

from tests.dex.conftest import COOKIE, echoed_headers, sign_in
from tests.dex.flows import dex_tokens, token_post

pytestmark = pytest.mark.dex
JSON = {"Accept": "application/json"}


async def test_login_through_dex_pages_gives_identity_headers_and_me(dex, start_sidecar, browser):
    sidecar = await start_sidecar(dex)
    target = sidecar.url + "/app/page?tab=1"
    visit = await sign_in(browser, dex, target)

    assert (visit.status, visit.url) == (200, target), visit.text[:300]
    assert visit.pages == ["login", "approval"]  # Dex's login form, then its approval screen
    headers = echoed_headers(visit)
    assert headers["x-auth-email"] == dex.admin.email
    assert headers["x-auth-name"] == "admin"  # Dex: the static user's `username`
    # No `preferredUsername` in the deployment's static user: Dex sends no preferred_username
    # (the stand-in did), and no `groups` claim at all for a user without groups.
    assert "x-auth-username" not in headers
    assert "x-auth-groups" not in headers
    assert headers["x-auth-subject"] == headers["x-credential-identifier"] != ""
    assert "x-auth-assertion" in headers
    assert COOKIE not in headers.get("cookie", "")
    assert "authorization" not in headers

    async with browser.get(sidecar.url + "/.auth/me", headers=JSON) as response:
        assert response.status == 200
        me = await response.json()
    assert me["sub"] == headers["x-auth-subject"]
    assert me["email"] == dex.admin.email
    assert me["name"] == "admin"
    assert not any(isinstance(v, str) and v.count(".") == 2 for v in me.values())  # no token


async def test_dex_v2_45_asks_for_the_password_at_every_login(dex, start_sidecar, browser):
    sidecar = await start_sidecar(dex)
    await sign_in(browser, dex, sidecar.url + "/first")
    browser.cookie_jar.clear(lambda cookie: cookie.key == COOKIE)
    again = await sign_in(browser, dex, sidecar.url + "/second")
    assert again.status == 200
    # Dex v2.45 keeps no login session of its own: the password form comes back every time.
    assert again.pages == ["login", "approval"]


async def test_the_client_secret_holds_reserved_characters_and_dex_decodes_it(dex):
    assert all(char in dex.client_secret for char in ":+/%= ")
    bogus = {"grant_type": "refresh_token", "refresh_token": "not-a-token"}
    # Form-encoded (what the sidecar sends now): the client is authenticated, and only the
    # made-up refresh token is refused (Dex: 400 `invalid_request`, not `invalid_grant`).
    status, body = await token_post(dex, bogus, encoded=True)
    assert status == 400, body
    assert "Refresh token is invalid" in body["error_description"]
    # Raw, as the sidecar sent them before: Dex URL-decodes the credentials, so the client
    # fails ("improperly encoded" when a `%` starts no escape, else invalid_client).
    status, body = await token_post(dex, bogus, encoded=False)
    assert status in (400, 401), body
    assert body["error"] in ("invalid_client", "invalid_request")
    assert "client" in body["error_description"].lower()


async def test_a_dex_id_token_and_access_token_as_bearers(dex, start_sidecar):
    tokens = await dex_tokens(dex)
    sub = jwt.decode(tokens.id_token, options={"verify_signature": False})["sub"]
    sidecar = await start_sidecar(dex)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        for token in (tokens.id_token, tokens.access_token):
            bearer = {"Authorization": f"Bearer {token}", **JSON}
            async with client.get(sidecar.url + "/api/x", headers=bearer) as response:
                assert response.status == 200
                echo = await response.json()
            assert dict((k.lower(), v) for k, v in echo["headers"])["x-auth-subject"] == sub
        forged = tokens.id_token[:-4] + ("AAAA" if not tokens.id_token.endswith("AAAA") else "BBBB")
        bearer = {"Authorization": f"Bearer {forged}", **JSON}
        async with client.get(sidecar.url + "/api/x", headers=bearer) as response:
            assert response.status == 401
            assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
