"""The `/.auth/*` endpoints and their routes. The logic lives beside: the login flow in
`login.py`, sign-out in `logout.py` and `backchannel.py`, token exchange in `token.py`;
`/.auth/verify` is the pipeline's own entry (`pipeline/entry.py`)."""

from __future__ import annotations

from aiohttp import web

from sidecar.auth.backchannel import BACKCHANNEL
from sidecar.auth.login import LOGIN_FLOW
from sidecar.auth.logout import LOGOUT_FLOW
from sidecar.auth.sessions_page import SESSIONS_PAGE
from sidecar.auth.token import token
from sidecar.config.settings import PolicyRule
from sidecar.errors import NotFound, Unauthenticated
from sidecar.keys import SIGNER
from sidecar.pipeline.context import DECISION, SUBJECT
from sidecar.pipeline.entry import AUTHENTICATE, context_for, verify

_ME_RULE = PolicyRule("/.auth/me", "authenticated")


async def jwks(request: web.Request) -> web.StreamResponse:
    """The assertion verification keys, for upstreams to check `X-Auth-Assertion`."""
    request[DECISION] = "auth_endpoint"
    return web.json_response(
        request.app[SIGNER].jwks(), headers={"Cache-Control": "public, max-age=300"}
    )


async def me(request: web.Request) -> web.StreamResponse:
    """Who the session (or bearer token) belongs to; never a token (CONTRACT)."""
    request[DECISION] = "auth_endpoint"
    ctx = context_for(request)
    ctx.rule = _ME_RULE
    await request.app[AUTHENTICATE](ctx)
    if ctx.identity is None:
        raise ctx.auth_error or Unauthenticated()
    request[SUBJECT] = ctx.identity.sub
    return web.json_response(ctx.identity.public_view(), headers={"Cache-Control": "no-store"})


async def unknown_auth_path(request: web.Request) -> web.StreamResponse:
    request[DECISION] = "auth_endpoint"
    raise NotFound()


async def login(request: web.Request) -> web.StreamResponse:
    request[DECISION] = "login"
    return await request.app[LOGIN_FLOW].login(request)


async def callback(request: web.Request) -> web.StreamResponse:
    request[DECISION] = "login_callback"
    return await request.app[LOGIN_FLOW].callback(request)


async def logout_page(request: web.Request) -> web.StreamResponse:
    request[DECISION] = "logout_page"
    return await request.app[LOGOUT_FLOW].page(request)


async def logout(request: web.Request) -> web.StreamResponse:
    request[DECISION] = "logout"
    return await request.app[LOGOUT_FLOW].logout(request)


async def logout_done(request: web.Request) -> web.StreamResponse:
    request[DECISION] = "logout_done"
    return await request.app[LOGOUT_FLOW].done(request)


async def sessions_page(request: web.Request) -> web.StreamResponse:
    request[DECISION] = "sessions_page"
    page = request.app[SESSIONS_PAGE]
    return await page.show(request)


async def sessions_end(request: web.Request) -> web.StreamResponse:
    request[DECISION] = "sessions_end"
    return await request.app[SESSIONS_PAGE].end(request)


async def backchannel_logout(request: web.Request) -> web.StreamResponse:
    request[DECISION] = "backchannel_logout"
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
        web.get("/.auth/sessions", sessions_page),
        web.post("/.auth/sessions/end", sessions_end),
    ]
