"""The sidecar's public keys as cached state; no I/O here (see `fetch.py`, `verifier.py`).

Rules, as panva/jose's `createRemoteJWKSet` and the sidecar's own provider cache do it:
- a fetched set is fresh for the response's `Cache-Control: max-age` (the sidecar sends 300),
  clamped to [`min_ttl_s`, `max_ttl_s`]; `no-store`/`no-cache` count as the minimum;
- past that, a known `kid` keeps verifying while a refresh runs (stale while revalidate), and
  the last good set is used for at most `stale_limit_s` when the JWKS cannot be fetched;
- fetches, for whatever reason, are at least `refetch_interval_s` apart, so a flood of tokens
  with invented `kid`s cannot become a flood on the sidecar.
Only keys that can verify ES256 are kept (RFC 7518 section 3.4: EC, P-256; RFC 8725 section
3.1: the JWK's own `alg` and `use`, when present, must agree).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import jwt

ALGORITHM = "ES256"
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|[,\s])(?:no-store|no-cache)(?:$|[,\s])", re.IGNORECASE)


def ttl_from_cache_control(
    header: str | None, *, default_s: float, min_s: float, max_s: float
) -> float:
    """Seconds a fetched JWKS stays fresh: `max-age` (or `default_s`), clamped."""
    text = header or ""
    if _NO_CACHE.search(text):
        return min_s
    match = _MAX_AGE.search(text)
    ttl = float(match.group(1)) if match else default_s
    return min(max(ttl, min_s), max_s)


def parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    """ES256 verification keys by `kid`; other keys in the set are skipped, not errors."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not _is_es256_verification_key(entry):
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm=ALGORITHM)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
    return keys


def _is_es256_verification_key(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("kid"), str)
        and bool(entry["kid"])
        and entry.get("kty") == "EC"
        and entry.get("crv") == "P-256"
        and entry.get("alg", ALGORITHM) == ALGORITHM
        and entry.get("use", "sig") == "sig"
        and "d" not in entry  # a private key published by mistake is not used
    )


class KeyCache:
    """What is known about the remote JWKS, and whether a fetch is allowed now."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        refetch_interval_s: float,
        stale_limit_s: float,
        default_ttl_s: float,
        min_ttl_s: float,
        max_ttl_s: float,
    ) -> None:
        self._clock = clock
        self._refetch_interval_s = refetch_interval_s
        self._stale_limit_s = stale_limit_s
        self._ttl_bounds = (default_ttl_s, min_ttl_s, max_ttl_s)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at = -math.inf
        self._fresh_until = -math.inf
        self._last_attempt = -math.inf
        self.last_attempt_failed = False
        # Bumped on every fetch attempt: a waiter that sees it move knows someone else fetched.
        self.generation = 0

    def lookup(self, kid: str) -> jwt.PyJWK | None:
        """The key for `kid`, unless the set is older than the stale limit."""
        if self._clock() - self._loaded_at > self._stale_limit_s:
            return None
        return self._keys.get(kid)

    def is_fresh(self) -> bool:
        return self._clock() < self._fresh_until

    def has_keys(self) -> bool:
        return self._clock() - self._loaded_at <= self._stale_limit_s

    def may_fetch(self) -> bool:
        return self._clock() - self._last_attempt >= self._refetch_interval_s

    def begin_fetch(self) -> None:
        self._last_attempt = self._clock()
        self.generation += 1

    def install(self, document: Any, cache_control: str | None) -> None:
        """Replace the keys with a fetched set; raises ValueError (keys kept) if it is not one."""
        keys = parse_jwks(document)
        default_s, min_s, max_s = self._ttl_bounds
        now = self._clock()
        ttl = ttl_from_cache_control(cache_control, default_s=default_s, min_s=min_s, max_s=max_s)
        self._keys = keys
        self._loaded_at = now
        self._fresh_until = now + ttl
        self.last_attempt_failed = False

    def record_failure(self) -> None:
        """The fetch failed: the last good keys stay (until the stale limit)."""
        self.last_attempt_failed = True

    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)
