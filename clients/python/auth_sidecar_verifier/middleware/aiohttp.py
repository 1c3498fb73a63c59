"""aiohttp: `web.Application(middlewares=[assertion_middleware(verifier)])`, then
`claims_of(request)` in a handler."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from auth_sidecar_verifier.claims import Claims
from auth_sidecar_verifier.errors import KeySetUnavailable, VerificationError
from auth_sidecar_verifier.middleware import CLAIMS_KEY, HEADER, invalid, refusal
from auth_sidecar_verifier.verifier import Verifier

# The request key: a typed `web.RequestKey` where aiohttp has one (3.13+), else the string.
CLAIMS: Any = web.RequestKey(CLAIMS_KEY, object) if hasattr(web, "RequestKey") else CLAIMS_KEY


def assertion_middleware(verifier: Verifier, *, optional: bool = False) -> Middleware:
    @web.middleware
    async def verify_assertion(request: web.Request, handler: Handler) -> web.StreamResponse:
        tokens = request.headers.getall(HEADER, [])
        if not tokens and optional:
            request[CLAIMS] = None
            return await handler(request)
        if len(tokens) != 1:
            return _answer(invalid("missing" if not tokens else "duplicated"))
        try:
            request[CLAIMS] = await verifier.verify_async(tokens[0])
        except (VerificationError, KeySetUnavailable) as exc:
            return _answer(refusal(exc))
        return await handler(request)

    return verify_assertion


def claims_of(request: web.Request) -> Claims | None:
    """The verified claims (None only under `optional=True` without an assertion)."""
    claims: Claims | None = request.get(CLAIMS)
    return claims


def _answer(status_body: tuple[int, bytes]) -> web.Response:
    status, body = status_body
    return web.Response(status=status, body=body, content_type="application/json")
