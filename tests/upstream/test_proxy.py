"""The streaming reverse proxy against real aiohttp upstreams, through real listening sockets.

Plain forwarding runs against the shared echo upstream (`tests/fixtures/upstream.py`); what it
cannot do (odd response headers, dying mid-body, watching an aborted upload, websocket close
codes) runs against the small fault-injecting upstream below.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psutil
import pytest
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from sidecar.errors import SidecarError
from sidecar.upstream.proxy import UpstreamProxy
from sidecar.upstream.session import create_upstream_session
from tests.fixtures.upstream import EchoUpstream, download_sha256

MB = 1024 * 1024
BIG = 50 * MB
CHUNK = 64 * 1024

StartProxy = Callable[..., Awaitable[URL]]


def at(origin: URL, target: str) -> URL:
    """`target` appended to `origin` byte for byte: no quoting, no dot-segment removal."""
    return URL(f"{origin}{target}", encoded=True)


def header_pairs(echoed: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k.lower(), v) for k, v in echoed["headers"]]


# ---- the fault-injecting upstream -------------------------------------------------------------


@dataclass
class Faulty:
    url: URL = field(default_factory=URL)
    ws_dials: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)  # ends /slow
    die: asyncio.Event = field(default_factory=asyncio.Event)  # ends /die mid-body
    upload_started: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: asyncio.Queue[tuple[str, int]] = field(default_factory=asyncio.Queue)
    ws_close_codes: asyncio.Queue[int | None] = field(default_factory=asyncio.Queue)


FAULTY = web.AppKey("faulty", Faulty)


async def odd_headers(request: web.Request) -> web.Response:
    headers = CIMultiDict(
        [
            ("Connection", "keep-alive, X-Hop-Resp"),
            ("X-Hop-Resp", "secret"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Authenticate", 'Basic realm="x"'),
            ("Trailer", "X-Checksum"),
            ("Set-Cookie", "a=1; Path=/"),
            ("Set-Cookie", "b=2; Path=/; HttpOnly"),
            ("X-Multi", "one"),
            ("X-Multi", "two"),
        ]
    )
    return web.Response(body=b"twelve bytes", headers=headers, content_type="text/plain")


async def gzipped(request: web.Request) -> web.Response:
    return web.Response(
        body=gzip.compress(b"squeezed " * 100), headers={"Content-Encoding": "gzip"}
    )


async def unsized(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)  # no Content-Length: chunked
    for part in (b"alpha ", b"beta ", b"gamma"):
        await response.write(part)
    await response.write_eof()
    return response


async def short_small(request: web.Request) -> web.StreamResponse:
    """Declares a small body (one the proxy buffers), sends part of it and closes."""
    response = web.StreamResponse()
    response.content_length = 1000
    await response.prepare(request)
    await response.write(b"z" * 100)
    assert request.transport is not None
    request.transport.close()
    return response


async def slow(request: web.Request) -> web.Response:
    await request.app[FAULTY].release.wait()
    return web.Response(text="too late")


async def die_mid_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    if request.query.get("framing") == "length":
        response.content_length = MB
    await response.prepare(request)
    await response.write(b"x" * CHUNK)
    await request.app[FAULTY].die.wait()
    assert request.transport is not None
    request.transport.close()
    return response


async def watch_upload(request: web.Request) -> web.Response:
    faulty, received = request.app[FAULTY], 0
    try:
        async for chunk in request.content.iter_chunked(CHUNK):
            received += len(chunk)
            faulty.upload_started.set()
    except (ConnectionError, aiohttp.ClientPayloadError, asyncio.CancelledError):
        # the test server cancels its handler when the connection drops
        faulty.outcome.put_nowait(("aborted", received))
        raise
    faulty.outcome.put_nowait(("complete", received))
    return web.Response(text="ok")


async def endless(request: web.Request) -> web.StreamResponse:
    response, sent = web.StreamResponse(), 0
    await response.prepare(request)
    try:
        while True:
            await response.write(b"y" * CHUNK)
            sent += CHUNK
    except (ConnectionError, asyncio.CancelledError):
        request.app[FAULTY].outcome.put_nowait(("aborted", sent))
        raise


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    request.app[FAULTY].ws_dials += 1
    ws = web.WebSocketResponse(protocols=("chat.v2",))
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is aiohttp.WSMsgType.TEXT and msg.data == "close please":
            await ws.close(code=4001, message=b"asked to")
        elif msg.type is aiohttp.WSMsgType.TEXT:
            await ws.send_str("echo:" + msg.data)
        elif msg.type is aiohttp.WSMsgType.BINARY:
            await ws.send_bytes(msg.data[::-1])
    request.app[FAULTY].ws_close_codes.put_nowait(ws.close_code)
    return ws


async def plain(request: web.Request) -> web.Response:
    return web.Response(text="plain http")


def faulty_app(faulty: Faulty) -> web.Application:
    app = web.Application()
    app[FAULTY] = faulty
    for path, handler in [
        ("/headers", odd_headers),
        ("/gzip", gzipped),
        ("/unsized", unsized),
        ("/slow", slow),
        ("/die", die_mid_body),
        ("/short", short_small),
        ("/endless", endless),
        ("/ws", ws_echo),
        ("/plain", plain),
    ]:
        app.router.add_get(path, handler)
    app.router.add_post("/watch-upload", watch_upload)
    return app


@pytest.fixture
async def faulty(aiohttp_server) -> AsyncIterator[Faulty]:
    state = Faulty()
    server = await aiohttp_server(faulty_app(state))
    state.url = server.make_url("")
    yield state
    state.release.set()  # let parked handlers finish so the servers stop promptly
    state.die.set()


# ---- the proxy under test ---------------------------------------------------------------------


@web.middleware
async def sidecar_errors(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Stand-in for the app's error middleware: SidecarError -> status and JSON."""
    try:
        return await handler(request)
    except SidecarError as exc:
        return web.json_response({"error": exc.error}, status=exc.status)


