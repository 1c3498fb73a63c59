"""A provider that is odd, or hostile, in ways the OpenID Foundation's relying-party tests
check (`oidcc-client-test-*`): keys without `kid`, id tokens without `iat`, payloads a lenient
JSON reader would resolve one way and another reader another way. Issue 16 items 10 and 11.

The lying provider signs whatever the test asks for, and serves whatever JWKS it is given.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.security.bearer import assert_refused, present
from tests.security.flows import browser, lying_login
from tests.security.jose import b64url, public_jwk


def without_kid(jwk: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in jwk.items() if name != "kid"}


async def readiness(admin_url: str, within_s: float = 10.0) -> int:
    """The /readyz status once it is 200, or the last one seen after `within_s`."""
    status = 0
    async with aiohttp.ClientSession() as http:
        for _ in range(int(within_s / 0.1)):
            async with http.get(admin_url + "/readyz") as answer:
                status = answer.status
            if status == 200:
                break
            await asyncio.sleep(0.1)
    return status


async def login_status(base: str) -> int:
    async with browser() as http:
        return (await lying_login(http, base)).status


async def test_kid_absent_single_jwks(lying_sidecar_factory, lying_provider):
    """`oidcc-client-test-kid-absent-single-jwks`, item 11: the provider publishes one key,
    without `kid`, and signs without `kid` (OIDC Core 10.1 allows both). Main dropped the key,
    stayed unready (503) and refused the token."""
    signer = lying_provider.signer
    signer.jwks = lambda: {"keys": [without_kid(public_jwk(signer.rsa_key, "-"))]}
    running = await lying_sidecar_factory()
    assert await readiness(running.admin_url) == 200
    assert (await present(running.url, signer.token(header={"kid": None}))).status == 200
    lying_provider.login_token = lambda params: signer.token(
        header={"kid": None}, nonce=params["nonce"]
    )
    assert await login_status(running.url) == 302
    # A token naming a kid still needs a key with that kid.
    assert_refused(await present(running.url, signer.token()))


async def test_kid_absent_multiple_jwks(lying_sidecar_factory, lying_provider):
    """`oidcc-client-test-kid-absent-multiple-jwks`, item 11: two RSA keys are published, so a
    token without `kid` could be either: refused (not tried key by key); with its `kid`, fine."""
    signer = lying_provider.signer
    second = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = [public_jwk(signer.rsa_key, signer.rsa_kid), without_kid(public_jwk(second, "-"))]
    signer.jwks = lambda: {"keys": keys}
    running = await lying_sidecar_factory()
    assert await readiness(running.admin_url) == 200
    assert_refused(await present(running.url, signer.token(header={"kid": None})))
    assert (await present(running.url, signer.token())).status == 200
    lying_provider.login_token = lambda params: signer.token(
        header={"kid": None}, nonce=params["nonce"]
    )
    assert await login_status(running.url) == 400


async def test_missing_iat(lying_sidecar, lying_provider):
    """`oidcc-client-test-missing-iat`, item 10: OIDC Core 3.1.3.7 (and section 2: `iat`
    REQUIRED). Main accepted such a token as a bearer and at login."""
    assert_refused(await present(lying_sidecar.url, lying_provider.signer.token(iat=None)))
    lying_provider.login_claims = lambda params: {"iat": None}
    assert await login_status(lying_sidecar.url) == 400


def resigned(signer: Any, payload: str) -> str:
    """An RS256 token over exactly these payload bytes."""
    header = b64url(json.dumps({"alg": "RS256", "kid": signer.rsa_kid}).encode())
    signing_input = f"{header}.{b64url(payload.encode())}".encode()
    algorithm = jwt.get_algorithm_by_name("RS256")
    signature = algorithm.sign(signing_input, signer.rsa_key)
    return f"{signing_input.decode()}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    "extra",
    [
        '"groups": ["devs"], "groups": ["admins"]',  # a duplicate claim: refused, not resolved
        '"sub": "someone-else"',  # the same, on the subject
        '"nbf": NaN',
        '"exp": 1e400',
        '"iat": 100000000000000000000000000000',
    ],
    ids=["duplicate-groups", "duplicate-sub", "NaN", "exp-1e400", "iat-beyond-a-float"],
)
async def test_payloads_a_lenient_reader_would_accept_are_401_never_500(
    lying_sidecar, lying_provider, extra
):
    """RFC 7519 section 4 (claim names unique) and section 2 (NumericDate); RFC 8259."""
    signer = lying_provider.signer
    claims = signer.claims()
    body = json.dumps(claims)[:-1] + ", " + extra + "}"
    answer = await present(lying_sidecar.url, resigned(signer, body), path="/admin/x")
    assert_refused(answer)
    honest = resigned(signer, json.dumps({**claims, "exp": int(time.time()) + 60}))
    assert (await present(lying_sidecar.url, honest)).status == 200


async def test_a_userinfo_answer_nested_past_the_json_reader_is_400_never_500(
    lying_sidecar_factory, lying_provider
):
    """`oidc.userinfo`: an answer nested deeper than Python's JSON reader recurses (well
    inside the 64 KiB it reads) is a refused login, not a `RecursionError` and a 500."""
    lying_provider.userinfo = b"[" * 10_000
    running = await lying_sidecar_factory({"oidc": {"userinfo": True}})
    assert await login_status(running.url) == 400
    lying_provider.userinfo = json.dumps({"sub": lying_provider.signer.claims()["sub"]}).encode()
    assert await login_status(running.url) == 302


async def test_a_userinfo_answer_in_several_writes_is_read_whole(
    lying_sidecar_factory, lying_provider
):
    """A large userinfo answer (many groups) arrives in more than one read: all of it is
    read, not the first piece the socket held (a cut-off JSON document refused the login)."""
    sub = lying_provider.signer.claims()["sub"]
    groups = [f"group-{n}" for n in range(400)]
    lying_provider.userinfo = json.dumps({"sub": sub, "groups": groups}).encode()
    lying_provider.userinfo_pause_s = 0.05
    running = await lying_sidecar_factory({"oidc": {"userinfo": True}})
    assert await login_status(running.url) == 302


async def test_a_token_answer_nested_past_the_json_reader_is_503_never_500(
    lying_sidecar, lying_provider
):
    """The token endpoint's answer, nested deeper than Python's JSON reader recurses: an
    answer without tokens like any unreadable one (503), not a `RecursionError` and a 500."""
    lying_provider.token_body = b"[" * 10_000
    assert await login_status(lying_sidecar.url) == 503
    lying_provider.token_body = b"not json"
    assert await login_status(lying_sidecar.url) == 503


@pytest.mark.parametrize(
    "claim", [{"nonce": "n\u00e9"}, {"at_hash": "h\u00e9"}], ids=["nonce", "at_hash"]
)
async def test_a_non_ascii_nonce_or_at_hash_is_a_refused_login_never_500(
    lying_sidecar, lying_provider, claim
):
    """OIDC Core 3.1.3.7 item 11, 3.1.3.8: compared in constant time, which takes ASCII
    strings only; the provider signed something no login sent: 400, not a TypeError."""
    lying_provider.login_claims = lambda params: claim
    assert await login_status(lying_sidecar.url) == 400
