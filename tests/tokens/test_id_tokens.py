"""`TokenValidator` alone: the verified-token cache, `nonce`, `at_hash`, refreshed tokens.

The key lookup is a fake that counts calls (a cache hit must not reach it); the cache's clock is
injected. The refusal matrix runs end to end in tests/app/test_bearer*.py.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import jwt
import pytest

from sidecar.config.settings import OidcSettings
from sidecar.errors import BadRequest, InvalidToken
from sidecar.oidc.jwks import SigningKey
from sidecar.tokens.id_tokens import MAX_TOKEN_BYTES, TokenValidator, at_hash
from tests.app.forge import rsa_key

ISSUER = "https://dex.example.com"
CLIENT = "sidecar"
KID = "k1"
LEEWAY = 30


class FakeKeys:
    """The JWKS cache as the validator sees it: one RSA key, and a count of lookups."""

    def __init__(self) -> None:
        self.private = rsa_key()
        self.key = SigningKey(KID, self.private.public_key(), "RSA", None, "RS256")
        self.lookups = 0

    async def __call__(self, kid: str | None, algorithm: str) -> SigningKey | None:
        self.lookups += 1
        return self.key if kid == KID and self.key.fits(algorithm) else None

    def mint(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": CLIENT, "sub": "u1", "iat": now, "exp": now + 600}
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": KID})


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def validator(keys: FakeKeys, clock: FakeClock, cache_size: int = 100) -> TokenValidator:
    oidc = OidcSettings(issuer=ISSUER, client_id=CLIENT, client_secret="s", leeway_s=LEEWAY)
    return TokenValidator(oidc, keys, cache_size=cache_size, clock=clock)


async def test_a_repeated_token_is_not_verified_again(keys, clock):
    tokens = validator(keys, clock)
    token = keys.mint()
    first = await tokens.validate_bearer(token)
    for _ in range(5):
        assert await tokens.validate_bearer(token) == first
    assert keys.lookups == 1
    assert first["sub"] == "u1"


async def test_cache_entries_drop_at_exp_plus_leeway(keys, clock):
    tokens = validator(keys, clock)
    exp = int(time.time()) + 600
    token = keys.mint(exp=exp)
    await tokens.validate_bearer(token)
    clock.now = exp + LEEWAY - 1
    await tokens.validate_bearer(token)
    assert keys.lookups == 1  # still within exp + leeway: served from the cache
    clock.now = exp + LEEWAY + 1
    with pytest.raises(InvalidToken, match="expired"):
        await tokens.validate_bearer(token)  # verified again, and expired by the same clock
    assert keys.lookups == 2


async def test_cache_is_bounded_least_recently_used_first(keys, clock):
    tokens = validator(keys, clock, cache_size=2)
    a, b, c = (keys.mint(sub=name) for name in "abc")
    for token in (a, b, a, c):  # c evicts b, the least recently used
        await tokens.validate_bearer(token)
    assert keys.lookups == 3
    await tokens.validate_bearer(a)
    assert keys.lookups == 3
    await tokens.validate_bearer(b)
    assert keys.lookups == 4


async def test_refused_tokens_are_not_cached(keys, clock):
    tokens = validator(keys, clock)
    token = keys.mint(aud="someone-else")
    for attempt in range(1, 3):
        with pytest.raises(InvalidToken):
            await tokens.validate_bearer(token)
        assert keys.lookups == attempt


async def test_oversized_token_is_a_bad_request_before_any_lookup(keys, clock):
    with pytest.raises(BadRequest):
        await validator(keys, clock).validate_bearer("e" * (MAX_TOKEN_BYTES + 1))
    assert keys.lookups == 0


def test_at_hash_is_the_left_half_of_the_hash():
    """OIDC Core 3.1.3.6, computed independently of the implementation."""
    access_token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
    digest = hashlib.sha256(access_token.encode()).digest()[:16]
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert at_hash(access_token, "RS256") == expected
    assert at_hash(access_token, "ES256") == expected
    assert len(at_hash(access_token, "RS512")) == len(
        base64.urlsafe_b64encode(hashlib.sha512(b"").digest()[:32]).rstrip(b"=")
    )


async def test_id_token_with_matching_nonce_and_at_hash(keys, clock):
    token = keys.mint(nonce="n-1", at_hash=at_hash("access-1", "RS256"))
    claims = await validator(keys, clock).validate_id_token(
        token, nonce="n-1", access_token="access-1"
    )
    assert claims["sub"] == "u1"


@pytest.mark.parametrize(
    ("claims", "nonce", "access_token"),
    [
        ({"nonce": "n-1", "at_hash": at_hash("access-1", "RS256")}, "n-1", "access-2"),
        ({"nonce": "n-1"}, "n-2", None),
        ({}, "n-1", None),
        ({"nonce": 7}, "7", None),
    ],
    ids=["at_hash-mismatch", "nonce-mismatch", "no-nonce", "numeric-nonce"],
)
async def test_id_token_refusals(keys, clock, claims, nonce, access_token):
    token = keys.mint(**claims)
    with pytest.raises(InvalidToken):
        await validator(keys, clock).validate_id_token(
            token, nonce=nonce, access_token=access_token
        )


@pytest.mark.parametrize("method", ["bearer", "login", "refresh"])
async def test_an_id_token_without_iat_is_refused(keys, clock, method):
    """Issue 16 item 10, OIDC Core 3.1.3.7 and section 2: `iat` is REQUIRED, wherever an id
    token is met."""
    tokens = validator(keys, clock)
    token = keys.mint(iat=None, nonce="n-1")
    calls = {
        "bearer": lambda: tokens.validate_bearer(token),
        "login": lambda: tokens.validate_id_token(token, nonce="n-1"),
        "refresh": lambda: tokens.validate_refreshed_id_token(token, sub="u1"),
    }
    with pytest.raises(InvalidToken, match="iat"):
        await calls[method]()


async def test_refreshed_id_token_must_keep_its_subject(keys, clock):
    tokens = validator(keys, clock)
    assert (await tokens.validate_refreshed_id_token(keys.mint(), sub="u1"))["sub"] == "u1"
    with pytest.raises(InvalidToken):
        await tokens.validate_refreshed_id_token(keys.mint(sub="u2"), sub="u1")
