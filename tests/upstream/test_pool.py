"""The pooled upstream client against scripted upstreams on real loopback sockets.

The upstream here is a raw asyncio server that answers each request with the bytes a test
gives it, so that what a well-behaved aiohttp upstream never does (close a kept-alive
connection just as the next request arrives, send an interim 1xx, answer garbage, go silent)
can be provoked on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from sidecar.upstream.pool import UpstreamConnections

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"

# What the scripted upstream does with one request: the bytes to answer, or None to close
# the connection without answering, or "silent" to answer nothing and keep it open.
Reply = bytes | None | str
Script = Callable[[int, bytes], Reply]  # (request number on this connection, request head)


@dataclass
class Scripted:
    url: URL
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":", 1)[1]))
    return head


@contextlib.asynccontextmanager
async def scripted_upstream(script: Script) -> AsyncIterator[Scripted]:
    state = Scripted(URL())

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        number = 0
        try:
            while (head := await _read_request(reader)) is not None:
                state.requests.append(head)
                reply = script(number, head)
                number += 1
                if reply is None:
                    return
                if reply == "silent":
                    await asyncio.sleep(3600)
                assert isinstance(reply, bytes)
                writer.write(reply)
                await writer.drain()
                if b"connection: close" in reply.lower():
                    return  # as it said: the close ends the connection (and such a body)
        except asyncio.CancelledError:  # a silent connection, at the end of the test
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state.url = URL(f"http://127.0.0.1:{port}/")
    try:
        yield state
    finally:
        server.close()


def pool_for(url: URL, **kw: float) -> UpstreamConnections:
    options = {"connect_timeout_s": 2.0, "read_timeout_s": 2.0} | kw
    return UpstreamConnections(url, **options)  # type: ignore[arg-type]


def host(url: URL) -> CIMultiDict[str]:
    return CIMultiDict({"Host": f"{url.host}:{url.port}"})


async def get_body(pool: UpstreamConnections, url: URL, method: str = "GET") -> tuple[int, bytes]:
    async with await pool.request(method, "/x", host(url), None) as answer:
        return answer.status, await answer.read()


async def gets_in_a_row(answer: bytes, count: int) -> Scripted:
    """`count` GETs, one after the other, through a pool to an upstream answering `answer`
    (a 200 "ok") to each; the upstream, closed."""
    async with scripted_upstream(lambda n, head: answer) as upstream:
        pool = pool_for(upstream.url)
        for _ in range(count):
            assert await get_body(pool, upstream.url) == (200, b"ok")
        await pool.close()
    return upstream


async def test_a_kept_alive_connection_is_reused():
    upstream = await gets_in_a_row(OK, 3)
    assert upstream.connections == 1
    assert len(upstream.requests) == 3


async def test_connection_close_is_not_reused():
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    upstream = await gets_in_a_row(closing, 2)
    assert upstream.connections == 2


async def test_an_unfinished_body_closes_its_connection():
    partial = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok"  # 98 bytes still to come

    async with scripted_upstream(lambda n, head: partial if n == 0 else OK) as upstream:
        pool = pool_for(upstream.url)
        async with await pool.request("GET", "/x", host(upstream.url), None) as answer:
            assert answer.status == 200  # the body is left unfinished
        async with await pool.request("GET", "/x", host(upstream.url), None) as answer:
            assert await answer.content.readexactly(2) == b"ok"
        await pool.close()
    assert upstream.connections == 2


async def test_an_idle_connection_past_keepalive_is_not_reused():
    async with scripted_upstream(lambda n, head: OK) as upstream:
        pool = pool_for(upstream.url, keepalive_s=0.05)
        await get_body(pool, upstream.url)
        await asyncio.sleep(0.1)
        await get_body(pool, upstream.url)
        await pool.close()
    assert upstream.connections == 2


async def test_idle_connections_are_closed_after_keepalive():
    async with scripted_upstream(lambda n, head: OK) as upstream:
        pool = pool_for(upstream.url, keepalive_s=0.05)
        answers = [await pool.request("GET", "/x", host(upstream.url), None) for _ in range(2)]
        for answer in answers:
            await answer.read()
        assert pool.idle_connections == 2
        await asyncio.sleep(0.2)  # no request: the sweep alone closes them
        assert pool.idle_connections == 0
        await pool.close()


def closes_on_second_request(number: int, head: bytes) -> Reply:
    """Answers the first request of a connection, then closes it when the next one arrives:
    the race of an upstream's keep-alive timeout firing as a reused connection is written."""
    return OK if number == 0 else None


