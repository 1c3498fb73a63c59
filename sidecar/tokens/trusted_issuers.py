"""Bearer tokens exchanged by other sidecars (`trusted_issuers`, CONTRACT "Service to service").

Service A's sidecar exchanged its user's assertion for a token addressed to this sidecar
(`sidecar/tokens/exchange.py`). It is accepted here when, each rule a 401 `invalid_token`:

- its `iss` is one of `trusted_issuers`, and the signature verifies with a key from *that*
  entry's `jwks_url` (never a key the token names, RFC 8725 section 3.10). The unverified `iss`
  only chooses which keys to try: a token lying about it fails the signature;
- the algorithm is ES256 and fits the key (RFC 8725 section 3.1: one algorithm, pinned); the
  header `typ` says it is an exchanged token (RFC 8725 section 3.11, explicit typing), so a
  plain assertion of that issuer is not one;
- `aud` is exactly this sidecar's `public_url` (RFC 7519 section 4.1.3; RFC 8725 section 3.9:
  a token for another service replayed here is refused);
- `exp` required and ahead, `iat` not in the future, both within `oidc.leeway_s`;
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
import jwt
from jwt.utils import base64url_decode

from sidecar.config.model import TrustedIssuer
from sidecar.errors import InvalidToken, ProviderUnavailable, TrustedIssuerUnavailable
from sidecar.oidc.jwks import JwksCache, SigningKey
from sidecar.tokens.assertion_verify import EXCHANGED_TOKEN_TYP
from sidecar.tokens.id_tokens import (
    MAX_TOKEN_BYTES,
    VerifiedTokenCache,
    check_compact_jws,
    check_numeric_dates,
    check_token_size,
    compact_jws_header,
    is_compact_jws,
)
from sidecar.tokens.identity import MAX_ACT_DEPTH, Identity

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

    async def key(self, issuer: str, kid: str) -> SigningKey | None:
        try:
            return await self._caches[issuer].get_or_refetch(kid)
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
        self._keys = keys
        self._issuers = keys.issuers
        self._needles = tuple(json.dumps(issuer).encode() for issuer in self._issuers)
        self._audience = audience
        self._leeway_s = leeway_s
        self._verified = VerifiedTokenCache(cache_size, clock)

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
        header = compact_jws_header(token)
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("algorithm not allowed")
        if header.get("typ") != EXCHANGED_TOKEN_TYP:
            raise InvalidToken("not an exchanged token")
        kid = header.get("kid")
        issuer = unverified_issuer(token)
        if not isinstance(kid, str) or not kid or issuer not in self._issuers:
            raise InvalidToken("no kid or untrusted issuer")
        key = await self._keys.key(issuer, kid)
        if key is None or not key.fits(ALGORITHM):
            raise InvalidToken("unknown kid or key unfit for ES256")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=issuer,
                leeway=self._leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"], "strict_aud": True},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
        except OverflowError as exc:
            raise InvalidToken("time claim out of range") from exc
        check_numeric_dates(claims)
        _check_sub(claims["sub"])
        _check_act(claims.get("act"), issuer)
        return claims


def _check_sub(sub: object) -> None:
    if not isinstance(sub, str) or not sub or not sub.isprintable() or len(sub) > 255:
        raise InvalidToken("bad sub")


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
