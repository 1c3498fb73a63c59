"""The pipeline's steps. Each is a small callable with one job; the order lives in `app.py`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote

from aiohttp import hdrs, web
from multidict import CIMultiDict

from sidecar.errors import BadRequest, Forbidden, NotFound, SidecarError
from sidecar.pipeline.context import RequestContext, refuse_unauthenticated
from sidecar.pipeline.headers import (
    IdentityHeaders,
    drop_connection_options,
    forwarded_headers,
    strip_untrusted,
)
from sidecar.pipeline.policy import Policy
from sidecar.pipeline.routes import RouteTable, upstream_path
from sidecar.sessions.sockets import SESSION_TAG
from sidecar.tokens.assertion import AssertionSigner
from sidecar.tokens.id_tokens import TokenValidator
from sidecar.tokens.identity import Identity, IdentityMemo
from sidecar.tokens.trusted_issuers import ExchangedTokenValidator
from sidecar.upstream.proxy import UpstreamProxy
from sidecar.upstream.websocket import watch_session

_BEARER = "bearer "


class SessionAuthenticator(Protocol):
    """What the pipeline needs of browser sessions: the identity behind a request's cookie."""

    async def identity_for(self, request: web.Request) -> Identity | None: ...


def bearer_token(request: web.Request) -> str | None:
    """RFC 6750 section 2.1: `Authorization: Bearer <token>`; the scheme is case-insensitive."""
    values = request.headers.getall("Authorization", [])
    if len(values) > 1:
        raise BadRequest("several Authorization headers")
    if not values or values[0][: len(_BEARER)].lower() != _BEARER:
        return None
    return values[0][len(_BEARER) :].strip() or None


class ResolveProxied:
    """Proxy mode: the request itself is the one to decide on. Its route comes from the
    `Host` (or a trusted proxy's `X-Forwarded-Host`, as Kong sends it without
    `preserve_host`) and the normalized path; its rule from that route's policy."""

    def __init__(self, routes: RouteTable) -> None:
        self._routes = routes

    async def __call__(self, ctx: RequestContext) -> None:
        request = ctx.request
        ctx.method = request.method
        ctx.uri = request.raw_path
        ctx.path = self._routes.normalize(request.raw_path)
        host = request.headers.get("Host")
        if ctx.trusted_peer:
            host = request.headers.get("X-Forwarded-Host") or host
        _resolve(ctx, self._routes, host)


class ResolveForwarded:
    """Forward-auth mode: the original method, host and URI come from a trusted proxy only.

    From anyone else `X-Forwarded-Uri` and `X-Forwarded-Host` are lies waiting to happen (a
    client choosing which route and rule apply to it), so an untrusted caller is judged as if
    it asked for `/` on the `Host` it connected to.
    """

    def __init__(self, routes: RouteTable) -> None:
        self._routes = routes

    async def __call__(self, ctx: RequestContext) -> None:
        headers = ctx.request.headers
        method, uri, host = "GET", "/", headers.get("Host")
        if ctx.trusted_peer:
            method = headers.get("X-Forwarded-Method", method).upper()
            uri = headers.get("X-Forwarded-Uri") or headers.get("X-Original-URI") or uri
            host = headers.get("X-Forwarded-Host") or host
        ctx.method, ctx.uri = method, uri
        ctx.path = self._routes.normalize(uri)
        _resolve(ctx, self._routes, host)


def _resolve(ctx: RequestContext, routes: RouteTable, host: str | None) -> None:
    try:
        ctx.route, ctx.rule = routes.decide(host, ctx.path, ctx.method)
    except NotFound:
        ctx.decision = "no_route"
        raise


class Authenticate:
    """Bearer token first, then the session cookie. On a public path a bad credential is not an
    error (the request goes on anonymous); elsewhere it is kept for `Authorize` to answer."""

    def __init__(
        self,
        validator: TokenValidator,
        sessions: SessionAuthenticator | None,
        exchanged: ExchangedTokenValidator | None = None,
    ) -> None:
        self._validator = validator
        self._sessions = sessions
        self._exchanged = exchanged  # None: no `trusted_issuers`
        self._identities = IdentityMemo()

    async def __call__(self, ctx: RequestContext) -> None:
        try:
            ctx.identity = await self._identify(ctx.request)
        except SidecarError as error:
            if ctx.rule is None or ctx.rule.access != "public":
                ctx.auth_error = error

    async def _identify(self, request: web.Request) -> Identity | None:
        token = bearer_token(request)
        if token is not None:
            return await self._bearer_identity(token)
        if self._sessions is not None:
            return await self._sessions.identity_for(request)
        return None

    async def _bearer_identity(self, token: str) -> Identity:
        """The unverified `iss` only picks the validator (a trusted issuer's, CONTRACT "Service
        to service", or the provider's); the one picked checks everything, signature first."""
        if self._exchanged is not None and self._exchanged.claims_trusted_issuer(token):
            return await self._exchanged.identity(token)
        claims = await self._validator.validate_bearer(token)
        return self._identities.identity(claims, "bearer", token)


