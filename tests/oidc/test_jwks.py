"""The JWKS cache against a real aiohttp JWKS server the test controls (keys, Cache-Control,
failures, hit count). The cache's clock is injected; for the background refresher the module's
`asyncio.sleep` is replaced by one that advances that clock instead of waiting."""

from __future__ import annotations

import asyncio

import pytest

from sidecar.errors import ProviderUnavailable
from sidecar.oidc.jwks import JwksCache, SigningKey, parse_jwks, ttl_from_cache_control
from tests.app.forge import ec_key, public_jwk, rsa_key
from tests.oidc.conftest import JwksServer

HOUR = 3600.0


async def run_refresher_until(cache: JwksCache, server: JwksServer, hits: int) -> None:
    """Run the background refresher until the server saw `hits` fetches (bounded)."""
    refresher = asyncio.ensure_future(cache.run_refresher())
    try:
        async with asyncio.timeout(10):
            while server.hits < hits and not refresher.done():
                await asyncio.sleep(0.01)
    finally:
        refresher.cancel()
    assert server.hits >= hits


@pytest.fixture
async def loaded(http, jwks_server, fake_time) -> JwksCache:
    cache = JwksCache(http, jwks_server.url, clock=fake_time)
    await cache.refresh()
    assert jwks_server.hits == 1
    return cache


@pytest.mark.parametrize(
    ("header", "ttl"),
    [
        ("max-age=600, must-revalidate", 600),
        ("public, max-age=120", 120),
        ("max-age=5", 60),
        ("max-age=0", 60),
        ("max-age=86400", 3600),
        ("no-cache", 600),
        (None, 600),
        ("s-maxage=30", 600),
    ],
)
def test_ttl_from_cache_control_is_clamped(header, ttl):
    assert ttl_from_cache_control(header) == ttl


@pytest.mark.parametrize(
    ("header", "delay"),
    [("max-age=120", 120), ("max-age=5", 60), ("max-age=99999", 3600), (None, 600)],
)
async def test_refresher_follows_the_served_max_age(
    monkeypatch, http, jwks_server, fake_time, header, delay
):
    jwks_server.cache_control = header
    cache = JwksCache(http, jwks_server.url, clock=fake_time)
    await cache.refresh()
    fake_time.patch(monkeypatch)
    await run_refresher_until(cache, jwks_server, 3)
    assert fake_time.sleeps[:2] == [delay, delay]


async def test_refresher_retries_sooner_after_a_failure(
    monkeypatch, loaded, jwks_server, fake_time
):
    jwks_server.status = 500
    fake_time.patch(monkeypatch)
    await run_refresher_until(loaded, jwks_server, 4)
    assert fake_time.sleeps[:3] == [600, 10, 10]
    assert loaded.get("k1", "RS256") is not None  # the last good keys still serve


async def test_unknown_kid_triggers_one_refetch(loaded, jwks_server, fake_time):
    fake_time.now += 11
    jwks_server.keys.append(public_jwk(rsa_key(), "k2", use="sig"))
    assert (await loaded.get_or_refetch("k2", "RS256")) is not None
    assert jwks_server.hits == 2
    assert await loaded.get_or_refetch("k3", "RS256") is None  # within 10 s of that fetch: no other
    assert jwks_server.hits == 2


async def test_background_fetch_does_not_delay_the_first_unknown_kid(loaded, jwks_server):
    """Only unknown-kid refetches are rate limited: a key rotated in just after the load (or
    a background refresh) is looked up at once; the next unknown kid then waits 10 s."""
    assert await loaded.get_or_refetch("forged", "RS256") is None
    assert jwks_server.hits == 2
    assert await loaded.get_or_refetch("forged-again", "RS256") is None
    assert jwks_server.hits == 2


async def test_concurrent_unknown_kids_share_one_fetch(loaded, jwks_server, fake_time):
    fake_time.now += 11
    jwks_server.delay_s = 0.2  # every caller arrives while the fetch is under way
    burst = await asyncio.gather(
        *(loaded.get_or_refetch(f"forged-{i}", "RS256") for i in range(200))
    )
    assert burst == [None] * 200
    assert jwks_server.hits == 2
    fake_time.now += 9  # a second burst within 10 s of the fetch
    burst = await asyncio.gather(
        *(loaded.get_or_refetch(f"again-{i}", "RS256") for i in range(200))
    )
    assert burst == [None] * 200
    assert jwks_server.hits == 2


