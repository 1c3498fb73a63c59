"""The provider's HTTP calls (discovery, JWKS, code exchange, refresh) as CLIENT spans.

An aiohttp `TraceConfig` on the provider client session: the call sites stay as they are. The
span's context goes to the provider in `traceparent`, so a provider that traces (Dex can) joins
the trace. Nothing of the request body is kept: the token call's `grant_type` only names the
span, and only from a fixed list.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import SimpleNamespace

import aiohttp
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from yarl import URL

from sidecar.tracing import attributes as attr
from sidecar.tracing.tracer import Tracing

DISCOVERY_PATH = "/.well-known/openid-configuration"
GRANT_OPERATIONS = {
    b"authorization_code": "code exchange",
    b"refresh_token": "refresh",
    b"urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange": "token exchange",
    b"client_credentials": "client credentials",
}
_GRANT_TYPE = re.compile(rb"(?:^|&)grant_type=([^&]*)")

# url -> "jwks" | "token" | "userinfo" | None: what the provider's metadata says that URL is.
Classify = Callable[[URL], str | None]


def operation_of(url: URL, classify: Classify) -> str:
    if url.path.endswith(DISCOVERY_PATH):
        return "discovery"
    return classify(url) or "request"


def provider_trace_config(tracing: Tracing, classify: Classify) -> aiohttp.TraceConfig:
    tracer, propagator = tracing.tracer, tracing.propagator

    async def on_start(
        _session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        ctx.span = None
        if not trace.get_current_span().is_recording():
            # A background refresh (JWKS, discovery) outside any request: not a trace of its
            # own, as the store's calls (`TracedStore`); its outcome is in the metrics.
            return
        operation = operation_of(params.url, classify)
        method = attr.http_method(params.method)
        ctx.span = tracer.start_span(
            f"oidc {operation}",
            kind=SpanKind.CLIENT,
            attributes={
                attr.OIDC_OPERATION: operation,
                attr.HTTP_METHOD: method,
                attr.SERVER_ADDRESS: params.url.host or "",
                attr.SERVER_PORT: params.url.port or 0,
                attr.URL_PATH: params.url.path,
            },
            record_exception=False,
            set_status_on_exception=False,
        )
        propagator.inject(params.headers, context=trace.set_span_in_context(ctx.span))

    async def on_chunk(
        _session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestChunkSentParams,
    ) -> None:
        if ctx.span is None:
            return
        match = _GRANT_TYPE.search(bytes(params.chunk))
        if match is not None and match.group(1) in GRANT_OPERATIONS:
            operation = GRANT_OPERATIONS[match.group(1)]
            ctx.span.update_name(f"oidc {operation}")
            ctx.span.set_attribute(attr.OIDC_OPERATION, operation)

    async def on_end(
        _session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        if ctx.span is None:
            return
        status = params.response.status
        ctx.span.set_attribute(attr.HTTP_STATUS, status)
        if status >= 400:
            ctx.span.set_attribute(attr.ERROR_TYPE, str(status))
            ctx.span.set_status(StatusCode.ERROR)
        ctx.span.end()

    async def on_exception(
        _session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestExceptionParams,
    ) -> None:
        if ctx.span is None:
            return
        ctx.span.set_attribute(attr.ERROR_TYPE, type(params.exception).__name__)
        ctx.span.set_status(StatusCode.ERROR)
        ctx.span.end()

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_start)
    config.on_request_chunk_sent.append(on_chunk)
    config.on_request_end.append(on_end)
    config.on_request_exception.append(on_exception)
    config.freeze()
    return config
