"""The two middlewares: request context + the log phase, and the error mapping.

CONTRACT "Status codes": no answer, the router's included, goes out without the JSON error
body and `X-Request-ID`, and the access line records the status sent. aiohttp answers some
requests itself by raising an `HTTPException` (the router's 404 for `OPTIONS *` or a
`CONNECT` target, a 405, a body over a limit): the error middleware gives those the same JSON
shape as the sidecar's own errors, and the log phase records the status aiohttp sends for what
still escapes (504 for a timeout, 500 for a bug, 499 when the client left).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict

from sidecar.config.settings import IPNetwork
from sidecar.errors import LoginRequired, SidecarError
from sidecar.logging import AccessLog, access_logger
from sidecar.metrics import Metrics
from sidecar.net import is_trusted_peer
from sidecar.pipeline.context import DECISION, REQUEST_ID, SUBJECT, TRUSTED_PEER
from sidecar.pipeline.headers import request_id
from sidecar.upstream.proxy import CLIENT_CLOSED_REQUEST  # nothing sent: the client left

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# What aiohttp's server sends for an exception that escapes every middleware
# (`RequestHandler._handle_request`): a timeout is a 504, anything else a 500.
_TIMEOUT_STATUS, _UNHANDLED_STATUS = 504, 500
# Fields of an `HTTPException` that describe its plain-text body, not the JSON one sent instead.
_BODY_FIELDS = ("Content-Type", "Content-Length", "Content-Encoding")


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
        status = _UNHANDLED_STATUS
        try:
            response = await handler(request)
            status = response.status
            return response
        except TimeoutError:
            status = _TIMEOUT_STATUS
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED_REQUEST
            raise
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
    except web.HTTPException as exc:  # aiohttp's own answer: the router's, a size limit, ...
        name = status_error(exc.status)
        if request[DECISION] == "unknown":
            request[DECISION] = name
        return http_exception_response(exc, name, request[REQUEST_ID])


def status_error(status: int) -> str:
    """The `error` of a status aiohttp chose: its reason phrase in snake case (`not_found`,
    `method_not_allowed`); a bounded set, fit for the `decision` metric label."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:  # not a registered status code
        return "error"


def http_exception_response(exc: web.HTTPException, error: str, req_id: str) -> web.Response:
    """`exc` as sent, with the contract's JSON body and `X-Request-ID`; its other headers
    (`Allow` of a 405, `Location` of a redirect) kept. A status below 400 is no error: like
    the sidecar's own redirects it goes without a body, as does a status that has none."""
    headers = CIMultiDict(exc.headers)
    for name in _BODY_FIELDS:
        headers.popall(name, None)
    headers["X-Request-ID"] = req_id
    if exc.status < 400 or exc.empty_body:
        return web.Response(status=exc.status, reason=exc.reason, headers=headers)
    return web.Response(
        status=exc.status,
        reason=exc.reason,
        headers=headers,
        text=error_body(error, req_id),
        content_type="application/json",
    )


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
