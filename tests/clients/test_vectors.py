"""Every shared vector (clients/vectors), through both APIs, keys served over real HTTP."""

from __future__ import annotations

import time

import pytest

from tests.clients.conftest import FakeClock, JwksServer, Vectors
from tests.clients.verify_helpers import APIS, outcome, verifier_for, verify


@pytest.mark.parametrize("api", APIS)
async def test_every_vector_gives_its_expected_outcome(
    vectors: Vectors, jwks_server: JwksServer, api: str
) -> None:
    results = {}
    for case in vectors.cases:
        jwks_server.serve(vectors.documents[case["jwks"]])
        verifier = verifier_for(vectors, jwks_server, FakeClock(time.time()))
        results[case["name"]] = await outcome(verifier, api, case["token"])
    expected = {case["name"]: case["expect"] for case in vectors.cases}
    assert results == expected
    assert len(results) >= 20


@pytest.mark.parametrize("api", APIS)
async def test_valid_vectors_return_their_claims(
    vectors: Vectors, jwks_server: JwksServer, api: str
) -> None:
    valid = [case for case in vectors.cases if case["expect"] == "valid"]
    assert len(valid) >= 4
    for case in valid:
        jwks_server.serve(vectors.documents[case["jwks"]])
        verifier = verifier_for(vectors, jwks_server, FakeClock(time.time()))
        claims = await verify(verifier, api, case["token"])
        want = case["claims"]
        assert claims.sub == want["sub"]
        assert claims.email == want.get("email")
        assert claims.name == want.get("name")
        assert list(claims.groups) == want["groups"]
        assert (claims.issued_at, claims.expires_at) == (want["iat"], want["exp"])
        assert claims.actor is None
        assert dict(claims.raw) == want


@pytest.mark.parametrize("api", APIS)
async def test_refusals_before_the_key_lookup_fetch_nothing(
    vectors: Vectors, jwks_server: JwksServer, api: str
) -> None:
    """alg none, HS256, RS256, no kid, garbage: refused from the header alone."""
    jwks_server.serve(vectors.documents["initial"])
    verifier = verifier_for(vectors, jwks_server, FakeClock(time.time()))
    names = ["alg_none", "hs256_public_pem", "hs256_public_jwk", "rs256_known_kid", "no_kid"]
    for name in [*names, "not_a_jws"]:
        case = vectors.named(name)
        assert await outcome(verifier, api, case["token"]) == case["expect"]
    assert jwks_server.hits == 0


@pytest.mark.parametrize("api", APIS)
async def test_a_key_rotated_in_is_picked_up_by_one_refetch(
    vectors: Vectors, jwks_server: JwksServer, api: str
) -> None:
    clock = FakeClock(time.time())
    jwks_server.serve(vectors.documents["initial"])
    verifier = verifier_for(vectors, jwks_server, clock)
    assert await outcome(verifier, api, vectors.named("valid")["token"]) == "valid"
    assert jwks_server.hits == 1

    jwks_server.serve(vectors.documents["rotated"])  # the sidecar rotated: key C is new
    rotated_in = vectors.named("rotated_in_after_refetch")["token"]
    # Within the refetch interval of the first fetch: no new fetch, the kid stays unknown.
    assert await outcome(verifier, api, rotated_in) == "unknown_kid"
    assert jwks_server.hits == 1

    clock.advance(10)
    assert await outcome(verifier, api, rotated_in) == "valid"
    assert jwks_server.hits == 2
    # Key A is in both sets and still verifies, without another fetch.
    assert await outcome(verifier, api, vectors.named("valid")["token"]) == "valid"
    # Key B left the set with the rotation: its tokens are now refused.
    assert await outcome(verifier, api, vectors.named("rotated_second_key")["token"]) == (
        "unknown_kid"
    )
    assert jwks_server.hits == 2
