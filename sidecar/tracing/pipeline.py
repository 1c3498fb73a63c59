"""The pipeline under tracing: which phase decided, and the upstream call as a client span.

`traced_pipeline` rebuilds a `Pipeline` with each step wrapped; the steps themselves know
nothing of tracing, and an untraced sidecar runs them bare.
"""

from __future__ import annotations

import functools

from aiohttp import web
from multidict import CIMultiDict
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode
from yarl import URL

from sidecar.errors import SidecarError
from sidecar.pipeline.context import Pipeline, RequestContext, Step
from sidecar.pipeline.steps import ProxyToUpstream
from sidecar.tracing import attributes as attr
from sidecar.tracing.server_span import CATCH_ALL, SERVER_SPAN
from sidecar.tracing.tracer import TRACE_HEADERS, Tracing

# The architecture's phase names, by step class; a step not listed is named by its class.
PHASES = {
    "ResolveProxied": "route",
    "ResolveForwarded": "route",
    "Authenticate": "authenticate",
    "Authorize": "authorize",
    "RewriteHeaders": "rewrite_headers",
    "InjectIdentity": "rewrite_headers",
    "ProxyToUpstream": "proxy",
    "AnswerVerify": "answer",
}


def phase_of(step: Step) -> str:
    name = type(step).__name__
    return PHASES.get(name, name)


class PhaseStep:
    """Runs one step; when it ends the request (a response or a `SidecarError`), the server
    span learns the phase, the matched route and the normalized path."""

    def __init__(self, step: Step, phase: str) -> None:
        self._step = step
        self._phase = phase

    async def __call__(self, ctx: RequestContext) -> None:
        try:
            await self._step(ctx)
        except SidecarError:
            self._decided(ctx)
            raise
        if ctx.response is not None:
            self._decided(ctx)

    def _decided(self, ctx: RequestContext) -> None:
        span = ctx.request.get(SERVER_SPAN)
        if span is None:
            return
        span.set_attribute(attr.PHASE, self._phase)
        rule = ctx.rule
        route = route_of(ctx)[0]
        if route is not None:
            span.set_attribute(attr.ROUTE, route)
        if rule is not None:
            span.set_attribute(attr.POLICY_RULE, rule.path)
        if _is_catch_all(ctx.request):  # proxy mode: the request's own path was judged
            span.set_attribute(attr.URL_PATH, ctx.path)
            if rule is not None:  # the matched prefix: as low in cardinality as a template
                span.set_attribute(attr.HTTP_ROUTE, rule.path)
                span.update_name(f"{attr.http_method(ctx.method)} {rule.path}")


def route_of(ctx: RequestContext) -> tuple[str | None, str | None]:
    """(name, upstream URL) of the route the ctx was resolved to: the route table's pick
    (`ctx.route`, None before or without a match)."""
    route = ctx.route
    if route is None:
        return None, None
    return route.name, route.upstream


@functools.lru_cache(maxsize=256)
def server_of(upstream: str) -> tuple[str, int]:
    url = URL(upstream)
    return url.host or "", url.port or 0


def _is_catch_all(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    return resource is None or resource.canonical == CATCH_ALL


class UpstreamSpan:
    """The upstream call as a CLIENT span whose context reaches the upstream.

    Any `traceparent`/`tracestate` in the upstream headers (the client's, copied by
    `RewriteHeaders`) is replaced by this span's: the upstream sees the sidecar's hop, and an
    untrusted client's trace never reaches it.
    """

    def __init__(self, step: Step, tracing: Tracing, upstream: str | None) -> None:
        self._step = step
        self._tracing = tracing
        self._upstream = upstream  # the single upstream; a route table names each its own

    async def __call__(self, ctx: RequestContext) -> None:
        method = attr.http_method(ctx.method)
        upstream = route_of(ctx)[1] or self._upstream
        host, port = server_of(upstream) if upstream else ("", 0)
        with self._tracing.tracer.start_as_current_span(
            f"upstream {method}",
            kind=SpanKind.CLIENT,
            attributes={
                attr.HTTP_METHOD: method,
                attr.URL_PATH: ctx.path,
                attr.SERVER_ADDRESS: host,
                attr.SERVER_PORT: port,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            self._propagate(ctx.upstream_headers, span)
            try:
                await self._step(ctx)
            except SidecarError as error:
                _failed(span, type(error).__name__)
                raise
            if ctx.response is not None:
                status = ctx.response.status
                span.set_attribute(attr.HTTP_STATUS, status)
                if status >= 400:  # HTTP semconv: a client span is an error for 4xx and 5xx
                    _failed(span, str(status))

    def _propagate(self, headers: CIMultiDict[str], span: Span) -> None:
        for name in TRACE_HEADERS:
            headers.popall(name, None)
        self._tracing.propagator.inject(headers, context=trace.set_span_in_context(span))


def _failed(span: Span, error_type: str) -> None:
    span.set_attribute(attr.ERROR_TYPE, error_type)
    span.set_status(StatusCode.ERROR)


def traced_pipeline(pipeline: Pipeline, tracing: Tracing, upstream: str | None) -> Pipeline:
    """`pipeline` with every step reporting its phase, and the proxy step in a client span."""
    steps: list[Step] = []
    for step in pipeline.steps:
        phase = phase_of(step)
        if isinstance(step, ProxyToUpstream):
            step = UpstreamSpan(step, tracing, upstream)
        steps.append(PhaseStep(step, phase))
    return Pipeline(steps)
