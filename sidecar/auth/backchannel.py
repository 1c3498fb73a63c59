"""`POST /.auth/backchannel-logout`: OpenID Connect Back-Channel Logout 1.0.

The provider posts a Logout Token (form field `logout_token`, section 2.5). Section 2.6, each
step a refusal (400 `invalid_request`, section 2.8):
 1. an encrypted token (JWE) is not accepted: compact JWS only;
 2-3. the signature is checked as an ID token's is: a key of the provider's JWKS named by
    `kid`, an algorithm from `oidc.algorithms` that fits the key, never `none`;
    `typ`, when present, must be `logout+jwt` (section 2.4, explicit typing);
 4. `iss` equals the issuer, `aud` contains `oidc.client_id`, `iat` is present and not in the
    future, `exp` is in the future (all within `oidc.leeway_s`);
 5. `sub`, `sid`, or both;
 6. `events` is a JSON object with the member `http://schemas.openid.net/event/backchannel-logout`;
 7. no `nonce` (an ID token can never pass as a Logout Token);
 8. `jti` not seen before: remembered in the store (under a hash) for the token's lifetime.
Then every session of that `sid` (or, with `sub` only, of that `sub`) ends on every replica.
Section 2.8: the answer carries `Cache-Control: no-store`.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import jwt
from aiohttp import web

from sidecar.config.settings import OidcSettings
from sidecar.errors import BadRequest, InvalidToken, StoreUnavailable
from sidecar.http.forms import read_bounded_body
from sidecar.metrics import Metrics
from sidecar.oidc.provider import OidcProvider
from sidecar.sessions.ticket import store_key_for_tag
from sidecar.sessions.vault import BY_SID, BY_SUB, SessionVault
from sidecar.tokens.id_tokens import MAX_TOKEN_BYTES, compact_jws_header

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_BODY_BYTES = MAX_TOKEN_BYTES + 1024
_NO_STORE = {"Cache-Control": "no-store"}
_LOGOUT_TYPES = ("logout+jwt", "application/logout+jwt")  # RFC 8725 section 3.11


class InvalidLogoutToken(BadRequest):
    """Section 2.8: a refused Logout Token is a 400 (`invalid_request`)."""

    error = "invalid_request"
    headers = _NO_STORE


class BackchannelLogout:
    def __init__(
        self,
        oidc: OidcSettings,
        provider: OidcProvider,
        vault: SessionVault,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._oidc = oidc
        self._provider = provider
        self._vault = vault
        self._metrics = metrics
        self._clock = clock

    async def handle(self, request: web.Request) -> web.StreamResponse:
        token = await _logout_token(request)
        claims = await self.validate(token)
        jti_key = self._jti_key(claims)
        if not await self._vault.save_marker_if_absent(jti_key, self._jti_ttl_s(claims)):
            raise InvalidLogoutToken("jti replayed")
        sid = claims.get("sid")
        try:
            if isinstance(sid, str):
                await self._vault.end_indexed(BY_SID, sid)
            else:
                await self._vault.end_indexed(BY_SUB, str(claims["sub"]))
        except StoreUnavailable:
            # 503: a provider that retries must not meet its own jti as a replay.
            with contextlib.suppress(StoreUnavailable):
                await self._vault.clear_marker(jti_key)
            raise
        self._metrics.logout.labels(kind="backchannel").inc()
        return web.Response(status=200, headers=_NO_STORE)

    async def validate(self, token: str) -> dict[str, Any]:
        """The claims of a valid Logout Token; `InvalidLogoutToken` otherwise."""
        claims = await self._verified_claims(token)
        _check_subject(claims)
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
            raise InvalidLogoutToken("no back-channel logout event")  # step 6
        if "nonce" in claims:
            raise InvalidLogoutToken("a nonce: not a logout token")  # step 7
        if not isinstance(claims.get("jti"), str) or not claims["jti"]:
            raise InvalidLogoutToken("no jti")
        return claims

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidLogoutToken("too large")
        try:
            header = compact_jws_header(token)  # step 1: five segments (JWE) refused
        except InvalidToken as exc:
            raise InvalidLogoutToken("malformed") from exc
        if "typ" in header and str(header["typ"]).lower() not in _LOGOUT_TYPES:
            raise InvalidLogoutToken("typ is not logout+jwt")
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in self._oidc.algorithms or not isinstance(kid, str) or not kid:
            raise InvalidLogoutToken("algorithm or kid")  # step 3
        key = await self._provider.signing_key(kid)
        if key is None or not key.fits(algorithm):
            raise InvalidLogoutToken("no fitting key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self._oidc.client_id,
                issuer=self._oidc.issuer,
                leeway=self._oidc.leeway_s,
                options={"require": ["iss", "aud", "iat", "exp"], "strict_aud": False},
            )
        except (jwt.PyJWTError, OverflowError) as exc:  # step 2 and 4
            raise InvalidLogoutToken(type(exc).__name__) from exc
        iat = claims["iat"]
        if isinstance(iat, bool) or not isinstance(iat, int | float):
            raise InvalidLogoutToken("iat is not a NumericDate")
        if iat > self._clock() + self._oidc.leeway_s:
            raise InvalidLogoutToken("iat in the future")
        return claims

    def _jti_key(self, claims: dict[str, Any]) -> str:
        """Step 8: where a `jti` is remembered (under a hash, like every key)."""
        digest = hashlib.sha256(f"{claims['iss']}\x00{claims['jti']}".encode()).digest()
        return store_key_for_tag(digest[:18].hex(), "logout-jti")

    def _jti_ttl_s(self, claims: dict[str, Any]) -> float:
        """For as long as the token itself would be accepted."""
        return max(1.0, float(claims["exp"]) + self._oidc.leeway_s - self._clock())


def _check_subject(claims: dict[str, Any]) -> None:
    """Step 5: `sub`, `sid`, or both, each a non-empty string."""
    present = [name for name in ("sub", "sid") if name in claims]
    if not present:
        raise InvalidLogoutToken("neither sub nor sid")
    for name in present:
        if not isinstance(claims[name], str) or not claims[name]:
            raise InvalidLogoutToken(f"{name} is not a string")


async def _logout_token(request: web.Request) -> str:
    """Section 2.5: `application/x-www-form-urlencoded` with one `logout_token`."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise InvalidLogoutToken("not a form")
    body = await read_bounded_body(request, MAX_BODY_BYTES)
    if body is None:
        raise InvalidLogoutToken("too large")
    try:
        form = parse_qs(body.decode("ascii"), strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidLogoutToken("unreadable form") from exc
    tokens = form.get("logout_token", [])
    if len(tokens) != 1 or not tokens[0]:
        raise InvalidLogoutToken("one logout_token expected")
    return tokens[0]


BACKCHANNEL = web.AppKey("backchannel", BackchannelLogout)
