"""The provider's signing keys: a cache that never makes a known `kid` wait on the network.

Rules (CONTRACT "Sessions, tokens and keys"):
- loaded before the sidecar reports ready;
- refreshed in the background on the response's `Cache-Control: max-age` (Dex sends 600 s),
  clamped to [60 s, 3600 s];
- an unknown `kid` triggers at most one refetch per 10 s, and concurrent requests share it
  (single flight), so a flood of forged `kid`s cannot turn into a flood on Dex;
- when the provider is down, the last good keys keep serving for up to 24 h.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from sidecar.errors import ProviderUnavailable

MIN_TTL_S = 60.0
MAX_TTL_S = 3600.0
DEFAULT_TTL_S = 600.0
UNKNOWN_KID_INTERVAL_S = 10.0
STALE_LIMIT_S = 24 * 3600.0
RETRY_AFTER_FAILURE_S = 10.0

# Which JWS algorithms a JWK can verify, by key type and curve (RFC 7518 sections 3.1 and 6).
_RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALG_BY_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_SIGNING_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def ttl_from_cache_control(header: str | None) -> float:
    """Seconds until the next refresh: `max-age` clamped to [60, 3600], 600 when absent."""
    match = _MAX_AGE.search(header or "")
    ttl = float(match.group(1)) if match else DEFAULT_TTL_S
    return min(max(ttl, MIN_TTL_S), MAX_TTL_S)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One verification key from the provider's JWKS."""

    kid: str
    key: Any  # a cryptography public key object
    kty: str
    crv: str | None
    alg: str | None  # the JWK's own `alg`, when it declares one

    def fits(self, algorithm: str) -> bool:
        """RFC 8725 section 3.1: a key is used only with the algorithms it was made for: its
        key type (and curve) must fit, and so must the JWK's own `alg` when it declares one."""
        if self.alg is not None and self.alg != algorithm:
            return False
        if self.kty == "RSA":
            return algorithm in _RSA_ALGS
        if self.kty == "EC":
            return _EC_ALG_BY_CURVE.get(self.crv or "") == algorithm
        return self.kty == "OKP" and algorithm == "EdDSA"


def parse_jwks(document: Any) -> dict[str, SigningKey]:
    """Signing keys by `kid`. Keys without a `kid`, for encryption, or unusable are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set")
    keys: dict[str, SigningKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") not in _SIGNING_KEY_TYPES:
            continue  # a symmetric (`oct`) key published in a JWKS is everyone's: never trusted
        try:
            public_key = jwt.PyJWK(entry).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue  # an algorithm this build cannot use: the other keys still serve
        alg = entry.get("alg")
        crv = entry.get("crv")
        keys[entry["kid"]] = SigningKey(
            kid=entry["kid"],
            key=public_key,
            kty=str(entry.get("kty")),
            crv=crv if isinstance(crv, str) else None,
            alg=alg if isinstance(alg, str) else None,
        )
    return keys


class JwksCache:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        jwks_uri: str,
        *,
        on_fetch: Callable[[str], None] = lambda result: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._uri = jwks_uri
        self._on_fetch = on_fetch
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at: float | None = None
        self._last_attempt = float("-inf")
        self._last_attempt_failed = False
        self._last_kid_refetch = float("-inf")
        self._ttl = DEFAULT_TTL_S
        self._inflight: asyncio.Future[None] | None = None

    @property
    def ready(self) -> bool:
        return self._fresh_enough()

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def get(self, kid: str) -> SigningKey | None:
        """The key for `kid` from memory; raises when the keys are older than 24 h."""
        if not self._fresh_enough():
            raise ProviderUnavailable("no signing keys younger than the stale limit")
        return self._keys.get(kid)

    async def get_or_refetch(self, kid: str) -> SigningKey | None:
        """Like `get`, but an unknown `kid` may trigger one shared, rate-limited refetch."""
        if self._fresh_enough() and kid in self._keys:
            return self._keys[kid]
        if self._inflight is None:
            if not self._refetch_allowed():
                if self._last_attempt_failed:
                    raise ProviderUnavailable("provider keys unreachable")
                return self.get(kid)
            self._last_kid_refetch = self._clock()
        await self.refresh()
        return self.get(kid)

    async def refresh(self) -> None:
        """Fetch now, joining a fetch already under way instead of starting a second one."""
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._fetch())
            self._inflight.add_done_callback(self._clear_inflight)
        try:
            await asyncio.shield(self._inflight)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise ProviderUnavailable("JWKS fetch failed") from exc

    async def run_refresher(self) -> None:
        """Background loop: refresh on the cache TTL; retry sooner after a failure."""
        while True:
            delay = RETRY_AFTER_FAILURE_S if self._last_attempt_failed else self._ttl
            await asyncio.sleep(max(0.0, self._last_attempt + delay - self._clock()))
            try:
                await self.refresh()
            except ProviderUnavailable:
                continue  # counted in the metric; the last good keys keep serving

    def _refetch_allowed(self) -> bool:
        # Only refetches caused by unknown kids count: a background refresh just before a
        # rotation must not make the new kid wait out the interval.
        return self._clock() - self._last_kid_refetch >= UNKNOWN_KID_INTERVAL_S

    def _fresh_enough(self) -> bool:
        return self._loaded_at is not None and self._clock() - self._loaded_at < STALE_LIMIT_S

    def _clear_inflight(self, future: asyncio.Future[None]) -> None:
        self._inflight = None
        if not future.cancelled():
            future.exception()  # retrieved here so a failure nobody awaited is not reported

    async def _fetch(self) -> None:
        self._last_attempt = self._clock()
        try:
            async with self._session.get(self._uri, allow_redirects=False) as response:
                if response.status != 200:
                    raise aiohttp.ClientResponseError(
                        response.request_info, (), status=response.status
                    )
                keys = parse_jwks(await response.json(content_type=None))
                ttl = ttl_from_cache_control(response.headers.get("Cache-Control"))
        except (TimeoutError, aiohttp.ClientError, ValueError):
            self._last_attempt_failed = True
            self._on_fetch("error")
            raise
        if not keys:
            self._last_attempt_failed = True
            self._on_fetch("error")
            raise ValueError("JWK set holds no usable signing key")
        self._keys, self._ttl, self._loaded_at = keys, ttl, self._clock()
        self._last_attempt_failed = False
        self._on_fetch("ok")
