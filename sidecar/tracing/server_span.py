"""The server span: one per request on the main listener, around everything else.

Added by `wiring.instrument` as the outermost middleware, only when tracing is enabled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from opentelemetry.trace import Span, SpanKind, StatusCode

from sidecar.pipeline.context import DECISION, REQUEST_ID
from sidecar.tracing import attributes as attr
from sidecar.tracing.tracer import TRACING

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SERVER_SPAN = web.RequestKey("server_span", Span)
CATCH_ALL = "/{tail}"


def route_of(request: web.Request) -> str:
    """aiohttp's route template (low cardinality); the catch-alls are refined by the pipeline."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else CATCH_ALL


@web.middleware
async def server_span_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    tracing = request.app[TRACING]
    method, route = attr.http_method(request.method), route_of(request)
    with tracing.tracer.start_as_current_span(
        f"{method} {route}",
        context=tracing.parent_of(request),
        kind=SpanKind.SERVER,
        attributes={
            attr.HTTP_METHOD: method,
            attr.HTTP_ROUTE: route,
            attr.URL_PATH: request.path,
            attr.URL_SCHEME: request.scheme,
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        request[SERVER_SPAN] = span
        status = 500  # whatever escapes the error middleware becomes aiohttp's 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            _finish(span, request, status)


def _finish(span: Span, request: web.Request, status: int) -> None:
    span.set_attribute(attr.HTTP_STATUS, status)
    if REQUEST_ID in request:
        span.set_attribute(attr.REQUEST_ID, request[REQUEST_ID])
    if DECISION in request:
        span.set_attribute(attr.DECISION, request[DECISION])
    if status >= 500:  # HTTP semconv: a server span is an error for 5xx only
        span.set_attribute(attr.ERROR_TYPE, str(status))
        span.set_status(StatusCode.ERROR)
