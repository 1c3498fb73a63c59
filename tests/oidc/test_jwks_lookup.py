"""Which key a token gets (OIDC Core 10.1, RFC 8725 section 3.1) and when a lookup may fetch.

Issue 16 item 11: keys without `kid` are kept; a token without `kid` is verified with the one
published key that fits its algorithm, and several candidates are refused (never tried in
turn). Item 14: the first load a request makes (before the background load) is a load, not an
unknown-`kid` refetch: a rotated `kid` right after it is still looked up.
"""

from __future__ import annotations

import pytest

from sidecar.errors import ProviderUnavailable
from sidecar.oidc.jwks import JwksCache, parse_jwks
from tests.app.forge import ec_key, public_jwk, rsa_key


async def test_a_set_of_one_key_without_kid_loads_and_makes_the_cache_ready(
    http, jwks_server, fake_time
):
    """Item 11: it used to be dropped, leaving "no usable signing key" and readiness 503."""
    jwks_server.keys = [public_jwk(rsa_key(), None, use="sig")]
    cache = JwksCache(http, jwks_server.url, clock=fake_time)
    await cache.refresh()
    assert cache.ready
    key = await cache.get_or_refetch(None, "RS256")
    assert key is not None
    assert key.kid is None
    assert await cache.get_or_refetch(None, "ES256") is None  # fits no published key


async def test_without_kid_the_single_key_that_fits_the_algorithm(http, jwks_server, fake_time):
    """Several keys, but one per algorithm: the algorithm picks (OIDC Core 10.1)."""
    jwks_server.keys = [public_jwk(rsa_key(), "r1", use="sig"), public_jwk(ec_key(), None)]
    cache = JwksCache(http, jwks_server.url, clock=fake_time)
    await cache.refresh()
    rsa = await cache.get_or_refetch(None, "RS256")
    ec = await cache.get_or_refetch(None, "ES256")
    assert rsa is not None
    assert rsa.kid == "r1"
    assert ec is not None
    assert ec.kty == "EC"
    assert jwks_server.hits == 1


async def test_without_kid_several_candidates_are_refused_without_a_refetch(
    http, jwks_server, fake_time
):
    jwks_server.keys = [public_jwk(rsa_key(), None), public_jwk(rsa_key(), "r2")]
    cache = JwksCache(http, jwks_server.url, clock=fake_time)
    await cache.refresh()
    fake_time.now += 11
    assert await cache.get_or_refetch(None, "RS256") is None
    assert jwks_server.hits == 1  # a refetch would not make the choice any less ambiguous


async def test_a_kid_never_matches_a_key_without_kid(http, jwks_server, fake_time):
    jwks_server.keys = [public_jwk(rsa_key(), None)]
    cache = JwksCache(http, jwks_server.url, clock=fake_time)
    await cache.refresh()
    assert await cache.get_or_refetch("anything", "RS256") is None


def test_one_kid_on_two_key_types_is_told_apart_by_the_algorithm():
    keys = parse_jwks({"keys": [public_jwk(rsa_key(), "same"), public_jwk(ec_key(), "same")]})
    rsa, ec = keys.find("same", "RS256"), keys.find("same", "ES256")
    assert rsa is not None
    assert rsa.kty == "RSA"
    assert ec is not None
    assert ec.kty == "EC"
    doubled = parse_jwks({"keys": [public_jwk(rsa_key(), "same"), public_jwk(rsa_key(), "same")]})
    assert doubled.find("same", "RS256") is None  # which one signed is not for us to guess


@pytest.mark.parametrize("kid", ["", 7, ["k"], {"k": 1}])
def test_a_jwk_whose_kid_is_not_a_string_is_not_used(kid):
    jwk = {**public_jwk(rsa_key(), None), "kid": kid}
    assert len(parse_jwks({"keys": [jwk]})) == 0


async def test_the_first_lazy_load_leaves_the_unknown_kid_allowance(http, jwks_server, fake_time):
    """Item 14: a request before the background load loads the keys; a key rotated in right
    after is still fetched at once, once."""
    cache = JwksCache(http, jwks_server.url, clock=fake_time)
    assert await cache.get_or_refetch("k1", "RS256") is not None  # the lazy first load
    assert jwks_server.hits == 1
    fake_time.now += 1
    jwks_server.keys.append(public_jwk(rsa_key(), "k2", use="sig"))
    assert await cache.get_or_refetch("k2", "RS256") is not None
    assert jwks_server.hits == 2
    assert await cache.get_or_refetch("forged", "RS256") is None  # now the allowance is used
    assert jwks_server.hits == 2


async def test_lazy_loads_while_the_provider_is_down_are_rate_limited(http, jwks_server, fake_time):
    """Never loaded and the provider failing: a request tries at most once per 10 s (503s in
    between), and the allowance for unknown kids is still whole once it is back."""
    jwks_server.status = 500
    cache = JwksCache(http, jwks_server.url, clock=fake_time)
    for _ in range(5):
        with pytest.raises(ProviderUnavailable):
            await cache.get_or_refetch("k1", "RS256")
    assert jwks_server.hits == 1
    fake_time.now += 11
    jwks_server.status = 200
    assert await cache.get_or_refetch("k1", "RS256") is not None
    assert jwks_server.hits == 2
    jwks_server.keys.append(public_jwk(rsa_key(), "k2", use="sig"))
    assert await cache.get_or_refetch("k2", "RS256") is not None
    assert jwks_server.hits == 3
