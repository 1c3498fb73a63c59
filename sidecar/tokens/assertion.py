"""The `X-Auth-Assertion` signer and its JWKS (CONTRACT "Identity headers sent upstream").

Headers can be forged by anything that reaches the upstream without passing the sidecar; the
assertion cannot. It is a compact JWS (RFC 7515) signed with ES256 (RFC 7518 section 3.4),
named by a `kid` that is the key's RFC 7638 thumbprint, and upstreams verify it against
`/.auth/jwks`.

Each route names its own `aud` and the identity claims its upstream gets (`assertion.claims`,
CONTRACT "Access policy"): a minimal assertion keeps the header small with long group lists
(many servers refuse headers beyond 4-8 KiB). One over `OVERSIZE_BYTES` is counted and logged,
naming the route, at most once per `OVERSIZE_LOG_INTERVAL_S` per route.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwt.algorithms import ECAlgorithm
from jwt.utils import base64url_encode

from sidecar.config.settings import ConfigError, Route, RouteAssertion, Settings
from sidecar.tokens.identity import Identity

ALGORITHM = "ES256"
CACHE_MAX_ENTRIES = 10_000
# A cached assertion is reused for this share of its lifetime, so an upstream always receives
# one with at least 3/4 of `ttl_s` left (unless the identity itself expires sooner).
REUSE_FRACTION = 0.25
OVERSIZE_BYTES = 4096
OVERSIZE_LOG_INTERVAL_S = 60.0

_CacheKey = tuple[
    str, str | None, str | None, str | None, tuple[str, ...], int, RouteAssertion, str
]
OversizeHook = Callable[[str, int], None]  # (route name, assertion length)


class OversizeReport:
    """Counts each assertion over `OVERSIZE_BYTES` (`count(route)`) and logs it, at most once
    per interval per route, so a route with a huge group list cannot flood the log."""

    def __init__(
        self,
        count: Callable[[str], None],
        logger: structlog.typing.FilteringBoundLogger,
        interval_s: float = OVERSIZE_LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._count = count
        self._log = logger
        self._interval_s = interval_s
        self._clock = clock
        self._last_logged: dict[str, float] = {}

    def __call__(self, route: str, size: int) -> None:
        self._count(route)
        now = self._clock()
        last = self._last_logged.get(route)
        if last is not None and now - last < self._interval_s:
            return
        self._last_logged[route] = now
        self._log.warning(
            "assertion_oversize",
            route=route,
            bytes=size,
            limit=OVERSIZE_BYTES,
            detail="name fewer claims in the route's assertion.claims",
        )


@dataclass(frozen=True, slots=True)
class _Cached:
    token: str
    iat: int
    reuse_until: int


def jwk_thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 section 3: SHA-256 over the required members, sorted, no whitespace."""
    required = {name: public_jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":"))
    return base64url_encode(hashlib.sha256(canonical.encode()).digest()).decode()


