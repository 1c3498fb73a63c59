"""The request path, as an ordered list of small steps (Kong's plugin phases, in one place).

    resolve -> authenticate -> authorize -> rewrite headers -> proxy | answer verify

Each step reads and writes one `RequestContext`; a step ends the request by setting
`ctx.response` or by raising a `SidecarError` (mapped to a response by the error
middleware). Logging and metrics are the last phase, done by the middleware around it all so
that refused requests are logged too. A new step slots into the list in `app.py` without
touching the others.

The request keys are what the server side (`http/middleware.py`: the request id, the log
line) and the request's handlers share about one request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDict

from sidecar.config.settings import PolicyRule, Route
from sidecar.errors import InvalidToken, LoginRequired, SidecarError, Unauthenticated
from sidecar.tokens.identity import Identity

REQUEST_ID = web.RequestKey("request_id", str)
TRUSTED_PEER = web.RequestKey("trusted_peer", bool)
DECISION = web.RequestKey("decision", str)  # what the handler decided, for the log line
SUBJECT = web.RequestKey("subject", str)  # the authenticated `sub`, or ""


@dataclass(slots=True)
class RequestContext:
    """Everything the steps learn about one request."""

    request: web.Request
    request_id: str
    trusted_peer: bool
    method: str = "GET"  # the original method (forward-auth: from the trusted proxy)
    uri: str = "/"  # the original path and query, as sent
    path: str = "/"  # normalized: the only form the policy sees
    route: Route | None = None  # the route table's pick (CONTRACT "Access policy")
    rule: PolicyRule | None = None
    identity: Identity | None = None
    auth_error: SidecarError | None = None
    upstream_headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    identity_headers: list[tuple[str, str]] = field(default_factory=list)
    decision: str = "unknown"
    response: web.StreamResponse | None = None

    @property
    def is_browser(self) -> bool:
        """CONTRACT "Credentials": a top-level navigation that can follow a login redirect."""
        accept = self.request.headers.get("Accept", "")
        return self.method in ("GET", "HEAD") and "text/html" in accept


Step = Callable[[RequestContext], Awaitable[None]]


class Pipeline:
    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = tuple(steps)

    async def run(self, ctx: RequestContext) -> web.StreamResponse:
        for step in self.steps:
            await step(ctx)
            if ctx.response is not None:
                return ctx.response
        raise RuntimeError("pipeline ended without a response")  # a wiring bug, not input


def refuse_unauthenticated(ctx: RequestContext, login_url: str | None) -> SidecarError:
    """The error for a protected path without a valid credential (CONTRACT "Status codes")."""
    if ctx.auth_error is not None and not isinstance(ctx.auth_error, Unauthenticated):
        return ctx.auth_error  # an outage: 503, never a login loop
    if login_url is not None and ctx.is_browser:
        ctx.decision = "login_redirect"
        return LoginRequired(login_url)
    if isinstance(ctx.auth_error, InvalidToken):
        ctx.decision = "invalid_token"
        return ctx.auth_error
    ctx.decision = "unauthenticated"
    return ctx.auth_error or Unauthenticated()
