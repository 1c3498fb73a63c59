"""aiohttp's `ClientSession` as the proxy uses it (streamed bodies, websockets), and the
mapping of both upstream clients' failures to 502 / 504."""

from __future__ import annotations

from types import TracebackType

import aiohttp
from aiohttp import hdrs

from sidecar import aiohttp_internals
from sidecar.errors import UpstreamTimeout, UpstreamUnavailable
from sidecar.upstream.pool import MAX_CONNECTIONS

# Headers aiohttp's client would otherwise invent: a proxy forwards what the client sent.
# Accept-Encoding above all: the body is relayed undecoded, so the upstream must only compress
# what the client itself accepts.
SKIP_AUTO_HEADERS = (hdrs.ACCEPT, hdrs.ACCEPT_ENCODING, hdrs.USER_AGENT, hdrs.CONTENT_TYPE)


def create_upstream_session(
    connect_timeout_s: float, limit: int = MAX_CONNECTIONS
) -> aiohttp.ClientSession:
    """The client session `UpstreamProxy` needs: at most `limit` connections per origin, got
    within the connect timeout (waiting for a free one included: else `TimeoutError`, 504),
    no cookie jar (a shared jar would hand one user's upstream cookies to the next), no
    decompression.

    One connection per request (`force_close`): aiohttp's connector hands an idle connection
    to the next request without looking at what arrived on it meanwhile, so an upstream that
    sends bytes nobody asked for (content after a HEAD, 204 or 304 answer, RFC 9110 sections
    9.3.2, 15.3.5, 15.4.5; an unsolicited response) would have the next caller read them as
    its answer. This session carries streamed bodies and websockets (and, only when aiohttp's
    internals moved, everything: `sidecar.aiohttp_internals`); a new connection costs little
    next to a streamed body.

    Create it inside the running loop (a cleanup_ctx) and close it on shutdown.
    """
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=limit, force_close=True)
    timeout = aiohttp.ClientTimeout(
        total=None, connect=connect_timeout_s, sock_connect=connect_timeout_s
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        trust_env=False,
        skip_auto_headers=SKIP_AUTO_HEADERS,  # once here, not a set built per request
    )


class upstream_errors:  # lower case: used as `with upstream_errors():`, like a function
    """Map the failures that mean "no usable upstream answer" to 502 / 504.

    Timeouts first: aiohttp's timeout errors are also connection errors. (A class rather than
    a `contextlib.contextmanager` generator: it runs twice per proxied request.)
    """

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError since 3.11
            raise UpstreamTimeout("upstream timed out") from exc
        if isinstance(exc, _UPSTREAM_FAILURES):
            # refused, DNS, reset, disconnected before the status line, malformed response
            # (HttpProcessingError from the pooled client, ClientResponseError from
            # aiohttp's), websocket handshake refused, a buffered body cut short
            raise UpstreamUnavailable("upstream unavailable") from exc


_UPSTREAM_FAILURES = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientResponseError,
    aiohttp.ClientPayloadError,
    aiohttp_internals.HttpProcessingError,
)
