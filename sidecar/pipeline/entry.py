"""Where a request enters the pipeline: its `RequestContext`, the run, and what the log line
learns from it (decision, subject). The proxy catch-all and `/.auth/verify` both come here."""

from __future__ import annotations

from aiohttp import web

from sidecar.errors import NotFound
from sidecar.pipeline.context import (
    DECISION,
    REQUEST_ID,
    SUBJECT,
    TRUSTED_PEER,
    Pipeline,
    RequestContext,
)
from sidecar.pipeline.steps import Authenticate

PROXY_PIPELINE = web.AppKey("proxy_pipeline", Pipeline)
VERIFY_PIPELINE = web.AppKey("verify_pipeline", Pipeline)
AUTHENTICATE = web.AppKey("authenticate", Authenticate)


def context_for(request: web.Request) -> RequestContext:
    return RequestContext(
        request=request, request_id=request[REQUEST_ID], trusted_peer=request[TRUSTED_PEER]
    )


async def run_pipeline(pipeline: Pipeline, request: web.Request) -> web.StreamResponse:
    """Run `pipeline` on `request`, reporting its decision and subject to the log phase."""
    ctx = context_for(request)
    try:
        return await pipeline.run(ctx)
    finally:
        request[DECISION] = ctx.decision
        if ctx.identity is not None:
            request[SUBJECT] = ctx.identity.sub


async def proxy_handler(request: web.Request) -> web.StreamResponse:
    """Every path that is not `/.auth/*` (proxy mode)."""
    pipeline = request.app.get(PROXY_PIPELINE)
    if pipeline is None:  # forward-auth mode: no upstream to proxy to
        request[DECISION] = "no_upstream"
        raise NotFound()
    return await run_pipeline(pipeline, request)


async def verify(request: web.Request) -> web.StreamResponse:
    """`GET /.auth/verify`: the forward-auth decision for a gateway (nginx `auth_request`,
    Traefik, Caddy, Envoy `ext_authz`, the Kong plugin)."""
    return await run_pipeline(request.app[VERIFY_PIPELINE], request)
