"""The `/.auth/*` endpoints: verify, jwks, me here; the login flow's logic lives in
`sidecar/auth/login.py`, sign-out in `logout.py` and `backchannel.py`, reached through the
routes below."""

from __future__ import annotations

from aiohttp import web

from sidecar.config.settings import PolicyRule
from sidecar.errors import NotFound, Unauthenticated
from sidecar.http.middleware import DECISION, REQUEST_ID, SUBJECT, TRUSTED_PEER
from sidecar.keys import (
    AUTHENTICATE,
    BACKCHANNEL,
    LOGIN_FLOW,
    LOGOUT_FLOW,
    SIGNER,
    TOKEN_EXCHANGER,
    VERIFY_PIPELINE,
)
from sidecar.pipeline.exchange import Exchange, Pipeline

_ME_RULE = PolicyRule("/.auth/me", "authenticated")


def exchange_for(request: web.Request) -> Exchange:
    return Exchange(
        request=request, request_id=request[REQUEST_ID], trusted_peer=request[TRUSTED_PEER]
    )


async def run_pipeline(pipeline: Pipeline, request: web.Request) -> web.StreamResponse:
    """Run `pipeline` on `request`, reporting its decision and subject to the log phase."""
    exchange = exchange_for(request)
    try:
        return await pipeline.run(exchange)
    finally:
        request[DECISION][0] = exchange.decision
        if exchange.identity is not None:
            request[SUBJECT][0] = exchange.identity.sub


async def verify(request: web.Request) -> web.StreamResponse:
    """Forward-auth decision for a gateway (nginx `auth_request`, Traefik, the Kong plugin)."""
    return await run_pipeline(request.app[VERIFY_PIPELINE], request)


async def jwks(request: web.Request) -> web.StreamResponse:
    """The assertion verification keys, for upstreams to check `X-Auth-Assertion`."""
    request[DECISION][0] = "auth_endpoint"
    return web.json_response(
        request.app[SIGNER].jwks(), headers={"Cache-Control": "public, max-age=300"}
    )


async def me(request: web.Request) -> web.StreamResponse:
    """Who the session (or bearer token) belongs to; never a token (CONTRACT)."""
    request[DECISION][0] = "auth_endpoint"
    exchange = exchange_for(request)
    exchange.rule = _ME_RULE
    await request.app[AUTHENTICATE](exchange)
    if exchange.identity is None:
        raise exchange.auth_error or Unauthenticated()
    request[SUBJECT][0] = exchange.identity.sub
    return web.json_response(exchange.identity.public_view(), headers={"Cache-Control": "no-store"})


async def token(request: web.Request) -> web.StreamResponse:
    """RFC 8693 token exchange (CONTRACT "Service to service"); routed only when
    `token_exchange.audiences` is set, else it is an unknown `/.auth` path."""
    request[DECISION][0] = "token_exchange"
    response, subject = await request.app[TOKEN_EXCHANGER].answer(request)
    request[SUBJECT][0] = subject
    return response


async def unknown_auth_path(request: web.Request) -> web.StreamResponse:
    request[DECISION][0] = "auth_endpoint"
    raise NotFound()


async def login(request: web.Request) -> web.StreamResponse:
    request[DECISION][0] = "login"
    return await request.app[LOGIN_FLOW].login(request)


async def callback(request: web.Request) -> web.StreamResponse:
    request[DECISION][0] = "login_callback"
    return await request.app[LOGIN_FLOW].callback(request)


async def logout_page(request: web.Request) -> web.StreamResponse:
    request[DECISION][0] = "logout_page"
    return await request.app[LOGOUT_FLOW].page(request)


async def logout(request: web.Request) -> web.StreamResponse:
    request[DECISION][0] = "logout"
    return await request.app[LOGOUT_FLOW].logout(request)


async def logout_done(request: web.Request) -> web.StreamResponse:
    request[DECISION][0] = "logout_done"
    return await request.app[LOGOUT_FLOW].done(request)


async def backchannel_logout(request: web.Request) -> web.StreamResponse:
    request[DECISION][0] = "backchannel_logout"
    return await request.app[BACKCHANNEL].handle(request)


def routes(*, token_exchange: bool = False) -> list[web.RouteDef]:
    exchange = [web.post("/.auth/token", token)] if token_exchange else []
    return [
        *exchange,
        web.get("/.auth/verify", verify),
        web.get("/.auth/jwks", jwks),
        web.get("/.auth/me", me),
        web.get("/.auth/login", login),
        web.get("/.auth/callback", callback),
        web.get("/.auth/logout", logout_page),
        web.post("/.auth/logout", logout),
        web.get("/.auth/logout/done", logout_done),
        web.post("/.auth/backchannel-logout", backchannel_logout),
    ]