PROXY = web.AppKey("proxy", UpstreamProxy)


def proxy_app(base_url: str, response_timeout_s: float) -> web.Application:
    async def upstream_session(app: web.Application) -> AsyncIterator[None]:
        session = create_upstream_session(connect_timeout_s=2.0)
        proxy = UpstreamProxy(base_url, session, response_timeout_s=response_timeout_s)
        app[PROXY] = proxy
        yield
        await proxy.close()
        await session.close()

    async def forward(request: web.Request) -> web.StreamResponse:
        return await request.app[PROXY].forward(request, CIMultiDict(request.headers))

    app = web.Application(middlewares=[sidecar_errors])
    app.cleanup_ctx.append(upstream_session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


@pytest.fixture(params=[False], ids=["no-handler-cancellation"])
async def start_proxy(request: pytest.FixtureRequest) -> AsyncIterator[StartProxy]:
    """Starts proxies on free loopback ports. aiohttp's TestServer always cancels a handler
    whose client left; the production default does not, so the proxy runs under its own runner
    (and, for the disconnect tests, under both settings)."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(base_url: str, response_timeout_s: float = 1.0) -> URL:
            app = proxy_app(base_url, response_timeout_s)
            runner = web.AppRunner(app, handler_cancellation=request.param, shutdown_timeout=5)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            host, port = runner.addresses[0][:2]
            return URL.build(scheme="http", host=host, port=port)

        yield start


both_cancellation_modes = pytest.mark.parametrize(
    "start_proxy",
    [False, True],
    ids=["no-handler-cancellation", "handler-cancellation"],
    indirect=True,
)


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


@pytest.fixture
async def to_echo(start_proxy: StartProxy, echo_upstream: EchoUpstream) -> URL:
    """A proxy to the echo upstream under the base path `/base/`."""
    return await start_proxy(echo_upstream.url + "/base/")


@pytest.fixture
async def to_faulty(start_proxy: StartProxy, faulty: Faulty) -> URL:
    return await start_proxy(str(faulty.url))


class PeakRss:
    """Samples this process's RSS in a thread; `growth` is the peak above the starting value."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.baseline = self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


# ---- requests out -----------------------------------------------------------------------------

ODD_TARGETS = [
    "/",
    "/plain/path?x=1&x=2",
    "/odd;p=1/a%2Fb/%7Euser/$!*'(),@:+=/",
    "//double//slash/?q=a+b&empty=&flag&sp=%20",
    "/dots/../and/./more",
    "/q?redirect=/x?y=z&json=%7B%22a%22%3A1%7D",
]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("target", ODD_TARGETS)
async def test_method_path_and_query_are_forwarded_exactly(
    to_echo: URL, client: aiohttp.ClientSession, method: str, target: str
):
    body = f"body for {method}".encode() if method in ("POST", "PUT", "PATCH") else None
    async with client.request(method, at(to_echo, target), data=body) as resp:
        assert resp.status == 200
        echoed = await resp.json()
    assert echoed["method"] == method
    assert echoed["raw_path"] == "/base" + target  # the upstream's path prefix is kept
    assert echoed["body_sha256"] == hashlib.sha256(body or b"").hexdigest()


async def test_hop_by_hop_request_headers_are_removed_and_end_to_end_kept(
    to_echo: URL, client: aiohttp.ClientSession, echo_upstream: EchoUpstream
):
    headers = CIMultiDict(
        [
            ("Connection", "keep-alive, X-Hop-Custom"),
            ("X-Hop-Custom", "must go"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("Proxy-Authorization", "Basic cHJveHk6cGFzcw=="),
            ("TE", "trailers"),
            ("Trailer", "X-Checksum"),
            ("Host", "public.example.com"),
            ("X-Dup", "first"),
            ("X-Dup", "second"),
            ("Cookie", "a=1"),
            ("Accept", "text/csv"),
        ]
    )
    async with client.get(
        at(to_echo, "/h"), headers=headers, skip_auto_headers=("Accept-Encoding", "User-Agent")
    ) as resp:
        seen = header_pairs(await resp.json())
    names = {k for k, _ in seen}
    hop = {"connection", "x-hop-custom", "keep-alive", "proxy-connection", "proxy-authorization"}
    assert not names & (hop | {"te", "trailer", "transfer-encoding", "upgrade"})
    assert [v for k, v in seen if k == "x-dup"] == ["first", "second"]
    assert ("cookie", "a=1") in seen
    assert ("accept", "text/csv") in seen
    # nothing the client did not send is invented (the body is relayed undecoded)
    assert "accept-encoding" not in names
    assert "user-agent" not in names
    assert [v for k, v in seen if k == "host"] == [URL(echo_upstream.url).raw_authority]


async def test_chunked_upload_is_rechunked_without_the_clients_framing(
    to_echo: URL, client: aiohttp.ClientSession
):
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one ", b"two ", b"three"):
            yield part

    async with client.put(at(to_echo, "/chunked-in"), data=parts()) as resp:
        echoed = await resp.json()
    assert echoed["body_len"] == len(b"one two three")
    assert echoed["body_sha256"] == hashlib.sha256(b"one two three").hexdigest()
    assert [v for k, v in header_pairs(echoed) if k == "transfer-encoding"] == ["chunked"]


async def test_small_sized_upload_keeps_its_length(to_echo: URL, client: aiohttp.ClientSession):
    body = b"s" * 1000  # read whole before it is sent on: headers and body in one write
    async with client.post(at(to_echo, "/small-in"), data=body) as resp:
        echoed = await resp.json()
    assert echoed["body_sha256"] == hashlib.sha256(body).hexdigest()
    seen = header_pairs(echoed)
    assert ("content-length", "1000") in seen
    assert "transfer-encoding" not in {k for k, _ in seen}


# ---- responses back ---------------------------------------------------------------------------


async def test_small_sized_response_cut_short_is_a_clean_502(
    to_faulty: URL, client: aiohttp.ClientSession
):
    # Buffered: the whole body is read before the status line, so the failure is answerable.
    async with client.get(at(to_faulty, "/short")) as resp:
        assert resp.status == 502
        assert await resp.json() == {"error": "upstream_unavailable"}
    async with client.get(at(to_faulty, "/plain")) as resp:
        assert await resp.text() == "plain http"


async def test_hop_by_hop_response_headers_removed_cookies_and_duplicates_kept(
    to_faulty: URL, client: aiohttp.ClientSession
):
    async with client.get(at(to_faulty, "/headers")) as resp:
        body = await resp.read()
    assert resp.status == 200
    assert body == b"twelve bytes"
    for name in ("X-Hop-Resp", "Keep-Alive", "Proxy-Authenticate", "Trailer"):
        assert name not in resp.headers
    assert resp.headers.getall("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/; HttpOnly"]
    assert resp.headers.getall("X-Multi") == ["one", "two"]
    assert resp.headers["Content-Length"] == "12"  # the upstream's length, not re-chunked
    assert "Transfer-Encoding" not in resp.headers


async def test_head_keeps_the_upstreams_content_length(
    to_faulty: URL, client: aiohttp.ClientSession
):
    async with client.head(at(to_faulty, "/headers")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Length"] == "12"
        assert await resp.read() == b""


async def test_compressed_body_is_relayed_byte_for_byte(
    to_faulty: URL, client: aiohttp.ClientSession
):
    async with client.get(at(to_faulty, "/gzip"), headers={"Accept-Encoding": "gzip"}) as resp:
        raw = await resp.read()
    assert resp.headers["Content-Encoding"] == "gzip"
    assert int(resp.headers["Content-Length"]) == len(raw)
    assert gzip.decompress(raw) == b"squeezed " * 100


async def test_unsized_response_is_streamed_chunked(to_faulty: URL, client: aiohttp.ClientSession):
    async with client.get(at(to_faulty, "/unsized")) as resp:
        assert resp.headers["Transfer-Encoding"] == "chunked"
        assert await resp.read() == b"alpha beta gamma"


# ---- big bodies, bounded memory ---------------------------------------------------------------


async def test_50mb_upload_streams_with_bounded_memory(to_echo: URL, client: aiohttp.ClientSession):
    sent = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        block = bytes(range(256)) * (CHUNK // 256)
        for n in range(BIG // CHUNK):
            chunk = n.to_bytes(8, "big") + block[8:]  # every chunk distinct
            sent.update(chunk)
            yield chunk

    with PeakRss() as rss:
        async with client.post(
            at(to_echo, "/upload"), data=body(), headers={"Content-Length": str(BIG)}
        ) as resp:
            echoed = await resp.json()
    assert echoed["body_len"] == BIG
    assert echoed["body_sha256"] == sent.hexdigest()
    assert [v for k, v in header_pairs(echoed) if k == "content-length"] == [str(BIG)]
    assert rss.growth < 20 * MB, f"RSS grew by {rss.growth / MB:.1f} MB"


async def test_50mb_download_streams_with_bounded_memory(
    start_proxy: StartProxy, echo_upstream: EchoUpstream, client: aiohttp.ClientSession
):
    proxy = await start_proxy(echo_upstream.url)
    received, length = hashlib.sha256(), 0
    with PeakRss() as rss:
        async with client.get(at(proxy, f"/__download?size={BIG}")) as resp:
            assert resp.headers["Content-Length"] == str(BIG)
            async for chunk in resp.content.iter_chunked(CHUNK):
                received.update(chunk)
                length += len(chunk)
    assert length == BIG
    assert received.hexdigest() == download_sha256(BIG)
    assert rss.growth < 20 * MB, f"RSS grew by {rss.growth / MB:.1f} MB"


# ---- failures ---------------------------------------------------------------------------------


async def test_upstream_down_is_502(
    start_proxy: StartProxy, upstream_down: str, client: aiohttp.ClientSession
):
    proxy = await start_proxy(upstream_down)
    async with client.get(at(proxy, "/anything")) as resp:
        assert resp.status == 502
        assert (await resp.json())["error"] == "upstream_unavailable"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(at(proxy, "/ws"))
    assert refused.value.status == 502


async def test_upstream_slower_than_the_response_timeout_is_504(
    to_faulty: URL, client: aiohttp.ClientSession
):
    async with client.get(at(to_faulty, "/slow")) as resp:
        assert resp.status == 504
        assert (await resp.json())["error"] == "upstream_timeout"
    async with client.get(at(to_faulty, "/plain")) as resp:
        assert resp.status == 200


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_upstream_dying_mid_body_aborts_the_response_cleanly(
    to_faulty: URL,
    faulty: Faulty,
    client: aiohttp.ClientSession,
    framing: str,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    async with client.get(at(to_faulty, f"/die?framing={framing}")) as resp:
        assert resp.status == 200
        first = await resp.content.readexactly(CHUNK)
        faulty.die.set()
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert first == b"x" * CHUNK
    async with client.get(at(to_faulty, "/plain")) as resp:
        assert await resp.text() == "plain http"
    unhandled = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert unhandled == []


async def raw_connection(proxy: URL) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert proxy.host is not None
    assert proxy.port is not None
    return await asyncio.open_connection(proxy.host, proxy.port)


@both_cancellation_modes
async def test_client_leaving_mid_upload_cancels_the_upstream_request(
    to_faulty: URL, faulty: Faulty, client: aiohttp.ClientSession
):
    _, writer = await raw_connection(to_faulty)
    writer.write(
        b"POST /watch-upload HTTP/1.1\r\nHost: sidecar\r\n"
        b"Content-Length: 10000000\r\n\r\n" + b"z" * MB
    )
    await writer.drain()
    await asyncio.wait_for(faulty.upload_started.wait(), 10)
    writer.transport.abort()
    outcome, received = await asyncio.wait_for(faulty.outcome.get(), 10)
    assert outcome == "aborted"
    assert 0 < received < 10_000_000
    async with client.get(at(to_faulty, "/plain")) as resp:
        assert resp.status == 200


@both_cancellation_modes
async def test_client_leaving_mid_download_releases_the_upstream(
    to_faulty: URL, faulty: Faulty, client: aiohttp.ClientSession
):
    reader, writer = await raw_connection(to_faulty)
    writer.write(b"GET /endless HTTP/1.1\r\nHost: sidecar\r\n\r\n")
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    await reader.readexactly(MB)
    writer.transport.abort()
    outcome, sent = await asyncio.wait_for(faulty.outcome.get(), 10)
    assert outcome == "aborted"
    assert sent >= MB
    async with client.get(at(to_faulty, "/plain")) as resp:
        assert resp.status == 200


# ---- websockets -------------------------------------------------------------------------------


async def test_websocket_relays_text_binary_and_the_clients_close(
    to_faulty: URL, faulty: Faulty, client: aiohttp.ClientSession
):
    async with client.ws_connect(at(to_faulty, "/ws"), protocols=("chat.v1", "chat.v2")) as ws:
        assert ws.protocol == "chat.v2"  # the upstream's choice, passed through
        await ws.send_str("hello")
        assert await ws.receive_str() == "echo:hello"
        await ws.send_bytes(b"\x00\x01\x02\xff")
        assert await ws.receive_bytes() == b"\xff\x02\x01\x00"
        await ws.close(code=4002)
    assert await asyncio.wait_for(faulty.ws_close_codes.get(), 10) == 4002


async def test_websocket_relays_the_upstreams_close(to_faulty: URL, client: aiohttp.ClientSession):
    async with client.ws_connect(at(to_faulty, "/ws")) as ws:
        await ws.send_str("close please")
        msg = await ws.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE
    assert msg.data == 4001
    assert msg.extra == "asked to"


async def test_websocket_through_the_shared_echo_upstream(
    start_proxy: StartProxy, echo_upstream: EchoUpstream, client: aiohttp.ClientSession
):
    proxy = await start_proxy(echo_upstream.url)
    async with client.ws_connect(at(proxy, "/__ws")) as ws:
        await ws.send_str("ping?")
        assert await ws.receive_str() == "ping?"
        await ws.send_bytes(b"\x00" * 100_000)
        assert await ws.receive_bytes() == b"\x00" * 100_000


async def test_websocket_refused_by_the_upstream_is_502(
    to_faulty: URL, client: aiohttp.ClientSession
):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(at(to_faulty, "/plain"))
    assert refused.value.status == 502


async def test_websocket_handshake_slower_than_the_response_timeout_is_504(
    to_faulty: URL, client: aiohttp.ClientSession
):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(at(to_faulty, "/slow"))
    assert refused.value.status == 504


async def test_invalid_websocket_handshake_is_400_before_dialing_the_upstream(
    to_faulty: URL, faulty: Faulty, client: aiohttp.ClientSession
):
    headers = {"Upgrade": "websocket", "Connection": "Upgrade"}  # no key, no version
    async with client.get(at(to_faulty, "/ws"), headers=headers) as resp:
        assert resp.status == 400
    assert faulty.ws_dials == 0


async def test_proxy_refuses_a_session_that_keeps_cookies():
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="cookies"):
            UpstreamProxy("http://127.0.0.1:1/", session, response_timeout_s=1)
