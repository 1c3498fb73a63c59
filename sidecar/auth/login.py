"""The browser login: `/.auth/login`, `/.auth/callback` (sign-out: `sidecar.auth.logout`).

OIDC authorization code flow (OIDC Core 3.1) with the RFC 9700 client protections:
- `state` (RFC 6749 section 10.12) names server-side login state and is accepted once; a
  short-lived cookie binds it to the browser that started the login (login CSRF);
- `nonce` (OIDC Core 3.1.2.1) is checked in the id token;
- PKCE with `S256` (RFC 7636; RFC 9700 section 2.1.1), never `plain`;
- a new session ticket at every login (no fixation); the old session is deleted;
- `rd` is checked by `sidecar.auth.redirects.safe_redirect` (open redirects).
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from sidecar.auth.redirects import safe_redirect
from sidecar.config.settings import Settings
from sidecar.errors import InvalidToken, LoginFailed, ProviderUnavailable
from sidecar.oidc.provider import OidcProvider
from sidecar.oidc.token_client import TokenClient
from sidecar.oidc.userinfo import UserinfoClient
from sidecar.pipeline.context import TRUSTED_PEER
from sidecar.sessions.devices import client_address, describe_device
from sidecar.sessions.directory import ClientInfo
from sidecar.sessions.manager import SessionManager
from sidecar.sessions.vault import LoginState
from sidecar.tokens.id_tokens import TokenValidator

_NO_STORE = {"Cache-Control": "no-store"}


class LoginFlow:
    def __init__(
        self,
        settings: Settings,
        provider: OidcProvider,
        tokens: TokenClient,
        validator: TokenValidator,
        sessions: SessionManager,
        *,
        userinfo: UserinfoClient | None = None,
    ) -> None:
        self._settings = settings
        self._userinfo = userinfo  # `oidc.userinfo`: its claims merged at login
        self._provider = provider
        self._tokens = tokens
        self._validator = validator
        self._sessions = sessions
        self.redirect_uri = settings.public_url + "/.auth/callback"

    async def login(self, request: web.Request) -> web.StreamResponse:
        rd = safe_redirect(request.query.get("rd"))
        metadata = self._provider.metadata  # 503 while the provider is unknown
        verifier, nonce, binding = generate_token(64), generate_token(32), generate_token(32)
        state = await self._sessions.vault.save_login_state(
            LoginState(nonce=nonce, code_verifier=verifier, rd=rd, browser_binding=binding)
        )
        location = prepare_grant_uri(
            metadata.authorization_endpoint,
            self._settings.oidc.client_id,
            "code",
            redirect_uri=self.redirect_uri,
            scope=" ".join(self._settings.oidc.scopes),
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        response = _redirect(location)
        self._sessions.set_login_cookie(response, _binding_cookie_suffix(state), binding)
        return response

    async def callback(self, request: web.Request) -> web.StreamResponse:
        state = request.query.get("state", "")
        login = await self._sessions.vault.take_login_state(state) if state else None
        if login is None:
            raise LoginFailed("unknown, expired or replayed state")
        suffix = _binding_cookie_suffix(state)
        binding = request.cookies.get(self._sessions.login_cookie_name + suffix, "")
        # "replace": a cookie of undecodable bytes is a mismatch (400), never a 500.
        if not hmac.compare_digest(
            binding.encode(errors="replace"), login.browser_binding.encode()
        ):
            raise LoginFailed("login started in another browser")
        code = request.query.get("code")
        if "error" in request.query or not code:
            raise LoginFailed("the provider refused the login")
        try:
            tokens = await self._tokens.exchange_code(code, self.redirect_uri, login.code_verifier)
        except ProviderUnavailable:
            # The code was not redeemed: the same callback may be retried after the 503.
            await self._sessions.vault.restore_login_state(state, login)
            raise
        try:
            claims = await self._validator.validate_id_token(
                tokens.id_token, nonce=login.nonce, access_token=tokens.access_token
            )
        except InvalidToken as exc:
            raise LoginFailed("id token refused") from exc
        if self._userinfo is not None:  # a `sub` mismatch refuses the login (OIDC Core 5.3.2)
            claims = await self._userinfo.merged(tokens.access_token, claims)
        await self._sessions.end(request)  # the browser's old session, if any: no fixation
        ticket = await self._sessions.start(tokens, claims, self._client_info(request))
        response = _redirect(self._settings.public_path + login.rd)
        self._sessions.set_session_cookie(response, ticket)
        self._sessions.clear_login_cookie(response, suffix)
        return response

    def _client_info(self, request: web.Request) -> ClientInfo:
        """The session list's device and address (the address per `trusted_proxies`)."""
        trusted = self._settings.trusted_proxies if request[TRUSTED_PEER] else ()
        forwarded = request.headers.getall("X-Forwarded-For", [])
        return ClientInfo(
            device=describe_device(request.headers.get("User-Agent")),
            client_ip=client_address(request.remote, forwarded, trusted),
        )


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, **_NO_STORE})


def _binding_cookie_suffix(state: str) -> str:
    """One binding cookie per login in flight, so two tabs logging in do not collide."""
    return "_" + hashlib.sha256(state.encode()).hexdigest()[:12]


LOGIN_FLOW = web.AppKey("login_flow", LoginFlow)
