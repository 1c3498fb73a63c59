"""A hostile upstream on raw asyncio sockets, and a proxy in front of it, for the
response-queue poisoning tests (issue 16 item 1) and the pool starvation tests (item 2).

Every well-formed answer names the user it answers (`for:<X-User>`), so a test can tell
whose answer a caller got. The hostile paths send, besides their answer, an HTTP response
nobody asked for: the text a user could have stored in a document that a buggy upstream
sends as the body of a HEAD answer, of a 204 or a 304, or on its own while the connection
is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from sidecar.errors import SidecarError
from sidecar.upstream.pool import UpstreamConnections
from sidecar.upstream.proxy import UpstreamProxy
from sidecar.upstream.session import create_upstream_session

INJECTED = (
    b"HTTP/1.1 302 Found\r\nLocation: https://evil.example/\r\n"
    b"Set-Cookie: session=attacker\r\nContent-Length: 0\r\n\r\n"
)


@dataclass
class Hostile:
    url: URL = field(default_factory=URL)
    # True: the injected bytes go out in the same write as the answer; False: a moment later,
    # once the answer has been read and the connection is idle again.
    same_write: bool = False
    connections: int = 0
    injected: asyncio.Event = field(default_factory=asyncio.Event)
    hold: asyncio.Event = field(default_factory=asyncio.Event)  # ends /hold answers
    held: int = 0


def _answer(user: str, status: str = "200 OK") -> bytes:
    body = f"for:{user}".encode()
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, str] | None:
    """(method, path, X-User) of the next request, its body read and dropped."""
    try:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        lines = head.split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        if "content-length" in fields:
            await reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                await reader.readexactly(size + 2)
            await reader.readuntil(b"\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    return method, path, fields.get("x-user", "nobody")


def _script(state: Hostile, method: str, path: str, user: str) -> tuple[bytes, bytes]:
    """(the answer, what follows it unasked)."""
    if path == "/head-body":  # RFC 9110 section 9.3.2: a HEAD answer has no content
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(INJECTED)}\r\n\r\n".encode()
        return (head, INJECTED) if method == "HEAD" else (head + INJECTED, b"")
    if path == "/no-content":  # section 15.3.5: a 204 has no content
        return b"HTTP/1.1 204 No Content\r\n\r\n", INJECTED
    if path == "/not-modified":  # section 15.4.5: nor a 304
        return b'HTTP/1.1 304 Not Modified\r\nETag: "1"\r\n\r\n', INJECTED
    if path == "/unsolicited":
        return _answer(user), INJECTED
    if method == "HEAD":  # as a GET's answer, without its content
        return _answer(user).partition(b"\r\n\r\n")[0] + b"\r\n\r\n", b""
    return _answer(user), b""


@contextlib.asynccontextmanager
async def hostile_upstream(*, same_write: bool = False) -> AsyncIterator[Hostile]:
    state = Hostile(same_write=same_write)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            while (request := await _read_request(reader)) is not None:
                method, path, user = request
                if path == "/hold":  # server-sent events: a chunk now and then, until released
                    state.held += 1
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    while not state.hold.is_set():
                        writer.write(b"1\r\n.\r\n")
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(state.hold.wait(), 0.2)
                    writer.write(b"4\r\ndone\r\n0\r\n\r\n")
                    continue
                answer, extra = _script(state, method, path, user)
                if extra and state.same_write:
                    answer, extra = answer + extra, b""
                writer.write(answer)
                await writer.drain()
                if extra:
                    await asyncio.sleep(0.05)  # the answer is read and the connection idle
                    writer.write(extra)
                    await writer.drain()
                if extra or path != "/me":
                    state.injected.set()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.url = URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/")
    try:
        yield state
    finally:
        state.hold.set()
        server.close()


@web.middleware
async def _errors(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """The app's error middleware in short: SidecarError -> its status and JSON body."""
    try:
        return await handler(request)
    except SidecarError as exc:
        return web.json_response({"error": exc.error, "request_id": "r"}, status=exc.status)


@contextlib.asynccontextmanager
async def proxy_to(
    upstream: URL, *, max_connections: int | None = None, pooled: bool = True
) -> AsyncIterator[URL]:
    """A proxy (`UpstreamProxy`, both of its clients) in front of `upstream` on a free port;
    `pooled=False`: as the app builds it when aiohttp's internals moved (no pool)."""
    proxies: list[UpstreamProxy] = []

    async def forward(request: web.Request) -> web.StreamResponse:
        return await proxies[0].forward(request, CIMultiDict(request.headers))

    app = web.Application(middlewares=[_errors])
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    options = {} if max_connections is None else {"limit": max_connections}
    session = create_upstream_session(connect_timeout_s=0.5, **options)
    pool = (
        UpstreamConnections(upstream, connect_timeout_s=0.5, read_timeout_s=5.0, **options)
        if pooled
        else None
    )
    proxies.append(UpstreamProxy(str(upstream), session, response_timeout_s=5.0, connections=pool))
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield URL(f"http://127.0.0.1:{runner.addresses[0][1]}")
    finally:
        await proxies[0].close()
        await session.close()
        await runner.cleanup()


async def call(
    client: aiohttp.ClientSession, method: str, url: URL, user: str, *, streamed: bool = False
) -> tuple[int, str, str | None]:
    """(status, body, Location) of one request as `user`; `streamed`: with a chunked body,
    which the proxy sends through aiohttp's `ClientSession` rather than its own pool."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b"some upload"

    data = chunks() if streamed else None
    headers = {"X-User": user}
    async with client.request(
        method, url, headers=headers, data=data, allow_redirects=False
    ) as answer:
        return answer.status, await answer.text(), answer.headers.get("Location")
