"""Claim and header rules on correctly signed tokens (the forging issuer holds the keys).

Each token differs from a valid one in exactly one respect; the first test proves the valid one
passes, so every 401 below is the rule under test (OIDC Core 3.1.3.7, RFC 8725).
"""

from __future__ import annotations

import time

import pytest

from tests.app.calls import INVALID_TOKEN_CHALLENGE, assert_refused, call, upstream_headers
from tests.app.conftest import bearer
from tests.app.forge import DELETE, EC_KID, RSA_KID, hmac_signed, relabelled, segment

LEEWAY = 30  # the default oidc.leeway_s


async def assert_invalid(sidecar, token: str) -> None:
    answer = await call(sidecar.url + "/x", bearer(token))
    assert_refused(answer, 401, "invalid_token", INVALID_TOKEN_CHALLENGE)


async def assert_valid(sidecar, token: str) -> None:
    answer = await call(sidecar.url + "/x", bearer(token))
    assert answer.status == 200, answer.text


@pytest.mark.parametrize("key", ["rsa", "ec"])
async def test_valid_forged_token_passes(forged_sidecar, forging_issuer, echo_upstream, key):
    await assert_valid(forged_sidecar, forging_issuer.mint(key=key))
    seen = upstream_headers(echo_upstream.last())
    assert seen["X-Auth-Subject"] == forging_issuer.claims()["sub"]


@pytest.mark.parametrize("iss", ["{url}/", "{url}/other", "https://evil.example", "", DELETE])
async def test_wrong_issuer(forged_sidecar, forging_issuer, iss):
    if iss is not DELETE:
        iss = iss.format(url=forging_issuer.url)
    await assert_invalid(forged_sidecar, forging_issuer.mint(forging_issuer.claims(iss=iss)))


@pytest.mark.parametrize("aud", ["other-app", ["other-app"], [], DELETE])
async def test_wrong_audience(forged_sidecar, forging_issuer, aud):
    await assert_invalid(forged_sidecar, forging_issuer.mint(forging_issuer.claims(aud=aud)))


@pytest.mark.parametrize(
    ("extra", "azp", "accepted"),
    [
        ("other-app", DELETE, False),  # several audiences, no azp
        ("other-app", "other-app", False),  # several audiences, foreign azp
        ("other-app", "{client}", True),
        (None, "other-app", False),  # one audience, but a foreign azp
        (None, "{client}", True),
    ],
)
async def test_several_audiences_need_an_accepted_azp(
    forged_sidecar, forging_issuer, extra, azp, accepted
):
    client = forging_issuer.client_id
    aud = [client, extra] if extra else client
    if isinstance(azp, str):
        azp = azp.format(client=client)
    token = forging_issuer.mint(forging_issuer.claims(aud=aud, azp=azp))
    await (assert_valid if accepted else assert_invalid)(forged_sidecar, token)


@pytest.mark.parametrize(
    ("claim", "offset", "accepted"),
    [
        ("exp", -(LEEWAY + 60), False),  # expired beyond the leeway
        ("exp", -(LEEWAY // 3), True),  # expired, within the leeway
        ("iat", LEEWAY + 60, False),  # issued in the future
        ("iat", LEEWAY // 3, True),
        ("nbf", LEEWAY + 60, False),  # not yet valid
        ("nbf", LEEWAY // 3, True),
    ],
)
async def test_time_claims_and_leeway(forged_sidecar, forging_issuer, claim, offset, accepted):
    claims = forging_issuer.claims(**{claim: int(time.time()) + offset})
    token = forging_issuer.mint(claims)
    await (assert_valid if accepted else assert_invalid)(forged_sidecar, token)


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": DELETE},
        {"sub": DELETE},
        {"sub": ""},
        {"sub": 12345},
        {"exp": "tomorrow"},
        {"iat": "now"},
        {"iat": DELETE},  # issue 16 item 10: OIDC Core 3.1.3.7, `iat` is REQUIRED
    ],
    ids=["no-exp", "no-sub", "empty-sub", "numeric-sub", "text-exp", "text-iat", "no-iat"],
)
async def test_required_claims(forged_sidecar, forging_issuer, overrides):
    await assert_invalid(forged_sidecar, forging_issuer.mint(forging_issuer.claims(**overrides)))


@pytest.mark.parametrize("key", ["rsa", "ec"])
async def test_no_kid_with_one_published_key_for_the_algorithm(forged_sidecar, forging_issuer, key):
    """OIDC Core 10.1: the issuer publishes one RSA and one EC key, so the algorithm names the
    key (several candidates: tests/security/test_hostile_provider.py)."""
    await assert_valid(forged_sidecar, forging_issuer.mint(key=key, headers={"kid": DELETE}))


async def test_unknown_kid(forged_sidecar, forging_issuer):
    await assert_invalid(forged_sidecar, forging_issuer.mint(headers={"kid": "not-published"}))


@pytest.mark.parametrize(
    ("key", "kid"),
    [("rsa", EC_KID), ("ec", RSA_KID)],
    ids=["RS256-on-the-EC-key", "ES256-on-the-RSA-key"],
)
async def test_algorithm_must_fit_the_named_key(forged_sidecar, forging_issuer, key, kid):
    await assert_invalid(forged_sidecar, forging_issuer.mint(key=key, headers={"kid": kid}))


async def test_rs256_signature_relabelled_es256(forged_sidecar, forging_issuer):
    await assert_invalid(forged_sidecar, relabelled(forging_issuer.mint(), alg="ES256"))


async def test_hs256_keyed_with_the_public_pem(forged_sidecar, forging_issuer):
    from cryptography.hazmat.primitives import serialization

    pem = forging_issuer.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = hmac_signed({"kid": RSA_KID}, forging_issuer.claims(), pem)
    await assert_invalid(forged_sidecar, token)


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk", "x5c", "crit"])
async def test_key_carrying_and_critical_headers(forged_sidecar, forging_issuer, header):
    """RFC 8725 section 3.10: never fetch a key the token points at."""
    values = {
        "jku": f"{forging_issuer.url}/jku",
        "x5u": f"{forging_issuer.url}/x5u",
        "jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        "x5c": ["MIIB"],
        "crit": ["exp"],
    }
    await assert_invalid(forged_sidecar, forging_issuer.mint(headers={header: values[header]}))
    assert forging_issuer.hits["/jku"] == forging_issuer.hits["/x5u"] == 0


async def test_unsecured_token_of_a_trusted_issuer(forged_sidecar, forging_issuer):
    token = f"{segment({'alg': 'none', 'kid': RSA_KID})}.{segment(forging_issuer.claims())}."
    await assert_invalid(forged_sidecar, token)


async def test_token_over_8_kib_even_when_validly_signed(forged_sidecar, forging_issuer):
    token = forging_issuer.mint(forging_issuer.claims(padding="p" * 8192))
    answer = await call(forged_sidecar.url + "/x", bearer(token))
    assert_refused(answer, 400, "bad_request", None)
