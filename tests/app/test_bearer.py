"""Bearer tokens of the real provider, and forgeries of them, through the running sidecar.

Every forgery here carries the claims of a real, valid token: only the signature or the header
differs, so a 401 can only come from the rule under test.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from multidict import CIMultiDict

from tests.app.calls import (
    INVALID_TOKEN_CHALLENGE,
    NO_CREDENTIAL_CHALLENGE,
    assert_refused,
    call,
    upstream_headers,
)
from tests.app.conftest import ADMIN, bearer
from tests.app.forge import b64url, hmac_signed, kid_of, relabelled, rsa_key, unsigned
from tests.app.raw_http import raw_request


def provider_public_key(provider: Any, kid: str) -> Any:
    with urllib.request.urlopen(provider.jwks_url, timeout=10) as response:
        jwks = json.load(response)
    return jwt.PyJWKSet.from_dict(jwks)[kid].key


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def assert_invalid(sidecar: Any, token: str) -> None:
    answer = await call(sidecar.url + "/x", bearer(token))
    assert_refused(answer, 401, "invalid_token", INVALID_TOKEN_CHALLENGE)


async def test_valid_token_reaches_upstream_with_identity(sidecar, id_tokens, echo_upstream):
    token = id_tokens[ADMIN]
    answer = await call(sidecar.url + "/x?y=1", bearer(token))
    assert answer.status == 200, answer.text
    seen = upstream_headers(echo_upstream.last())
    assert seen["X-Auth-Subject"] == claims_of(token)["sub"]
    assert seen["X-Auth-Email"] == ADMIN
    assert echo_upstream.last()["raw_path"] == "/x?y=1"


async def test_same_kid_signed_by_another_key(sidecar, id_tokens):
    real = id_tokens[ADMIN]
    forged = jwt.encode(
        claims_of(real), rsa_key(), algorithm="RS256", headers={"kid": kid_of(real)}
    )
    await assert_invalid(sidecar, forged)


async def test_alg_none(sidecar, id_tokens):
    real = id_tokens[ADMIN]
    await assert_invalid(sidecar, unsigned({"kid": kid_of(real)}, claims_of(real)))


@pytest.mark.parametrize(
    "pem_format",
    [serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1],
)
async def test_hs256_keyed_with_the_providers_public_pem(
    sidecar, oidc_provider, id_tokens, pem_format
):
    """RFC 8725 section 2.1: the classic algorithm confusion."""
    real = id_tokens[ADMIN]
    public = provider_public_key(oidc_provider, kid_of(real))
    pem = public.public_bytes(serialization.Encoding.PEM, pem_format)
    await assert_invalid(sidecar, hmac_signed({"kid": kid_of(real)}, claims_of(real), pem))


async def test_rs256_signature_presented_as_es256(sidecar, id_tokens):
    await assert_invalid(sidecar, relabelled(id_tokens[ADMIN], alg="ES256"))


@pytest.mark.parametrize("alg", ["PS256", "RS512", "HS256", "EdDSA", "NONE"])
async def test_algorithms_outside_the_allow_list(sidecar, id_tokens, alg):
    await assert_invalid(sidecar, relabelled(id_tokens[ADMIN], alg=alg))


async def test_unknown_kid(sidecar, id_tokens):
    real = id_tokens[ADMIN]
    forged = jwt.encode(claims_of(real), rsa_key(), algorithm="RS256", headers={"kid": "nope"})
    await assert_invalid(sidecar, forged)


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk"])
async def test_key_carrying_headers_on_a_real_token(sidecar, id_tokens, header):
    value: Any = {"kty": "oct", "k": b64url(b"k" * 32)} if header == "jwk" else "http://x/"
    await assert_invalid(sidecar, relabelled(id_tokens[ADMIN], **{header: value}))


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "...",
        "e30.e30.",
        "eyJhbGciOiJSUzI1NiJ9.!!!.abc",
        "a.b.c.d.e",
        "ey" + "A" * 300,
    ],
)
async def test_garbage(sidecar, token):
    await assert_invalid(sidecar, token)


async def test_jwe_shaped_five_segment_token(sidecar, id_tokens):
    header = b64url(json.dumps({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "k"}).encode())
    jwe = ".".join([header, b64url(b"k" * 256), b64url(b"i" * 12), b64url(b"c" * 40), "tag"])
    await assert_invalid(sidecar, jwe)
    # A real token wrapped into five segments is no better.
    await assert_invalid(sidecar, id_tokens[ADMIN] + ".x.y")


@pytest.mark.parametrize("size", [8193, 12_000])
async def test_token_over_8_kib_is_a_400(sidecar, size):
    answer = await call(sidecar.url + "/x", bearer("e" * size))
    assert_refused(answer, 400, "bad_request", None)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_bearer_scheme_is_case_insensitive(sidecar, id_tokens, scheme):
    answer = await call(sidecar.url + "/x", {"Authorization": f"{scheme} {id_tokens[ADMIN]}"})
    assert answer.status == 200, answer.text


async def test_two_authorization_headers_are_a_400(sidecar, id_tokens, echo_upstream):
    token = id_tokens[ADMIN]
    headers: CIMultiDict[str] = CIMultiDict()
    headers.add("Authorization", f"Bearer {token}")
    headers.add("Authorization", f"Bearer {token}")
    answer = await call(sidecar.url + "/x", headers)
    assert_refused(answer, 400, "bad_request", None)
    assert echo_upstream.requests == []


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc"])
async def test_no_bearer_credential_is_unauthenticated(sidecar, value):
    answer = await call(sidecar.url + "/x", {"Authorization": value})
    assert_refused(answer, 401, "unauthenticated", NO_CREDENTIAL_CHALLENGE)


@pytest.mark.parametrize("size", [17_000, 70_000])
async def test_token_beyond_the_header_limit_is_a_400_too(sidecar, echo_upstream, size):
    """Past 16 KiB aiohttp's parser answers before the sidecar sees the request."""
    answer = await raw_request(sidecar.url + "/x", [("Authorization", "Bearer " + "e" * size)])
    assert answer.status == 400
    assert echo_upstream.requests == []
