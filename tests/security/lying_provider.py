"""A provider the test controls completely: the "lying provider" of the house rules.

The real provider (npm oidc-provider) only signs honest tokens. To show that the sidecar
refuses a validly signed token with a wrong `iss`, a missing `exp` or a foreign `nonce`, the
test needs a provider whose signing key it holds. This one serves discovery, a JWKS, an
authorization endpoint that redirects straight back with a code, and a token endpoint that
enforces client authentication, single-use codes and PKCE S256 like a real one, then returns
whatever id token the test asks for. Every hit is counted by path.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from yarl import URL

from tests.security.jose import Signer

ClaimsHook = Callable[[dict[str, str]], dict[str, Any]]


@dataclass
class LyingProvider:
    issuer: str
    signer: Signer
    client_id: str = "sidecar"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    hits: Counter[str] = field(default_factory=Counter)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    issued: list[dict[str, Any]] = field(default_factory=list)  # token responses, in order
    # Claim overrides for the next logins' id tokens, given the authorize request's params.
    login_claims: ClaimsHook = field(default=lambda params: {})
    # Or the whole id token, for forgeries the claims alone cannot express (key, alg, JWE).
    login_token: Callable[[dict[str, str]], str] | None = None
    discovery_overrides: dict[str, Any] = field(default_factory=dict)
    # The userinfo endpoint's JSON body, as bytes; None: no such endpoint in discovery.
    userinfo: bytes | None = None
    # > 0: the userinfo body goes out in two writes this far apart (a large answer, chunked).
    userinfo_pause_s: float = 0.0
    # The token endpoint's body, as bytes, in place of its answer (after the code was spent).
    token_body: bytes | None = None
    _codes: dict[str, dict[str, str]] = field(default_factory=dict)

    def sidecar_overrides(self) -> dict[str, Any]:
        return {
            "oidc": {
                "issuer": self.issuer,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            }
        }

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/auth",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/keys",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "code_challenge_methods_supported": ["S256", "plain"],
            **({"userinfo_endpoint": f"{self.issuer}/userinfo"} if self.userinfo else {}),
            **self.discovery_overrides,
        }

    def authorize(self, params: dict[str, str]) -> str:
        """The redirect back to the client, with a fresh single-use code."""
        self.authorize_requests.append(params)
        code = secrets.token_urlsafe(16)
        self._codes[code] = params
        return str(URL(params["redirect_uri"]).update_query(code=code, state=params["state"]))

    def exchange(self, form: dict[str, str], basic: str) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if basic != f"Basic {expected}":
            return 401, {"error": "invalid_client"}
        params = self._codes.pop(form.get("code", ""), None)
        if params is None or form.get("redirect_uri") != params["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        if not _pkce_matches(form.get("code_verifier", ""), params):
            return 400, {"error": "invalid_grant"}
        access_token = "at-" + secrets.token_urlsafe(24)
        claims = {"nonce": params.get("nonce"), **self.login_claims(params)}
        body = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 600,
            "refresh_token": "rt-" + secrets.token_urlsafe(24),
            "id_token": self.login_token(params)
            if self.login_token
            else self.signer.token(**claims),
        }
        self.issued.append(body)
        return 200, body


def _pkce_matches(verifier: str, params: dict[str, str]) -> bool:
    if params.get("code_challenge_method") != "S256":
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return secrets.compare_digest(challenge, params.get("code_challenge", ""))


async def _in_two_writes(request: web.Request, body: bytes, pause_s: float) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)  # chunked: no length declared
    half = len(body) // 2
    await response.write(body[:half])
    await asyncio.sleep(pause_s)
    await response.write(body[half:])
    await response.write_eof()
    return response


def lying_provider_app(provider: LyingProvider) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        provider.hits[request.path] += 1
        if request.path == "/.well-known/openid-configuration":
            return web.json_response(provider.discovery())
        if request.path == "/keys":
            jwks = provider.signer.jwks()
            return web.json_response(jwks, headers={"Cache-Control": "max-age=600"})
        if request.path == "/auth":
            raise web.HTTPFound(provider.authorize(dict(request.query)))
        if request.path == "/token" and request.method == "POST":
            form = {k: str(v) for k, v in (await request.post()).items()}
            status, body = provider.exchange(form, request.headers.get("Authorization", ""))
            if provider.token_body is not None:
                return web.Response(body=provider.token_body, content_type="application/json")
            return web.json_response(body, status=status)
        if request.path == "/userinfo" and provider.userinfo is not None:
            if not provider.userinfo_pause_s:
                return web.Response(body=provider.userinfo, content_type="application/json")
            return await _in_two_writes(request, provider.userinfo, provider.userinfo_pause_s)
        return web.json_response({"error": "not_found"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@dataclass
class AttackerServer:
    """Where a forged token's `jku`/`x5u` points: serves the attacker's keys, counts hits."""

    url: str
    hits: Counter[str] = field(default_factory=Counter)


def attacker_app(server: AttackerServer, attacker: Signer, cert_pem: bytes) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        server.hits[request.path] += 1
        if request.path.endswith(".pem"):
            return web.Response(body=cert_pem, content_type="application/x-pem-file")
        return web.json_response(attacker.jwks())

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
