"""The proxy's hot path to the upstream: keep-alive HTTP/1.1 connections, nothing else.

`aiohttp.ClientSession.request` is a general client. Per request it builds a `ClientRequest`
(cookies, auth, proxies, compression, redirects, auto headers), merges headers twice, runs a
timer context and, for a body on Python 3.11, a task to write it. On the bench machine
that was over a third of the sidecar's own CPU per proxied request (docs/performance.md). A
proxy forwarding a request it already holds needs none of it.

So this module keeps aiohttp's own pieces and drops the rest: the connection protocol
(`ResponseHandler`, with the C response parser, its `sock_read` timeout and its end-of-message
bookkeeping), header serialization (`StreamWriter`, which refuses CR or LF in a field), and
aiohttp's retry rule; those internals are reached through `sidecar.aiohttp_internals` only.
It serves requests whose body is already in memory (none, or a small one of declared length);
bodies to stream and websocket upgrades still go through `ClientSession`
(`sidecar.upstream.proxy`).

A response is only read by the request it answers: a connection is reused only when its
message ended cleanly with nothing after it, and closed if anything arrives while it is idle
(`PooledProtocol`). At most `limit` connections per origin (`upstream_max_connections`); a
request that gets none within the connect timeout fails with `TimeoutError` (504).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from types import TracebackType

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from sidecar.aiohttp_internals import PooledProtocol, RawResponseMessage

# RFC 9110 section 9.2.2; aiohttp's own list (`aiohttp.client.IDEMPOTENT_METHODS`).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# aiohttp's `TCPConnector` default: an idle connection older than this is not reused (an
# upstream may have closed it meanwhile).
KEEPALIVE_S = 15.0
# `upstream_max_connections`' default: connections to one origin in use at once.
MAX_CONNECTIONS = 1024

# A reused connection the upstream closed meanwhile fails with one of these before any byte
# of the answer arrives.
_STALE_CONNECTION = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionResetError)


class UpstreamResponse:
    """One answer on a pooled connection: status, headers, and the body as a `StreamReader`.

    The connection goes back to the pool once the body has been read to its end (`read`, or
    `content` read to EOF, then `release`); anything else closes it (`close`)."""

    def __init__(
        self,
        pool: UpstreamConnections,
        protocol: PooledProtocol,
        message: RawResponseMessage,
        payload: aiohttp.StreamReader,
    ) -> None:
        self._pool: UpstreamConnections | None = pool
        self._protocol = protocol
        self.status = message.code
        self.reason = message.reason
        self.headers: CIMultiDictProxy[str] = message.headers
        self.content = payload

    @property
    def content_length(self) -> int | None:
        value = self.headers.get(hdrs.CONTENT_LENGTH)
        return int(value) if value is not None and value.isdigit() else None

    async def read(self) -> bytes:
        """The whole body, then the connection back to the pool."""
        body = await self.content.read()
        self.release()
        return body

    def release(self) -> None:
        """Back to the pool if the message ended cleanly, else closed."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.release(self._protocol)

    def close(self) -> None:
        """Drop the connection (the client left, or the body is not wanted)."""
        self._protocol.force_close()
        self.release()

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()  # an unread body leaves `should_close` set: the connection is closed


