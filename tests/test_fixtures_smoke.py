"""The fixtures themselves work: the provider behaves like Dex, the echo upstream echoes."""

import base64
import hashlib
import json
from collections.abc import AsyncIterator

import aiohttp
import jwt
import pytest

from tests.fixtures.provider import LoginError, OidcProvider, TokenEndpointError
from tests.fixtures.upstream import EchoUpstream, download_sha256

ADMIN = "admin-dex@example.com"


async def get_json(url: str) -> tuple[int, dict[str, str], object]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, dict(response.headers), await response.json(content_type=None)


def verify_id_token(
    token: str, jwks: dict[str, object], provider: OidcProvider
) -> dict[str, object]:
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid].key
    claims: dict[str, object] = jwt.decode(
        token, key, algorithms=["RS256"], audience=provider.client_id, issuer=provider.issuer
    )
    return claims


async def test_discovery_names_the_issuer_and_dex_endpoints(fresh_provider: OidcProvider) -> None:
    status, _, meta = await get_json(fresh_provider.discovery_url)
    assert status == 200
    assert isinstance(meta, dict)
    assert meta["issuer"] == fresh_provider.issuer
    assert meta["jwks_uri"] == fresh_provider.jwks_url
    assert meta["token_endpoint"] == fresh_provider.token_endpoint
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "end_session_endpoint" not in meta


async def test_login_gives_an_rs256_id_token_with_dex_claims(fresh_provider: OidcProvider) -> None:
    tokens = await fresh_provider.login(ADMIN, "password")
    _, headers, jwks = await get_json(fresh_provider.jwks_url)
    assert isinstance(jwks, dict)
    assert headers["Cache-Control"] == "max-age=600, must-revalidate"
    assert jwt.get_unverified_header(tokens.id_token)["alg"] == "RS256"
    claims = verify_id_token(tokens.id_token, jwks, fresh_provider)
    assert claims["email"] == ADMIN
    assert claims["email_verified"] is True
    assert claims["groups"] == ["admins", "devs"]
    assert claims["name"] == "Admin Dex"
    assert claims["preferred_username"] == "admin"
    assert claims["nonce"] == tokens.nonce
    assert claims["aud"] == fresh_provider.client_id
    # Dex-like opaque subject: base64url of a protobuf naming the user and the connector.
    assert base64.urlsafe_b64decode(str(claims["sub"]) + "==").endswith(b"\x12\x05local")
    assert tokens.refresh_token
    assert tokens.expires_in > 0


async def test_unverified_user_and_wrong_password(fresh_provider: OidcProvider) -> None:
    tokens = await fresh_provider.login("unverified@example.com", "password")
    assert tokens.claims()["email_verified"] is False
    with pytest.raises(LoginError):
        await fresh_provider.login(ADMIN, "wrong")


async def test_refresh_rotates_and_a_reused_token_is_refused(fresh_provider: OidcProvider) -> None:
    first = await fresh_provider.login("user@example.com", "password")
    assert first.refresh_token is not None
    second = await fresh_provider.refresh(first.refresh_token)
    assert second.refresh_token not in (None, first.refresh_token)
    assert second.claims()["groups"] == ["devs"]
    with pytest.raises(TokenEndpointError) as refused:
        await fresh_provider.refresh(first.refresh_token)
    assert refused.value.error == "invalid_grant"


async def test_client_secret_post_is_accepted(fresh_provider: OidcProvider) -> None:
    tokens = await fresh_provider.login(ADMIN, "password")
    assert tokens.refresh_token is not None
    form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
    body = await fresh_provider.token_request(form, auth_method="client_secret_post")
    assert body["id_token"]


async def test_rotate_keys_keeps_the_old_key_published(fresh_provider: OidcProvider) -> None:
    before = await fresh_provider.login(ADMIN, "password")
    old_kid = jwt.get_unverified_header(before.id_token)["kid"]
    new_kid = fresh_provider.rotate_keys()
    _, _, jwks = await get_json(fresh_provider.jwks_url)
    assert isinstance(jwks, dict)
    assert [key["kid"] for key in jwks["keys"]][:2] == [new_kid, old_kid]
    assert all("d" not in key for key in jwks["keys"])  # public parts only
    after = await fresh_provider.login(ADMIN, "password")
    assert jwt.get_unverified_header(after.id_token)["kid"] == new_kid
    verify_id_token(before.id_token, jwks, fresh_provider)  # still verifiable
    assert old_kid in fresh_provider.drop_old_keys()
    assert fresh_provider.kids() == [new_kid]


