"""How `create_app` turns tracing on: the only module of this package it imports.

Nothing here imports OpenTelemetry at module level: without `tracing.enabled` the sidecar
neither needs the `tracing` extra nor pays anything per request (no middleware, no wrapped
step, store or trace config). With it, `instrument(app)` adds:

- the tracer provider as the first cleanup context (shut down, and so flushed, last);
- the server span as the outermost middleware;
- the traced pipelines, in a cleanup context after the one that builds them;
and the two hooks below wrap the provider client session and the store as they are made.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from yarl import URL

from sidecar.keys import PROVIDER, SETTINGS
from sidecar.pipeline.entry import PROXY_PIPELINE, VERIFY_PIPELINE
from sidecar.sessions.store import SessionStore
from sidecar.tracing.extra import check_installed
from sidecar.tracing.tracer import TRACING


def instrument(app: web.Application) -> None:
    """Call before the app starts (middlewares and cleanup contexts are still open lists)."""
    check_installed()
    from sidecar.tracing import sdk
    from sidecar.tracing.server_span import server_span_middleware

    sdk.check_environment(os.environ)
    app.middlewares.insert(0, server_span_middleware)
    app.cleanup_ctx.insert(0, sdk.tracer_provider)
    app.cleanup_ctx.append(_traced_pipelines)


def provider_trace_configs(app: web.Application) -> list[aiohttp.TraceConfig]:
    """For the provider client session: spans for its calls, or nothing at all."""
    tracing = app.get(TRACING)
    if tracing is None:
        return []
    from sidecar.tracing.provider_calls import provider_trace_config

    def classify(url: URL) -> str | None:
        provider = app.get(PROVIDER)
        if provider is None or not provider.has_metadata:
            return None
        metadata = provider.metadata
        known = {URL(metadata.jwks_uri): "jwks", URL(metadata.token_endpoint): "token"}
        if metadata.userinfo_endpoint is not None:  # `oidc.userinfo`
            known[URL(metadata.userinfo_endpoint)] = "userinfo"
        return known.get(url)

    return [provider_trace_config(tracing, classify)]


def traced_store(app: web.Application, store: SessionStore) -> SessionStore:
    """`store` itself, or a decorator that gives each call a span."""
    tracing = app.get(TRACING)
    if tracing is None:
        return store
    from sidecar.sessions.redis import RedisStore
    from sidecar.tracing.store import TracedStore

    system = "redis" if isinstance(store, RedisStore) else "memory"
    return TracedStore(store, tracing.tracer, system)


async def _traced_pipelines(app: web.Application) -> AsyncIterator[None]:
    from sidecar.tracing.pipeline import traced_pipeline

    tracing, upstream = app[TRACING], app[SETTINGS].upstream
    for key in (PROXY_PIPELINE, VERIFY_PIPELINE):
        pipeline = app.get(key)
        if pipeline is not None:
            app[key] = traced_pipeline(pipeline, tracing, upstream)
    yield
