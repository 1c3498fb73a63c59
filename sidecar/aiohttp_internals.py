"""Every use of aiohttp's undocumented API, in one place (issue 16 item 17).

Two parts of the sidecar lean on aiohttp below its documented surface:

- the upstream pool (`sidecar.upstream.pool`) drives aiohttp's connection protocol
  (`ResponseHandler`: the C response parser, `sock_read`, end-of-message bookkeeping) and its
  header writer (`StreamWriter`, buffered so that head and body leave in one write) directly,
  instead of `ClientSession.request` (docs/performance.md);
- the server's own error answers (`sidecar.http.protocol_errors`) replace the `RequestHandler`
  that `web.Server` makes for each connection (`AppRunner._make_server`, `server.__class__`).

`pyproject.toml` allows only the aiohttp minor release these were written against. If they
moved anyway, `usable()` says so once at start-up (one warning) and the sidecar runs on the
public API alone: every upstream request through `aiohttp.ClientSession`, aiohttp's own
answers to unparsable requests. Nothing else in `sidecar/` imports from these aiohttp modules.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import TYPE_CHECKING

import aiohttp
import structlog
from aiohttp import web
from multidict import CIMultiDict

_IMPORT_ERROR: ImportError | None = None
if TYPE_CHECKING:
    from aiohttp.client_proto import ResponseHandler
    from aiohttp.http import HttpProcessingError, RawResponseMessage, StreamWriter
    from aiohttp.web_protocol import RequestHandler
    from aiohttp.web_request import BaseRequest
    from aiohttp.web_server import Server
else:  # a moved module must not break the import: `self_check` reports it instead
    try:
        from aiohttp.client_proto import ResponseHandler
        from aiohttp.http import HttpProcessingError, RawResponseMessage, StreamWriter
        from aiohttp.web_protocol import RequestHandler
        from aiohttp.web_request import BaseRequest
        from aiohttp.web_server import Server
    except ImportError as exc:
        _IMPORT_ERROR = exc
        ResponseHandler = RequestHandler = Server = StreamWriter = object
        BaseRequest = RawResponseMessage = object
        HttpProcessingError = aiohttp.ClientResponseError  # some class for `except` tuples

__all__ = ["HttpProcessingError", "RawResponseMessage"]

log = structlog.get_logger(__name__)

# aiohttp's `TCPConnector` defaults: response lines and fields up to this size.
MAX_LINE_SIZE = 8190
READ_BUFSIZE = 2**16
# `ResponseHandler.set_response_params` keywords the pool passes.
_RESPONSE_PARAMS = frozenset(
    {"skip_payload", "read_until_eof", "auto_decompress", "read_timeout", "read_bufsize"}
    | {"max_line_size", "max_field_size"}
)


class PooledProtocol(ResponseHandler):
    """aiohttp's client connection protocol, plus one rule: a connection on which anything
    arrives while it is idle in the pool is closed at once, never handed to a request.

    Bytes no request asked for (an unsolicited response, the content of a HEAD, 204 or 304
    answer sent late: RFC 9110 sections 9.3.2, 15.3.5 and 15.4.5 say those have none) would
    otherwise be parsed and queued, and the next request on the connection would read them
    as its own answer. nginx closes an idle upstream connection on which anything arrives.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.idle = False

    def data_received(self, data: bytes) -> None:
        if self.idle and data:  # (aiohttp itself calls this with b"" to resume a parser)
            self.close()
            return
        super().data_received(data)

    @property
    def reusable(self) -> bool:
        """The message ended cleanly and nothing came after it: no unread or unparsed bytes
        (`should_close` covers aiohttp's queue, its tail and a parse error), still open."""
        return not self.should_close and self.is_connected()

    async def exchange(
        self,
        status_line: str,
        headers: CIMultiDict[str],
        body: bytes | None,
        head: bool,
        read_timeout: float | None,
    ) -> tuple[RawResponseMessage, aiohttp.StreamReader]:
        """Send one request (head and body in one write; `StreamWriter` refuses CR or LF in
        a field) and return its final answer's head and body reader."""
        self.set_response_params(
            skip_payload=head,
            # No length and not chunked: the body runs to the close (RFC 9112 section 6.3),
            # as `ClientSession` reads it by default.
            read_until_eof=True,
            auto_decompress=False,  # the body is relayed as the upstream encoded it
            read_timeout=read_timeout,
            read_bufsize=READ_BUFSIZE,
            max_line_size=MAX_LINE_SIZE,
            max_field_size=MAX_LINE_SIZE,
        )
        writer = StreamWriter(self, self._loop)
        await writer.write_headers(status_line, headers)  # buffered: one write with the body
        if body:
            await writer.write_eof(body)
        else:
            writer.set_eof()
        # aiohttp's `sock_read`: from the end of the request to the status line, then the
        # longest silence between two reads of the body.
        self.start_timeout()
        while True:
            try:
                message, payload = await self.read()
            except aiohttp.EofStream as exc:
                raise aiohttp.ServerDisconnectedError() from exc
            # 1xx answers other than 101 are interim (RFC 9110 section 15.2): the final one
            # follows on the same connection.
            if not 100 <= message.code <= 199 or message.code == 101:
                return message, payload


class ErrorAnsweringRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer the requests aiohttp cannot parse (bad request
    line, oversized or malformed headers) with `answer_error` instead of aiohttp's text."""

    def answer_error(
        self, request: web.BaseRequest, status: int, exc: BaseException | None
    ) -> web.StreamResponse:
        raise NotImplementedError

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        if usable():
            server.__class__ = _ErrorAnsweringServer  # same state, one overridden factory
            server.answer_error = self.answer_error  # type: ignore[attr-defined]
        return server


class _ErrorAnsweringServer(Server):
    def __call__(self) -> RequestHandler:
        handler = _ErrorAnsweringHandler(self, loop=self._loop, **self._kwargs)
        handler.answer_error = self.answer_error  # type: ignore[attr-defined]
        return handler


class _ErrorAnsweringHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            self.log_exception("unhandled error", exc_info=exc)  # our bug: keep the traceback
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        response: web.StreamResponse = self.answer_error(request, status, exc)  # type: ignore[attr-defined]
        response.force_close()
        return response


def self_check() -> str | None:
    """None when every piece above is where this module expects it, else what moved."""
    if _IMPORT_ERROR is not None:
        return f"import failed: {_IMPORT_ERROR}"
    params = set(inspect.signature(ResponseHandler.set_response_params).parameters)
    if not params >= _RESPONSE_PARAMS:
        return f"ResponseHandler.set_response_params lacks {sorted(_RESPONSE_PARAMS - params)}"
    errors = list(inspect.signature(RequestHandler.handle_error).parameters)
    if errors[:4] != ["self", "request", "status", "exc"]:
        return f"RequestHandler.handle_error takes {errors}"
    if not callable(getattr(web.AppRunner, "_make_server", None)):
        return "AppRunner._make_server is gone"
    loop = asyncio.new_event_loop()
    try:
        protocol = PooledProtocol(loop)
        protocol.set_response_params(read_until_eof=True, read_bufsize=READ_BUFSIZE)
        writer = StreamWriter(protocol, loop)
        for owner, names in [
            (protocol, ("should_close", "is_connected", "read", "close", "force_close", "_loop")),
            (writer, ("write_headers", "write_eof", "set_eof")),
        ]:
            for name in names:
                getattr(owner, name)
        # `should_close` must cover what arrived after a message (its queue and tail).
        protocol._tail = b"HTTP/1.1"
        if not protocol.should_close:
            return "ResponseHandler.should_close ignores unparsed bytes"
        if getattr(Server(_never, loop=loop, probe=1), "_kwargs", None) != {"probe": 1}:
            return "web_server.Server no longer keeps its handler arguments in _kwargs"
    except (AttributeError, TypeError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        loop.close()
    return None


async def _never(request: BaseRequest) -> web.StreamResponse:
    raise NotImplementedError


@functools.cache
def usable() -> bool:
    """Whether the internals are where they were (checked once, warned about once)."""
    problem = self_check()
    if problem is not None:
        log.warning(
            "aiohttp_internals_moved",
            aiohttp=aiohttp.__version__,
            problem=problem,
            fallback="aiohttp ClientSession for every upstream request; aiohttp's own answers"
            " to unparsable requests",
        )
    return problem is None
