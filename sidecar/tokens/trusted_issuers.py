"""Bearer tokens exchanged by other sidecars (`trusted_issuers`, CONTRACT "Service to service").

Service A's sidecar exchanged its user's assertion for a token addressed to this sidecar
(`sidecar/tokens/exchange.py`). It is accepted here when, each rule a 401 `invalid_token`:

- its `iss` is one of `trusted_issuers`, and the signature verifies with a key from *that*
  entry's `jwks_url` (never a key the token names, RFC 8725 section 3.10). The unverified `iss`
  only chooses which keys to try: a token lying about it fails the signature;
- the algorithm is ES256 and fits the key (RFC 8725 section 3.1: one algorithm, pinned); the
  header `typ` says it is an exchanged token (RFC 8725 section 3.11, explicit typing), so a
  plain assertion of that issuer is not one. These header and signature rules are the one JWS
  verifier's (`sidecar/tokens/jws.py`);
- `aud` is exactly this sidecar's `public_url` (RFC 7519 section 4.1.3; RFC 8725 section 3.9:
  a token for another service replayed here is refused);
- `exp` and `iat` required, `exp` ahead and `iat` not in the future, within `oidc.leeway_s`;
  `sub` as for every kind (`sidecar/tokens/claims.py`);
- `act` is present (RFC 8693 section 4.1), each level an object with a string `sub`, and the
  outermost `act.sub` is the issuer itself: the service that exchanged the token is the actor,
  so `X-Auth-Actor` (and an `actors` rule) can only name a service that signed the token.

Keys are cached like the provider's (`sidecar/oidc/jwks.py`): refreshed in the background on
`Cache-Control` max-age clamped to [60 s, 3600 s], one shared refetch per 10 s on an unknown
`kid`, the last good keys for 24 h. An issuer whose keys cannot be had answers its tokens with
503; it never makes this sidecar unready for its own users (see docs/service-to-service.md).
"""

from __future__ import annotations

import asyncio
import binascii
import dataclasses
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
from jwt.utils import base64url_decode

from sidecar.config.model import TrustedIssuer
from sidecar.errors import InvalidToken, ProviderUnavailable, TrustedIssuerUnavailable
from sidecar.oidc.jwks import JwksCache, SigningKey
from sidecar.tokens.claims import TokenClaims
from sidecar.tokens.id_tokens import VerifiedTokenCache
from sidecar.tokens.identity import MAX_ACT_DEPTH, Identity
from sidecar.tokens.jws import (
    EXCHANGED_JWT,
    MAX_TOKEN_BYTES,
    JwsVerifier,
    KeyLookup,
    check_compact_jws,
    check_token_size,
    is_compact_jws,
)

ALGORITHM = "ES256"


