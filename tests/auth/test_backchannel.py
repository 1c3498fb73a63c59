"""`POST /.auth/backchannel-logout` (OpenID Connect Back-Channel Logout 1.0).

Every refusal of section 2.6 with a token signed by the provider's own key (so only the
sidecar's check can refuse it), each leaving the session alive; the accepted token ending every
session of its `sid`, or of its `sub` when it has no `sid`; a replayed `jti`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.auth.test_login_flow import browser, call, login
from tests.fixtures.ports import refused_port
from tests.http.test_admin import samples
from tests.security.rawhttp import READ_IDLE_S, parse_responses, request_bytes
from tests.sessions.signout import (
    BACKCHANNEL_EVENT,
    DELETE,
    logout_token,
    post_logout_token,
    provider_signing_key,
    session_claims,
)

FORWARD_TOKEN = {"headers": {"forward_token": True}}


@pytest.fixture
async def signed_in(fresh_provider, sidecar_factory) -> tuple[Any, str, dict[str, Any]]:
    """A sidecar, a session cookie on it, and the claims of its id token."""
    running = await sidecar_factory(FORWARD_TOKEN)
    async with browser() as http:
        done = await login(http, running.url, fresh_provider)
    claims = await session_claims(running.url, done.cookie)
    assert claims.get("sid"), "the provider issues sid (back-channel logout enabled)"
    return running, done.cookie, claims


def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


REFUSALS: dict[str, dict[str, Any]] = {
    # step 2: the signature (a key the provider never published, under its kid)
    "foreign signature": {"key": "other"},
    # step 3: alg none / HS256 never verify
    "alg none": {"unsigned": True},
    # step 4: iss, aud, iat, exp
    "wrong iss": {"iss": "https://evil.example"},
    "wrong aud": {"aud": "other-app"},
    "no aud": {"aud": DELETE},
    "no iat": {"iat": DELETE},
    "iat in the future": {"iat": int(time.time()) + 3600},
    "expired": {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 4000},
    "no exp": {"exp": DELETE},
    # step 5: sub and/or sid
    "neither sub nor sid": {"sub": DELETE, "sid": DELETE},
    "sid not a string": {"sid": 42},
    # step 6: the events claim
    "no events": {"events": DELETE},
    "events without the logout event": {"events": {"http://example.com/other": {}}},
    "events not an object": {"events": [BACKCHANNEL_EVENT]},
    "logout event not an object": {"events": {BACKCHANNEL_EVENT: "yes"}},
    # step 7: a nonce means an ID token
    "nonce": {"nonce": "n-0S6_WzA2Mj"},
    # section 2.4: jti required; explicit typing
    "no jti": {"jti": DELETE},
    "typ JWT": {"headers": {"typ": "JWT"}},
    "typ token-exchange+jwt": {"headers": {"typ": "token-exchange+jwt"}},
    "sub not printable": {"sub": "user\nX-Auth-Groups: admins"},
}


def forged(provider: Any, case: dict[str, Any], claims: dict[str, Any]) -> str:
    case = dict(case)
    base = {"sub": claims["sub"], "sid": claims["sid"]}
    if case.pop("unsigned", False):
        body = {"iss": provider.issuer, "aud": provider.client_id, "iat": int(time.time()),
                "exp": int(time.time()) + 60, "jti": "x", "events": {BACKCHANNEL_EVENT: {}},
                **base}  # fmt: skip
        kid, _ = provider_signing_key(provider)
        return jwt.encode(body, None, algorithm="none", headers={"kid": kid})
    headers = case.pop("headers", None)
    key = other_key() if case.pop("key", None) == "other" else None
    return logout_token(provider, headers=headers, key=key, **{**base, **case})


@pytest.mark.parametrize("name", list(REFUSALS))
async def test_every_section_2_6_refusal_is_a_400_and_the_session_lives(
    fresh_provider, signed_in, name
):
    running, cookie, claims = signed_in
    token = forged(fresh_provider, REFUSALS[name], claims)
    status, body, cache_control = await post_logout_token(running.url, token)
    assert status == 400
    assert body["error"] == "invalid_request"
    assert cache_control == "no-store"
    assert (await call(running.url, "/x", cookie))[0] == 200


@pytest.mark.parametrize(
    "form",
    [{}, {"logout_token": ""}, {"logout_token": "not-a-jwt"}, {"logout_token": "a.b.c.d.e"}],
    ids=["missing", "empty", "garbage", "jwe"],
)
async def test_malformed_requests_are_400(fresh_provider, signed_in, form):
    running, cookie, _ = signed_in
    status, body, _ = await post_logout_token(running.url, None, **form)
    assert status == 400
    assert body["error"] == "invalid_request"
    assert (await call(running.url, "/x", cookie))[0] == 200


async def test_an_id_token_is_not_a_logout_token(fresh_provider, signed_in):
    """Its signature, iss, aud and times are all valid; it lacks `events` (and has a nonce)."""
    running, cookie, _ = signed_in
    tokens = await fresh_provider.login("admin-dex@example.com", "password")
    status, _, _ = await post_logout_token(running.url, tokens.id_token)
    assert status == 400
    assert (await call(running.url, "/x", cookie))[0] == 200


async def test_a_logout_token_is_not_a_bearer_credential(fresh_provider, signed_in):
    """Issue 16 item 5 (RFC 8725 section 3.11): signed by the provider's own key, with its
    `iss`, the client as `aud`, `iat`, `exp` and the user's `sub`, so every id token rule held
    for it and main let it in as the user. Refused as a bearer, typed or not; the logout
    endpoint still takes it."""
    running, cookie, claims = signed_in
    for typ in ("logout+jwt", None):
        token = logout_token(fresh_provider, headers={"typ": typ}, sub=claims["sub"])
        async with (
            aiohttp.ClientSession() as http,
            http.get(running.url + "/x", headers={"Authorization": f"Bearer {token}"}) as r,
        ):
            assert r.status == 401, await r.text()
            assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert (await call(running.url, "/x", cookie))[0] == 200
    assert (await post_logout_token(running.url, token))[0] == 200


async def test_a_valid_token_ends_the_sid_and_its_jti_is_refused_again(fresh_provider, signed_in):
    running, cookie, claims = signed_in
    token = logout_token(fresh_provider, sid=claims["sid"], sub=claims["sub"])
    status, body, cache_control = await post_logout_token(running.url, token)
    assert (status, body, cache_control) == (200, None, "no-store")
    assert (await call(running.url, "/x", cookie))[0] == 401
    replay = await post_logout_token(running.url, token)
    assert replay[0] == 400  # section 2.6 step 8: the same jti again


async def test_sid_only_ends_that_provider_session_not_the_users_others(
    fresh_provider, sidecar_factory
):
    running = await sidecar_factory(FORWARD_TOKEN)
    async with browser() as first, browser() as second:
        one = await login(first, running.url, fresh_provider)
        two = await login(second, running.url, fresh_provider)
    sid_one = (await session_claims(running.url, one.cookie))["sid"]
    assert sid_one != (await session_claims(running.url, two.cookie))["sid"]
    status, _, _ = await post_logout_token(running.url, logout_token(fresh_provider, sid=sid_one))
    assert status == 200
    assert (await call(running.url, "/x", one.cookie))[0] == 401
    assert (await call(running.url, "/x", two.cookie))[0] == 200


async def test_sub_only_ends_every_session_of_the_user(fresh_provider, sidecar_factory):
    running = await sidecar_factory(FORWARD_TOKEN)
    async with browser() as first, browser() as second, browser() as third:
        one = await login(first, running.url, fresh_provider)
        two = await login(second, running.url, fresh_provider)
        other = await login(third, running.url, fresh_provider, email="user@example.com")
    sub = (await session_claims(running.url, one.cookie))["sub"]
    status, _, _ = await post_logout_token(running.url, logout_token(fresh_provider, sub=sub))
    assert status == 200
    assert (await call(running.url, "/x", one.cookie))[0] == 401
    assert (await call(running.url, "/x", two.cookie))[0] == 401
    assert (await call(running.url, "/x", other.cookie))[0] == 200  # another user


async def test_logout_metrics_count_each_kind(fresh_provider, signed_in):
    running, _, claims = signed_in
    await post_logout_token(running.url, logout_token(fresh_provider, sid=claims["sid"]))
    async with browser() as http:
        async with http.post(running.url + "/.auth/logout", allow_redirects=False) as r:
            assert r.status == 302
        async with http.get(running.admin_url + "/metrics") as r:
            text = await r.text()
    assert 'sidecar_logout_total{kind="backchannel"} 1.0' in text
    assert 'sidecar_logout_total{kind="local"} 1.0' in text


async def post_in_two_segments(base: str, body: bytes) -> int:
    """The form's body split across two TCP segments with a pause between (as a slow link
    delivers it): the status of the answer."""
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Content-Length", str(len(body))),
    ]
    half = len(body) // 2
    try:
        writer.write(request_bytes("POST", "/.auth/backchannel-logout", headers, body[:half]))
        await writer.drain()
        await asyncio.sleep(0.3)  # the server has read the first half by now
        writer.write(body[half:])
        await writer.drain()
        received = await asyncio.wait_for(reader.read(), READ_IDLE_S)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            await writer.wait_closed()
    (response,) = parse_responses(received)
    return response.status


async def test_a_body_split_across_segments_is_read_whole(fresh_provider, signed_in):
    running, cookie, claims = signed_in
    token = logout_token(fresh_provider, sid=claims["sid"])
    status = await post_in_two_segments(running.url, urlencode({"logout_token": token}).encode())
    assert status == 200
    assert (await call(running.url, "/x", cookie))[0] == 401


async def test_a_store_outage_at_the_jti_check_is_a_counted_503(fresh_provider, sidecar_factory):
    with refused_port() as port:
        running = await sidecar_factory({"session": {"redis_url": f"redis://127.0.0.1:{port}/0"}})
        before = await store_errors(running.admin_url)
        token = logout_token(fresh_provider, sid="some-sid", sub="some-sub")
        status, _, _ = await post_logout_token(running.url, token)
        assert status == 503
        assert await store_errors(running.admin_url) > before


async def store_errors(admin_url: str) -> float:
    async with browser() as http, http.get(admin_url + "/metrics") as r:
        return samples(await r.text())[("sidecar_session_store_errors_total", ())]
