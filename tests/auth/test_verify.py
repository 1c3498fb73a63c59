"""Forward-auth: `GET /.auth/verify` decides on the original URI a trusted proxy forwards,
answers 200 with the identity headers, 401 or 403, and never redirects."""

from __future__ import annotations

import jwt
import pytest

from tests.app.calls import (
    INVALID_TOKEN_CHALLENGE,
    NO_CREDENTIAL_CHALLENGE,
    assert_refused,
    call,
)
from tests.app.conftest import ADMIN, USER, bearer

IDENTITY_HEADERS = (
    "X-Auth-Subject",
    "X-Auth-Email",
    "X-Auth-Username",
    "X-Auth-Name",
    "X-Auth-Groups",
    "X-Credential-Identifier",
    "X-Auth-Assertion",
)
BROWSER = {"Accept": "text/html"}


def forwarded(uri: str, method: str = "GET", header: str = "X-Forwarded-Uri") -> dict[str, str]:
    return {"X-Forwarded-Method": method, header: uri}


def sub_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


@pytest.fixture
async def untrusting_sidecar(sidecar_factory):
    return await sidecar_factory({"trusted_proxies": ""})


async def verify(sidecar, headers: dict[str, str]):
    return await call(sidecar.url + "/.auth/verify", headers)


async def test_public_uri_passes_without_identity(sidecar, echo_upstream):
    answer = await verify(sidecar, forwarded("/public/page?x=1"))
    assert answer.status == 200, answer.text
    assert not [name for name in IDENTITY_HEADERS if name in answer.headers]
    assert echo_upstream.requests == []  # verify never proxies


@pytest.mark.parametrize("header", ["X-Forwarded-Uri", "X-Original-URI"])
async def test_admin_uri_refuses_a_user(sidecar, id_tokens, header):
    answer = await verify(
        sidecar, {**forwarded("/admin/x", header=header), **bearer(id_tokens[USER])}
    )
    assert_refused(answer, 403, "forbidden", None)


async def test_admin_uri_admits_an_admin_with_identity_headers(sidecar, id_tokens, echo_upstream):
    token = id_tokens[ADMIN]
    answer = await verify(sidecar, {**forwarded("/admin/x", "POST"), **bearer(token)})
    assert answer.status == 200, answer.text
    sub = sub_of(token)
    assert answer.headers.getall("X-Auth-Subject") == [sub]
    assert answer.headers.getall("X-Credential-Identifier") == [sub]
    assert answer.headers.getall("X-Auth-Email") == [ADMIN]
    assert answer.headers.getall("X-Auth-Groups") == ["admins,devs"]
    assert answer.headers.getall("X-Auth-Username") == ["admin"]
    assertion = answer.headers["X-Auth-Assertion"]
    keys = jwt.PyJWKSet.from_dict((await call(sidecar.url + "/.auth/jwks")).json())
    claims = jwt.decode(
        assertion,
        keys[jwt.get_unverified_header(assertion)["kid"]].key,
        algorithms=["ES256"],
        audience=echo_upstream.url,
        issuer=sidecar.settings.public_url,
    )
    assert claims["sub"] == sub


async def test_forwarded_uri_is_normalized_before_the_policy(sidecar):
    for uri in ("/public/../admin", "/public/%2e%2e/admin", "//public/../admin?x=/public"):
        answer = await verify(sidecar, forwarded(uri))
        assert_refused(answer, 401, "unauthenticated", NO_CREDENTIAL_CHALLENGE)


@pytest.mark.parametrize("accept", [BROWSER, {}])
async def test_no_credential_is_401_never_a_redirect(sidecar, accept):
    answer = await verify(sidecar, {**forwarded("/app"), **accept})
    assert_refused(answer, 401, "unauthenticated", NO_CREDENTIAL_CHALLENGE)
    assert "Location" not in answer.headers


async def test_bad_token_is_401_invalid_token(sidecar):
    answer = await verify(sidecar, {**forwarded("/app"), **BROWSER, **bearer("garbage")})
    assert_refused(answer, 401, "invalid_token", INVALID_TOKEN_CHALLENGE)


async def test_untrusted_peer_cannot_choose_a_public_uri(untrusting_sidecar):
    answer = await verify(untrusting_sidecar, forwarded("/public/page"))
    assert_refused(answer, 401, "unauthenticated", NO_CREDENTIAL_CHALLENGE)


async def test_untrusted_peer_forwarded_uri_is_ignored(untrusting_sidecar, id_tokens):
    """A user asking about /admin from an untrusted peer is judged on `/`: allowed as any
    authenticated user, so the forwarded URI played no part."""
    for header in ("X-Forwarded-Uri", "X-Original-URI"):
        headers = {**forwarded("/admin/x", header=header), **bearer(id_tokens[USER])}
        answer = await verify(untrusting_sidecar, headers)
        assert answer.status == 200, answer.text


@pytest.fixture
async def forward_auth_only(sidecar_factory):
    return await sidecar_factory(upstream=None)


async def test_forward_auth_mode_serves_verify(forward_auth_only, id_tokens):
    headers = {**forwarded("/admin"), **bearer(id_tokens[ADMIN])}
    answer = await verify(forward_auth_only, headers)
    assert answer.status == 200, answer.text
    assertion = answer.headers["X-Auth-Assertion"]
    keys = jwt.PyJWKSet.from_dict((await call(forward_auth_only.url + "/.auth/jwks")).json())
    kid = jwt.get_unverified_header(assertion)["kid"]
    public_url = forward_auth_only.settings.public_url
    claims = jwt.decode(assertion, keys[kid].key, algorithms=["ES256"], audience=public_url)
    assert claims["iss"] == public_url


@pytest.mark.parametrize("path", ["/", "/app", "/public/x", "/.auth/nothing"])
async def test_forward_auth_mode_answers_404_elsewhere(forward_auth_only, id_tokens, path):
    answer = await call(forward_auth_only.url + path, bearer(id_tokens[ADMIN]))
    assert_refused(answer, 404, "not_found", None)


async def test_verify_answers_the_verified_token_only_with_forward_token(
    sidecar_factory, id_tokens
):
    """Forward-auth gateways drop the client's Authorization and copy the answer's: with
    `headers.forward_token` the answer carries the verified id token, else no Authorization."""
    token = id_tokens[USER]
    plain = await sidecar_factory()
    answer = await verify(plain, {**forwarded("/x"), **bearer(token)})
    assert answer.status == 200, answer.text
    assert "Authorization" not in answer.headers
    forwarding = await sidecar_factory({"headers": {"forward_token": True}})
    answer = await verify(forwarding, {**forwarded("/x"), **bearer(token)})
    assert answer.status == 200, answer.text
    assert answer.headers.getall("Authorization") == [f"Bearer {token}"]