async def test_counters_count_and_reset(fresh_provider: OidcProvider) -> None:
    await get_json(fresh_provider.discovery_url)
    await get_json(fresh_provider.jwks_url)
    tokens = await fresh_provider.login(ADMIN, "password")
    assert tokens.refresh_token is not None
    await fresh_provider.refresh(tokens.refresh_token)
    counters = fresh_provider.counters()
    assert counters["discovery"] == 1
    assert counters["jwks"] == 1
    assert counters["token"] == {"authorization_code": 1, "refresh_token": 1}
    fresh_provider.reset_counters()
    assert fresh_provider.counters()["token"] == {}


async def test_revoke_user_makes_refresh_fail(fresh_provider: OidcProvider) -> None:
    tokens = await fresh_provider.login(ADMIN, "password")
    assert tokens.refresh_token is not None
    assert fresh_provider.revoke_user(ADMIN) >= 1
    with pytest.raises(TokenEndpointError) as refused:
        await fresh_provider.refresh(tokens.refresh_token)
    assert refused.value.error == "invalid_grant"


async def test_id_token_ttl_is_settable(fresh_provider: OidcProvider) -> None:
    fresh_provider.set_id_token_ttl(30)
    claims = (await fresh_provider.login(ADMIN, "password")).claims()
    assert int(claims["exp"]) - int(claims["iat"]) == 30


async def test_faults_and_restart_keep_keys_and_refresh_tokens(
    fresh_provider: OidcProvider,
) -> None:
    fresh_provider.set_fault("jwks", "error")
    status, _, _ = await get_json(fresh_provider.jwks_url)
    assert status == 500
    tokens = await fresh_provider.login(ADMIN, "password")
    assert tokens.refresh_token is not None
    kids = fresh_provider.kids()
    fresh_provider.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await get_json(fresh_provider.discovery_url)
    fresh_provider.start()
    assert fresh_provider.kids() == kids
    refreshed = await fresh_provider.refresh(tokens.refresh_token)
    assert refreshed.claims()["email"] == ADMIN


async def test_complete_login_returns_the_runtime_callback(fresh_provider: OidcProvider) -> None:
    callback = "http://127.0.0.1:45678/.auth/callback"
    url = (
        f"{fresh_provider.authorization_endpoint}?response_type=code"
        f"&client_id={fresh_provider.client_id}&redirect_uri={callback}&scope=openid"
        "&state=s1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        "&code_challenge_method=S256"
    )
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        landed = await fresh_provider.complete_login(session, url, ADMIN, "password")
    assert landed.startswith(callback + "?code=")
    assert "state=s1" in landed


async def test_redirect_uris_are_checked_and_registrable(fresh_provider: OidcProvider) -> None:
    foreign = "http://127.0.0.1:45678/elsewhere"
    url = (
        f"{fresh_provider.authorization_endpoint}?response_type=code"
        f"&client_id={fresh_provider.client_id}&redirect_uri={foreign}&scope=openid"
        "&state=s2&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        "&code_challenge_method=S256"
    )
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        with pytest.raises(LoginError, match="400"):
            await fresh_provider.complete_login(session, url, ADMIN, "password")
        fresh_provider.register_redirect_uri(foreign)
        landed = await fresh_provider.complete_login(session, url, ADMIN, "password")
    assert landed.startswith(foreign + "?code=")


async def test_echo_reports_headers_and_a_streamed_body(echo_upstream: EchoUpstream) -> None:
    body = b"x" * (3 * 1024 * 1024 + 7)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100_000):
            yield body[start : start + 100_000]

    headers = [("X-Test", "one"), ("X-Test", "two")]
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{echo_upstream.url}/some/path?a=1&a=2", data=chunks(), headers=headers
        ) as response,
    ):
        echo = await response.json()
    assert echo["method"] == "POST"
    assert echo["path"] == "/some/path"
    assert echo["query"] == [["a", "1"], ["a", "2"]]
    assert [v for k, v in echo["headers"] if k == "X-Test"] == ["one", "two"]
    assert echo["body_len"] == len(body)
    assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert echo_upstream.last() == echo


async def test_echo_download_status_and_websocket(echo_upstream: EchoUpstream) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{echo_upstream.url}/__download?size=300000") as response:
            digest = hashlib.sha256()
            async for chunk in response.content.iter_chunked(65536):
                digest.update(chunk)
        assert digest.hexdigest() == download_sha256(300000)
        async with session.get(f"{echo_upstream.url}/__status?code=418") as response:
            assert response.status == 418
        async with session.ws_connect(f"{echo_upstream.url}/__ws") as ws:
            await ws.send_str(json.dumps({"hi": 1}))
            assert await ws.receive_str() == '{"hi": 1}'


async def test_upstream_down_refuses(upstream_down: str) -> None:
    with pytest.raises(aiohttp.ClientConnectorError):
        await get_json(upstream_down)
