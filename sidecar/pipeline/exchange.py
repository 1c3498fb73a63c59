"""The request path, as an ordered list of small steps (Kong's plugin phases, in one place).

    resolve -> authenticate -> authorize -> rewrite headers -> proxy | answer verify

Each step reads and writes one `Exchange`; a step ends the request by setting
`exchange.response` or by raising a `SidecarError` (mapped to a response by the error
middleware). Logging and metrics are the last phase, done by the middleware around it all so
that refused requests are logged too. A new step slots into the list in `app.py` without
touching the others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDict

from sidecar.config.settings import PolicyRule, Route
from sidecar.errors import InvalidToken, LoginRequired, SidecarError, Unauthenticated
from sidecar.tokens.identity import Identity


@dataclass(slots=True)
class Exchange:
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


Step = Callable[[Exchange], Awaitable[None]]


class Pipeline:
    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = tuple(steps)

    async def run(self, exchange: Exchange) -> web.StreamResponse:
        for step in self.steps:
            await step(exchange)
            if exchange.response is not None:
                return exchange.response
        raise RuntimeError("pipeline ended without a response")  # a wiring bug, not input


def refuse_unauthenticated(exchange: Exchange, login_url: str | None) -> SidecarError:
    """The error for a protected path without a valid credential (CONTRACT "Status codes")."""
    if exchange.auth_error is not None and not isinstance(exchange.auth_error, Unauthenticated):
        return exchange.auth_error  # an outage: 503, never a login loop
    if login_url is not None and exchange.is_browser:
        exchange.decision = "login_redirect"
        return LoginRequired(login_url)
    if isinstance(exchange.auth_error, InvalidToken):
        exchange.decision = "invalid_token"
        return exchange.auth_error
    exchange.decision = "unauthenticated"
    return exchange.auth_error or Unauthenticated()
