"""Request and response bodies between the client and the upstream: which are read whole
(declared length up to `BUFFER_LIMIT`: one write per hop) and which stream, and the copy of a
streamed answer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp import hdrs, web

from sidecar.upstream.pool import UpstreamResponse

# Bodies with a Content-Length up to this are read whole before they are passed on.
BUFFER_LIMIT = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
log = structlog.get_logger("sidecar.upstream.proxy")


async def request_body(request: web.Request) -> bytes | AsyncIterator[bytes] | None:
    """Small bodies of declared length whole (one write with the headers), others streamed."""
    if not request.body_exists:
        return None
    length = request.content_length
    if (
        length is not None
        and length <= BUFFER_LIMIT
        and hdrs.TRANSFER_ENCODING not in request.headers
    ):
        return await request.read()
    return request.content.iter_any()


def small_response(
    request: web.Request, upstream: UpstreamResponse | aiohttp.ClientResponse
) -> bool:
    length = upstream.content_length
    return (
        length is not None
        and length <= BUFFER_LIMIT
        and request.method != hdrs.METH_HEAD
        and upstream.status >= 200
        and upstream.status not in _NO_BODY_STATUSES
        and hdrs.TRANSFER_ENCODING not in upstream.headers
    )


async def copy_body(
    request: web.Request,
    upstream: UpstreamResponse | aiohttp.ClientResponse,
    response: web.StreamResponse,
) -> None:
    """Copy the upstream body to the client, one chunk in memory at a time.

    The status line is already sent, so an upstream failure from here on can only abort the
    client connection: a truncated body must never look complete (RFC 9112 section 8).
    """
    while True:
        try:
            chunk = await upstream.content.readany()
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
            log.warning("upstream_body_aborted", error=type(exc).__name__)
            abort_client(request, response)
            return
        if not chunk:
            break
        try:
            await response.write(chunk)
        except ConnectionResetError:  # the client went away: drop the upstream connection too
            upstream.close()
            return
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()


def abort_client(request: web.Request, response: web.StreamResponse) -> None:
    # Abort (RST) rather than close: a close after a read-until-close body would look complete.
    response.force_close()
    if request.transport is not None:
        request.transport.abort()
