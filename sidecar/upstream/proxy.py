"""Streaming reverse proxy to the upstream service (proxy mode).

Large bodies and bodies of unknown length are never buffered: the request body streams from
the client socket into the upstream request, and the response body streams back chunk by
chunk, with aiohttp's flow control giving backpressure both ways (server-sent events and long
polls get their headers at once). A body with a declared length of at most `BUFFER_LIMIT` is
read whole first (`sidecar.upstream.bodies`), so that its headers and body leave in one write
(one send per hop instead of two or three: each send is a system call and a wake-up of the
peer). Websocket upgrades are relayed by `sidecar.upstream.websocket`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
from aiohttp import hdrs, web
from multidict import CIMultiDict
from yarl import URL

from sidecar import aiohttp_internals
from sidecar.errors import BadRequest, UpstreamUnavailable
from sidecar.upstream import websocket as proxy_ws
from sidecar.upstream.bodies import copy_body, request_body, small_response
from sidecar.upstream.pool import UpstreamConnections, UpstreamResponse
from sidecar.upstream.session import SKIP_AUTO_HEADERS, upstream_errors

# nginx's convention for "the client closed the connection before the response": only ever
# reaches the access log, since nobody is left to read it.
CLIENT_CLOSED_REQUEST = 499
# RFC 3986 section 3.3 `pchar` sub-delims and ':' '@' stay as they are (matrix parameters
# such as `;x=1` arrive intact); everything else in a decoded path is percent-encoded.
_PATH_SAFE = "/;:@!$&'()*+,="

# Encoded upstream paths remembered per proxy: only those up to this length (bounded memory).
_ENCODE_CACHE_MAX = 256

_HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        hdrs.CONNECTION,
        "Proxy-Connection",
        hdrs.KEEP_ALIVE,
        hdrs.PROXY_AUTHENTICATE,
        hdrs.PROXY_AUTHORIZATION,
        hdrs.TE,
        hdrs.TRAILER,
        hdrs.TRANSFER_ENCODING,
        hdrs.UPGRADE,
    )
)


def _encode_path(path: str) -> str:
    return quote(path, safe=_PATH_SAFE)


def drop_hop_by_hop(headers: CIMultiDict[str]) -> None:
    """Remove the hop-by-hop fields from `headers`, in place.

    RFC 9110 section 7.6.1: a proxy removes Connection, Proxy-Connection, Keep-Alive, TE,
    Transfer-Encoding and Upgrade, and every field named in Connection. Proxy-Authenticate and
    Proxy-Authorization (sections 11.7.1, 11.7.2) are for the proxy they reach, and Trailer
    (RFC 9112 section 6.5) describes a framing this hop does not forward. Duplicate fields keep
    their order. Usually there is none: one pass over the names finds that.
    """
    drop = _HOP_BY_HOP
    if hdrs.CONNECTION in headers:
        named = {
            token.strip().lower()
            for value in headers.getall(hdrs.CONNECTION)
            for token in value.split(",")
        }
        drop = drop | named
    for name in {name for name in headers if name.lower() in drop}:
        headers.popall(name)


class UpstreamProxy:
    """Forwards one request to the upstream and streams its answer back."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        *,
        response_timeout_s: float,
        preserve_host: bool = False,
        connections: UpstreamConnections | None = None,
    ) -> None:
        if not isinstance(session.cookie_jar, aiohttp.DummyCookieJar):
            raise ValueError("the upstream session must not keep cookies: use DummyCookieJar")
        if session.auto_decompress or not session.skip_auto_headers >= set(SKIP_AUTO_HEADERS):
            raise ValueError("the upstream session must relay bodies and headers as sent")
        base = URL(base_url)
        # The origin and path prefix as text, once: the request target is appended per call.
        self._prefix = base.raw_path.rstrip("/")
        self._origin = str(base.origin())
        self._session = session
        # The same few paths again and again: their encoding is remembered (a pure function).
        self._encode_path = functools.lru_cache(maxsize=4096)(_encode_path)
        # Requests whose body is in memory (most) take the pooled client; the rest, aiohttp's.
        # Routes to one origin share one pool (`connections`); without it, a pool of its own;
        # none when aiohttp's internals moved (every request through aiohttp's client).
        if connections is None and aiohttp_internals.usable():
            connections = UpstreamConnections(
                base,
                connect_timeout_s=session.timeout.sock_connect,
                read_timeout_s=response_timeout_s,
            )
        self._connections = connections
        self._preserve_host = preserve_host
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=session.timeout.connect,
            sock_connect=session.timeout.sock_connect,
            # aiohttp starts this clock once the request body is sent: time to the response
            # headers, then the longest silence allowed between two body reads.
            sock_read=response_timeout_s,
        )

    async def close(self) -> None:
        """Close the idle pooled connections (aiohttp's session is closed by its owner); a
        pool shared with other routes' proxies closes once, later calls do nothing."""
        if self._connections is not None:
            await self._connections.close()

    def upstream_target(self, request: web.BaseRequest, path: str | None = None) -> str:
        """The base URL's path prefix, then the request target: as received, or `path` (the
        normalized path the policy judged, re-encoded) with the raw query."""
        target = request.raw_path
        if path is not None:
            query = request.rel_url.raw_query_string
            remembered = len(path) <= _ENCODE_CACHE_MAX
            encoded = self._encode_path(path) if remembered else _encode_path(path)
            target = encoded + (f"?{query}" if query else "")
        elif not target.startswith("/"):  # absolute-form (RFC 9112 section 3.2.2)
            target = URL(target, encoded=True).raw_path_qs
        return self._prefix + target

    def _url(self, target: str) -> URL:
        """`target` (from `upstream_target`) on the base URL's origin, for aiohttp's client."""
        return URL(self._origin + target, encoded=True)

    def upstream_headers(self, headers: CIMultiDict[str]) -> CIMultiDict[str]:
        """`headers` made fit for the upstream, in place (the pipeline's own copy): without
        hop-by-hop fields, `Expect`, and `Host` unless it is preserved."""
        drop_hop_by_hop(headers)
        # The sidecar already answered any `Expect: 100-continue` itself (aiohttp's server does).
        if hdrs.EXPECT in headers:
            headers.popall(hdrs.EXPECT)
        if not self._preserve_host and hdrs.HOST in headers:
            headers.popall(hdrs.HOST)  # set from the upstream URL
        return headers

    async def forward(
        self, request: web.Request, headers: CIMultiDict[str], path: str | None = None
    ) -> web.StreamResponse:
        """Send the request with `headers` (the pipeline's `upstream_headers`, which this
        changes in place) to the upstream at `path`, and relay the answer."""
        target = self.upstream_target(request, path)
        out_headers = self.upstream_headers(headers)
        if proxy_ws.is_websocket_upgrade(request):
            return await self._forward_websocket(request, self._url(target), out_headers)
        pool, slot = self._connections, None
        upstream: UpstreamResponse | aiohttp.ClientResponse
        try:
            body = await request_body(request)
            with upstream_errors():
                if pool is not None and (body is None or isinstance(body, bytes)):
                    if hdrs.HOST not in out_headers:
                        out_headers[hdrs.HOST] = pool.host_header
                    upstream = await pool.request(request.method, target, out_headers, body)
                else:
                    upstream = await self._session_request(
                        request.method, target, out_headers, body
                    )
                    slot = pool
        except (UpstreamUnavailable, ConnectionError):
            if request.transport is None:  # the client left mid-upload: nobody to answer
                return web.Response(status=CLIENT_CLOSED_REQUEST)
            raise
        try:
            async with upstream:
                if small_response(request, upstream):
                    return await _buffered_response(upstream)
                return await self._relay_response(request, upstream)
        finally:
            if slot is not None:
                slot.release_slot()

    async def _session_request(
        self,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: bytes | AsyncIterator[bytes] | None,
    ) -> aiohttp.ClientResponse:
        """Through aiohttp's client, on a slot of the origin's pool when there is one: the
        connection limit (`upstream_max_connections`) covers both clients."""
        pool = self._connections
        if pool is not None:
            await pool.acquire_slot()
        try:
            return await self._session.request(
                method,
                self._url(target),
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=self._timeout,
            )
        except BaseException:
            if pool is not None:
                pool.release_slot()
            raise

    async def _relay_response(
        self, request: web.Request, upstream: UpstreamResponse | aiohttp.ClientResponse
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(upstream.headers)
        drop_hop_by_hop(response.headers)
        try:
            await response.prepare(request)
        except ConnectionResetError:
            upstream.close()
            return response
        await copy_body(request, upstream, response)
        return response

    async def _forward_websocket(
        self, request: web.Request, url: URL, headers: CIMultiDict[str]
    ) -> web.StreamResponse:
        if not proxy_ws.client_can_upgrade(request):
            raise BadRequest("invalid websocket handshake")
        handshake = proxy_ws.handshake_headers(headers)
        protocols = proxy_ws.requested_protocols(request)
        with upstream_errors():
            # ws_connect has no per-call response timeout: bound the handshake here.
            async with asyncio.timeout(self._timeout.sock_read):
                upstream = await self._session.ws_connect(
                    url, headers=handshake, protocols=protocols
                )
        return await proxy_ws.relay(request, upstream)


async def _buffered_response(
    upstream: UpstreamResponse | aiohttp.ClientResponse,
) -> web.Response:
    """The whole body is read before the status line is sent, so an upstream failing
    mid-body is still a clean 502 / 504 here."""
    with upstream_errors():
        content = upstream.content
        if content.is_eof() and content.exception() is None:
            # Usually a small body came in with the headers: take it without awaiting.
            body = content.read_nowait()
            upstream.release()
        else:
            body = await upstream.read()
    response = web.Response(
        status=upstream.status, reason=upstream.reason, headers=upstream.headers, body=body
    )
    drop_hop_by_hop(response.headers)
    return response
