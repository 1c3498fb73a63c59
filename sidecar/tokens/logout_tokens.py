"""Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0 section 2.4), validated
as section 2.6 says; the endpoint that receives them is `sidecar/auth/backchannel.py`.

Each step a refusal (`InvalidToken`; the endpoint answers 400 `invalid_request`):
 1. an encrypted token (JWE) is not accepted: compact JWS only;
 2-3. the signature is checked as an ID token's is, by the one JWS verifier
    (`sidecar/tokens/jws.py`): a key of the provider's JWKS named by `kid` (or the single one
    that fits, OIDC Core 10.1), an algorithm from `oidc.algorithms` that fits the key, never
    `none`; `typ`, when present, must be `logout+jwt` (section 2.4, RFC 8725 section 3.11);
 4. `iss` equals the issuer, `aud` contains `oidc.client_id`, `iat` is present and not in the
    future, `exp` is in the future (all within `oidc.leeway_s`);
 5. `sub`, `sid`, or both (`sub` by the rule of every kind, `sid` a non-empty string);
 6. `events` is a JSON object with the member `http://schemas.openid.net/event/backchannel-logout`
    whose value is a JSON object;
 7. no `nonce` (an ID token can never pass as a Logout Token);
 8. a `jti` (section 2.4: REQUIRED), remembered by the endpoint.
The id token rules refuse `events` in turn, so neither kind passes for the other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sidecar.config.settings import OidcSettings
from sidecar.errors import InvalidToken
from sidecar.tokens.claims import TokenClaims
from sidecar.tokens.jws import LOGOUT_JWT, JwsVerifier, KeyLookup, check_token_size

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class LogoutTokenClaims(TokenClaims):
    """Section 2.4 claims, checked as section 2.6 steps 4-8 say."""

    required = ("iss", "aud", "iat", "exp", "jti", "events")
    checked: ClassVar[tuple[str, ...]] = (
        *TokenClaims.checked,
        "sid",
        "subject",
        "nonce",
        "jti",
    )

    def validate_events(self, claims: Mapping[str, Any], now: float) -> None:
        """Step 6."""
        events = claims["events"]
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
            raise InvalidToken("no back-channel logout event")

    def validate_sid(self, claims: Mapping[str, Any], now: float) -> None:
        if "sid" in claims and (not isinstance(claims["sid"], str) or not claims["sid"]):
            raise InvalidToken("sid is not a string")

    def validate_subject(self, claims: Mapping[str, Any], now: float) -> None:
        """Step 5: `sub`, `sid`, or both (each checked by its own rule)."""
        if "sub" not in claims and "sid" not in claims:
            raise InvalidToken("neither sub nor sid")

    def validate_nonce(self, claims: Mapping[str, Any], now: float) -> None:
        """Step 7."""
        if "nonce" in claims:
            raise InvalidToken("a nonce: not a logout token")

    def validate_jti(self, claims: Mapping[str, Any], now: float) -> None:
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise InvalidToken("no jti")


class LogoutTokenValidator:
    """The claims of a valid Logout Token, or `InvalidToken` (`ProviderUnavailable` when the
    provider's keys cannot be had)."""

    def __init__(
        self, oidc: OidcSettings, keys: KeyLookup, clock: Callable[[], float] = time.time
    ) -> None:
        self._keys = keys
        self._jws = JwsVerifier(algorithms=oidc.algorithms, types=LOGOUT_JWT)
        self._claims = LogoutTokenClaims(
            issuer=oidc.issuer, audiences=(oidc.client_id,), leeway_s=oidc.leeway_s, clock=clock
        )

    async def validate(self, token: str) -> dict[str, Any]:
        check_token_size(token)
        claims = (await self._jws.verify(token, self._keys)).claims
        self._claims.validate(claims)
        return claims
