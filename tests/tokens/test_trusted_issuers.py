"""The trusted-issuer validator against a real JWKS server the test controls: keys found by
`kid` on first sight (rotation), a flood of unknown `kid`s costing one fetch per interval, and
the identity an accepted token yields."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec

from sidecar.config.model import TrustedIssuer
from sidecar.errors import InvalidToken, TrustedIssuerUnavailable
from sidecar.tokens.assertion import AssertionSigner
from sidecar.tokens.assertion_verify import EXCHANGED_TOKEN_TYP
from sidecar.tokens.trusted_issuers import (
    ExchangedTokenValidator,
    TrustedIssuerKeys,
    unverified_issuer,
)
from tests.fixtures.ports import LOOPBACK

ME = "https://b.example.com"


class KeyServer:
    """A trusted issuer's `/.auth/jwks`, with keys the test can rotate, counting fetches."""

    def __init__(self) -> None:
        self.signers = [AssertionSigner([_key()], issuer="x", audience="x", ttl_s=60)]
        self.fetches = 0
        self.url = ""
        self.down = False

    async def jwks(self, request: web.Request) -> web.Response:
        self.fetches += 1
        if self.down:
            return web.Response(status=503)
        keys = [jwk for signer in self.signers for jwk in signer.jwks()["keys"]]
        return web.json_response({"keys": keys}, headers={"Cache-Control": "max-age=600"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.auth/jwks", self.jwks)
        return app

    def token(self, signer_index: int = -1, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": ME,
            "sub": "user-1",
            "email": "ann@example.com",
            "groups": ["devs"],
            "name": "Ann",
            "iat": now,
            "exp": now + 60,
            "jti": "j",
            "act": {"sub": self.url, "act": {"sub": "https://first.example.com"}},
        } | overrides
        return self.signers[signer_index].sign_claims(claims, typ=EXCHANGED_TOKEN_TYP)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
async def issuer(aiohttp_server) -> KeyServer:
    server_state = KeyServer()
    server = await aiohttp_server(server_state.app(), host=LOOPBACK)
    server_state.url = f"http://{LOOPBACK}:{server.port}"
    return server_state


@pytest.fixture
async def validator(issuer):
    """With the background loader running, as `create_app` wires it."""
    async with aiohttp.ClientSession() as http:
        keys = TrustedIssuerKeys(http, [TrustedIssuer(issuer.url, issuer.url + "/.auth/jwks")])
        loader = asyncio.create_task(keys.run())
        for _ in range(200):
            if keys.readiness()[issuer.url] or issuer.down:
                break
            await asyncio.sleep(0.01)
        yield ExchangedTokenValidator(keys, audience=ME, leeway_s=30)
        loader.cancel()


async def test_accepted_token_gives_the_user_and_the_outermost_actor(issuer, validator):
    identity = await validator.identity(issuer.token())
    assert identity.source == "exchanged"
    assert (identity.sub, identity.email, identity.name) == ("user-1", "ann@example.com", "Ann")
    assert identity.groups == ("devs",)
    assert identity.actor == issuer.url
    assert identity.act == {"sub": issuer.url, "act": {"sub": "https://first.example.com"}}


async def test_a_rotated_in_key_is_fetched_once_and_unknown_kids_are_rate_limited(
    issuer, validator
):
    await validator.identity(issuer.token())
    assert issuer.fetches == 1  # the background load
    issuer.signers.append(AssertionSigner([_key()], issuer="x", audience="x", ttl_s=60))
    await validator.identity(issuer.token())  # new kid: one refetch
    assert issuer.fetches == 2
    # A flood of forged kids, concurrently and after: no more fetches within 10 s.
    forged = [
        jwt.encode({"iss": issuer.url}, _key(), algorithm="ES256",
                   headers={"kid": f"k{i}", "typ": EXCHANGED_TOKEN_TYP})
        for i in range(20)
    ]  # fmt: skip
    results = await asyncio.gather(
        *(validator.identity(token) for token in forged), return_exceptions=True
    )
    assert all(isinstance(result, InvalidToken) for result in results)
    assert issuer.fetches == 2
    await validator.identity(issuer.token(0))  # known keys never wait on the network
    assert issuer.fetches == 2


@pytest.fixture
def issuer_down(issuer: KeyServer) -> KeyServer:
    issuer.down = True
    return issuer


async def test_issuer_down_before_any_key_is_unavailable_not_invalid(issuer_down, validator):
    with pytest.raises(TrustedIssuerUnavailable):
        await validator.identity(issuer_down.token())


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "e30.!!!.x",
        "e30." + base64.urlsafe_b64encode(b"[1]").decode().rstrip("=") + ".x",
        "e30." + base64.urlsafe_b64encode(b'{"iss": 7}').decode().rstrip("=") + ".x",
        "e30." + base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).decode() + ".x",
        "e30." + "e" * 9000 + ".x",
    ],
)
def test_unverified_issuer_of_garbage_is_none(token):
    assert unverified_issuer(token) is None


def test_unverified_issuer_reads_only_iss():
    payload = base64.urlsafe_b64encode(json.dumps({"iss": ME}).encode()).decode().rstrip("=")
    assert unverified_issuer(f"e30.{payload}.sig") == ME


def _token_with_payload(payload: bytes) -> str:
    return "e30." + base64.urlsafe_b64encode(payload).decode().rstrip("=") + ".sig"


async def test_routing_reads_the_top_level_iss_only(issuer, validator):
    assert validator.claims_trusted_issuer(issuer.token())
    dex = {"iss": "https://dex.example.com", "act": {"iss": issuer.url}, "name": issuer.url}
    assert not validator.claims_trusted_issuer(_token_with_payload(json.dumps(dex).encode()))
    # An escaped spelling of a trusted `iss` goes to the provider's validator (which refuses
    # it): no sidecar signs one.
    escaped = json.dumps({"iss": issuer.url}).replace("/", "\\/").encode()
    assert json.loads(escaped)["iss"] == issuer.url
    assert not validator.claims_trusted_issuer(_token_with_payload(escaped))


def _with_raw_header_bytes(token: str) -> str:
    """`token` as aiohttp hands it over when the client sent 0xFF in its header segment:
    the non-UTF-8 byte arrives as a surrogate."""
    header, payload, signature = token.split(".")
    return "\udcff" + header + "." + payload + "." + signature


async def test_non_utf8_header_bytes_with_a_trusted_iss_are_invalid(issuer, validator):
    token = _with_raw_header_bytes(issuer.token())
    assert validator.claims_trusted_issuer(token) is False  # shape first: not ours to route
    with pytest.raises(InvalidToken):
        await validator.identity(token)
    with pytest.raises(InvalidToken):
        await validator.identity(issuer.token().replace(".", ".\udcff", 1))


@pytest.mark.parametrize(
    "token",
    [
        "\udcff.e30.x",
        "e30.\udcff.x",
        "e30.é.x",
        "e30.\x00.x",
        "e30.e30=.x",
        "e30." + base64.urlsafe_b64encode(b"\xff\xfe{}").decode().rstrip("=") + ".x",
        "e30." + "e" * 9000 + ".x",
    ],
)
def test_routing_never_raises(validator, token):
    assert validator.claims_trusted_issuer(token) is False