async def test_known_kid_never_touches_the_network(loaded, jwks_server, fake_time):
    await jwks_server.server.close()
    for advance in (0, 11, HOUR, 22 * HOUR):  # up to 23 h after the load
        fake_time.now += advance
        key = await loaded.get_or_refetch("k1", "RS256")
        assert key is not None
        assert key.kid == "k1"
    assert jwks_server.hits == 1


async def test_provider_down_keys_serve_up_to_24_hours(loaded, jwks_server, fake_time):
    await jwks_server.server.close()
    fake_time.now += 23 * HOUR
    with pytest.raises(ProviderUnavailable):
        await loaded.refresh()
    assert (await loaded.get_or_refetch("k1", "RS256")) is not None
    fake_time.now += HOUR + 1  # now the last good keys are more than 24 h old
    with pytest.raises(ProviderUnavailable) as refused:
        await loaded.get_or_refetch("k1", "RS256")
    assert refused.value.status == 503
    assert "Retry-After" in refused.value.response_headers()
    with pytest.raises(ProviderUnavailable):
        loaded.get("k1", "RS256")
    assert not loaded.ready


async def test_unknown_kid_while_the_provider_fails_is_unavailable(loaded, jwks_server, fake_time):
    """Whether the kid is a forgery or a rotation cannot be told: 503, not 401."""
    jwks_server.status = 500
    fake_time.now += 11
    with pytest.raises(ProviderUnavailable):
        await loaded.get_or_refetch("rotated", "RS256")
    assert await loaded.get_or_refetch("k1", "RS256") is not None


async def test_a_failed_fetch_keeps_the_last_good_keys(loaded, jwks_server, fake_time):
    jwks_server.keys = []  # answers, but with nothing usable
    fake_time.now += 11
    with pytest.raises(ProviderUnavailable):
        await loaded.refresh()
    assert loaded.kids == ("k1",)


async def test_no_fetch_until_loaded_means_not_ready(http, jwks_server, fake_time):
    cache = JwksCache(http, jwks_server.url, clock=fake_time)
    assert not cache.ready
    with pytest.raises(ProviderUnavailable):
        cache.get("k1", "RS256")


def test_unusable_keys_are_skipped():
    good_rsa, good_ec = rsa_key(), ec_key()
    document = {
        "keys": [
            public_jwk(good_rsa, "rsa", use="sig", alg="RS256"),
            public_jwk(good_ec, "ec"),
            public_jwk(rsa_key(), "enc", use="enc"),
            public_jwk(rsa_key(), None),
            public_jwk(rsa_key(), 7),
            {"kty": "XYZ", "kid": "weird", "use": "sig"},
            {"kty": "oct", "kid": "symmetric", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"},
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            "not a key",
        ]
    }
    keys = parse_jwks(document)
    assert sorted(keys.kids) == ["ec", "rsa"]
    assert len(keys) == 3  # and the key without a kid (OIDC Core 10.1)
    assert keys.find("rsa", "RS256") is not None
    assert keys.find("rsa", "ES256") is None
    assert keys.find("ec", "ES256") is not None
    assert keys.find("ec", "RS256") is None


def test_a_jwk_alg_that_contradicts_its_key_type_fits_nothing():
    assert len(parse_jwks({"keys": [public_jwk(rsa_key(), "bad", alg="ES256")]})) == 0
    mislabelled = SigningKey("bad", rsa_key().public_key(), "RSA", None, "ES256")
    assert not mislabelled.fits("ES256")
    assert not mislabelled.fits("RS256")


@pytest.mark.parametrize("document", [[], {}, {"keys": {}}, {"keys": "x"}, None])
def test_a_document_that_is_not_a_jwk_set_is_refused(document):
    with pytest.raises(ValueError, match="JWK set"):
        parse_jwks(document)
