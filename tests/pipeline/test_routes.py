"""Route selection: most specific host, then the longest path prefix of the normalized path;
404 without a route; no path trick moves a request into another route."""

from __future__ import annotations

import pytest

from sidecar.config.settings import PolicyRule, Route, RouteAssertion
from sidecar.errors import BadRequest, NotFound
from sidecar.pipeline.policy import normalize_path
from sidecar.pipeline.routes import RouteTable, request_host, upstream_path


def make(host: str | None, path: str, *, strip: bool = False, public: bool = False) -> Route:
    name = f"{host}{path}" if host else path
    policy = (PolicyRule(path, "public"),) if public else ()
    return Route(
        name=name,
        path=path,
        upstream=f"http://127.0.0.1/{name}",
        assertion=RouteAssertion(name),
        host=host,
        strip_prefix=strip,
        policy=policy,
    )


ROUTES = [
    make(None, "/"),
    make(None, "/v1"),
    make(None, "/v1/admin"),
    make("api.example.com", "/"),
    make("api.example.com", "/v2"),
    make("*.example.com", "/"),
    make("*.eu.example.com", "/"),
    make("*.eu.example.com", "/static"),
]


@pytest.fixture
def table() -> RouteTable:
    return RouteTable(ROUTES)


def picked(table: RouteTable, host: str | None, raw_path: str) -> str:
    return table.select(request_host(host), normalize_path(raw_path)).route.name


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        (None, "/", "/"),
        (None, "/v1", "/v1"),
        (None, "/v1/x", "/v1"),
        (None, "/v10", "/"),  # a prefix on a segment boundary only
        (None, "/v1/admin/users", "/v1/admin"),
        (None, "/v1/administrator", "/v1"),
        ("api.example.com", "/v2/x", "api.example.com/v2"),
        ("api.example.com", "/v1/x", "api.example.com/"),  # the host tier wins over the path
        ("API.Example.COM", "/v2", "api.example.com/v2"),  # hosts compare case-insensitively
        ("api.example.com:8443", "/v2", "api.example.com/v2"),  # the port is not the host
        ("api.example.com.", "/v2", "api.example.com/v2"),  # nor the trailing dot
        ("api.example.com.:80", "/v2", "api.example.com/v2"),
        ("web.example.com", "/v1", "*.example.com/"),
        ("a.b.example.com", "/", "*.example.com/"),  # a wildcard covers every depth
        ("x.eu.example.com", "/static/a.css", "*.eu.example.com/static"),  # longest wildcard
        ("x.eu.example.com", "/v1", "*.eu.example.com/"),
        ("example.com", "/v1", "/v1"),  # `*.example.com` is not example.com itself
        ("evilexample.com", "/v1", "/v1"),
        ("[::1]:8080", "/v1", "/v1"),
        ("other.org", "/v1/admin", "/v1/admin"),
    ],
)
def test_most_specific_host_then_longest_prefix(
    table: RouteTable, host: str | None, path: str, expected: str
) -> None:
    assert picked(table, host, path) == expected


def test_a_host_tier_without_a_matching_path_falls_to_the_next_tier() -> None:
    routes = RouteTable([make("api.example.com", "/v2"), make("*.example.com", "/v1")])
    assert picked(routes, "api.example.com", "/v1/x") == "*.example.com/v1"
    with pytest.raises(NotFound):
        picked(routes, "api.example.com", "/v3")


def test_no_route_is_not_found() -> None:
    routes = RouteTable([make(None, "/v1"), make("api.example.com", "/")])
    with pytest.raises(NotFound):
        picked(routes, "web.example.com", "/v2")
    with pytest.raises(NotFound):
        picked(routes, None, "/")


# Path tricks against a table where `/public` is open and `/` is not. Each must either stay in
# the route its resolved path names (`/`) or be refused: never reach `/public`.
TRICKS = [
    "/public/../admin",
    "/public/%2e%2e/admin",
    "/public/%2E%2E/admin",
    "/public/..%2fadmin",
    "/public/..%2Fadmin",
    "/public%2f..%2fadmin",
    "/public/..\\admin",
    "/public/..%5cadmin",
    "//public/../admin",
    "/./public/./../admin",
    "/public/.%2e/admin",
]


