"""`create_app(settings)`: the explicit wiring of the sidecar.

Long-lived resources are created and closed in `cleanup_ctx` generators, in order: the HTTP
clients, the session store, the provider (discovery + JWKS refresher), all in
`resources.py`, then the request pipelines that use them (here). Everything is reached through
typed `AppKey`s; nothing is global.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from yarl import URL

from sidecar import aiohttp_internals
from sidecar.auth import handlers as auth_handlers
from sidecar.auth.backchannel import BACKCHANNEL, BackchannelLogout
from sidecar.auth.login import LOGIN_FLOW, LoginFlow
from sidecar.auth.logout import LOGOUT_FLOW, LogoutFlow
from sidecar.auth.sessions_page import SESSIONS_PAGE, SessionsPage
from sidecar.config.settings import Settings
from sidecar.http.admin import AdminProbes, create_admin_app
from sidecar.http.admin_sessions import SessionAdmin, add_session_admin
from sidecar.http.middleware import error_middleware, make_context_middleware
from sidecar.keys import (
    EVENTS,
    METRICS,
    PROVIDER,
    PROVIDER_HTTP,
    SETTINGS,
    SIGNER,
    STORE,
    TOKEN_EXCHANGER,
    TRUSTED_ISSUER_KEYS,
    UPSTREAM_HTTP,
)
from sidecar.logging import access_logger
from sidecar.metrics import Metrics
from sidecar.oidc.token_client import TokenClient
from sidecar.oidc.userinfo import UserinfoClient
from sidecar.pipeline.context import Pipeline
from sidecar.pipeline.entry import AUTHENTICATE, PROXY_PIPELINE, VERIFY_PIPELINE, proxy_handler
from sidecar.pipeline.routes import RouteTable
from sidecar.pipeline.steps import (
    AnswerVerify,
    Authenticate,
    Authorize,
    InjectIdentity,
    ProxyToUpstream,
    ResolveForwarded,
    ResolveProxied,
    RewriteHeaders,
)
from sidecar.resources import (
    background,
    http_clients,
    oidc_provider,
    session_store,
    trusted_issuers,
)
from sidecar.sessions.cache import SessionCache
from sidecar.sessions.directory import SessionDirectory
from sidecar.sessions.manager import SessionManager
from sidecar.sessions.refresh import Refresher
from sidecar.sessions.sockets import SOCKETS, SocketRegistry
from sidecar.sessions.store import SessionStore
from sidecar.sessions.ticket import Sealer
from sidecar.sessions.vault import SessionVault
from sidecar.tokens.assertion import AssertionSigner, OversizeReport
from sidecar.tokens.exchange import TokenExchanger
from sidecar.tokens.id_tokens import TokenValidator
from sidecar.tokens.trusted_issuers import ExchangedTokenValidator
from sidecar.tracing.wiring import instrument
from sidecar.upstream.pool import UpstreamConnections
from sidecar.upstream.proxy import UpstreamProxy

# Headers up to 16 KiB reach the sidecar so that an oversized token gets the contract's own
# 400 answer; beyond that aiohttp's parser answers 400 itself.
MAX_FIELD_SIZE = 16 * 1024

DIRECTORY = web.AppKey("session_directory", SessionDirectory)

log = structlog.get_logger(__name__)


def create_app(settings: Settings, *, store: SessionStore | None = None) -> web.Application:
    """The main application. `store` replaces the configured session store (tests)."""
    metrics = Metrics()
    app = web.Application(
        middlewares=[
            make_context_middleware(
                settings.trusted_proxies,
                metrics,
                access_logger(settings.log_level, settings.log_format),
            ),
            error_middleware,
        ],
        handler_args={"max_field_size": MAX_FIELD_SIZE},
        client_max_size=0,  # bodies are streamed to the upstream, never read here
    )
    app[SETTINGS], app[METRICS] = settings, metrics
    oversize = OversizeReport(
        lambda route: metrics.assertion_oversize.labels(route=route).inc(), log
    )
    app[SIGNER] = AssertionSigner.from_settings(settings, log, on_oversize=oversize)
    if settings.token_exchange.enabled:
        app[TOKEN_EXCHANGER] = TokenExchanger(
            settings.token_exchange,
            public_url=settings.public_url,
            signer=app[SIGNER],
            on_result=lambda result: metrics.token_exchange.labels(result=result).inc(),
        )
    app.cleanup_ctx.extend(
        [http_clients, session_store(store), trusted_issuers, oidc_provider, _pipelines]
    )
    if settings.tracing.enabled:
        instrument(app)
    _add_routes(app, token_exchange=settings.token_exchange.enabled)
    return app


def admin_app_for(app: web.Application) -> web.Application:
    """The admin listener's app, probing the objects `app` owns."""
    probes = AdminProbes(
        provider=lambda: app.get(PROVIDER),
        store=lambda: app.get(STORE),
        metrics=app[METRICS],
        trusted_issuers=lambda: app.get(TRUSTED_ISSUER_KEYS),
    )
    admin_app = create_admin_app(probes)
    sessions = SessionAdmin(app[SETTINGS].admin_token, lambda: app.get(DIRECTORY), app[METRICS])
    add_session_admin(admin_app, sessions)
    return admin_app


