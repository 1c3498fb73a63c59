"""A browser session traced end to end: the login's code exchange, a request whose session
needs a refresh, the store calls under it; and no secret anywhere in what was exported."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.auth.test_login_flow import COOKIE, begin_login, browser, callback
from tests.fixtures.sidecar import new_secret
from tests.tracing.otlp_receiver import ReceivedSpan
from tests.tracing.spans import children, get, one, server_trace

USER = "user@example.com"
FORCE_REFRESH = {"session": {"refresh_margin_s": 3600}}
JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}")


def exported_strings(spans: list[ReceivedSpan]) -> list[str]:
    """Every string a collector got: span names, attribute values, events, resources."""

    def strings(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [s for k, v in value.items() for s in [str(k), *strings(v)]]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return [str(value)]

    found: list[str] = []
    for span in spans:
        found += [span.name, *strings(span.attributes), *strings(span.resource)]
        found += strings(span.events)
    return found


def ancestors(spans: list[ReceivedSpan], span: ReceivedSpan) -> list[str]:
    by_id = {s.span_id: s for s in spans}
    names = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        names.append(span.kind)
    return names


async def test_login_refresh_and_store_calls_are_spans_without_secrets(
    fresh_provider, otlp_receiver, traced_sidecar
):
    sidecar = traced_sidecar(FORCE_REFRESH)
    fresh_provider.set_id_token_ttl(60)  # inside the margin: the first request refreshes
    async with browser() as http:
        authorize_url = await begin_login(http, sidecar.url, "/after?x=1")
        callback_url = await fresh_provider.complete_login(http, authorize_url, USER, "password")
        response = await callback(http, callback_url)
        assert response.status == 302
        cookie = response.cookies[COOKIE].value
    code = parse_qs(urlsplit(callback_url).query)["code"][0]
    fresh_provider.set_id_token_ttl(4200)
    headers = {"Cookie": f"{COOKIE}={cookie}", "X-Request-ID": "req-session-1"}
    status, _, _ = await get(sidecar.url + "/api/items", headers)
    assert status == 200

    spans = await server_trace(otlp_receiver, "req-session-1")
    server = one(spans, "SERVER")
    assert server.attributes["sidecar.decision"] == "allow"
    refresh = one(spans, "CLIENT", "oidc refresh")
    assert refresh.attributes["sidecar.oidc.operation"] == "refresh"
    assert refresh.attributes["url.path"] == "/token"
    assert refresh.attributes["http.response.status_code"] == 200
    assert refresh.parent_span_id == server.span_id
    store_calls = [s for s in spans if s.name.startswith("session_store ")]
    operations = {s.attributes["db.operation.name"] for s in store_calls}
    assert {"load_many", "acquire_lock", "save", "release_lock"} <= operations, operations
    assert all(s.kind == "CLIENT" for s in store_calls)
    assert all(s.attributes["db.system.name"] == "memory" for s in store_calls)
    assert all(ancestors(spans, s)[-1] == "SERVER" for s in store_calls)
    upstream = one(spans, "CLIENT", "upstream")
    assert upstream.parent_span_id == server.span_id
    assert children(spans, refresh) == []

    login = await otlp_receiver.wait_for(
        lambda got: any(s.name == "GET /.auth/callback" for s in got)
    )
    callback_span = next(s for s in login if s.name == "GET /.auth/callback")
    exchange = one(otlp_receiver.in_trace(callback_span.trace_id), "CLIENT", "oidc code")
    assert exchange.name == "oidc code exchange"
    assert exchange.parent_span_id == callback_span.span_id
    assert callback_span.attributes["url.path"] == "/.auth/callback"  # no code, no state

    everything = exported_strings(otlp_receiver.spans)
    secrets = {
        "cookie": cookie,
        "code": code,
        "client secret": fresh_provider.client_secret,
        "session secret": sidecar.config["session"]["secret"],
    }
    for what, secret in secrets.items():
        leaked = [s for s in everything if secret in s]
        assert leaked == [], f"the {what} was exported: {leaked}"
    assert [s for s in everything if JWT.search(s)] == []  # no token of any kind


async def test_redis_store_calls_are_redis_client_spans(
    fresh_provider, otlp_receiver, traced_sidecar, redis_standalone
):
    sidecar = traced_sidecar({"session": {"redis_url": redis_standalone.url}})
    async with browser() as http:
        authorize_url = await begin_login(http, sidecar.url)
        callback_url = await fresh_provider.complete_login(http, authorize_url, USER, "password")
        cookie = (await callback(http, callback_url)).cookies[COOKIE].value
    headers = {"Cookie": f"{COOKIE}={cookie}", "X-Request-ID": "req-redis-1"}
    assert (await get(sidecar.url + "/api/items", headers))[0] == 200
    spans = await server_trace(otlp_receiver, "req-redis-1")
    server = one(spans, "SERVER")
    reads = [s for s in spans if s.name.startswith("session_store ")]
    assert reads, [s.name for s in spans]
    for span in reads:
        assert span.kind == "CLIENT"
        assert span.parent_span_id == server.span_id
        assert span.attributes["db.system.name"] == "redis"
        assert span.status == "UNSET"
    assert [s for s in exported_strings(otlp_receiver.spans) if cookie in s] == []


async def test_a_store_outage_is_an_error_span_under_a_503(
    fresh_provider, otlp_receiver, traced_sidecar, upstream_down
):
    secret = new_secret()
    login_side = traced_sidecar({"session": {"secret": secret}})
    async with browser() as http:
        authorize_url = await begin_login(http, login_side.url)
        callback_url = await fresh_provider.complete_login(http, authorize_url, USER, "password")
        cookie = (await callback(http, callback_url)).cookies[COOKIE].value
    # The same secret, its store unreachable (a refused port): the cookie's session cannot load.
    redis_down = upstream_down.replace("http://", "redis://") + "/0"
    outage = traced_sidecar({"session": {"secret": secret, "redis_url": redis_down}})
    headers = {"Cookie": f"{COOKIE}={cookie}", "X-Request-ID": "req-outage-1"}
    assert (await get(outage.url + "/api/items", headers))[0] == 503
    spans = await server_trace(otlp_receiver, "req-outage-1")
    server = one(spans, "SERVER")
    assert server.status == "ERROR"
    assert server.attributes["http.response.status_code"] == 503
    failed = [s for s in spans if s.name.startswith("session_store ")]
    assert failed, [s.name for s in spans]
    assert all(s.status == "ERROR" for s in failed)
    assert all(s.attributes["error.type"] == "StoreUnavailable" for s in failed)
    assert all(s.attributes["db.system.name"] == "redis" for s in failed)
    assert [s for s in exported_strings(otlp_receiver.spans) if cookie in s] == []
