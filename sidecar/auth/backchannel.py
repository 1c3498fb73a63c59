"""`POST /.auth/backchannel-logout`: OpenID Connect Back-Channel Logout 1.0.

The provider posts a Logout Token (form field `logout_token`, section 2.5). It is validated as
section 2.6 says by `sidecar/tokens/logout_tokens.py` (steps 1-7 and the `jti`'s presence),
each refusal a 400 `invalid_request` (section 2.8); here, step 8: a `jti` not seen before,
remembered in the store (under a hash) for the token's lifetime. Then every session of that
`sid` (or, with `sub` only, of that `sub`) ends on every replica. Section 2.8: the answer carries
`Cache-Control: no-store`. The provider's keys or the store unavailable: 503.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from sidecar.config.settings import OidcSettings
from sidecar.errors import BadRequest, InvalidToken, StoreUnavailable
from sidecar.http.forms import read_bounded_body
from sidecar.metrics import Metrics
from sidecar.oidc.provider import OidcProvider
from sidecar.sessions.ticket import store_key_for_tag
from sidecar.sessions.vault import BY_SID, BY_SUB, SessionVault
from sidecar.tokens.jws import MAX_TOKEN_BYTES
from sidecar.tokens.logout_tokens import LogoutTokenValidator

MAX_BODY_BYTES = MAX_TOKEN_BYTES + 1024
_NO_STORE = {"Cache-Control": "no-store"}


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
        self._tokens = LogoutTokenValidator(oidc, provider.signing_key, clock)
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
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidLogoutToken("too large")
        try:
            return await self._tokens.validate(token)
        except InvalidToken as exc:
            raise InvalidLogoutToken(str(exc)) from exc

    def _jti_key(self, claims: dict[str, Any]) -> str:
        """Step 8: where a `jti` is remembered (under a hash, like every key)."""
        digest = hashlib.sha256(f"{claims['iss']}\x00{claims['jti']}".encode()).digest()
        return store_key_for_tag(digest[:18].hex(), "logout-jti")

    def _jti_ttl_s(self, claims: dict[str, Any]) -> float:
        """For as long as the token itself would be accepted."""
        return max(1.0, float(claims["exp"]) + self._oidc.leeway_s - self._clock())


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
