"""Websocket relay: the upgrade is accepted from the client only once the upstream accepted
it, then text, binary and close frames are relayed both ways until either side closes.

Pings and pongs are answered per hop by aiohttp (autoping), as each hop is its own connection.

A websocket opened under a session cookie is watched (`sidecar.sessions.sockets`): when the
session ends on any replica both hops are closed with 1008 (RFC 6455 section 7.4.1, policy
violation), CONTRACT "A session ends everywhere at once". The watch starts before the upstream
handshake (`watch_session`, around the whole exchange): a session that ends while the upstream
is still answering the handshake closes the socket as soon as it opens, never relayed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, hdrs, web
from multidict import CIMultiDict

from sidecar.sessions.sockets import SESSION_TAG, SOCKETS

Socket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse[Any]

# Set by `watch_session` on an upgrade request: the event of its session's end.
SESSION_ENDED = web.RequestKey("session_ended", asyncio.Event)

# RFC 6455 section 4.1: the handshake fields belong to one connection; aiohttp generates fresh
# ones for the upstream hop (the key, the version, the extensions it supports). The subprotocol
# is passed on, through `protocols=`, so that aiohttp checks the upstream's choice.
_HANDSHAKE_FIELDS = (
    hdrs.SEC_WEBSOCKET_KEY,
    hdrs.SEC_WEBSOCKET_VERSION,
    hdrs.SEC_WEBSOCKET_EXTENSIONS,
    hdrs.SEC_WEBSOCKET_ACCEPT,
    hdrs.SEC_WEBSOCKET_PROTOCOL,
)


def is_websocket_upgrade(request: web.BaseRequest) -> bool:
    """RFC 6455 section 4.2.1: a GET with `Upgrade: websocket` and `Connection: upgrade`."""
    if request.method != hdrs.METH_GET:
        return False
    upgrade = {
        t.strip().lower() for v in request.headers.getall(hdrs.UPGRADE, []) for t in v.split(",")
    }
    connection = {
        t.strip().lower() for v in request.headers.getall(hdrs.CONNECTION, []) for t in v.split(",")
    }
    return "websocket" in upgrade and "upgrade" in connection


def requested_protocols(request: web.BaseRequest) -> tuple[str, ...]:
    """The client's `Sec-WebSocket-Protocol` list, in its order of preference."""
    return tuple(
        proto.strip()
        for value in request.headers.getall(hdrs.SEC_WEBSOCKET_PROTOCOL, [])
        for proto in value.split(",")
        if proto.strip()
    )


def handshake_headers(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    """Headers for the upstream handshake: the (already hop-by-hop free) request headers minus
    this hop's handshake fields."""
    out = CIMultiDict(headers)
    for name in _HANDSHAKE_FIELDS:
        out.popall(name, None)
    return out


def client_can_upgrade(request: web.BaseRequest) -> bool:
    """True when the client's handshake is valid (key, version), before dialing the upstream."""
    return web.WebSocketResponse().can_prepare(request).ok


async def relay(
    request: web.Request, upstream: aiohttp.ClientWebSocketResponse[Any]
) -> web.WebSocketResponse:
    """Accept the client's upgrade with the subprotocol the upstream chose, then relay."""
    client = web.WebSocketResponse(protocols=(upstream.protocol,) if upstream.protocol else ())
    async with upstream:
        try:
            await client.prepare(request)
        except ConnectionResetError:
            return client
        # Set when the session this websocket was opened under ends: the watch that
        # `watch_session` started before the handshake (a bearer token or a public path has
        # none: nothing to end).
        ended = request.get(SESSION_ENDED) or asyncio.Event()
        if ended.is_set():  # ended during the upstream handshake: not one frame relayed
            await _close_both(client, upstream, ())
            return client
        await _relay_until_ended(client, upstream, ended)
    return client


async def _relay_until_ended(
    client: web.WebSocketResponse,
    upstream: aiohttp.ClientWebSocketResponse[Any],
    ended: asyncio.Event,
) -> None:
    pumps = (
        asyncio.create_task(_pump(client, upstream)),
        asyncio.create_task(_pump(upstream, client)),
    )
    try:
        waiter = asyncio.create_task(ended.wait())
        try:
            await asyncio.wait((*pumps, waiter), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if ended.is_set():
            await _close_both(client, upstream, pumps)
    finally:
        # The finished pump closed the other side, which ends the other pump; cancel it
        # anyway so a peer that never completes the close handshake cannot hold us.
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        await client.close()


@contextlib.contextmanager
def watch_session(request: web.Request) -> Iterator[None]:
    """Watch the session `request` was authenticated by for as long as the block runs: wrap
    the whole upstream exchange of a websocket upgrade in it, so that the watch is in place
    before the upstream handshake starts (CONTRACT: every websocket of an ended session closes
    within 1 s, one whose handshake was in flight at the logout included). Registers nothing
    for a request without a session (a bearer token, a public path)."""
    registry, tag = request.app.get(SOCKETS), request.get(SESSION_TAG)
    if registry is None or tag is None:
        yield
        return
    with registry.watch(tag) as ended:
        request[SESSION_ENDED] = ended
        yield


async def _close_both(
    client: web.WebSocketResponse,
    upstream: aiohttp.ClientWebSocketResponse[Any],
    pumps: tuple[asyncio.Task[None], ...] | tuple[()],
) -> None:
    for pump in pumps:
        pump.cancel()
    await asyncio.gather(*pumps, return_exceptions=True)
    reason = b"session ended"
    await asyncio.gather(
        client.close(code=WSCloseCode.POLICY_VIOLATION, message=reason),
        upstream.close(code=WSCloseCode.POLICY_VIOLATION, message=reason),
        return_exceptions=True,
    )


async def _pump(source: Socket, sink: Socket) -> None:
    code: int = WSCloseCode.GOING_AWAY
    reason = b""
    while True:
        msg = await source.receive()
        try:
            if msg.type is WSMsgType.TEXT:
                await sink.send_str(msg.data)
                continue
            if msg.type is WSMsgType.BINARY:
                await sink.send_bytes(msg.data)
                continue
        except ConnectionResetError:
            break
        if msg.type is WSMsgType.CLOSE:
            code = _sendable_close_code(msg.data)
            reason = (msg.extra or "").encode()
        break  # CLOSE, or CLOSING / CLOSED / ERROR: the source is gone
    await sink.close(code=code, message=reason)


def _sendable_close_code(code: int | None) -> int:
    """RFC 6455 section 7.4.1: 1005 (no status), 1006 (abnormal) and 1015 describe a missing or
    failed close and must never be sent in a Close frame; 1004 and 1016-2999 are unassigned."""
    if code is None or code == 1005:
        return WSCloseCode.OK
    if 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999:
        return code
    return WSCloseCode.GOING_AWAY
