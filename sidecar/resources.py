"""The shared resources of the app, each created and closed by one `cleanup_ctx` generator:
the HTTP clients, the session store and its signal, other sidecars' keys, the provider
(discovery + JWKS refresher). `create_app` (`app.py`) lists them in order, then the request
pipelines that use them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from sidecar.config.settings import ConfigError
from sidecar.keys import (
    EVENTS,
    METRICS,
    PROVIDER,
    PROVIDER_HTTP,
    SETTINGS,
    STORE,
    TRUSTED_ISSUER_KEYS,
    UPSTREAM_HTTP,
)
from sidecar.oidc.provider import OidcProvider
from sidecar.sessions.factory import build_events, build_store
from sidecar.sessions.store import SessionStore
from sidecar.tokens.trusted_issuers import TrustedIssuerKeys
from sidecar.tracing.wiring import provider_trace_configs, traced_store
from sidecar.upstream.session import create_upstream_session

# How long start-up waits for the provider before serving anyway (readiness says the rest).
PROVIDER_STARTUP_WAIT_S = 5.0

log = structlog.get_logger(__name__)


async def http_clients(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    timeout = aiohttp.ClientTimeout(total=settings.oidc.http_timeout_s)
    trace_configs = provider_trace_configs(app)
    async with aiohttp.ClientSession(timeout=timeout, trace_configs=trace_configs) as provider_http:
        app[PROVIDER_HTTP] = provider_http
        upstream_http = create_upstream_session(
            settings.upstream_connect_timeout_s, settings.upstream_max_connections
        )
        app[UPSTREAM_HTTP] = upstream_http
        try:
            yield
        finally:
            await upstream_http.close()


def session_store(given: SessionStore | None):  # type: ignore[no-untyped-def]
    async def session_store(app: web.Application) -> AsyncIterator[None]:
        # `is None`, not `or`: an empty MemoryStore has len() 0 and so is falsy.
        settings, metrics = app[SETTINGS].session, app[METRICS]
        store = given if given is not None else build_store(settings)
        # The signal rides on the store's own connection settings (pub/sub is not a traced
        # store call); everything else reaches the store through the tracing decorator.
        events = build_events(store, settings.store_timeout_s, metrics.signal_publish_failed)
        app[EVENTS] = events
        app[STORE] = traced_store(app, store)
        try:
            async with background(events.run(), "session-signal"):
                yield
        finally:
            if given is None:
                await store.close()

    return session_store


@contextlib.asynccontextmanager
async def background(work: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """Run `work` as a task for the duration of the block, then cancel it."""
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def oidc_provider(app: web.Application) -> AsyncIterator[None]:
    metrics = app[METRICS]
    provider = OidcProvider(
        app[PROVIDER_HTTP],
        app[SETTINGS].oidc.issuer,
        on_jwks_fetch=lambda result: metrics.jwks_fetch.labels(result=result).inc(),
        require_userinfo=app[SETTINGS].oidc.userinfo,
    )
    app[PROVIDER] = provider
    async with background(provider.run(), "oidc-provider"):
        settled = await provider.wait_settled(PROVIDER_STARTUP_WAIT_S)
        if provider.problem is not None:  # e.g. oidc.userinfo without a userinfo_endpoint
            raise ConfigError([provider.problem])
        if not settled:
            log.warning("serving_before_provider_loaded")
        yield


async def trusted_issuers(app: web.Application) -> AsyncIterator[None]:
    """Other sidecars' keys (`trusted_issuers`): loaded in the background, never awaited at
    start-up, so that sidecars trusting each other can start in any order."""
    if not app[SETTINGS].trusted_issuers:
        yield
        return
    metrics = app[METRICS]
    keys = TrustedIssuerKeys(
        app[PROVIDER_HTTP],
        app[SETTINGS].trusted_issuers,
        on_fetch=lambda issuer, result: metrics.trusted_issuer_jwks_fetch.labels(
            issuer=issuer, result=result
        ).inc(),
    )
    app[TRUSTED_ISSUER_KEYS] = keys
    async with background(keys.run(), "trusted-issuer-keys"):
        yield
