"""The one JWS verifier and the claims classes of the four token kinds, with one key.

Issue 16 item 5 (RFC 8725 section 3.11): every kind is signed here by the *same* key, with the
same `iss` and `aud`, so only the typing rules tell them apart; each kind is refused wherever
another is expected (an id token and an assertion share the plain `JWT` type: they are told
apart by their keys and `iss`, see docs/reliability.md). Then the header and payload rules the
four places used to each write their own (`kid` type, NumericDates, duplicate claims).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from sidecar.errors import InvalidToken
from sidecar.oidc.jwks import KeySet, SigningKey
from sidecar.tokens.assertion_verify import AssertionClaims
from sidecar.tokens.claims import TokenClaims
from sidecar.tokens.id_tokens import IdTokenClaims
from sidecar.tokens.jws import EXCHANGED_JWT, LOGOUT_JWT, PLAIN_JWT, JwsVerifier
from sidecar.tokens.logout_tokens import BACKCHANNEL_EVENT, LogoutTokenClaims
from sidecar.tokens.trusted_issuers import ExchangedTokenClaims
from tests.app.forge import ec_key, public_jwk

ISS = "https://a.example.com"
AUD = "https://b.example.com"
PRIVATE = ec_key()
KEYS = KeySet((SigningKey("k1", PRIVATE.public_key(), "EC", "P-256", None),))


def kinds() -> dict[str, tuple[JwsVerifier, TokenClaims]]:
    common: dict[str, Any] = {"issuer": ISS, "audiences": (AUD,), "leeway_s": 30}
    return {
        "id token": (verifier(PLAIN_JWT), IdTokenClaims(**common)),
        "logout token": (verifier(LOGOUT_JWT), LogoutTokenClaims(**common)),
        "assertion": (verifier(PLAIN_JWT), AssertionClaims(**common)),
        "exchanged token": (verifier(EXCHANGED_JWT), ExchangedTokenClaims(**common)),
    }


def verifier(types: frozenset[str | None]) -> JwsVerifier:
    return JwsVerifier(algorithms=("ES256",), types=types)


def sign(claims: dict[str, Any], **header: Any) -> str:
    headers = {name: value for name, value in {"kid": "k1", **header}.items() if value is not None}
    if header.get("typ", "JWT") is None:
        headers["typ"] = None  # pyjwt's default `JWT` left out
    return jwt.encode(claims, PRIVATE, algorithm="ES256", headers=headers)


def base(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISS, "aud": AUD, "sub": "user-1", "iat": now, "exp": now + 60, **extra}


TOKENS = {
    "id token": lambda: sign(base(nonce="n", email="a@example.com")),
    "logout token": lambda: sign(
        base(jti="j1", sid="s1", events={BACKCHANNEL_EVENT: {}}), typ="logout+jwt"
    ),
    "untyped logout token": lambda: sign(base(jti="j2", events={BACKCHANNEL_EVENT: {}}), typ=None),
    "assertion": lambda: sign(base(email="a@example.com")),
    "exchanged token": lambda: sign(base(jti="j3", act={"sub": ISS}), typ="token-exchange+jwt"),
}
ACCEPTED_BY = {
    "id token": {"id token", "assertion"},
    "logout token": {"logout token", "untyped logout token"},
    "assertion": {"id token", "assertion"},
    "exchanged token": {"exchanged token"},
}


async def accepts(kind: str, token: str) -> bool:
    jws, claims = kinds()[kind]
    try:
        claims.validate((await jws.verify(token, keys)).claims)
    except InvalidToken:
        return False
    return True


async def keys(kid: str | None, algorithm: str) -> SigningKey | None:
    return KEYS.find(kid, algorithm)


@pytest.mark.parametrize("kind", list(ACCEPTED_BY))
@pytest.mark.parametrize("token", list(TOKENS))
async def test_each_kind_is_refused_where_another_is_expected(kind, token):
    assert await accepts(kind, TOKENS[token]()) == (token in ACCEPTED_BY[kind])


@pytest.mark.parametrize(
    "typ", ["logout+jwt", "application/logout+jwt", "token-exchange+jwt", "at+jwt", "JOSE", 1]
)
async def test_an_id_token_typed_as_another_kind_is_refused(typ):
    assert not await accepts("id token", sign(base(), typ=typ))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt", None])
async def test_an_id_token_may_be_typed_jwt_or_not_at_all(typ):
    assert await accepts("id token", sign(base(), typ=typ))


async def test_an_events_claim_makes_any_token_a_logout_token():
    """RFC 8417 section 4.3: `events` marks a security event token, whatever its `typ`."""
    token = sign(base(events={BACKCHANNEL_EVENT: {}}), typ="JWT")
    assert not await accepts("id token", token)
    assert not await accepts("assertion", token)
    exchanged = base(jti="j", act={"sub": ISS}, events={BACKCHANNEL_EVENT: {}})
    assert not await accepts("exchanged token", sign(exchanged, typ="token-exchange+jwt"))
    del exchanged["events"]
    assert await accepts("exchanged token", sign(exchanged, typ="token-exchange+jwt"))


@pytest.mark.parametrize("kid", [7, "", None, ["k1"], {"kid": "k1"}, True])
async def test_a_kid_that_is_not_a_non_empty_string_is_refused(kid):
    """RFC 7515 section 4.1.4: a string. The four verifiers used to disagree (one looked
    `str(kid)` up, so `["k1"]` and `7` reached the key table)."""
    header = json.dumps({"alg": "ES256", "kid": kid}).encode()
    token = resigned(header, json.dumps(base()).encode())
    assert not await accepts("id token", token)


async def test_without_kid_the_single_fitting_key_verifies():
    """OIDC Core 10.1."""
    assert await accepts("id token", sign(base(), kid=None))


def resigned(header: bytes, payload: bytes) -> str:
    """A JWS over exactly these header and payload bytes (duplicates, constants and all)."""
    signing_input = f"{b64(header)}.{b64(payload)}".encode()
    algorithm = jwt.get_algorithm_by_name("ES256")
    return f"{signing_input.decode()}.{b64(algorithm.sign(signing_input, PRIVATE))}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


HEADER = json.dumps({"alg": "ES256", "kid": "k1"}).encode()


@pytest.mark.parametrize(
    "payload",
    [
        '{"iss": "%s", "sub": "admin", "sub": "user-1", "aud": "%s", "iat": 1, "exp": %d}',
        '{"iss": "%s", "sub": "u", "aud": "%s", "iat": 1, "exp": %d, "nbf": NaN}',
        '{"iss": "%s", "sub": "u", "aud": "%s", "iat": -Infinity, "exp": %d}',
        '{"iss": "%s", "sub": "u", "aud": "%s", "iat": 1, "exp": %d, "x": 1e400}',
        '["%s", "%s", %d]',
    ],
    ids=["duplicate-sub", "NaN", "Infinity", "1e400", "array"],
)
async def test_payloads_that_are_not_one_plain_json_object_are_refused(payload):
    """RFC 7519 section 4: claim names unique (a duplicate is refused, not resolved one way
    here and another way elsewhere); RFC 8259: no NaN or Infinity."""
    text = payload % (ISS, AUD, int(time.time()) + 60)
    assert not await accepts("id token", resigned(HEADER, text.encode()))


@pytest.mark.parametrize(
    "dates",
    [
        {"exp": "9999999999"},
        {"exp": True},
        {"exp": 10**400},
        {"exp": 2**60},
        {"iat": None},
        {"iat": "now"},
        {"iat": False},
        {"nbf": [1]},
    ],
)
@pytest.mark.parametrize("kind", list(ACCEPTED_BY))
async def test_numeric_dates_are_json_numbers_a_float_holds_for_every_kind(kind, dates):
    """RFC 7519 section 2. One rule for all four kinds (one used to accept `exp` of 10**400
    and then fail converting it to a float: a 500). `iat` is required by every kind (OIDC
    Core 3.1.3.7 for id tokens, issue 16 item 10)."""
    claims = {k: v for k, v in {**base(), **dates}.items() if v is not None}
    claims |= {"jti": "j", "events": {BACKCHANNEL_EVENT: {}}, "act": {"sub": ISS}}
    typ = {"logout token": "logout+jwt", "exchanged token": "token-exchange+jwt"}.get(kind)
    assert not await accepts(kind, sign(claims, typ=typ))


def test_only_asymmetric_algorithms_can_be_configured():
    for algorithms in (("HS256",), ("none",), ("RS256", "HS512"), ()):
        with pytest.raises(ValueError, match="asymmetric"):
            JwsVerifier(algorithms=algorithms, types=PLAIN_JWT)


async def test_several_keys_that_fit_and_no_kid_is_refused():
    second = KeySet((*KEYS.keys, SigningKey(None, ec_key().public_key(), "EC", "P-256", None)))
    with pytest.raises(InvalidToken, match="no key"):
        verifier(PLAIN_JWT).verify_local(sign(base(), kid=None), second)
    assert verifier(PLAIN_JWT).verify_local(sign(base()), second).key.kid == "k1"


def test_public_jwk_helper_without_kid():
    assert "kid" not in public_jwk(PRIVATE, None)