class TrustedIssuerKeys:
    """One JWKS cache per trusted issuer, all kept fresh by one background task (`run`)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        issuers: Sequence[TrustedIssuer],
        *,
        on_fetch: Callable[[str, str], None] = lambda issuer, result: None,
    ) -> None:
        self._caches = {
            entry.issuer: JwksCache(
                session,
                entry.jwks_url,
                on_fetch=functools.partial(on_fetch, entry.issuer),
            )
            for entry in issuers
        }

    @property
    def issuers(self) -> frozenset[str]:
        return frozenset(self._caches)

    def readiness(self) -> dict[str, bool]:
        """Informational: whose keys are loaded (not part of this sidecar's readiness)."""
        return {issuer: cache.ready for issuer, cache in self._caches.items()}

    async def key(self, issuer: str, kid: str | None, algorithm: str) -> SigningKey | None:
        try:
            return await self._caches[issuer].get_or_refetch(kid, algorithm)
        except ProviderUnavailable as exc:
            raise TrustedIssuerUnavailable("trusted issuer keys unavailable") from exc

    async def run(self) -> None:
        """Load every issuer's keys now, then refresh each on its own TTL, forever. A failed
        load is retried by the refresher (every 10 s) and by the first token that needs it."""
        await asyncio.gather(*(cache.run_refresher() for cache in self._caches.values()))


def unverified_issuer(token: str) -> str | None:
    """The `iss` a token claims, before anything is verified: only to pick the validator."""
    payload = _unverified_payload(token)
    return None if payload is None else _issuer_in(payload)


def _unverified_payload(token: str) -> bytes | None:
    if len(token) > MAX_TOKEN_BYTES or not is_compact_jws(token):
        return None
    try:
        return base64url_decode(token.split(".")[1])
    except (ValueError, binascii.Error):
        return None


def _issuer_in(payload: bytes) -> str | None:
    try:
        claims = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


class ExchangedTokenClaims(TokenClaims):
    """The claims of one trusted issuer's exchanged tokens (the module docstring)."""

    required = ("iss", "aud", "sub", "exp", "iat")
    checked = (*TokenClaims.checked, "act")

    def validate_aud(self, claims: Mapping[str, Any], now: float) -> None:
        """RFC 8725 section 3.9: exactly this sidecar's `public_url`, one string."""
        if not isinstance(claims["aud"], str) or claims["aud"] not in (self.audiences or ()):
            raise InvalidToken("aud is not this service")

    def validate_act(self, claims: Mapping[str, Any], now: float) -> None:
        _check_act(claims.get("act"), self.issuer)


class ExchangedTokenValidator:
    """The Identity behind a trusted issuer's exchanged token, or `InvalidToken`."""

    def __init__(
        self,
        keys: TrustedIssuerKeys,
        *,
        audience: str,
        leeway_s: int,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._issuers = keys.issuers
        self._needles = tuple(json.dumps(issuer).encode() for issuer in self._issuers)
        self._leeway_s = leeway_s
        self._verified = VerifiedTokenCache(cache_size, clock)
        self._jws = JwsVerifier(algorithms=(ALGORITHM,), types=EXCHANGED_JWT)
        self._keys: dict[str, KeyLookup] = {
            issuer: functools.partial(keys.key, issuer) for issuer in self._issuers
        }
        self._claims = {
            issuer: ExchangedTokenClaims(
                issuer=issuer, audiences=(audience,), leeway_s=leeway_s, clock=clock
            )
            for issuer in self._issuers
        }

    def claims_trusted_issuer(self, token: str) -> bool:
        """Whether `token` says it comes from a trusted issuer. Every bearer asks, so it is
        cheap and never raises: the size and the compact JWS shape first (ASCII only), then a
        substring test spares the JSON parse for the provider's tokens: a trusted issuer
        signs its `iss` as plain JSON (an escaped spelling fails over to the provider's
        validator, which refuses it)."""
        payload = _unverified_payload(token)
        if payload is None or not any(needle in payload for needle in self._needles):
            return False
        return _issuer_in(payload) in self._issuers

    async def identity(self, token: str) -> Identity:
        check_token_size(token)
        check_compact_jws(token)
        claims = self._verified.get(token, self._leeway_s)
        if claims is None:
            claims = await self._verify(token)
            self._verified.put(token, claims)
        return exchanged_identity(claims, token)

    async def _verify(self, token: str) -> dict[str, Any]:
        """The unverified `iss` picks whose keys and rules; the signature then proves it."""
        issuer = unverified_issuer(token)
        if issuer not in self._issuers:
            raise InvalidToken("untrusted issuer")
        claims = (await self._jws.verify(token, self._keys[issuer])).claims
        self._claims[issuer].validate(claims)
        return claims


def _check_act(act: object, issuer: str) -> None:
    """RFC 8693 section 4.1: `act` is a JSON object naming the actor in `sub`; nested `act`s
    are the prior actors. The outermost one must be the issuer (the module docstring)."""
    if not isinstance(act, dict) or act.get("sub") != issuer:
        raise InvalidToken("act missing or not the issuer")
    level: object = act
    for _ in range(MAX_ACT_DEPTH):
        if not isinstance(level, dict):
            raise InvalidToken("act not an object")
        sub = level.get("sub")
        if not isinstance(sub, str) or not sub or not sub.isprintable():
            raise InvalidToken("act without sub")
        level = level.get("act")
        if level is None:
            return
    raise InvalidToken("act chain too deep")


def exchanged_identity(claims: Mapping[str, Any], token: str) -> Identity:
    """The issuing sidecar put `email` in only when the provider said it was verified (its
    assertion rule), so it is taken as verified here."""
    identity = Identity.from_claims({**claims, "email_verified": True}, "exchanged", token)
    act = claims["act"]
    return dataclasses.replace(identity, actor=act["sub"], act=act)
