"""Issue 16 item 1, response-queue poisoning: whatever an upstream sends that no request asked
for, no caller ever gets an answer meant for another request.

Two users call one after the other through the proxy. Alice's request makes the hostile
upstream send, besides her answer, an HTTP response nobody asked for (a `302` with a
`Set-Cookie`): as the content of a HEAD answer, of a 204, of a 304, or on its own while the
connection is idle. Bob's next request must get his own answer (`for:bob`), on both client
paths: the pool (no body, or a small one) and aiohttp's `ClientSession` (a chunked body).
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.upstream.hostile import call, hostile_upstream, proxy_to

# (the path that misbehaves, Alice's method)
CLASSES = [
    ("/head-body", "HEAD"),  # a HEAD answer followed by content (RFC 9110 section 9.3.2)
    ("/head-body", "GET"),  # the same document as a GET's content: content, not an answer
    ("/no-content", "GET"),  # a 204 followed by content (RFC 9110 section 15.3.5)
    ("/not-modified", "GET"),  # a 304 followed by content (RFC 9110 section 15.4.5)
    ("/unsolicited", "GET"),  # a response while the connection is idle
]
CLASS_IDS = [
    "head-with-body",
    "get-of-the-document",
    "204-with-body",
    "304-with-body",
    "unsolicited",
]


@pytest.fixture
async def client():
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


@pytest.mark.parametrize("same_write", [False, True], ids=["later", "same-write"])
@pytest.mark.parametrize(("path", "method"), CLASSES, ids=CLASS_IDS)
async def test_the_pooled_path_never_hands_bob_an_answer_meant_for_nobody(
    client: aiohttp.ClientSession, path: str, method: str, same_write: bool
):
    async with hostile_upstream(same_write=same_write) as upstream, proxy_to(upstream.url) as proxy:
        first = await call(client, method, proxy / path.lstrip("/"), "alice")
        await upstream.injected.wait()
        await asyncio.sleep(0.05)  # the injected bytes reach the idle pooled connection
        for _ in range(2):  # and the connection after that one
            assert await call(client, "GET", proxy / "me", "bob") == (200, "for:bob", None)
    assert first[2] is None  # Alice's own answer, not the injected 302 either


@pytest.mark.parametrize("same_write", [False, True], ids=["later", "same-write"])
@pytest.mark.parametrize(("path", "method"), CLASSES[1:], ids=CLASS_IDS[1:])
async def test_the_streamed_path_never_hands_bob_an_answer_meant_for_nobody(
    client: aiohttp.ClientSession, path: str, method: str, same_write: bool
):
    """A chunked upload goes through aiohttp's `ClientSession`, whose connector reuses a
    connection without looking at what arrived on it while idle."""
    async with hostile_upstream(same_write=same_write) as upstream, proxy_to(upstream.url) as proxy:
        first = await call(client, "POST", proxy / path.lstrip("/"), "alice", streamed=True)
        await upstream.injected.wait()
        await asyncio.sleep(0.05)
        for _ in range(2):
            answer = await call(client, "POST", proxy / "me", "bob", streamed=True)
            assert answer == (200, "for:bob", None)
    assert first[2] is None


async def test_a_head_answer_with_a_content_length_keeps_its_connection(
    client: aiohttp.ClientSession,
):
    """RFC 9110 section 9.3.2: a HEAD answer carries the GET's Content-Length and no content.
    That length is metadata, not doubt: the connection stays in the pool."""
    async with hostile_upstream() as upstream, proxy_to(upstream.url) as proxy:
        status, body, _ = await call(client, "HEAD", proxy / "me", "alice")
        assert await call(client, "GET", proxy / "me", "bob") == (200, "for:bob", None)
    assert (status, body, upstream.connections) == (200, "", 1)
