"""`auth-sidecar sessions revoke --sub S`: the operator's revoke from a shell, without the HTTP
call (the incident runbook in docs/reliability.md). It ends the sessions exactly as the admin
endpoint does: the entries go, and the one signal tells every running replica (memory copies
dropped, websockets closed)."""

from __future__ import annotations

from sidecar.config.settings import Settings
from sidecar.metrics import Metrics
from sidecar.sessions.cache import SessionCache
from sidecar.sessions.directory import SessionDirectory
from sidecar.sessions.factory import build_events, build_store
from sidecar.sessions.ticket import Sealer
from sidecar.sessions.vault import SessionVault


class NoSharedStore(Exception):
    """The memory store lives inside the serving process: a shell cannot reach it."""


async def revoke_subject(settings: Settings, sub: str) -> int:
    """End every session of `sub` on every replica; how many there were. `StoreUnavailable`
    when Redis cannot be reached."""
    if not settings.session.redis_url:
        raise NoSharedStore("session.redis_url is not set: use the admin endpoint instead")
    store = build_store(settings.session)
    metrics = Metrics()
    try:
        events = build_events(
            store, settings.session.store_timeout_s, metrics.session_store_errors.inc
        )
        sealer = Sealer(settings.session.secrets)
        vault = SessionVault(
            store,
            sealer,
            settings.session,
            metrics,
            issuer=settings.oidc.issuer,
            events=events,
            cache=SessionCache(0, events),  # nothing is served here: no memory copies
        )
        return await SessionDirectory(vault, sealer, settings.oidc.issuer).end_all(sub)
    finally:
        await store.close()
