"""`routes:` (YAML only): the table as loaded, its defaults, the shorthand route, and every
error named by its place in the YAML at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar.cli import effective_document
from sidecar.config.model import ASSERTION_CLAIMS
from sidecar.config.settings import PolicyRule, Route, RouteAssertion, load_settings
from tests.config.test_settings import (
    CLIENT_SECRET,
    DROP,
    problems_of,
    session_secret,
    write_config,
)

API = "http://127.0.0.1:9000"
WEB = "http://127.0.0.1:3000"
SECRET = session_secret()


def table(*routes: dict[str, Any]) -> dict[str, Any]:
    return {"routes": list(routes)}


def route(**fields: Any) -> dict[str, Any]:
    return {"match": {"path": "/"}, "upstream": WEB, **fields}


def load(tmp_path: Path, patch: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    return load_settings(write_config(tmp_path, patch), env or {})


def test_the_contract_example_loads(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        table(
            {
                "match": {"host": "API.Example.com.", "path": "/v1"},
                "upstream": API,
                "strip_prefix": True,
                "assertion": {"audience": "https://api.example.com", "claims": ["sub", "groups"]},
                "policy": [
                    {"path": "/v1/admin", "groups": ["admins"], "methods": ["post", "GET"]},
                    {"path": "/v1", "allow": "authenticated"},
                ],
            },
            {"match": {"path": "/"}, "upstream": WEB, "policy": [{"path": "/", "allow": "public"}]},
        ),
    )
    api, web = settings.routes
    assert api == Route(
        name="api.example.com/v1",
        path="/v1",
        upstream=API,
        assertion=RouteAssertion("https://api.example.com", ("sub", "groups")),
        host="api.example.com",
        strip_prefix=True,
        policy=(
            PolicyRule(
                "/v1/admin",
                "restricted",
                groups=frozenset({"admins"}),
                methods=frozenset({"GET", "HEAD", "POST"}),  # GET covers HEAD (RFC 9110)
            ),
            PolicyRule("/v1", "authenticated"),
        ),
    )
    assert (web.name, web.host, web.strip_prefix) == ("/", None, False)
    # CONTRACT: the audience defaults to the route's upstream URL, the claims to all of them.
    assert web.assertion == RouteAssertion(WEB, ASSERTION_CLAIMS)
    assert settings.upstream is None
    assert settings.policy == ()


def test_the_shorthand_is_one_route_for_every_request(tmp_path: Path) -> None:
    settings = load(
        tmp_path, {"upstream": WEB, "policy": [{"path": "/admin", "groups": ["admins"]}]}
    )
    assert settings.routes == (
        Route(
            name="/",
            path="/",
            upstream=WEB,
            assertion=RouteAssertion(WEB),
            policy=settings.policy,
        ),
    )


def test_forward_auth_mode_still_has_its_one_route(tmp_path: Path) -> None:
    settings = load(tmp_path, {})
    (only,) = settings.routes
    assert only.upstream is None
    assert only.assertion.audience == settings.public_url


def test_assertion_claims_keep_the_contract_order_and_ignore_the_fixed_ones(
    tmp_path: Path,
) -> None:
    claims = ["groups", "iss", "sub", "exp", "sub"]
    settings = load(tmp_path, table(route(assertion={"claims": claims})))
    assert settings.routes[0].assertion.claims == ("sub", "groups")


def test_a_route_without_upstream_serves_forward_auth_with_public_url_audience(
    tmp_path: Path,
) -> None:
    settings = load(tmp_path, table({"match": {"host": "*.example.com"}}))
    (only,) = settings.routes
    assert (only.host, only.path, only.upstream) == ("*.example.com", "/", None)
    assert only.assertion.audience == settings.public_url


# (id, the routes YAML, the start of the one problem line)
ROUTE_ERRORS: list[tuple[str, object, str]] = [
    ("not-a-list", {"match": {}}, "routes (YAML only): must be a non-empty list"),
    ("empty", [], "routes (YAML only): must be a non-empty list"),
    ("entry-not-mapping", ["/v1"], "routes[0] (YAML only): must be a mapping"),
    ("unknown-field", [route(name="api")], "routes[0].name (YAML only): unknown field"),
    (
        "unknown-match-field",
        [route(match={"path": "/", "method": "GET"})],
        "routes[0].match.method (YAML only): unknown field",
    ),
    ("host-with-port", [route(match={"host": "a.example.com:8080"})], "routes[0].match.host"),
    ("host-with-scheme", [route(match={"host": "https://a.example.com"})], "routes[0].match.host"),
    ("bare-wildcard", [route(match={"host": "*"})], "routes[0].match.host"),
    ("inner-wildcard", [route(match={"host": "a.*.example.com"})], "routes[0].match.host"),
    ("path-relative", [route(match={"path": "v1"})], "routes[0].match.path"),
    ("path-dot-segment", [route(match={"path": "/v1/../admin"})], "routes[0].match.path"),
    ("path-encoded", [route(match={"path": "/v1%2fadmin"})], "routes[0].match.path"),
    ("path-params", [route(match={"path": "/v1;x"})], "routes[0].match.path"),
    ("path-double-slash", [route(match={"path": "//v1"})], "routes[0].match.path"),
    ("path-trailing-slash", [route(match={"path": "/v1/"})], "routes[0].match.path"),
    ("upstream-not-url", [route(upstream="127.0.0.1:9000")], "routes[0].upstream (YAML only)"),
    ("strip-not-bool", [route(strip_prefix="maybe")], "routes[0].strip_prefix (YAML only)"),
    (
        "duplicate-match",
        [
            route(match={"host": "a.example.com", "path": "/v1"}),
            route(match={"host": "A.example.com", "path": "/V1"}),
        ],
        "routes[1].match (YAML only): duplicate of routes[0]",
    ),
    (
        "unknown-assertion-field",
        [route(assertion={"aud": "x"})],
        "routes[0].assertion.aud (YAML only): unknown field",
    ),
    (
        "unknown-assertion-claim",
        [route(assertion={"claims": ["sub", "password"]})],
        "routes[0].assertion.claims (YAML only)",
    ),
    (
        "policy-unknown-field",
        [route(policy=[{"path": "/", "allow": "public", "host": "x"}])],
        "routes[0].policy[0].host (YAML only): unknown field",
    ),
    (
        "policy-path-unmatchable",
        [route(policy=[{"path": "/%2525", "allow": "public"}])],
        "routes[0].policy[0].path (YAML only): no request can match it",
    ),
    (
        "policy-outside-route",
        [route(match={"path": "/v1"}, policy=[{"path": "/v10", "allow": "public"}])],
        "routes[0].policy[0].path (YAML only): outside the route's path /v1",
    ),
]


@pytest.mark.parametrize(
    ("raw", "start"), [case[1:] for case in ROUTE_ERRORS], ids=[case[0] for case in ROUTE_ERRORS]
)
def test_each_route_error_is_named(tmp_path: Path, raw: object, start: str) -> None:
    problems = problems_of(write_config(tmp_path, {"routes": raw}), {})
    assert len(problems) == 1, problems
    assert problems[0].startswith(start), problems


@pytest.mark.parametrize(
    ("patch", "env", "start"),
    [
        ({"upstream": WEB}, {}, "upstream (SIDECAR_UPSTREAM): not with routes"),
        ({}, {"SIDECAR_UPSTREAM": WEB}, "upstream (SIDECAR_UPSTREAM): not with routes"),
        (
            {"assertion.audience": "x"},
            {},
            "assertion.audience (SIDECAR_ASSERTION_AUDIENCE): not with routes",
        ),
        ({"policy": [{"path": "/", "allow": "public"}]}, {}, "policy (YAML only): not with routes"),
    ],
    ids=["upstream-yaml", "upstream-env", "assertion-audience", "policy"],
)
def test_the_two_forms_never_mix(
    tmp_path: Path, patch: dict[str, Any], env: dict[str, str], start: str
) -> None:
    problems = problems_of(write_config(tmp_path, {**table(route()), **patch}), env)
    assert len(problems) == 1, problems
    assert problems[0].startswith(start), problems


def test_routes_has_no_env_var(tmp_path: Path) -> None:
    problems = problems_of(write_config(tmp_path), {"SIDECAR_ROUTES": "x"})
    assert problems == ["SIDECAR_ROUTES: unknown setting (no such key); routes is YAML only"]


def test_every_problem_of_every_route_is_reported_at_once(tmp_path: Path) -> None:
    raw = [route(upstream="nope", match={"host": "a b"}), route(strip_prefix=3), route()]
    problems = problems_of(write_config(tmp_path, {"routes": raw, "public_url": DROP}), {})
    places = sorted(line.split(" ", 1)[0] for line in problems)
    assert places == [
        "public_url",
        "routes[0].match.host",
        "routes[0].upstream",
        "routes[1].strip_prefix",
    ], problems


def test_check_config_prints_the_table_and_it_loads_back_the_same(tmp_path: Path) -> None:
    raw = [
        {
            "match": {"host": "*.example.com", "path": "/v1"},
            "upstream": API,
            "strip_prefix": True,
            "assertion": {"claims": ["sub"]},
            "policy": [
                {"path": "/v1/r", "methods": ["GET"], "allow": "public"},
                {"path": "/v1", "claims": {"tenant": ["acme", 7]}, "actors": ["https://a.b"]},
            ],
        },
        {"match": {"path": "/"}},
    ]
    original = load(tmp_path, {"routes": raw, "session.secret": SECRET})
    document = effective_document(original)
    assert "upstream" not in document
    assert "policy" not in document
    assert "audience" not in document["assertion"]
    printed = tmp_path / "printed.yaml"
    printed.write_text(yaml.safe_dump(document))
    env = {"SIDECAR_OIDC_CLIENT_SECRET": CLIENT_SECRET, "SIDECAR_SESSION_SECRET": SECRET}
    assert load_settings(str(printed), env) == original
