"""The SDK's tracer provider, configured by the standard `OTEL_*` variables, owned by the app.

The SDK reads the environment itself: `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`),
`..._HEADERS`, `..._TIMEOUT`, `..._COMPRESSION`, `..._CERTIFICATE`, `OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_BSP_*`, `OTEL_SDK_DISABLED`.
The provider is never installed as the global one: the tracer is handed to what uses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from aiohttp import web
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sidecar import __version__
from sidecar.config.settings import ConfigError
from sidecar.keys import SETTINGS
from sidecar.tracing.tracer import TRACING, Tracing

DEFAULT_SERVICE_NAME = "auth-sidecar"
INSTRUMENTATION_NAME = "sidecar"
_PROTOCOL_VARS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
SUPPORTED_PROTOCOL = "http/protobuf"


def check_environment(environ: Mapping[str, str]) -> None:
    """Only OTLP over HTTP with protobuf bodies is built in: say so rather than export nothing."""
    for name in _PROTOCOL_VARS:
        value = environ.get(name)
        if value and value != SUPPORTED_PROTOCOL:
            raise ConfigError(
                [
                    f"tracing.enabled (SIDECAR_TRACING_ENABLED): {name}={value!r} is not "
                    f"supported; the exporter speaks {SUPPORTED_PROTOCOL} only"
                ]
            )


def build_provider() -> TracerProvider:
    resource = Resource.create({"service.version": __version__})
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    # The batch processor exports from its own thread: the event loop never waits on it.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


async def tracer_provider(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the provider for this app's life; shutdown flushes what is queued."""
    provider = build_provider()
    app[TRACING] = Tracing(
        tracer=provider.get_tracer(INSTRUMENTATION_NAME, __version__),
        propagator=TraceContextTextMapPropagator(),
        trusted_proxies=app[SETTINGS].trusted_proxies,
        empty_context=Context(),
    )
    try:
        yield
    finally:
        await asyncio.to_thread(provider.shutdown)
