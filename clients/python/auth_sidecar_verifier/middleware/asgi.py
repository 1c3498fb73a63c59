"""ASGI (Starlette, FastAPI, Quart...): `app = AssertionMiddleware(app, verifier)`.

The claims go into `scope["state"]["auth_claims"]`, which Starlette shows as
`request.state.auth_claims`. A refused websocket handshake is closed with 1008 (policy
violation, RFC 6455 section 7.4.1)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from auth_sidecar_verifier.errors import KeySetUnavailable, VerificationError
from auth_sidecar_verifier.middleware import HEADER, STATE_KEY, invalid, refusal
from auth_sidecar_verifier.verifier import Verifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADER = HEADER.lower().encode()


class AssertionMiddleware:
    def __init__(self, app: ASGIApp, verifier: Verifier, *, optional: bool = False) -> None:
        self.app = app
        self.verifier = verifier
        self.optional = optional

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        tokens = [value for name, value in scope["headers"] if name.lower() == _HEADER]
        if not tokens and self.optional:
            await self.app(_with_claims(scope, None), receive, send)
            return
        if len(tokens) != 1:
            await _refuse(scope, send, invalid("missing" if not tokens else "duplicated"))
            return
        try:
            claims = await self.verifier.verify_async(tokens[0].decode("latin-1"))
        except (VerificationError, KeySetUnavailable) as exc:
            await _refuse(scope, send, refusal(exc))
            return
        await self.app(_with_claims(scope, claims), receive, send)


def _with_claims(scope: Scope, claims: object) -> Scope:
    """A new scope (the server's is not ours to change) with the claims in its state."""
    return {**scope, "state": {**scope.get("state", {}), STATE_KEY: claims}}


async def _refuse(scope: Scope, send: Send, status_body: tuple[int, bytes]) -> None:
    status, body = status_body
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