class Authorize:
    """The policy decision: public, or an identity the matched rule permits."""

    def __init__(self, login_url: str | None) -> None:
        self._login_url = login_url  # None: never redirect (forward-auth answers 401)

    async def __call__(self, ctx: RequestContext) -> None:
        rule = ctx.rule
        assert rule is not None, "a Resolve step runs first"
        if rule.access == "public":
            ctx.decision = "public"
            return
        if ctx.identity is None:
            raise refuse_unauthenticated(ctx, self._login_url_for(ctx))
        if not Policy.permits(rule, ctx.identity):
            ctx.decision = "forbidden"
            raise Forbidden()
        ctx.decision = "allow"

    def _login_url_for(self, ctx: RequestContext) -> str | None:
        if self._login_url is None:
            return None
        return f"{self._login_url}?rd={quote(ctx.uri, safe='')}"


class RewriteHeaders:
    """Apply the client's `Connection` list to its own fields, strip what a client may spoof,
    then add forwarding and verified identity headers (in that order: nothing the client
    sends can remove what the sidecar sets, RFC 9110 section 7.6.1)."""

    def __init__(self, signer: AssertionSigner, cookie_name: str, forward_token: bool) -> None:
        self._signer = signer
        self._cookie_name = cookie_name
        self._forward_token = forward_token
        self._identity_headers = IdentityHeaders()

    async def __call__(self, ctx: RequestContext) -> None:
        request = ctx.request
        headers = CIMultiDict(request.headers)
        if "Connection" in headers:  # the client's hop-by-hop fields, before any injection
            drop_connection_options(headers)
        # The client's own Authorization never passes as is: with `forward_token` the upstream
        # gets only a token the sidecar verified (on a public path the client's may be anything).
        strip_untrusted(headers, cookie_name=self._cookie_name)
        forwarded_headers(
            headers,
            peer=request.remote,
            scheme=request.scheme,
            host=request.headers.get("Host"),
            trusted=ctx.trusted_peer,
        )
        headers["X-Request-ID"] = ctx.request_id
        identity = ctx.identity
        if identity is not None:
            assertion = self._signer.sign(identity, route=ctx.route)
            ctx.identity_headers = self._identity_headers(identity, assertion)
            headers.extend(ctx.identity_headers)
            if self._forward_token and identity.id_token:
                headers["Authorization"] = f"Bearer {identity.id_token}"
        ctx.upstream_headers = headers


class InjectIdentity:
    """Forward-auth: only the identity headers, for the gateway to copy. With
    `headers.forward_token` the answer also carries `Authorization: Bearer <verified id token>`,
    the only Authorization the gateway may pass on (it drops the client's own), so that the
    upstream gets what proxy mode would give it."""

    def __init__(self, signer: AssertionSigner, *, forward_token: bool = False) -> None:
        self._signer = signer
        self._forward_token = forward_token
        self._identity_headers = IdentityHeaders()

    async def __call__(self, ctx: RequestContext) -> None:
        identity = ctx.identity
        if identity is not None:
            assertion = self._signer.sign(identity, route=ctx.route)
            ctx.identity_headers = self._identity_headers(identity, assertion)
            if self._forward_token and identity.id_token:
                ctx.identity_headers.append(("Authorization", f"Bearer {identity.id_token}"))


class ProxyToUpstream:
    """Stream to the route's upstream. The upstream gets the normalized path the policy
    judged (less the route's prefix with `strip_prefix`), so that an upstream decoding `%2F`
    or resolving `..` differently cannot serve something other than what was authorized
    (path-confusion bypasses, e.g. CVE-2021-41773's class). An upgrade under a session is
    watched from before the upstream handshake (`websocket.watch_session`): a logout while
    the upstream is still answering closes the socket the moment it opens."""

    def __init__(self, proxies: Mapping[str, UpstreamProxy]) -> None:
        self._proxies = proxies  # by route name; a route without upstream has none

    async def __call__(self, ctx: RequestContext) -> None:
        route = ctx.route
        assert route is not None, "a Resolve step runs first"
        proxy = self._proxies.get(route.name)
        if proxy is None:  # a forward-auth-only route: nothing to proxy to
            ctx.decision = "no_upstream"
            raise NotFound()
        request, path = ctx.request, upstream_path(route, ctx.path)
        if hdrs.UPGRADE in request.headers and SESSION_TAG in request:
            with watch_session(request):
                ctx.response = await proxy.forward(request, ctx.upstream_headers, path)
            return
        ctx.response = await proxy.forward(request, ctx.upstream_headers, path)


class AnswerVerify:
    """Forward-auth answer: 200 with the identity headers (401/403 were raised before)."""

    async def __call__(self, ctx: RequestContext) -> None:
        response = web.Response(status=200, content_type="application/json", text='{"ok":true}')
        for name, value in ctx.identity_headers:
            response.headers.add(name, value)
        ctx.response = response
