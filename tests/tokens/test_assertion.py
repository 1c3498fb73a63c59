"""The X-Auth-Assertion signer: verified with pyjwt against its own JWKS, as an upstream would."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey
from structlog.testing import capture_logs

from sidecar.config.settings import (
    AssertionSettings,
    ConfigError,
    OidcSettings,
    SessionSettings,
    Settings,
)
from sidecar.tokens import assertion as assertion_module
from sidecar.tokens.assertion import AssertionSigner
from sidecar.tokens.identity import Identity

PUBLIC_URL = "https://app.example.com"
AUDIENCE = "http://127.0.0.1:3000"


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def new_pem(curve: ec.EllipticCurve | None = None) -> str:
    return pem(ec.generate_private_key(curve or ec.SECP256R1()))


def settings(*pems: str, ttl_s: int = 60) -> Settings:
    return Settings(
        oidc=OidcSettings(issuer="https://dex.example.com", client_id="c", client_secret="s"),
        public_url=PUBLIC_URL,
        session=SessionSettings(secrets=(b"k" * 32,)),
        assertion=AssertionSettings(signing_keys_pem=pems, audience=AUDIENCE, ttl_s=ttl_s),
    )


def identity(*, expires_in: int = 3600, **claims: object) -> Identity:
    base: dict[str, object] = {
        "sub": "user-1",
        "exp": int(time.time()) + expires_in,
        "email": "ann@example.com",
        "email_verified": True,
        "name": "Zoë",
        "groups": ["admins", "staff"],
    }
    return Identity.from_claims(base | claims, "bearer", "")


def verify(token: str, signer: AssertionSigner) -> dict[str, object]:
    """What an upstream does: pick the key by `kid` from /.auth/jwks, check iss/aud/exp."""
    key_set = jwt.PyJWKSet.from_dict(signer.jwks())
    key = key_set[jwt.get_unverified_header(token)["kid"]]
    claims: dict[str, object] = jwt.decode(
        token,
        key,
        algorithms=["ES256"],
        audience=AUDIENCE,
        issuer=PUBLIC_URL,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    return claims


def test_round_trip_against_the_published_jwks() -> None:
    signer = AssertionSigner.from_settings(settings(new_pem()))
    token = signer.sign(identity())
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    assert header["typ"] == "JWT"
    claims = verify(token, signer)
    assert claims["sub"] == "user-1"
    assert claims["email"] == "ann@example.com"
    assert claims["name"] == "Zoë"
    assert claims["groups"] == ["admins", "staff"]
    assert claims["iss"] == PUBLIC_URL
    assert claims["aud"] == AUDIENCE
    assert claims["exp"] == claims["iat"] + 60  # type: ignore[operator]


def test_unverified_email_and_absent_name_are_not_claimed() -> None:
    signer = AssertionSigner.from_settings(settings(new_pem()))
    claims = verify(signer.sign(identity(email_verified=False, name=None, groups=[])), signer)
    assert "email" not in claims
    assert "name" not in claims
    assert claims["groups"] == []


def test_exp_never_beyond_the_identity() -> None:
    signer = AssertionSigner.from_settings(settings(new_pem(), ttl_s=600))
    who = identity(expires_in=30)
    claims = verify(signer.sign(who), signer)
    assert claims["exp"] == who.expires_at


def test_wrong_audience_is_refused() -> None:
    signer = AssertionSigner.from_settings(settings(new_pem()))
    token = signer.sign(identity())
    key = jwt.PyJWKSet.from_dict(signer.jwks()).keys[0]
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key, algorithms=["ES256"], audience="http://other")


def test_kid_is_the_rfc7638_thumbprint() -> None:
    signer = AssertionSigner.from_settings(settings(new_pem()))
    (jwk,) = signer.jwks()["keys"]
    assert jwk["kid"] == ECKey.import_key(jwk).thumbprint()  # an independent implementation
    assert jwk["alg"] == "ES256"
    assert jwk["use"] == "sig"
    assert jwk["kty"] == "EC"
    assert jwk["crv"] == "P-256"
    assert "d" not in jwk  # public only


def test_two_keys_first_signs_both_published() -> None:
    first, second = new_pem(), new_pem()
    signer = AssertionSigner.from_settings(settings(first, second))
    alone = AssertionSigner.from_settings(settings(second))
    kids = [k["kid"] for k in signer.jwks()["keys"]]
    assert len(set(kids)) == 2
    assert kids[1] == alone.jwks()["keys"][0]["kid"]
    token = signer.sign(identity())
    assert jwt.get_unverified_header(token)["kid"] == kids[0]
    verify(token, signer)
    # The second key is published (for rotation) but did not sign.
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, jwt.PyJWKSet.from_dict(signer.jwks()).keys[1], algorithms=["ES256"])


def test_another_signers_key_does_not_verify() -> None:
    ours = AssertionSigner.from_settings(settings(new_pem()))
    theirs = AssertionSigner.from_settings(settings(new_pem()))
    token = theirs.sign(identity())
    with pytest.raises(KeyError):
        verify(token, ours)  # kid unknown to our JWKS
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token,
            jwt.PyJWKSet.from_dict(ours.jwks()).keys[0],
            algorithms=["ES256"],
            audience=AUDIENCE,
        )


def test_ephemeral_key_is_generated_with_a_warning() -> None:
    with capture_logs() as logs:
        signer = AssertionSigner.from_settings(settings())
    assert [e["log_level"] for e in logs] == ["warning"]
    assert logs[0]["event"] == "assertion_ephemeral_key"
    verify(signer.sign(identity()), signer)
    with capture_logs() as logs:
        other = AssertionSigner.from_settings(settings())
    assert other.jwks() != signer.jwks()  # a restart means a new key


def test_configured_key_logs_nothing() -> None:
    with capture_logs() as logs:
        AssertionSigner.from_settings(settings(new_pem()))
    assert logs == []


@pytest.mark.parametrize(
    "bad_pem",
    [
        "not a pem",
        pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        pem(ec.generate_private_key(ec.SECP384R1())),
    ],
    ids=["garbage", "rsa", "p384"],
)
def test_bad_keys_are_config_errors(bad_pem: str) -> None:
    with pytest.raises(ConfigError) as err:
        AssertionSigner.from_settings(settings(new_pem(), bad_pem))
    (problem,) = err.value.problems
    assert problem.startswith("assertion.signing_key[1] (SIDECAR_ASSERTION_SIGNING_KEY)")
    assert "BEGIN" not in problem  # never echo the key


def test_cache_reuses_within_the_window_then_signs_anew() -> None:
    signer = AssertionSigner.from_settings(settings(new_pem(), ttl_s=60))
    who = identity()
    now = int(time.time())
    token = signer.sign(who, now=now)
    assert signer.sign(who, now=now) == token
    assert signer.sign(who, now=now + 14) == token  # window: a quarter of the ttl
    fresh = signer.sign(who, now=now + 15)
    assert fresh != token
    assert jwt.decode(fresh, options={"verify_signature": False})["iat"] == now + 15
    assert signer.sign(who, now=now + 16) == fresh


def test_cache_never_serves_a_token_from_the_future() -> None:
    signer = AssertionSigner.from_settings(settings(new_pem()))
    who = identity()
    now = int(time.time())
    token = signer.sign(who, now=now)
    assert signer.sign(who, now=now - 1) != token


def test_cache_is_keyed_by_every_claim() -> None:
    signer = AssertionSigner.from_settings(settings(new_pem()))
    now = int(time.time())
    token = signer.sign(identity(), now=now)
    assert signer.sign(identity(groups=["admins"]), now=now) != token
    assert signer.sign(identity(sub="user-2"), now=now) != token
    assert signer.sign(identity(name="Other"), now=now) != token


def test_cache_stops_at_the_identity_expiry() -> None:
    signer = AssertionSigner.from_settings(settings(new_pem(), ttl_s=60))
    who = identity(expires_in=5)
    now = int(time.time())
    token = signer.sign(who, now=now)
    assert signer.sign(who, now=now + 4) == token
    assert signer.sign(who, now=now + 5) != token


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assertion_module, "CACHE_MAX_ENTRIES", 8)
    signer = AssertionSigner.from_settings(settings(new_pem()))
    now = int(time.time())
    tokens = [signer.sign(identity(sub=f"u{i}"), now=now) for i in range(20)]
    assert len(set(tokens)) == 20
    assert len(signer._cache) == 8
    assert signer.sign(identity(sub="u19"), now=now) == tokens[19]  # newest kept
    assert signer.sign(identity(sub="u0"), now=now) != tokens[0]  # oldest evicted
