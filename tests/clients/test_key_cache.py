"""The JWKS cache of the Python verifier, against a real HTTP server: TTL from
Cache-Control, refetch interval on unknown kids, single flight, stale keys when the sidecar is
down, timeouts. Time is a fake clock; concurrency is real (threads, tasks)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from auth_sidecar_verifier import KeySetUnavailable, Verifier
from auth_sidecar_verifier.keyset import parse_jwks, ttl_from_cache_control

from tests.clients.conftest import FakeClock, JwksServer
from tests.clients.signing import AUDIENCE, ISSUER, TestKey, claims
from tests.clients.verify_helpers import APIS, outcome, verify


def make_verifier(server: JwksServer, clock: FakeClock, **kw: Any) -> Verifier:
    return Verifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=server.url, clock=clock, **kw)


@pytest.fixture
def key() -> TestKey:
    return TestKey("key-a")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.mark.parametrize(
    ("header", "ttl"),
    [
        ("public, max-age=300", 300),
        ("max-age=600, must-revalidate", 600),
        ('max-age="120"', 120),
        ("max-age=5", 60),
        ("max-age=999999", 3600),
        ("no-store", 60),
        ("public, no-cache", 60),
        (None, 300),
        ("s-maxage=10", 300),
    ],
)
def test_ttl_from_cache_control(header: str | None, ttl: float) -> None:
    assert ttl_from_cache_control(header, default_s=300, min_s=60, max_s=3600) == ttl


def test_only_es256_verification_keys_are_kept(key: TestKey) -> None:
    good = key.jwk
    document = {
        "keys": [
            good,
            {**good, "kid": "rs", "kty": "RSA"},
            {**good, "kid": "p384", "crv": "P-384"},
            {**good, "kid": "declared-es384", "alg": "ES384"},
            {**good, "kid": "for-encryption", "use": "enc"},
            {**good, "kid": "private", "d": "AAAA"},
            {**good, "kid": "broken", "x": "not-a-point"},
            {key: value for key, value in good.items() if key != "kid"},
            "not an object",
        ]
    }
    assert list(parse_jwks(document)) == ["key-a"]
    with pytest.raises(ValueError, match="not a JWK set"):
        parse_jwks({"keys": "nope"})


@pytest.mark.parametrize("api", APIS)
async def test_max_age_sets_when_keys_are_fetched_again(
    jwks_server: JwksServer, key: TestKey, clock: FakeClock, api: str
) -> None:
    jwks_server.serve(key.jwks(), cache_control="public, max-age=120")
    verifier = make_verifier(jwks_server, clock)
    for _ in range(3):
        assert await outcome(verifier, api, key.sign(claims(clock.now))) == "valid"
    clock.advance(119)
    assert await outcome(verifier, api, key.sign(claims(clock.now))) == "valid"
    assert jwks_server.hits == 1
    clock.advance(2)
    assert await outcome(verifier, api, key.sign(claims(clock.now))) == "valid"
    if api == "async":
        await verifier._task  # the background refresh
    assert jwks_server.hits == 2


@pytest.mark.parametrize("api", APIS)
async def test_unknown_kids_refetch_at_most_once_per_interval(
    jwks_server: JwksServer, key: TestKey, clock: FakeClock, api: str
) -> None:
    jwks_server.serve(key.jwks())
    verifier = make_verifier(jwks_server, clock)
    forged = [TestKey(f"invented-{i}").sign(claims(clock.now)) for i in range(20)]
    assert {await outcome(verifier, api, token) for token in forged} == {"unknown_kid"}
    assert jwks_server.hits == 1
    clock.advance(9.9)
    assert await outcome(verifier, api, forged[0]) == "unknown_kid"
    assert jwks_server.hits == 1
    clock.advance(0.1)
    assert await outcome(verifier, api, forged[0]) == "unknown_kid"
    assert jwks_server.hits == 2


def test_threads_share_one_fetch(jwks_server: JwksServer, key: TestKey, clock: FakeClock) -> None:
    jwks_server.serve(key.jwks())
    jwks_server.hold = threading.Event()
    verifier = make_verifier(jwks_server, clock)
    token = key.sign(claims(clock.now))
    results: list[str] = []

    def run() -> None:
        results.append(verifier.verify(token).sub or "")

    threads = [threading.Thread(target=run) for _ in range(8)]
    threads[0].start()
    assert jwks_server.arrived.wait(timeout=10)
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.2)  # let the others reach the lock; the result does not depend on it
    jwks_server.hold.set()
    for thread in threads:
        thread.join(timeout=10)
    assert results == ["user-1"] * 8
    assert jwks_server.hits == 1


async def test_coroutines_share_one_fetch(
    jwks_server: JwksServer, key: TestKey, clock: FakeClock
) -> None:
    jwks_server.serve(key.jwks())
    hold = jwks_server.hold = threading.Event()
    verifier = make_verifier(jwks_server, clock)
    token = key.sign(claims(clock.now))

    async def release_when_asked() -> None:
        await asyncio.to_thread(jwks_server.arrived.wait, 10)
        await asyncio.sleep(0.1)
        hold.set()

    releaser = asyncio.create_task(release_when_asked())
    results = await asyncio.gather(*(verifier.verify_async(token) for _ in range(20)))
    await releaser
    assert [claims.sub for claims in results] == ["user-1"] * 20
    assert jwks_server.hits == 1


async def test_a_known_kid_does_not_wait_for_the_async_refresh(
    jwks_server: JwksServer, key: TestKey, clock: FakeClock
) -> None:
    jwks_server.serve(key.jwks())
    verifier = make_verifier(jwks_server, clock)
    await verifier.load_async()
    clock.advance(301)
    jwks_server.hold = threading.Event()
    jwks_server.arrived.clear()
    claims_now = await verifier.verify_async(key.sign(claims(clock.now)))  # refresh is held
    assert claims_now.sub == "user-1"
    assert await asyncio.to_thread(jwks_server.arrived.wait, 10)
    jwks_server.hold.set()
    await verifier._task
    assert jwks_server.hits == 2


def test_a_known_kid_does_not_wait_for_another_threads_refresh(
    jwks_server: JwksServer, key: TestKey, clock: FakeClock
) -> None:
    jwks_server.serve(key.jwks())
    verifier = make_verifier(jwks_server, clock)
    verifier.load()
    clock.advance(301)
    jwks_server.hold = threading.Event()
    jwks_server.arrived.clear()
    token = key.sign(claims(clock.now))
    refresher = threading.Thread(target=verifier.verify, args=(token,))
    refresher.start()  # wins the lock, waits on the held fetch
    assert jwks_server.arrived.wait(timeout=10)
    assert verifier.verify(token).sub == "user-1"  # answered while the fetch is still held
    jwks_server.hold.set()
    refresher.join(timeout=10)
    assert jwks_server.hits == 2


@pytest.mark.parametrize("api", APIS)
async def test_last_good_keys_serve_while_the_sidecar_is_down(
    jwks_server: JwksServer, key: TestKey, clock: FakeClock, api: str
) -> None:
    jwks_server.serve(key.jwks())
    verifier = make_verifier(jwks_server, clock)
    assert await outcome(verifier, api, key.sign(claims(clock.now))) == "valid"
    jwks_server.status = 500
    clock.advance(3600)
    assert await outcome(verifier, api, key.sign(claims(clock.now))) == "valid"
    if api == "async":
        await verifier._task
    assert jwks_server.hits == 2
    # A kid we cannot look up while the sidecar is down: 503, not a verdict on the token.
    with pytest.raises(KeySetUnavailable):
        await verify(verifier, api, TestKey("new").sign(claims(clock.now)))
    clock.advance(24 * 3600)  # past the stale limit: the old keys are no longer used
    with pytest.raises(KeySetUnavailable):
        await verify(verifier, api, key.sign(claims(clock.now)))
    jwks_server.status = 200
    clock.advance(10)
    assert await outcome(verifier, api, key.sign(claims(clock.now))) == "valid"


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("problem", ["status", "not-json", "not-a-jwks", "too-large", "slow"])
async def test_no_usable_jwks_is_unavailable_not_invalid(
    jwks_server: JwksServer, key: TestKey, clock: FakeClock, api: str, problem: str
) -> None:
    jwks_server.serve(key.jwks())
    if problem == "status":
        jwks_server.status = 404
    elif problem == "not-json":
        jwks_server.document = b"<html>login</html>"
    elif problem == "not-a-jwks":
        jwks_server.document = {"keys": {"a": 1}}
    elif problem == "too-large":
        jwks_server.document = {"keys": [key.jwk], "padding": "x" * 300_000}
    else:
        jwks_server.hold = threading.Event()
    verifier = make_verifier(jwks_server, clock, timeout_s=0.5)
    with pytest.raises(KeySetUnavailable):
        await verify(verifier, api, key.sign(claims(clock.now)))


async def test_a_refused_connection_is_unavailable(upstream_down: str, key: TestKey) -> None:
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=upstream_down + "/jwks")
    with pytest.raises(KeySetUnavailable):
        verifier.load()
    with pytest.raises(KeySetUnavailable):
        await verifier.load_async()
    with pytest.raises(KeySetUnavailable):
        await verifier.verify_async(key.sign(claims()))


def test_construction_pins_issuer_and_audience_and_checks_the_url() -> None:
    verifier = Verifier(issuer="https://app.example.com/", audience=AUDIENCE)
    assert verifier.jwks_url == "https://app.example.com/.auth/jwks"
    with pytest.raises(ValueError, match="pin"):
        Verifier(issuer="", audience=AUDIENCE)
    with pytest.raises(ValueError, match="pin"):
        Verifier(issuer=ISSUER, audience="")
    for url in ["file:///etc/passwd", "ftp://host/jwks", "http:///no-host"]:
        with pytest.raises(ValueError, match="http"):
            Verifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=url)
