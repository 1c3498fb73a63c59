"""The admin listener: `/healthz`, `/readyz`, `/metrics`. Never routed through Kong."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from sidecar.errors import StoreUnavailable
from sidecar.metrics import Metrics
from sidecar.oidc.provider import OidcProvider
from sidecar.sessions.store import SessionStore
from sidecar.tokens.trusted_issuers import TrustedIssuerKeys

ProviderGetter = Callable[[], OidcProvider | None]
StoreGetter = Callable[[], SessionStore | None]
TrustedIssuersGetter = Callable[[], TrustedIssuerKeys | None]


class AdminProbes:
    """What readiness checks, reached through getters because the main app owns the objects
    and creates them in its own start-up."""

    def __init__(
        self,
        provider: ProviderGetter,
        store: StoreGetter,
        metrics: Metrics,
        trusted_issuers: TrustedIssuersGetter = lambda: None,
    ) -> None:
        self.provider = provider
        self.store = store
        self.metrics = metrics
        self.trusted_issuers = trusted_issuers
        self.draining = False  # set on SIGTERM: readiness fails so traffic moves elsewhere

    async def readiness(self) -> dict[str, bool]:
        provider = self.provider()
        checks = (
            provider.readiness()
            if provider is not None
            else {"provider_metadata": False, "jwks": False}
        )
        checks["session_store"] = await self._store_answers()
        checks["not_draining"] = not self.draining
        return checks

    async def _store_answers(self) -> bool:
        store = self.store()
        if store is None:
            return False
        try:
            await store.ping()
        except StoreUnavailable:
            self.metrics.session_store_errors.inc()
            return False
        return True


ADMIN_PROBES: web.AppKey[AdminProbes] = web.AppKey("admin_probes")


async def healthz(request: web.Request) -> web.Response:
    """Liveness: answers while the process serves; touches nothing else."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    probes = request.app[ADMIN_PROBES]
    checks = await probes.readiness()
    missing = sorted(name for name, ok in checks.items() if not ok)
    body: dict[str, object] = (
        {"status": "not_ready", "missing": missing} if missing else {"status": "ready"}
    )
    # Other sidecars' keys are reported, never required: a caller that is down must not take
    # this service out of rotation for its own users (docs/service-to-service.md).
    trusted = probes.trusted_issuers()
    if trusted is not None:
        body["trusted_issuer_keys"] = trusted.readiness()
    return web.json_response(body, status=503 if missing else 200)


async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[ADMIN_PROBES].metrics.render()
    return web.Response(body=body, headers={"Content-Type": content_type})


def create_admin_app(probes: AdminProbes) -> web.Application:
    app = web.Application()
    app[ADMIN_PROBES] = probes
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