@pytest.mark.parametrize("trick", TRICKS)
def test_dot_segments_and_encoded_slashes_land_where_the_path_resolves(trick: str) -> None:
    routes = RouteTable([make(None, "/", public=False), make(None, "/public", public=True)])
    assert normalize_path(trick) == "/admin"
    assert picked(routes, None, trick) == "/"


@pytest.mark.parametrize(
    "trick",
    [
        "/PUBLIC/admin",  # case: `/public` to Express, `/` to a case-sensitive reading
        "/Public/x",
        "/public;x/admin",  # matrix parameters: `/public` to Tomcat
        "/public;/x",
        "/PUBLIC;jsessionid=1/x",
    ],
)
def test_case_and_parameters_that_read_as_two_routes_are_refused(trick: str) -> None:
    routes = RouteTable([make(None, "/"), make(None, "/public", public=True)])
    with pytest.raises(BadRequest):
        picked(routes, None, trick)


def test_case_folding_across_host_tiers_is_refused_too() -> None:
    """`/ADMIN` would be the exact host's `/Admin` route folded, but the any-host `/` route
    literally: two routes, so refused."""
    routes = RouteTable([make("api.example.com", "/Admin", public=True), make(None, "/")])
    with pytest.raises(BadRequest):
        picked(routes, "api.example.com", "/admin/x")
    assert picked(routes, "api.example.com", "/Admin/x") == "api.example.com/Admin"


def test_a_lenient_reading_with_no_literal_rival_keeps_its_route() -> None:
    """Only `/v1` exists: `/V1/x` cannot read as another route, so `/v1` (and its policy)
    judges it; the policy itself folds case for restrictive rules."""
    routes = RouteTable([make(None, "/v1")])
    assert picked(routes, None, "/V1/x") == "/v1"


@pytest.mark.parametrize("raw", ["/v1/%252e%252e/admin", "/v1/..;/admin", "/v1/%00"])
def test_what_normalization_refuses_never_reaches_route_selection(raw: str) -> None:
    with pytest.raises(BadRequest):
        normalize_path(raw)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1", "/"),
        ("/v1/", "/"),
        ("/v1/x", "/x"),
        ("/v1/x/", "/x/"),
        ("/v1/a/b", "/a/b"),
        ("/V1/x", "/x"),  # the prefix as the lenient reading matched it
    ],
)
def test_strip_prefix(path: str, expected: str) -> None:
    assert upstream_path(make(None, "/v1", strip=True), path) == expected
    assert upstream_path(make(None, "/v1"), path) == path


def test_strip_prefix_of_a_deeper_route() -> None:
    assert upstream_path(make(None, "/api/v2", strip=True), "/api/v2/users/7") == "/users/7"
    assert upstream_path(make(None, "/", strip=True), "/x") == "/x"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("Example.COM", "example.com"),
        ("example.com:8080", "example.com"),
        ("example.com.", "example.com"),
        ("a.example.com, proxy.internal", "a.example.com"),  # X-Forwarded-Host: the first
        ("[::1]:8080", "[::1]"),
        ("[::1]", "[::1]"),
    ],
)
def test_request_host(value: str | None, expected: str | None) -> None:
    assert request_host(value) == expected


@pytest.mark.parametrize("host", [None, "api.example.com", "x.eu.example.com:8443"])
@pytest.mark.parametrize("raw", ["/", "/v1/x", "/v1/admin/y", "/v2", "/static/a", "/" + "a" * 300])
def test_remembered_decisions_agree_with_a_fresh_selection(
    table: RouteTable, host: str | None, raw: str
) -> None:
    path = table.normalize(raw)
    assert path == normalize_path(raw)
    expected = table.select(request_host(host), path)
    for _ in range(2):  # the second answer comes from the cache (or bypasses it when long)
        route, rule = table.decide(host, path, "GET")
        assert route is expected.route
        assert rule == expected.policy.rule_for(path, "GET")


def test_refusals_are_not_remembered(table: RouteTable) -> None:
    for _ in range(2):
        with pytest.raises(BadRequest):
            table.normalize("/a/%252e%252e/b")
        with pytest.raises(NotFound):
            RouteTable([make("api.example.com", "/")]).decide("other.example.com", "/", "GET")
