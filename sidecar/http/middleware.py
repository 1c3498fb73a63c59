"""The two middlewares: request context + the log phase, and the error mapping."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from sidecar.config.settings import IPNetwork
from sidecar.errors import LoginRequired, SidecarError
from sidecar.logging import AccessLog, access_logger
from sidecar.metrics import Metrics
from sidecar.net import is_trusted_peer
from sidecar.pipeline.context import DECISION, REQUEST_ID, SUBJECT, TRUSTED_PEER
from sidecar.pipeline.headers import request_id

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_body(error: str, req_id: str) -> str:
    return json.dumps({"error": error, "request_id": req_id})


def make_context_middleware(
    trusted_proxies: Sequence[IPNetwork], metrics: Metrics, log: AccessLog | None = None
) -> Middleware:
    """Assign the request id, then log one line and count the request, whatever happened."""
    log = log if log is not None else access_logger()

    # A pod sees few peer addresses (the gateway's, the probes'): parse and match each once.
    @functools.lru_cache(maxsize=1024)
    def trusted_peer(peer: str | None) -> bool:
        return is_trusted_peer(peer, trusted_proxies)

    @web.middleware
    async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        trusted = trusted_peer(request.remote)
        req_id = request_id(request.headers, trusted=trusted)
        request[REQUEST_ID], request[TRUSTED_PEER] = req_id, trusted
        request[DECISION], request[SUBJECT] = "unknown", ""
        # For the other lines of this request. aiohttp runs each request in a task of its
        # own, on a copy of the context: nothing bound here outlives the request, so there
        # is nothing to clear first (clear_contextvars walks the whole context: ~5 us).
        structlog.contextvars.bind_contextvars(request_id=req_id)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            duration = time.perf_counter() - started
            decision = request[DECISION]
            metrics.observe_request(decision, duration)
            log.info(
                "request",
                request_id=req_id,
                method=request.method,
                path=request.path,
                status=status,
                decision=decision,
                duration_ms=round(duration * 1000, 3),
                sub=request[SUBJECT] or None,
            )

    return context_middleware


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map the exception tree to small JSON bodies; never the exception's own text."""
    try:
        return await handler(request)
    except SidecarError as error:
        if request[DECISION] == "unknown":
            request[DECISION] = error.error
        return error_response(error, request[REQUEST_ID])


def error_response(error: SidecarError, req_id: str) -> web.Response:
    headers = error.response_headers()
    headers["X-Request-ID"] = req_id
    if isinstance(error, LoginRequired):
        return web.Response(status=302, headers=headers)
    return web.Response(
        status=error.status,
        headers=headers,
        text=error_body(error.error, req_id),
        content_type="application/json",
    )