async def test_an_idempotent_request_is_retried_once_on_a_fresh_connection():
    """RFC 9112 section 9.3.1: the reused connection died before any answer; GET is retried."""
    async with scripted_upstream(closes_on_second_request) as upstream:
        pool = pool_for(upstream.url)
        assert await get_body(pool, upstream.url) == (200, b"ok")
        assert await get_body(pool, upstream.url) == (200, b"ok")
        await pool.close()
    assert upstream.connections == 2
    assert len(upstream.requests) == 3  # the first, the lost one, the retry


async def test_a_post_on_a_dead_reused_connection_is_not_retried():
    async with scripted_upstream(closes_on_second_request) as upstream:
        pool = pool_for(upstream.url)
        assert await get_body(pool, upstream.url) == (200, b"ok")
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await pool.request("POST", "/x", host(upstream.url), b"{}")
        await pool.close()
    assert len(upstream.requests) == 2


async def test_a_fresh_connection_closed_without_answer_is_not_retried():
    async with scripted_upstream(lambda n, head: None) as upstream:
        pool = pool_for(upstream.url)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await pool.request("GET", "/x", host(upstream.url), None)
        await pool.close()
    assert len(upstream.requests) == 1


async def test_interim_1xx_answers_are_skipped():
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + OK
    async with scripted_upstream(lambda n, head: early) as upstream:
        pool = pool_for(upstream.url)
        async with await pool.request("GET", "/x", host(upstream.url), None) as answer:
            assert answer.status == 200
            assert "Link" not in answer.headers
            assert await answer.read() == b"ok"
        await pool.close()


async def test_head_answer_has_no_body_and_keeps_the_connection():
    head_answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"

    def script(number: int, head: bytes) -> Reply:
        return head_answer if head.startswith(b"HEAD") else OK

    async with scripted_upstream(script) as upstream:
        pool = pool_for(upstream.url)
        async with await pool.request("HEAD", "/x", host(upstream.url), None) as answer:
            assert (answer.status, answer.content_length) == (200, 1234)
            assert await answer.read() == b""
        assert await get_body(pool, upstream.url) == (200, b"ok")
        await pool.close()
    assert upstream.connections == 1


async def test_the_body_is_sent_with_its_length_in_one_write():
    async with scripted_upstream(lambda n, head: OK) as upstream:
        pool = pool_for(upstream.url)
        headers = host(upstream.url)
        headers["Content-Length"] = "999"  # whatever the caller held: the body decides
        async with await pool.request("PUT", "/x?a=1", headers, b'{"a":1}') as answer:
            assert await answer.read() == b"ok"
        await pool.close()
    head = upstream.requests[0].decode()
    assert head.startswith("PUT /x?a=1 HTTP/1.1\r\n")
    assert "Content-Length: 7\r\n" in head


async def test_a_silent_upstream_times_out():
    async with scripted_upstream(lambda n, head: "silent") as upstream:
        pool = pool_for(upstream.url, read_timeout_s=0.2)
        with pytest.raises(TimeoutError):
            await pool.request("GET", "/x", host(upstream.url), None)
        await pool.close()


async def test_garbage_is_a_processing_error():
    async with scripted_upstream(lambda n, head: b"SMTP ready\r\n\r\n") as upstream:
        pool = pool_for(upstream.url)
        with pytest.raises(aiohttp.http.HttpProcessingError):
            await pool.request("GET", "/x", host(upstream.url), None)
        await pool.close()


