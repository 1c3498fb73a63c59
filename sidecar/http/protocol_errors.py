"""The HTTP server's own error answers, in the contract's shape.

aiohttp answers requests it cannot parse (bad request line, oversized or malformed headers)
before any middleware runs, with a text body that echoes the offending input, and logs a
traceback at ERROR level for each, so any client can flood the log. CONTRACT "Status codes":
error bodies are small JSON and never echo exception text. This runner keeps aiohttp's
status codes and connection handling and changes only the body and the log line (the hook
into aiohttp's connection handler is `sidecar.aiohttp_internals.ErrorAnsweringRunner`).
"""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus

import structlog
from aiohttp import web

from sidecar.aiohttp_internals import ErrorAnsweringRunner
from sidecar.pipeline.context import REQUEST_ID

log = structlog.get_logger("sidecar.http")


class SidecarRunner(ErrorAnsweringRunner):
    """`web.AppRunner` whose connections answer protocol errors with JSON."""

    def answer_error(
        self, request: web.BaseRequest, status: int, exc: BaseException | None
    ) -> web.StreamResponse:
        if status < 500:
            log.warning("unparsable_request", status=status, reason=type(exc).__name__)
        error = HTTPStatus(status).phrase.lower().replace(" ", "_") if status else "error"
        # The access line's id when the request got that far (a handler's bug), else a new one.
        req_id = request.get(REQUEST_ID) or uuid.uuid4().hex
        body = json.dumps({"error": error, "request_id": req_id})
        return web.Response(
            status=status,
            text=body,
            content_type="application/json",
            headers={"X-Request-ID": req_id},
        )
