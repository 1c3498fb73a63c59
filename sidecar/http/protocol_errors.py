"""The HTTP server's own error answers, in the contract's shape.

aiohttp answers requests it cannot parse (bad request line, oversized or malformed headers)
before any middleware runs, with a text body that echoes the offending input, and logs a
traceback at ERROR level for each, so any client can flood the log. CONTRACT "Status codes":
error bodies are small JSON and never echo exception text. This handler keeps aiohttp's
status codes and connection handling and changes only the body and the log line.
"""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from sidecar.pipeline.context import REQUEST_ID

log = structlog.get_logger("sidecar.http")


class JsonErrorRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            self.log_exception("unhandled error", exc_info=exc)  # our bug: keep the traceback
        else:
            log.warning("unparsable_request", status=status, reason=type(exc).__name__)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        error = HTTPStatus(status).phrase.lower().replace(" ", "_") if status else "error"
        # The access line's id when the request got that far (a handler's bug), else a new one.
        req_id = request.get(REQUEST_ID) or uuid.uuid4().hex
        body = json.dumps({"error": error, "request_id": req_id})
        response = web.Response(
            status=status,
            text=body,
            content_type="application/json",
            headers={"X-Request-ID": req_id},
        )
        response.force_close()
        return response


class _JsonErrorServer(Server):
    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class SidecarRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer protocol errors with JSON."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # same state, one overridden factory method
        return server
