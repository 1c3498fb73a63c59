"""The route table end to end: two real echo upstreams behind one sidecar, real provider
tokens; host and path routing, strip_prefix, per-route policy and assertions, the path tricks,
404 without a route, and `/.auth/verify` routed by a trusted `X-Forwarded-Host`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import jwt
import pytest

from tests.app.calls import NO_CREDENTIAL_CHALLENGE, assert_refused, call, upstream_headers
from tests.app.conftest import ADMIN, USER, bearer
from tests.fixtures.ports import LOOPBACK
from tests.fixtures.upstream import EchoUpstream, echo_app

API_HOST = "api.example.com"
API_AUDIENCE = "https://api.example.com"
SERVICE = "https://orders.example.com"


@pytest.fixture
async def web_upstream(aiohttp_server: Callable[..., Any]) -> EchoUpstream:
    record: list[dict[str, Any]] = []
    server = await aiohttp_server(echo_app(record), host=LOOPBACK)
    return EchoUpstream(url=f"http://{LOOPBACK}:{server.port}", requests=record)


def route_table(api: str, web: str) -> list[dict[str, Any]]:
    return [
        {
            "match": {"host": API_HOST, "path": "/v1"},
            "upstream": api,
            "strip_prefix": True,
            "assertion": {"audience": API_AUDIENCE, "claims": ["sub", "groups"]},
            "policy": [
                {"path": "/v1/admin", "groups": ["admins"]},
                {"path": "/v1/public", "allow": "public"},
                {"path": "/v1", "allow": "authenticated"},
            ],
        },
        {
            "match": {"host": "*.example.com"},
            "upstream": web,
            "policy": [
                {"path": "/", "allow": "authenticated"},
                {"path": "/read", "allow": "public", "methods": ["GET", "HEAD"]},
                {"path": "/tenant", "claims": {"groups": ["admins"]}},
                {"path": "/calls", "actors": [SERVICE]},
            ],
        },
    ]


def routed_config(api: str, web: str, **extra: Any) -> dict[str, Any]:
    return {"policy": None, "routes": route_table(api, web), **extra}


@pytest.fixture
async def routed(sidecar_factory, echo_upstream, web_upstream):
    return await sidecar_factory(routed_config(echo_upstream.url, web_upstream.url), upstream=None)


@pytest.fixture
async def untrusting(sidecar_factory, echo_upstream, web_upstream):
    config = routed_config(echo_upstream.url, web_upstream.url, trusted_proxies="")
    return await sidecar_factory(config, upstream=None)


def host(name: str, **headers: str) -> dict[str, str]:
    return {"Host": name, **headers}


async def assertion_claims(sidecar, headers, audience: str) -> dict[str, Any]:
    token = headers["X-Auth-Assertion"]
    keys = jwt.PyJWKSet.from_dict((await call(sidecar.url + "/.auth/jwks")).json())
    key = keys[jwt.get_unverified_header(token)["kid"]].key
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["ES256"], audience=audience, issuer=sidecar.settings.public_url
    )
    return claims


async def test_host_and_path_pick_the_api_upstream_with_the_prefix_stripped(
    routed, id_tokens, echo_upstream, web_upstream
):
    answer = await call(
        routed.url + "/v1/items/7?q=1", {**host(API_HOST), **bearer(id_tokens[USER])}
    )
    assert answer.status == 200, answer.text
    seen = echo_upstream.last()
    assert (seen["path"], seen["query_string"]) == ("/items/7", "q=1")
    assert web_upstream.requests == []
    claims = await assertion_claims(routed, upstream_headers(seen), API_AUDIENCE)
    assert set(claims) == {"iss", "aud", "iat", "exp", "sub", "groups"}  # only what it names
    assert claims["groups"] == ["devs"]


async def test_another_host_of_the_wildcard_reaches_the_web_upstream_unstripped(
    routed, id_tokens, echo_upstream, web_upstream
):
    answer = await call(
        routed.url + "/v1/items", {**host("WWW.Example.com:8080"), **bearer(id_tokens[USER])}
    )
    assert answer.status == 200, answer.text
    assert web_upstream.last()["path"] == "/v1/items"
    assert echo_upstream.requests == []
    headers = upstream_headers(web_upstream.last())
    claims = await assertion_claims(routed, headers, web_upstream.url)  # aud: its upstream
    assert claims["email"] == USER
    assert claims["preferred_username"] == "user"
    assert claims["name"] == "Plain User"


async def test_the_api_host_outside_v1_falls_to_the_wildcard_route(routed, id_tokens, web_upstream):
    answer = await call(routed.url + "/v10", {**host(API_HOST), **bearer(id_tokens[USER])})
    assert answer.status == 200, answer.text
    assert web_upstream.last()["path"] == "/v10"


@pytest.mark.parametrize(
    ("name", "path", "email", "status"),
    [
        (API_HOST, "/v1/admin/x", USER, 403),
        (API_HOST, "/v1/admin/x", ADMIN, 200),
        ("www.example.com", "/v1/admin/x", USER, 200),  # that rule belongs to the api route
    ],
)
async def test_each_route_has_its_own_policy(routed, id_tokens, name, path, email, status):
    answer = await call(routed.url + path, {**host(name), **bearer(id_tokens[email])})
    assert answer.status == status, answer.text


async def test_a_public_rule_of_a_route_needs_no_credential(routed, echo_upstream):
    answer = await call(routed.url + "/v1/public/page", host(API_HOST))
    assert answer.status == 200, answer.text
    assert echo_upstream.last()["path"] == "/public/page"


async def test_no_route_is_a_404_json_answer(routed, echo_upstream, web_upstream, id_tokens):
    answer = await call(routed.url + "/v1/items", bearer(id_tokens[ADMIN]))  # Host: 127.0.0.1
    assert_refused(answer, 404, "not_found", None)
    assert echo_upstream.requests == web_upstream.requests == []


@pytest.mark.parametrize(
    "trick",
    [
        "/v1/public/../admin/x",
        "/v1/public/%2e%2e/admin/x",
        "/v1/public/..%2fadmin/x",
        "/v1/public%2f..%2fadmin/x",
        "/v1/public/..%5cadmin/x",
        "//v1//public/./../admin/x",
    ],
)
async def test_path_tricks_stay_in_the_route_and_rule_their_path_resolves_to(
    routed, id_tokens, echo_upstream, trick
):
    anonymous = await call(routed.url + trick, host(API_HOST))
    assert_refused(anonymous, 401, "unauthenticated", NO_CREDENTIAL_CHALLENGE)
    user = await call(routed.url + trick, {**host(API_HOST), **bearer(id_tokens[USER])})
    assert_refused(user, 403, "forbidden", None)
    assert echo_upstream.requests == []


@pytest.mark.parametrize("trick", ["/V1/items", "/v1;x/items", "/V1;jsessionid=1/admin"])
async def test_case_or_parameters_reading_as_two_routes_are_refused(
    routed, id_tokens, echo_upstream, web_upstream, trick
):
    answer = await call(routed.url + trick, {**host(API_HOST), **bearer(id_tokens[ADMIN])})
    assert_refused(answer, 400, "bad_request", None)
    assert echo_upstream.requests == web_upstream.requests == []


async def test_methods_rule_public_reads_other_methods_fall_through(routed, web_upstream):
    read = await call(routed.url + "/read/doc", host("www.example.com"))
    assert read.status == 200, read.text
    write = await call(routed.url + "/read/doc", host("www.example.com"), method="POST")
    assert_refused(write, 401, "unauthenticated", NO_CREDENTIAL_CHALLENGE)
    assert [seen["method"] for seen in web_upstream.requests] == ["GET"]


@pytest.mark.parametrize(("email", "status"), [(USER, 403), (ADMIN, 200)])
async def test_claims_rule_on_a_real_token(routed, id_tokens, email, status):
    answer = await call(
        routed.url + "/tenant", {**host("www.example.com"), **bearer(id_tokens[email])}
    )
    assert answer.status == status, answer.text


async def test_actors_rule_refuses_a_user_calling_directly(routed, id_tokens, web_upstream):
    answer = await call(
        routed.url + "/calls", {**host("www.example.com"), **bearer(id_tokens[ADMIN])}
    )
    assert_refused(answer, 403, "forbidden", None)
    assert web_upstream.requests == []


async def test_a_trusted_proxy_routes_by_x_forwarded_host(routed, id_tokens, echo_upstream):
    headers = {"X-Forwarded-Host": API_HOST, **bearer(id_tokens[USER])}
    answer = await call(routed.url + "/v1/items", headers)
    assert answer.status == 200, answer.text
    assert echo_upstream.last()["path"] == "/items"


async def test_an_untrusted_peer_routes_by_its_own_host(untrusting, id_tokens, web_upstream):
    headers = {**host("www.example.com"), "X-Forwarded-Host": API_HOST}
    answer = await call(untrusting.url + "/v1/items", {**headers, **bearer(id_tokens[USER])})
    assert answer.status == 200, answer.text
    assert web_upstream.last()["path"] == "/v1/items"


async def verify(sidecar, headers: dict[str, str]):
    return await call(sidecar.url + "/.auth/verify", headers)


@pytest.mark.parametrize(("email", "status"), [(USER, 403), (ADMIN, 200)])
async def test_verify_picks_the_route_from_x_forwarded_host(routed, id_tokens, email, status):
    headers = {"X-Forwarded-Host": API_HOST, "X-Forwarded-Uri": "/v1/admin/x"}
    answer = await verify(routed, {**headers, **bearer(id_tokens[email])})
    assert answer.status == status, answer.text
    if status == 200:
        claims = await assertion_claims(routed, answer.headers, API_AUDIENCE)
        assert set(claims) == {"iss", "aud", "iat", "exp", "sub", "groups"}


async def test_verify_on_another_forwarded_host_uses_that_route(routed, id_tokens, web_upstream):
    headers = {"X-Forwarded-Host": "www.example.com", "X-Forwarded-Uri": "/v1/admin/x"}
    answer = await verify(routed, {**headers, **bearer(id_tokens[USER])})
    assert answer.status == 200, answer.text
    await assertion_claims(routed, answer.headers, web_upstream.url)
    assert web_upstream.requests == []  # verify never proxies


async def test_verify_without_a_matching_route_is_404(routed, id_tokens):
    headers = {"X-Forwarded-Host": "other.org", "X-Forwarded-Uri": "/v1/x"}
    answer = await verify(routed, {**headers, **bearer(id_tokens[ADMIN])})
    assert_refused(answer, 404, "not_found", None)


async def test_verify_from_an_untrusted_peer_is_judged_as_slash_on_its_host(
    untrusting, id_tokens, web_upstream
):
    """The client names a host without route and /v1/admin; neither is believed: `/` on
    www.example.com (the wildcard route, authenticated) decides, with its audience."""
    headers = {
        **host("www.example.com"),
        "X-Forwarded-Host": "other.org",
        "X-Forwarded-Uri": "/v1/admin/x",
    }
    anonymous = await verify(untrusting, headers)
    assert_refused(anonymous, 401, "unauthenticated", NO_CREDENTIAL_CHALLENGE)
    answer = await verify(untrusting, {**headers, **bearer(id_tokens[USER])})
    assert answer.status == 200, answer.text
    await assertion_claims(untrusting, answer.headers, web_upstream.url)


async def test_an_oversize_assertion_is_counted_by_route(
    sidecar_factory, forging_issuer, echo_upstream, web_upstream
):
    oidc = {"issuer": forging_issuer.url, "client_id": forging_issuer.client_id}
    running = await sidecar_factory(
        routed_config(echo_upstream.url, web_upstream.url, oidc=oidc), upstream=None
    )
    groups = [f"a-rather-long-group-name-{n:04d}" for n in range(150)]
    token = forging_issuer.mint(forging_issuer.claims(groups=groups))
    for name in ("www.example.com", "www.example.com", API_HOST):
        answer = await call(running.url + "/v1/x", {**host(name), **bearer(token)})
        assert answer.status == 200, answer.text
    metrics = (await call(running.admin_url + "/metrics")).text
    assert 'sidecar_assertion_oversize_total{route="*.example.com/"} 2.0' in metrics
    # The api route names sub and groups only, and is still over: counted under its own name.
    assert 'sidecar_assertion_oversize_total{route="api.example.com/v1"} 1.0' in metrics


@pytest.mark.parametrize(
    ("uri", "status"),
    [
        ("/v1/public/..%2fadmin/x", 403),  # resolves to /v1/admin: the admins rule
        ("/v1/public/%2e%2e/admin/x", 403),
        ("/V1/admin/x", 400),  # reads as the api route and the wildcard route: refused
        ("/v1;x/admin/x", 400),
        ("/v1/public/x?../../admin", 200),  # the query never moves a request
    ],
)
async def test_verify_path_tricks_from_a_trusted_proxy(routed, id_tokens, uri, status):
    headers = {"X-Forwarded-Host": API_HOST, "X-Forwarded-Uri": uri}
    answer = await verify(routed, {**headers, **bearer(id_tokens[USER])})
    assert answer.status == status, answer.text


async def test_a_websocket_goes_through_a_stripped_route(routed, id_tokens, echo_upstream):
    headers = {**host(API_HOST), **bearer(id_tokens[USER])}
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(routed.url + "/v1/__ws", headers=headers) as ws,
    ):
        await ws.send_str("ping")
        assert (await ws.receive_str()) == "ping"


async def test_a_route_without_upstream_answers_verify_but_proxies_nothing(
    sidecar_factory, echo_upstream, id_tokens
):
    routes = [
        {"match": {"host": "auth-only.example.com"}},
        {"match": {"path": "/"}, "upstream": echo_upstream.url},
    ]
    running = await sidecar_factory({"policy": None, "routes": routes}, upstream=None)
    headers = {**host("auth-only.example.com"), **bearer(id_tokens[USER])}
    proxied = await call(running.url + "/x", headers)
    assert_refused(proxied, 404, "not_found", None)
    assert echo_upstream.requests == []
    checked = await verify(running, {"X-Forwarded-Host": "auth-only.example.com", **headers})
    assert checked.status == 200, checked.text
    await assertion_claims(running, checked.headers, running.settings.public_url)


async def test_routes_to_one_upstream_share_its_kept_alive_connection(
    sidecar_factory, echo_upstream
):
    """One pool per upstream origin, not per route: requests taking turns between two routes
    to the same service arrive on one connection."""
    routes = [
        {"match": {"path": path}, "upstream": echo_upstream.url, "strip_prefix": True,
         "policy": [{"path": path, "allow": "public"}]}
        for path in ("/a", "/b")
    ]  # fmt: skip
    sidecar = await sidecar_factory({"policy": None, "routes": routes}, upstream=None)
    for path in ("/a/1", "/b/2", "/a/3", "/b/4"):
        assert (await call(sidecar.url + path)).status == 200
    assert [seen["path"] for seen in echo_upstream.requests] == ["/1", "/2", "/3", "/4"]
    assert len({seen["remote_port"] for seen in echo_upstream.requests}) == 1
