"""`Tracing`: what the instrumented parts share, reached through the `TRACING` app key.

This module imports OpenTelemetry for type checking only, so that `sidecar.app` can name the
key without the `tracing` extra installed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from sidecar.config.settings import IPNetwork
from sidecar.net import is_trusted_peer

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Tracer
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACE_HEADERS = ("traceparent", "tracestate")


@dataclass(frozen=True, slots=True)
class Tracing:
    tracer: Tracer
    propagator: TraceContextTextMapPropagator
    trusted_proxies: Sequence[IPNetwork]
    empty_context: Context  # a new trace: a root span, whatever the request carried

    def parent_of(self, request: web.Request) -> Context:
        """The context a request's server span continues.

        W3C Trace Context ("Security considerations") leaves it to the receiver whether to trust
        an incoming `traceparent`: a client outside `trusted_proxies` could otherwise choose its
        own trace id (joining or polluting someone else's trace) and force sampling. From such
        a peer a new trace starts and its headers are dropped before the upstream call.
        """
        if not is_trusted_peer(request.remote, self.trusted_proxies):
            return self.empty_context
        carrier: Mapping[str, str] = request.headers
        return self.propagator.extract(carrier, context=self.empty_context)


TRACING = web.AppKey("tracing", Tracing)
