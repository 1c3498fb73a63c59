"""Per-route assertions: the route's `aud` and only its claims; an assertion over 4 KiB is
counted and logged (rate-limited), naming the route."""

from __future__ import annotations

import dataclasses

import jwt
import structlog
from structlog.testing import capture_logs

from sidecar.config.settings import Route, RouteAssertion
from sidecar.tokens.assertion import OVERSIZE_BYTES, AssertionSigner, OversizeReport
from sidecar.tokens.identity import Identity
from tests.tokens.test_assertion import PUBLIC_URL, identity, new_pem, settings

API = RouteAssertion("https://api.example.com", ("sub", "groups"))


def on(assertion: RouteAssertion, name: str = "api.example.com/v1") -> Route:
    return Route(name=name, path="/v1", upstream=None, assertion=assertion)


def claims_of(token: str, signer: AssertionSigner, audience: str) -> dict[str, object]:
    key = jwt.PyJWKSet.from_dict(signer.jwks())[jwt.get_unverified_header(token)["kid"]]
    decoded: dict[str, object] = jwt.decode(
        token, key, algorithms=["ES256"], audience=audience, issuer=PUBLIC_URL
    )
    return decoded


def test_a_route_gets_its_audience_and_only_its_claims() -> None:
    signer = AssertionSigner.from_settings(settings(new_pem()))
    who = identity(preferred_username="ann")
    claims = claims_of(signer.sign(who, route=on(API)), signer, API.audience)
    assert set(claims) == {"iss", "aud", "iat", "exp", "sub", "groups"}
    assert claims["aud"] == "https://api.example.com"


def test_the_default_carries_every_contract_claim() -> None:
    signer = AssertionSigner.from_settings(settings(new_pem()))
    token = signer.sign(identity(preferred_username="ann"))
    claims = claims_of(token, signer, "http://127.0.0.1:3000")
    assert set(claims) == {
        *("iss", "aud", "iat", "exp"),
        *("sub", "email", "preferred_username", "name", "groups"),
    }


def test_no_identity_claim_at_all_still_has_the_fixed_four() -> None:
    signer = AssertionSigner.from_settings(settings(new_pem()))
    bare = on(RouteAssertion("urn:bare", ()))
    assert set(claims_of(signer.sign(identity(), route=bare), signer, "urn:bare")) == {
        *("iss", "aud", "iat", "exp")
    }


def test_two_routes_never_share_a_cached_assertion() -> None:
    signer = AssertionSigner.from_settings(settings(new_pem()))
    who, now = identity(), 1_000_000
    first = signer.sign(who, now, route=on(API))
    other = signer.sign(who, now, route=on(dataclasses.replace(API, audience="urn:other")))
    assert first != other
    assert signer.sign(who, now, route=on(API)) == first  # the cache still serves each
    # Another route with the same audience and claims may share it: the claims are the same.
    assert signer.sign(who, now, route=on(API, name="other/")) == first


def big_identity() -> Identity:
    return identity(groups=[f"group-with-a-long-name-{n:04d}" for n in range(200)])


def test_an_oversize_assertion_is_reported_with_its_route_name() -> None:
    reports: list[tuple[str, int]] = []
    signer = AssertionSigner.from_settings(
        settings(new_pem()), on_oversize=lambda name, size: reports.append((name, size))
    )
    who = big_identity()
    token = signer.sign(who, route=on(API))
    assert len(token) > OVERSIZE_BYTES
    signer.sign(who, route=on(API, name="twin/"))  # from the cache: counted, under its name
    assert reports == [("api.example.com/v1", len(token)), ("twin/", len(token))]
    signer.sign(who, route=on(RouteAssertion(API.audience, ("sub",))))  # fewer claims fit
    assert len(reports) == 2


def test_the_oversize_log_is_rate_limited_per_route_but_the_count_is_not() -> None:
    counted: list[str] = []
    now = [100.0]
    with capture_logs() as logs:
        report = OversizeReport(
            counted.append, structlog.get_logger("test"), interval_s=60, clock=lambda: now[0]
        )
        for _ in range(5):
            report("a/v1", 5000)
        report("b/", 6000)
        now[0] += 61
        report("a/v1", 5000)
    assert counted == ["a/v1"] * 5 + ["b/", "a/v1"]
    lines = [(entry["event"], entry["route"], entry["bytes"]) for entry in logs]
    assert lines == [
        ("assertion_oversize", "a/v1", 5000),
        ("assertion_oversize", "b/", 6000),
        ("assertion_oversize", "a/v1", 5000),
    ]