async def test_a_refused_connection_is_a_connection_error():
    async with scripted_upstream(lambda n, head: OK) as upstream:
        url = upstream.url
    pool = pool_for(url)  # the server is gone: its port refuses
    with pytest.raises(aiohttp.ClientConnectionError):
        await pool.request("GET", "/x", host(url), None)


async def test_a_header_with_a_line_break_is_refused_before_sending():
    async with scripted_upstream(lambda n, head: OK) as upstream:
        pool = pool_for(upstream.url)
        headers = host(upstream.url)
        headers["X-Evil"] = "a\r\nX-Injected: 1"
        with pytest.raises(ValueError, match="control character"):
            await pool.request("GET", "/x", headers, None)
        await pool.close()
    assert upstream.requests == []


async def test_the_limit_bounds_connections_in_use():
    release = asyncio.Event()
    async with scripted_upstream(lambda n, head: OK) as upstream:
        pool = pool_for(upstream.url, limit=1)
        first = await pool.request("GET", "/x", host(upstream.url), None)
        second = asyncio.create_task(get_body(pool, upstream.url))
        await asyncio.sleep(0.1)
        assert not second.done()  # waits for the one slot
        release.set()
        assert await first.read() == b"ok"
        assert await second == (200, b"ok")
        await pool.close()
    assert upstream.connections == 1


@contextlib.asynccontextmanager
async def tls_upstream(tmp_path: Path) -> AsyncIterator[tuple[URL, Path]]:
    from tests.deploy.test_production_tls import make_ca_and_server_cert

    ca_file, context = make_ca_and_server_cert(tmp_path)

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="tls ok")

    app = web.Application()
    app.router.add_get("/x", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield URL(f"https://127.0.0.1:{port}/"), ca_file
    finally:
        await runner.cleanup()


async def test_an_https_upstream_is_verified_against_the_trust_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The chart's `caBundle` reaches the sidecar as SSL_CERT_FILE: without it the private
    CA is refused, with it the same upstream answers."""
    async with tls_upstream(tmp_path) as (url, ca_file):
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        untrusting = pool_for(url)
        with pytest.raises(aiohttp.ClientConnectionError):
            await untrusting.request("GET", "/x", host(url), None)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        trusting = pool_for(url)
        assert await get_body(trusting, url) == (200, b"tls ok")
        await trusting.close()
        await untrusting.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://[::1]:8080/", "[::1]:8080"),  # an IPv6 literal keeps its brackets
        ("http://svc.ns:80/x", "svc.ns"),  # the default port is left out, as aiohttp does
        ("https://example.com/", "example.com"),
        ("http://127.0.0.1:9000", "127.0.0.1:9000"),
    ],
)
def test_the_host_header_names_the_upstream_as_aiohttp_would(url: str, expected: str) -> None:
    pool = UpstreamConnections(URL(url), connect_timeout_s=1.0, read_timeout_s=1.0)
    assert pool.host_header == expected


async def test_a_body_without_length_is_read_until_the_upstream_closes():
    """RFC 9112 section 6.3 item 8: no Content-Length, not chunked: the body runs to the close
    (an HTTP/1.0-style upstream). Read as aiohttp's ClientSession reads it."""
    until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"
    async with scripted_upstream(lambda n, head: until_close if n == 0 else None) as upstream:
        pool = pool_for(upstream.url)
        async with await pool.request("GET", "/x", host(upstream.url), None) as answer:
            assert answer.content_length is None
            assert await answer.read() == b"all of it"
        await pool.close()


@pytest.mark.parametrize(("method", "length"), [("POST", "0"), ("DELETE", "0"), ("GET", None)])
async def test_a_request_without_body_declares_none_where_aiohttp_would(
    method: str, length: str | None
):
    async with scripted_upstream(lambda n, head: OK) as upstream:
        pool = pool_for(upstream.url)
        async with await pool.request(method, "/x", host(upstream.url), None) as answer:
            await answer.read()
        await pool.close()
    head = upstream.requests[0].decode().lower()
    assert ("content-length: 0\r\n" in head) == (length == "0")