def _add_routes(app: web.Application, *, token_exchange: bool) -> None:
    app.router.add_routes(auth_handlers.routes(token_exchange=token_exchange))
    # `(?s:...)`: the catch-alls also match a path whose decoded form holds a line break
    # (`%0a`), so that it reaches the pipeline's 400 instead of aiohttp's plain-text 404.
    app.router.add_route("*", "/.auth/{tail:(?s:.*)}", auth_handlers.unknown_auth_path)
    app.router.add_route("*", "/{tail:(?s:.*)}", proxy_handler)


def _exchanged_validator(app: web.Application) -> ExchangedTokenValidator | None:
    keys = app.get(TRUSTED_ISSUER_KEYS)
    if keys is None:
        return None
    settings = app[SETTINGS]
    return ExchangedTokenValidator(
        keys, audience=settings.public_url, leeway_s=settings.oidc.leeway_s
    )


def _session_manager(
    app: web.Application,
    vault: SessionVault,
    validator: TokenValidator,
    token_client: TokenClient,
    directory: SessionDirectory,
    userinfo: UserinfoClient | None,
) -> SessionManager:
    settings, metrics = app[SETTINGS], app[METRICS]
    refresher = Refresher(
        vault,
        token_client,
        validator,
        metrics,
        margin_s=settings.session.refresh_margin_s,
        provider_timeout_s=settings.oidc.http_timeout_s,
        userinfo=userinfo,
    )
    return SessionManager(
        vault, refresher, settings.session, cookie_path=settings.public_path, directory=directory
    )


def _upstream_proxies(app: web.Application) -> dict[str, UpstreamProxy]:
    """One proxy per route with an upstream: one pool of keep-alive connections per upstream
    origin for in-memory bodies (routes to one service share it, its TLS context and its
    `upstream_max_connections`), and the one shared client session for streamed bodies; the
    session alone when aiohttp's internals moved (`aiohttp_internals.usable`, one warning)."""
    settings = app[SETTINGS]
    pooled = aiohttp_internals.usable()
    pools: dict[str, UpstreamConnections] = {}
    proxies: dict[str, UpstreamProxy] = {}
    for route in settings.routes:
        if route.upstream is None:
            continue
        origin = URL(route.upstream).origin()
        pool = pools.get(str(origin))
        if pool is None and pooled:
            pool = pools[str(origin)] = UpstreamConnections(
                origin,
                connect_timeout_s=settings.upstream_connect_timeout_s,
                read_timeout_s=settings.upstream_timeout_s,
                limit=settings.upstream_max_connections,
            )
        proxies[route.name] = UpstreamProxy(
            route.upstream,
            app[UPSTREAM_HTTP],
            response_timeout_s=settings.upstream_timeout_s,
            connections=pool,
        )
    return proxies


async def _pipelines(app: web.Application) -> AsyncIterator[None]:
    settings, signer, provider = app[SETTINGS], app[SIGNER], app[PROVIDER]
    routes = RouteTable(settings.routes)
    validator = TokenValidator(settings.oidc, provider.signing_key)
    token_client = TokenClient(
        app[PROVIDER_HTTP],
        lambda: provider.metadata,
        settings.oidc.client_id,
        settings.oidc.client_secret,
    )
    sealer, events, metrics = Sealer(settings.session.secrets), app[EVENTS], app[METRICS]
    vault = SessionVault(
        app[STORE],
        sealer,
        settings.session,
        metrics,
        issuer=settings.oidc.issuer,
        events=events,
        cache=SessionCache(settings.session.cache_s, events),
    )
    directory = app[DIRECTORY] = SessionDirectory(vault, sealer, settings.oidc.issuer)
    userinfo = (
        UserinfoClient(app[PROVIDER_HTTP], lambda: provider.metadata)
        if settings.oidc.userinfo
        else None
    )
    sessions = _session_manager(app, vault, validator, token_client, directory, userinfo)
    app[SESSIONS_PAGE] = SessionsPage(settings, sessions, directory, metrics)
    app[LOGIN_FLOW] = LoginFlow(
        settings, provider, token_client, validator, sessions, userinfo=userinfo
    )
    app[LOGOUT_FLOW] = LogoutFlow(settings, provider, sessions, sealer, metrics)
    app[BACKCHANNEL] = BackchannelLogout(settings.oidc, provider, vault, metrics)
    sockets = SocketRegistry(events, vault.session_id, vault.exists)
    app[SOCKETS] = sockets
    authenticate = Authenticate(validator, sessions, _exchanged_validator(app))
    proxies = _upstream_proxies(app)
    if proxies:
        app[PROXY_PIPELINE] = Pipeline(
            [
                ResolveProxied(routes),
                authenticate,
                Authorize(login_url=settings.public_url + "/.auth/login"),
                RewriteHeaders(signer, settings.session.cookie_name, settings.forward_token),
                ProxyToUpstream(proxies),
            ]
        )
    app[VERIFY_PIPELINE] = Pipeline(
        [
            ResolveForwarded(routes),
            authenticate,
            Authorize(login_url=None),
            InjectIdentity(signer, forward_token=settings.forward_token),
            AnswerVerify(),
        ]
    )
    app[AUTHENTICATE] = authenticate
    try:
        async with background(sockets.run(), "websocket-session-checks"):
            yield
    finally:
        for proxy in proxies.values():
            await proxy.close()
