"""The provider's signing keys: a cache that never makes a known `kid` wait on the network.

Rules (CONTRACT "Sessions, tokens and keys"):
- loaded before the sidecar reports ready;
- refreshed in the background on the response's `Cache-Control: max-age` (Dex sends 600 s),
  clamped to [60 s, 3600 s];
- an unknown `kid` triggers at most one refetch per 10 s, and concurrent requests share it
  (single flight), so a flood of forged `kid`s cannot turn into a flood on Dex. The first load
  (a request arriving before the background load) is a load, not an unknown-`kid` refetch: it
  leaves that allowance alone, and is itself tried at most once per 10 s after a failure;
- when the provider is down, the last good keys keep serving for up to 24 h.

Keys without a `kid` are kept (OIDC Core 10.1: `kid` is only required when the set holds several
keys). A token names its key by `kid`, or, without one, uses the single published key that fits
its algorithm; several candidates and no `kid` is no key at all (`KeySet.find`).
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
    """One verification key from a JWKS."""

    kid: str | None  # None: the JWK has no `kid` (OIDC Core 10.1 allows it for a single key)
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


class KeySet:
    """The usable signing keys of one JWKS document, with and without `kid`."""

    __slots__ = ("_by_kid", "keys")

    def __init__(self, keys: tuple[SigningKey, ...] = ()) -> None:
        self.keys = keys
        self._by_kid: dict[str, tuple[SigningKey, ...]] = {}
        for key in keys:
            if key.kid is not None:
                self._by_kid[key.kid] = (*self._by_kid.get(key.kid, ()), key)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._by_kid)

    def has_kid(self, kid: str) -> bool:
        return kid in self._by_kid

    def candidates(self, kid: str | None, algorithm: str) -> tuple[SigningKey, ...]:
        """The keys a token with this `kid` (None: without one) and `alg` may be verified
        with: those named by `kid`, else every published key, that fit the algorithm (RFC
        8725 section 3.1). A caller uses a key only when exactly one remains (`find`)."""
        named = self.keys if kid is None else self._by_kid.get(kid, ())
        return tuple(key for key in named if key.fits(algorithm))

    def find(self, kid: str | None, algorithm: str) -> SigningKey | None:
        """OIDC Core 10.1: the key named by `kid`; without `kid`, the one published key that
        fits `algorithm`. Several candidates (no `kid`, or one `kid` on several keys of the
        same type) are refused rather than tried in turn."""
        found = self.candidates(kid, algorithm)
        return found[0] if len(found) == 1 else None


def parse_jwks(document: Any) -> KeySet:
    """The signing keys of a JWK set. Keys for encryption or unusable are skipped; keys
    without a `kid` are kept (a `kid` that is not a string makes the key unusable)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set")
    keys: list[SigningKey] = []
    for entry in document["keys"]:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if kid is not None and (not isinstance(kid, str) or not kid):
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
        keys.append(
            SigningKey(
                kid=kid,
                key=public_key,
                kty=str(entry.get("kty")),
                crv=crv if isinstance(crv, str) else None,
                alg=alg if isinstance(alg, str) else None,
            )
        )
    return KeySet(tuple(keys))


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
        self._keys = KeySet()
        self._loaded_at: float | None = None
        self._last_attempt = float("-inf")
        self._last_attempt_failed = False
        self._last_kid_refetch = float("-inf")
        self._last_request_load = float("-inf")
        self._ttl = DEFAULT_TTL_S
        self._inflight: asyncio.Future[None] | None = None

    @property
    def ready(self) -> bool:
        return self._fresh_enough()

    @property
    def kids(self) -> tuple[str, ...]:
        return self._keys.kids

    def get(self, kid: str | None, algorithm: str) -> SigningKey | None:
        """The key for `kid` and `algorithm` from memory (`KeySet.find`); raises when the keys
        are older than 24 h."""
        if not self._fresh_enough():
            raise ProviderUnavailable("no signing keys younger than the stale limit")
        return self._keys.find(kid, algorithm)

    async def get_or_refetch(self, kid: str | None, algorithm: str) -> SigningKey | None:
        """Like `get`, but a key not published yet may trigger one shared, rate-limited
        refetch. A known `kid` (or, without `kid`, any published key that fits) never waits."""
        if self._fresh_enough():
            if kid is None:
                if self._keys.candidates(None, algorithm):
                    return self._keys.find(None, algorithm)  # several: refused, not refetched
            elif self._keys.has_kid(kid):
                return self._keys.find(kid, algorithm)
        if self._inflight is None:
            if self._loaded_at is None:
                self._check_load_allowed()  # the first load: not an unknown-kid refetch
            elif not self._refetch_allowed():
                if self._last_attempt_failed:
                    raise ProviderUnavailable("provider keys unreachable")
                return self.get(kid, algorithm)
            else:
                self._last_kid_refetch = self._clock()
        await self.refresh()
        return self.get(kid, algorithm)

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

    def _check_load_allowed(self) -> None:
        """Never loaded: a request may load the keys itself (the background load failed, or
        has not started), at most once per `UNKNOWN_KID_INTERVAL_S` like a refetch but on an
        allowance of its own, so that a rotated `kid` right after it is still looked up."""
        if self._clock() - self._last_request_load < UNKNOWN_KID_INTERVAL_S:
            raise ProviderUnavailable("provider keys not loaded")
        self._last_request_load = self._clock()

    def _refetch_allowed(self) -> bool:
        # Only refetches caused by unknown kids count: a background refresh (or the first
        # load) just before a rotation must not make the new kid wait out the interval.
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
