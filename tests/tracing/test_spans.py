"""The spans of real requests through a spawned sidecar, as an OTLP collector receives them:
kinds, parent links, the trace id the upstream sees, and the attributes."""

from __future__ import annotations

from tests.tracing.conftest import SERVICE_NAME
from tests.tracing.spans import (
    PARENT_ID,
    TRACE_ID,
    TRACEPARENT,
    TRACESTATE,
    children,
    echoed_header,
    get,
    one,
    parse_traceparent,
    server_trace,
)

USER = "user@example.com"


async def test_a_bearer_request_is_one_trace_continued_from_the_trusted_proxy(
    oidc_provider, echo_upstream, otlp_receiver, traced_sidecar
):
    sidecar = traced_sidecar()
    tokens = await oidc_provider.login(USER, "password")
    headers = {
        "Authorization": f"Bearer {tokens.id_token}",
        "traceparent": TRACEPARENT,
        "tracestate": TRACESTATE,
        "X-Request-ID": "req-bearer-1",  # kept: it comes from a trusted proxy
    }
    status, _, _ = await get(sidecar.url + "/api/items?secret=1", headers)
    assert status == 200
    spans = await server_trace(otlp_receiver, "req-bearer-1")

    server = one(spans, "SERVER")
    assert server.trace_id == TRACE_ID
    assert server.parent_span_id == PARENT_ID  # the proxy's span is the parent
    assert server.name == "GET /"
    assert server.resource["service.name"] == SERVICE_NAME
    assert server.attributes["http.request.method"] == "GET"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["url.path"] == "/api/items"  # never the query
    assert server.attributes["http.route"] == "/"
    assert server.attributes["sidecar.route"] == "/"
    assert server.attributes["sidecar.policy_rule"] == "/"
    assert server.attributes["sidecar.decision"] == "allow"
    assert server.attributes["sidecar.phase"] == "proxy"

    upstream = one(spans, "CLIENT", "upstream")
    assert upstream.parent_span_id == server.span_id
    assert upstream.name == "upstream GET"
    assert upstream.attributes["http.response.status_code"] == 200
    assert upstream.attributes["server.port"] == int(echo_upstream.url.rsplit(":", 1)[1])
    echo = echo_upstream.last()
    [traceparent] = echoed_header(echo, "traceparent")
    assert parse_traceparent(traceparent) == (TRACE_ID, upstream.span_id)
    assert echoed_header(echo, "tracestate") == [TRACESTATE]  # the proxy's vendors keep theirs
    assert children(spans, upstream) == []


async def test_an_untrusted_traceparent_starts_a_new_trace(
    oidc_provider, echo_upstream, otlp_receiver, traced_sidecar
):
    sidecar = traced_sidecar({"trusted_proxies": "10.0.0.0/8"})  # the test is not Kong
    tokens = await oidc_provider.login(USER, "password")
    headers = {
        "Authorization": f"Bearer {tokens.id_token}",
        "traceparent": TRACEPARENT,
        "tracestate": TRACESTATE,
    }
    assert (await get(sidecar.url + "/api/items", headers))[0] == 200
    echo = echo_upstream.last()
    [request_id] = echoed_header(echo, "X-Request-ID")  # made by the sidecar
    spans = await server_trace(otlp_receiver, request_id)

    server = one(spans, "SERVER")
    assert server.parent_span_id == ""  # a root: the client's span is nobody's parent
    assert server.trace_id != TRACE_ID
    assert otlp_receiver.in_trace(TRACE_ID) == []
    upstream = one(spans, "CLIENT", "upstream")
    [traceparent] = echoed_header(echo, "traceparent")
    assert parse_traceparent(traceparent) == (server.trace_id, upstream.span_id)
    assert echoed_header(echo, "tracestate") == []  # the client's vendor state is dropped


async def test_an_upstream_failure_is_an_error_span_under_a_502(
    oidc_provider, upstream_down, otlp_receiver, traced_sidecar
):
    sidecar = traced_sidecar(upstream=upstream_down)
    tokens = await oidc_provider.login(USER, "password")
    headers = {"Authorization": f"Bearer {tokens.id_token}", "X-Request-ID": "req-down-1"}
    assert (await get(sidecar.url + "/api/items", headers))[0] == 502
    spans = await server_trace(otlp_receiver, "req-down-1")

    server = one(spans, "SERVER")
    assert server.status == "ERROR"
    assert server.attributes["http.response.status_code"] == 502
    assert server.attributes["error.type"] == "502"
    assert server.attributes["sidecar.phase"] == "proxy"
    upstream = one(spans, "CLIENT", "upstream")
    assert upstream.parent_span_id == server.span_id
    assert upstream.status == "ERROR"
    assert upstream.attributes["error.type"] == "UpstreamUnavailable"
    assert "http.response.status_code" not in upstream.attributes
    assert upstream.events == []  # no exception event: its text is not ours to vouch for


async def test_a_refused_request_names_the_phase_that_decided(otlp_receiver, traced_sidecar):
    sidecar = traced_sidecar()
    for path, request_id in (("/api/x", "req-anon"), ("/public/x", "req-public")):
        await get(sidecar.url + path, {"X-Request-ID": request_id})
    refused = one(await server_trace(otlp_receiver, "req-anon"), "SERVER")
    assert refused.attributes["http.response.status_code"] == 401
    assert refused.attributes["sidecar.phase"] == "authorize"
    assert refused.attributes["sidecar.decision"] == "unauthenticated"
    assert refused.status == "UNSET"  # a 4xx is the client's problem, not the server's
    public = one(await server_trace(otlp_receiver, "req-public"), "SERVER")
    assert public.attributes["sidecar.route"] == "/"  # the one route of a single upstream
    assert public.attributes["sidecar.policy_rule"] == "/public"
    assert public.attributes["http.route"] == "/public"
    assert public.attributes["sidecar.decision"] == "public"
    assert public.name == "GET /public"


async def test_forward_auth_verify_is_one_server_span_named_for_its_endpoint(
    oidc_provider, otlp_receiver, traced_sidecar
):
    sidecar = traced_sidecar()
    tokens = await oidc_provider.login(USER, "password")
    headers = {
        "Authorization": f"Bearer {tokens.id_token}",
        "X-Forwarded-Uri": "/public/page?token=abc",
        "X-Request-ID": "req-verify-1",
        "traceparent": TRACEPARENT,
    }
    assert (await get(sidecar.url + "/.auth/verify", headers))[0] == 200
    [server] = await server_trace(otlp_receiver, "req-verify-1")  # no upstream call
    assert server.kind == "SERVER"
    assert server.parent_span_id == PARENT_ID
    assert server.name == "GET /.auth/verify"
    assert server.attributes["http.route"] == "/.auth/verify"
    assert server.attributes["url.path"] == "/.auth/verify"
    assert server.attributes["sidecar.policy_rule"] == "/public"  # of the forwarded URI
    assert server.attributes["sidecar.phase"] == "answer"
    assert "abc" not in str(server.attributes)