class UpstreamConnections:
    """Keep-alive connections to one upstream origin, at most `limit` in use at once.

    Errors are aiohttp's own (connection, payload, `TimeoutError` for the connect and read
    timeouts), so `sidecar.upstream.session.upstream_errors` maps both clients the same way.
    """

    def __init__(
        self,
        base_url: URL,
        *,
        connect_timeout_s: float | None,
        read_timeout_s: float | None,
        limit: int = MAX_CONNECTIONS,
        keepalive_s: float = KEEPALIVE_S,
    ) -> None:
        if base_url.scheme not in ("http", "https") or not base_url.host:
            raise ValueError("the upstream must be an http or https URL with a host")
        https = base_url.scheme == "https"
        self._host = base_url.host
        self._port = base_url.port or (443 if https else 80)
        self._ssl: ssl.SSLContext | None = None
        if https:
            # The system's trust store; SSL_CERT_FILE / SSL_CERT_DIR extend it (the chart's
            # `caBundle`), as for aiohttp's own default context.
            self._ssl = ssl.create_default_context()
        # What aiohttp sends as `Host` for this URL: the port only when not the default.
        # (`host_subcomponent`: an IPv6 literal keeps its brackets, RFC 9110 section 7.2.)
        self.host_header = base_url.host_subcomponent or ""
        if base_url.explicit_port is not None and not base_url.is_default_port():
            self.host_header += f":{base_url.port}"
        self._connect_timeout = connect_timeout_s
        self._read_timeout = read_timeout_s
        self._keepalive_s = keepalive_s
        self._idle: collections.deque[tuple[PooledProtocol, float]] = collections.deque()
        self._slots = asyncio.Semaphore(limit)
        self._closed = False
        self._sweep: asyncio.TimerHandle | None = None

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def request(
        self, method: str, target: str, headers: CIMultiDict[str], body: bytes | None
    ) -> UpstreamResponse:
        """Send `method target` with `headers` (sent as they are: the caller has set `Host`)
        and `body`, and return the answer once its status line and headers are in.

        RFC 9112 section 9.3.1: a request that failed on a reused connection before any answer
        came is sent once more on a new one, if its method is idempotent (as aiohttp does).
        """
        if body is not None:
            headers[hdrs.CONTENT_LENGTH] = str(len(body))
        elif method not in _BODYLESS_METHODS and hdrs.CONTENT_LENGTH not in headers:
            # A POST without body says so (some servers answer 411 otherwise), as aiohttp's
            # ClientRequest does for every method but GET, HEAD, OPTIONS and TRACE.
            headers[hdrs.CONTENT_LENGTH] = "0"
        status_line = f"{method} {target} HTTP/1.1"
        retry = method in IDEMPOTENT_METHODS
        head = method == hdrs.METH_HEAD
        if self._slots.locked():
            deadline = await self.acquire_slot()
        else:
            await self._slots.acquire()  # a free slot: taken without suspending
            deadline = None
        try:
            while True:
                protocol, reused = await self._connection(deadline)
                try:
                    message, payload = await protocol.exchange(
                        status_line, headers, body, head, self._read_timeout
                    )
                except _STALE_CONNECTION:
                    protocol.close()
                    if not (reused and retry):
                        raise
                    retry = False
                    continue
                except BaseException:
                    protocol.close()
                    raise
                if message.code == 204 and _framed_content(message.headers):
                    # RFC 9110 section 15.3.5: a 204 has no content, and RFC 9112 section 6.1
                    # forbids Transfer-Encoding on it: one that frames content anyway leaves
                    # the end of the message in doubt, so its connection is not reused. (The
                    # Content-Length of a HEAD or 304 answer is the GET's: 9.3.2, 15.4.5.)
                    protocol.force_close()
                return UpstreamResponse(self, protocol, message, payload)
        except BaseException:
            self._slots.release()
            raise

    async def acquire_slot(self) -> float | None:
        """Take one of the origin's `limit` slots within the connect timeout (else
        `TimeoutError`: 504); `release_slot` frees it. Returns the deadline of a wait, if any."""
        if not self._slots.locked():
            await self._slots.acquire()  # a free slot: taken without suspending
            return None
        if self._connect_timeout is None:
            await self._slots.acquire()
            return None
        deadline = asyncio.get_running_loop().time() + self._connect_timeout
        async with asyncio.timeout_at(deadline):
            await self._slots.acquire()
        return deadline

    def release_slot(self) -> None:
        self._slots.release()

    def release(self, protocol: PooledProtocol) -> None:
        """The connection back to the pool if its message ended cleanly and nothing came
        after it (`PooledProtocol.reusable`), else closed; its slot is freed either way."""
        if self._closed or not protocol.reusable:
            protocol.close()
        else:
            protocol.idle = True  # from now on, any byte that arrives closes it
            self._idle.append((protocol, time.monotonic()))
            if self._sweep is None:
                self._schedule_sweep()
        self._slots.release()

    async def close(self) -> None:
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        while self._idle:
            protocol, _ = self._idle.popleft()
            protocol.close()

    def _schedule_sweep(self) -> None:
        loop = asyncio.get_running_loop()
        self._sweep = loop.call_later(self._keepalive_s, self._close_expired)

    def _close_expired(self) -> None:
        """Close connections idle longer than `keepalive_s` (as aiohttp's connector does), so
        that a quiet sidecar holds no sockets its upstream is about to drop anyway."""
        self._sweep = None
        deadline = time.monotonic() - self._keepalive_s
        while self._idle and self._idle[0][1] <= deadline:
            protocol, _ = self._idle.popleft()
            protocol.close()
        if self._idle:
            self._schedule_sweep()

    async def _connection(self, deadline: float | None) -> tuple[PooledProtocol, bool]:
        now = time.monotonic()
        while self._idle:
            protocol, idle_since = self._idle.popleft()
            if protocol.is_connected() and now - idle_since <= self._keepalive_s:
                protocol.idle = False
                return protocol, True
            protocol.close()
        loop = asyncio.get_running_loop()
        try:
            async with (
                asyncio.timeout(self._connect_timeout)
                if deadline is None
                else asyncio.timeout_at(deadline)
            ):
                _, protocol = await loop.create_connection(
                    lambda: PooledProtocol(loop), self._host, self._port, ssl=self._ssl
                )
        except OSError as exc:  # refused, unreachable, DNS, TLS: like aiohttp's connector
            raise aiohttp.ClientConnectionError("cannot connect to the upstream") from exc
        return protocol, False


def _framed_content(headers: CIMultiDictProxy[str]) -> bool:
    return hdrs.TRANSFER_ENCODING in headers or headers.get(hdrs.CONTENT_LENGTH, "0") != "0"
