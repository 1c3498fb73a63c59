"""The exchange itself, below HTTP: the issued claims (RFC 8693 sections 2.2.1 and 4.1), the
subject-token verifier (own keys only, typed), and assertions that carry `act` onwards.

Keys are generated here; tokens are verified with pyjwt against the signer's own JWKS, as the
receiving sidecar does.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sidecar.config.model import TokenExchangeSettings
from sidecar.errors import InvalidToken, TokenExchangeRefused
from sidecar.tokens.assertion import AssertionSigner
from sidecar.tokens.assertion_verify import EXCHANGED_TOKEN_TYP, OwnAssertionVerifier
from sidecar.tokens.exchange import (
    GRANT_TYPE,
    JWT_TOKEN_TYPE,
    ExchangeRequest,
    TokenExchanger,
    parse_request,
)
from sidecar.tokens.identity import MAX_ACT_DEPTH, Identity

A = "https://a.example.com"
B = "https://b.example.com"
UPSTREAM = "http://127.0.0.1:3000"


def signer(*keys: ec.EllipticCurvePrivateKey, issuer: str = A) -> AssertionSigner:
    keys = keys or (ec.generate_private_key(ec.SECP256R1()),)
    return AssertionSigner(list(keys), issuer=issuer, audience=UPSTREAM, ttl_s=60)


def user(**changes: Any) -> Identity:
    base = Identity(
        sub="user-1",
        expires_at=int(time.time()) + 3600,
        source="session",
        email="ann@example.com",
        name="Ann",
        preferred_username="ann",
        groups=("admins", "devs"),
    )
    return dataclasses.replace(base, **changes)


def exchanger(own: AssertionSigner, ttl_s: int = 60) -> TokenExchanger:
    settings = TokenExchangeSettings(audiences=(B,), ttl_s=ttl_s)
    return TokenExchanger(settings, public_url=A, signer=own)


def verified(own: AssertionSigner, token: str, audience: str) -> dict[str, Any]:
    keys = jwt.PyJWKSet.from_dict(own.jwks())
    kid = jwt.get_unverified_header(token)["kid"]
    claims: dict[str, Any] = jwt.decode(
        token, keys[kid].key, algorithms=["ES256"], issuer=A, audience=audience
    )
    return claims


def form(**values: str) -> dict[str, list[str]]:
    base = {
        "grant_type": GRANT_TYPE,
        "subject_token": "t",
        "subject_token_type": JWT_TOKEN_TYPE,
        "audience": B,
    }
    return {name: [value] for name, value in (base | values).items()}


def test_issued_token_carries_the_user_and_names_this_sidecar_as_actor():
    own = signer()
    issued = exchanger(own).exchange(ExchangeRequest(own.sign(user()), B))
    token, body = issued.token, issued.body()
    assert jwt.get_unverified_header(token)["typ"] == EXCHANGED_TOKEN_TYP
    claims = verified(own, token, B)
    assert set(claims) == {
        "iss",
        "aud",
        "sub",
        "email",
        "groups",
        "name",
        "iat",
        "exp",
        "jti",
        "act",
    }
    assert (claims["sub"], claims["email"], claims["name"]) == ("user-1", "ann@example.com", "Ann")
    assert claims["groups"] == ["admins", "devs"]
    assert claims["act"] == {"sub": A}
    assert body == {
        "access_token": token,
        "issued_token_type": JWT_TOKEN_TYPE,
        "token_type": "N_A",
        "expires_in": claims["exp"] - claims["iat"],
    }


def test_every_exchange_has_its_own_jti():
    own = signer()
    subject = own.sign(user())
    tokens = [exchanger(own).exchange(ExchangeRequest(subject, B)).token for _ in "ab"]
    assert verified(own, tokens[0], B)["jti"] != verified(own, tokens[1], B)["jti"]


def test_an_exchanged_identitys_assertion_keeps_act_and_the_next_exchange_nests_it():
    own = signer()
    came_via_x = user(actor="https://x.example.com", act={"sub": "https://x.example.com"})
    assertion = own.sign(came_via_x)
    assert verified(own, assertion, UPSTREAM)["act"] == {"sub": "https://x.example.com"}
    token = exchanger(own).exchange(ExchangeRequest(assertion, B)).token
    assert verified(own, token, B)["act"] == {"sub": A, "act": {"sub": "https://x.example.com"}}


def test_assertions_of_the_same_user_via_different_actors_are_not_shared():
    """The signer's cache must not hand the assertion of a direct call to an exchanged one."""
    own = signer()
    direct = own.sign(user())
    via = own.sign(user(actor="https://x.example.com", act={"sub": "https://x.example.com"}))
    assert "act" not in verified(own, direct, UPSTREAM)
    assert "act" in verified(own, via, UPSTREAM)


def test_an_act_chain_at_the_depth_limit_is_refused():
    own = signer()
    act: dict[str, Any] = {"sub": "https://s0.example.com"}
    for depth in range(1, MAX_ACT_DEPTH):
        act = {"sub": f"https://s{depth}.example.com", "act": act}
    assertion = own.sign(user(actor=act["sub"], act=act))
    with pytest.raises(TokenExchangeRefused) as refused:
        exchanger(own).exchange(ExchangeRequest(assertion, B))
    assert refused.value.error == "invalid_request"


@pytest.mark.parametrize(("ttl_s", "left"), [(10, 3600), (60, 20), (3600, 3600)])
def test_lifetime_is_the_shorter_of_ttl_s_and_the_subject(ttl_s, left):
    own = signer()
    now = int(time.time())
    subject = own.sign(user(expires_at=now + left))  # the assertion ends with the identity
    claims = verified(own, exchanger(own, ttl_s).exchange(ExchangeRequest(subject, B)).token, B)
    subject_exp = jwt.decode(subject, options={"verify_signature": False})["exp"]
    assert claims["exp"] == min(claims["iat"] + ttl_s, subject_exp)


def test_a_subject_signed_by_an_older_published_key_is_accepted():
    """Rotation: the new key signs, the old one is still published, its assertions verify."""
    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    before = signer(old).sign(user())
    after = signer(new, old)
    assert OwnAssertionVerifier(after, issuer=A).verify(before)["sub"] == "user-1"
    with pytest.raises(InvalidToken):
        OwnAssertionVerifier(signer(new), issuer=A).verify(before)


def test_verifier_refuses_another_issuer_and_an_exchanged_token():
    key = ec.generate_private_key(ec.SECP256R1())
    other = signer(key, issuer=B)
    with pytest.raises(InvalidToken):
        OwnAssertionVerifier(signer(key), issuer=A).verify(other.sign(user()))
    own = signer(key)
    exchanged = exchanger(own).exchange(ExchangeRequest(own.sign(user()), B)).token
    with pytest.raises(InvalidToken):
        OwnAssertionVerifier(own, issuer=A).verify(exchanged)


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({}, None),
        ({"grant_type": ""}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"subject_token": ""}, "invalid_request"),
        (
            {"subject_token_type": "urn:ietf:params:oauth:token-type:access_token"},
            "invalid_request",
        ),
        ({"audience": ""}, "invalid_request"),
        ({"resource": B}, None),
        ({"resource": A}, "invalid_target"),
        ({"scope": "anything", "unknown": "ignored"}, None),  # RFC 6749 section 3.1
        ({"requested_token_type": JWT_TOKEN_TYPE}, None),
    ],
)
def test_parse_request(values, error):
    if error is None:
        assert parse_request(form(**values)) == ExchangeRequest("t", B)
        return
    with pytest.raises(TokenExchangeRefused) as refused:
        parse_request(form(**values))
    assert refused.value.error == error
