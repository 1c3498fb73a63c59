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