class AssertionSigner:
    """Signs with the first key; publishes every key (rotation: add the new key second,
    wait for upstream JWKS caches, then move it first)."""

    def __init__(
        self,
        keys: list[ec.EllipticCurvePrivateKey],
        *,
        issuer: str,
        audience: str,
        ttl_s: int,
        on_oversize: OversizeHook | None = None,
    ) -> None:
        if not keys:
            raise ValueError("at least one signing key is required")
        self._issuer = issuer
        self._default = RouteAssertion(audience)
        self._on_oversize = on_oversize
        self._ttl_s = ttl_s
        self._reuse_s = max(1, int(ttl_s * REUSE_FRACTION))
        self._signing_key = keys[0]
        public_jwks = [_public_jwk(key) for key in keys]
        self._kid = public_jwks[0]["kid"]
        self._jwks = {"keys": public_jwks}
        self._cache: dict[_CacheKey, _Cached] = {}

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        logger: structlog.typing.FilteringBoundLogger | None = None,
        on_oversize: OversizeHook | None = None,
    ) -> AssertionSigner:
        """Load `assertion.signing_key` (PEM EC P-256), or make an ephemeral key and warn."""
        log = logger if logger is not None else structlog.get_logger(__name__)
        keys = [
            _load_key(pem, index) for index, pem in enumerate(settings.assertion.signing_keys_pem)
        ]
        if not keys:
            log.warning(
                "assertion_ephemeral_key",
                detail="no assertion.signing_key: assertions from this process cannot be "
                "verified after a restart or by another replica's JWKS",
            )
            keys = [ec.generate_private_key(ec.SECP256R1())]
        return cls(
            keys,
            issuer=settings.public_url,
            audience=settings.assertion.audience,
            ttl_s=settings.assertion.ttl_s,
            on_oversize=on_oversize,
        )

    def sign(
        self, identity: Identity, now: int | None = None, *, route: Route | None = None
    ) -> str:
        """The assertion for `identity` on `route` (its `assertion.audience` and `claims`;
        without a route: `assertion.audience`, every claim), reused from the cache while fresh
        enough. Routes with the same audience and claims share cached assertions.

        `exp` is `iat + ttl_s`, but never later than `identity.expires_at`: the assertion
        vouches for a credential and must not outlive it.
        """
        now = int(time.time()) if now is None else now
        target = self._default if route is None else route.assertion
        key: _CacheKey = (
            identity.sub,
            identity.email,
            identity.name,
            identity.preferred_username,
            identity.groups,
            identity.expires_at,
            target,
            _act_key(identity),
        )
        cached = self._cache.get(key)
        if cached is not None and cached.iat <= now < cached.reuse_until:
            token = cached.token
        else:
            exp = min(now + self._ttl_s, identity.expires_at)
            claims: dict[str, Any] = {
                "iss": self._issuer,
                "aud": target.audience,
                "iat": now,
                "exp": exp,
            }
            claims.update(_identity_claims(identity, target.claims))
            if identity.act is not None:
                # CONTRACT "Service to service": an exchanged identity keeps its `act` chain
                # whatever the route's claims, so a further exchange nests it (RFC 8693 4.1).
                claims["act"] = dict(identity.act)
            token = jwt.encode(
                claims, self._signing_key, algorithm=ALGORITHM, headers={"kid": self._kid}
            )
            self._remember(key, _Cached(token, now, min(now + self._reuse_s, exp)), now)
        if len(token) > OVERSIZE_BYTES and self._on_oversize is not None:
            self._on_oversize(route.name if route is not None else "default", len(token))
        return token

    def sign_claims(self, claims: dict[str, Any], *, typ: str) -> str:
        """`claims` signed as they are with the current key, header `typ` set (RFC 8725
        section 3.11): the exchanged tokens of `sidecar/tokens/exchange.py`."""
        return jwt.encode(
            claims, self._signing_key, algorithm=ALGORITHM, headers={"kid": self._kid, "typ": typ}
        )

    def jwks(self) -> dict[str, Any]:
        """`{"keys": [...]}`: every configured public key, with `kid`, `alg` and `use`."""
        return {"keys": [dict(jwk) for jwk in self._jwks["keys"]]}

    def _remember(self, key: _CacheKey, entry: _Cached, now: int) -> None:
        """Insert at the end; evict from the front (oldest, so soonest stale) while the
        oldest is stale or the cache is full. Amortized O(1)."""
        self._cache.pop(key, None)
        while self._cache:
            oldest_key, oldest = next(iter(self._cache.items()))
            if oldest.reuse_until > now and len(self._cache) < CACHE_MAX_ENTRIES:
                break
            del self._cache[oldest_key]
        self._cache[key] = entry


def _act_key(identity: Identity) -> str:
    return "" if identity.act is None else json.dumps(identity.act, sort_keys=True)


def _identity_claims(identity: Identity, names: tuple[str, ...]) -> dict[str, Any]:
    """The identity claims `names` asks for; `email`, `name` and `preferred_username` only
    when known (`email` only when verified, see `Identity`)."""
    values: dict[str, Any] = {
        "sub": identity.sub,
        "email": identity.email,
        "preferred_username": identity.preferred_username,
        "name": identity.name,
        "groups": list(identity.groups),
    }
    return {name: values[name] for name in names if values[name] is not None}


def _public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": ALGORITHM, "use": "sig"}


def _load_key(pem: str, index: int) -> ec.EllipticCurvePrivateKey:
    where = f"assertion.signing_key[{index}] (SIDECAR_ASSERTION_SIGNING_KEY)"
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError([f"{where}: not an unencrypted PEM private key"]) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError([f"{where}: must be an EC P-256 key (ES256)"])
    return key
