"""Running the sidecar: listeners, signals, graceful shutdown, and optional worker processes.

Shutdown (CONTRACT "Command line"): on SIGTERM/SIGINT the admin listener starts answering 503
on `/readyz` (so Kubernetes takes the pod out of the endpoints), the main listener stops
accepting, in-flight requests get up to `shutdown_grace_s` to finish, then the process exits 0.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import signal

import structlog
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sidecar.app import admin_app_for, create_app
from sidecar.config.settings import Settings
from sidecar.http.protocol_errors import SidecarRunner
from sidecar.logging import configure_logging

log = structlog.get_logger(__name__)

GC_YOUNG_THRESHOLD = 20_000


def serve(settings: Settings) -> int:
    configure_logging(settings.log_level, settings.log_format)
    if settings.workers > 1:  # the loader has checked that sessions are in Redis
        return _run_workers(settings)
    return _run_one(settings, reuse_port=False)


def _run_one(settings: Settings, *, reuse_port: bool) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_serve(settings, reuse_port=reuse_port))
    return uvloop.run(_serve(settings, reuse_port=reuse_port))


async def _serve(settings: Settings, *, reuse_port: bool) -> int:
    stop = _stop_on_signals()  # installed first: a signal during start-up is a clean stop
    app = create_app(settings)
    admin_app = admin_app_for(app)
    runner = SidecarRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=settings.shutdown_grace_s
    )
    admin_runner = SidecarRunner(admin_app, access_log=None, handle_signals=False)
    await runner.setup()
    await admin_runner.setup()
    _freeze_startup_objects()
    try:
        for site_runner, address in (
            (runner, settings.listen),
            (admin_runner, settings.admin_listen),
        ):
            site = web.TCPSite(site_runner, address.host, address.port, reuse_port=reuse_port)
            await site.start()
        log.info("serving", listen=str(settings.listen), admin_listen=str(settings.admin_listen))
        await stop.wait()
        log.info("shutting_down", grace_s=settings.shutdown_grace_s)
        admin_app_draining(admin_app)
    finally:
        await runner.cleanup()
        await admin_runner.cleanup()
    log.info("stopped")
    return 0


def _freeze_startup_objects() -> None:
    """Keep what start-up made (modules, the app, clients, keys: ~70k objects) out of every
    later garbage collection. A full collection would otherwise walk all of it, 40 to 80 ms on
    the bench machine, stalling every request in flight; the request path itself leaves few
    survivors. (`gc.freeze`, as the Python docs suggest for long-running servers.)"""
    gc.collect()
    gc.freeze()
    # The request path allocates and frees many short-lived containers; the default
    # threshold (700 net allocations) runs a young collection every few requests.
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def admin_app_draining(admin_app: web.Application) -> None:
    from sidecar.http.admin import ADMIN_PROBES

    admin_app[ADMIN_PROBES].draining = True


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


def _with_shared_assertion_key(settings: Settings) -> Settings:
    """Without a configured key each worker would make its own, and `/.auth/jwks` (answered by
    any worker) could not verify the others' assertions: make one ephemeral key before forking."""
    if settings.assertion.signing_keys_pem:
        return settings
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    log.warning("assertion_ephemeral_key", detail="shared by this process's workers only")
    assertion = dataclasses.replace(settings.assertion, signing_keys_pem=(pem,))
    return dataclasses.replace(settings, assertion=assertion)


def _run_workers(settings: Settings) -> int:
    """`workers` processes share the listeners through SO_REUSEPORT; the parent only relays
    signals and reports the worst exit code."""
    settings = _with_shared_assertion_key(settings)
    children: list[int] = []
    for _ in range(settings.workers):
        pid = os.fork()
        if pid == 0:  # the worker
            os._exit(_run_one(settings, reuse_port=True))
        children.append(pid)

    def relay(signum: int, _frame: object) -> None:
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                continue

    signal.signal(signal.SIGTERM, relay)
    signal.signal(signal.SIGINT, relay)
    worst = 0
    for child in children:
        _, status = os.waitpid(child, 0)
        worst = max(worst, os.waitstatus_to_exitcode(status) & 0xFF)
    return worst
