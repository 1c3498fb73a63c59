"""The claim checks of the Python verifier at their edges: leeway, maximum lifetime, types,
pinned issuer and audience, `crit`, `act`. A fake clock puts "now" exactly on each edge."""

from __future__ import annotations

import time
from typing import Any

import pytest
from auth_sidecar_verifier import VerificationError, Verifier

from tests.clients.conftest import FakeClock, JwksServer
from tests.clients.signing import AUDIENCE, ISSUER, TestKey, claims

LEEWAY = 30
LIFETIME = 300


@pytest.fixture
def key(jwks_server: JwksServer) -> TestKey:
    key = TestKey()
    jwks_server.serve(key.jwks())
    return key


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(float(int(time.time())))


@pytest.fixture
def verifier(jwks_server: JwksServer, clock: FakeClock) -> Verifier:
    return Verifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_url=jwks_server.url,
        leeway_s=LEEWAY,
        max_lifetime_s=LIFETIME,
        clock=clock,
    )


def reason(verifier: Verifier, token: str) -> str:
    try:
        verifier.verify(token)
    except VerificationError as exc:
        return exc.reason
    return "valid"


@pytest.mark.parametrize(
    ("iat_offset", "exp_offset", "expected"),
    [
        (-60, -LEEWAY + 1, "valid"),  # expired, but within the leeway
        (-60, -LEEWAY, "expired"),
        (LEEWAY, LEEWAY + 60, "valid"),  # clock skew: issued "in the future" within leeway
        (LEEWAY + 1, LEEWAY + 60, "not_yet_valid"),
        (0, LIFETIME, "valid"),
        (0, LIFETIME + 1, "lifetime"),
        (0, 0, "claims"),  # exp not after iat
    ],
)
def test_time_edges(
    verifier: Verifier,
    key: TestKey,
    clock: FakeClock,
    iat_offset: int,
    exp_offset: int,
    expected: str,
) -> None:
    now = int(clock.now)
    token = key.sign(claims(now, iat=now + iat_offset, exp=now + exp_offset))
    assert reason(verifier, token) == expected


def test_nbf_in_the_future_is_not_yet_valid(
    verifier: Verifier, key: TestKey, clock: FakeClock
) -> None:
    now = int(clock.now)
    assert reason(verifier, key.sign(claims(now, nbf=now + LEEWAY + 1))) == "not_yet_valid"
    assert reason(verifier, key.sign(claims(now, nbf=now + LEEWAY))) == "valid"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"iat": "1700000000"}, "claims"),
        ({"exp": True}, "claims"),
        ({"exp": 1.5e12}, "claims"),
        ({"groups": "admins"}, "claims"),
        ({"groups": ["ok", 7]}, "claims"),
        ({"email": 42}, "claims"),
        ({"sub": ""}, "claims"),
        ({"act": "svc"}, "claims"),
        ({"iat": None}, "claims"),
        ({"exp": None}, "claims"),
        ({"iss": None}, "claims"),
        ({"iss": ISSUER + "/"}, "issuer"),
        ({"iss": [ISSUER]}, "issuer"),
        ({"aud": [AUDIENCE, "http://other"]}, "valid"),  # RFC 7519 4.1.3: aud may be a list
        ({"aud": ["http://other"]}, "audience"),
        ({"aud": AUDIENCE + "/"}, "audience"),
    ],
)
def test_claim_types_and_pins(
    verifier: Verifier, key: TestKey, clock: FakeClock, changes: dict[str, Any], expected: str
) -> None:
    assert reason(verifier, key.sign(claims(clock.now, **changes))) == expected


def test_crit_header_is_refused(verifier: Verifier, key: TestKey, clock: FakeClock) -> None:
    token = key.sign(claims(clock.now), crit=["exp"])
    assert reason(verifier, token) == "malformed"


def test_an_oversized_token_is_refused_unread(
    verifier: Verifier, key: TestKey, clock: FakeClock
) -> None:
    token = key.sign(claims(clock.now, groups=[f"group-{i}" for i in range(4000)]))
    assert reason(verifier, token) == "malformed"


def test_actor_is_the_outermost_act(verifier: Verifier, key: TestKey, clock: FakeClock) -> None:
    act = {"sub": "https://b.example.com", "act": {"sub": "https://a.example.com"}}
    assert verifier.verify(key.sign(claims(clock.now, act=act))).actor == "https://b.example.com"


def test_sub_may_be_left_out_when_the_caller_allows_it(
    jwks_server: JwksServer, key: TestKey, clock: FakeClock
) -> None:
    """A route's `assertion.claims` may omit `sub`; then the caller says so."""
    token = key.sign(claims(clock.now, sub=None, email=None))
    lenient = Verifier(
        issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_server.url, required_claims=(), clock=clock
    )
    found = lenient.verify(token)
    assert (found.sub, found.email, found.groups) == (None, None, ("devs",))
    strict = Verifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_server.url, clock=clock)
    with pytest.raises(VerificationError) as refused:
        strict.verify(token)
    assert refused.value.reason == "claims"


def test_the_error_never_holds_the_token(
    verifier: Verifier, key: TestKey, clock: FakeClock
) -> None:
    token = key.sign(claims(clock.now, aud="http://other"))
    with pytest.raises(VerificationError) as refused:
        verifier.verify(token)
    assert token not in str(refused.value)
    assert token.split(".")[1] not in repr(refused.value)
