"""Id token validation (OpenID Connect Core 1.0 section 3.1.3.7, RFC 8725).

Dex access tokens are id tokens too, so one validator serves bearer tokens and the login
callback. The signature and header rules are the one JWS verifier's (`sidecar/tokens/jws.py`:
compact JWS only, no `jku`/`x5u`/`jwk`/`x5c`/`crit`, an algorithm from `oidc.algorithms` that
fits the key, the key named by `kid` or, without `kid`, the single published key that fits,
OIDC Core 10.1). What is an id token's own, each a refusal:

- RFC 8725 section 3.11 (explicit typing): `typ` absent or `JWT`; an `events` claim (a
  back-channel logout token, RFC 8417 section 4.3) is refused, so a logout token the provider
  signed is never a bearer credential, and an exchanged token (`token-exchange+jwt`) neither;
- OIDC Core 3.1.3.7 items 2-3: `iss` equals the issuer exactly; `aud` contains an accepted
  audience; with several audiences, `azp` must be present and accepted (items 4-5);
- items 9-10: `exp` and `iat` required (OIDC Core section 2: both REQUIRED), `exp` ahead and
  `iat` (and `nbf`) not in the future beyond the leeway;
- item 11: `nonce` equals the one sent, at login. Section 3.1.3.8: `at_hash` checked when present.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import jwt

from sidecar.config.settings import OidcSettings
from sidecar.errors import InvalidToken
from sidecar.tokens.claims import TokenClaims
from sidecar.tokens.jws import (
    MAX_TOKEN_BYTES,
    PLAIN_JWT,
    JwsVerifier,
    KeyLookup,
    check_compact_jws,
    check_token_size,
)

__all__ = ["MAX_TOKEN_BYTES", "IdTokenClaims", "TokenValidator", "VerifiedTokenCache", "at_hash"]


class IdTokenClaims(TokenClaims):
    """OIDC Core 3.1.3.7: the claims of an id token (and of a Dex access token)."""

    required = ("iss", "sub", "aud", "exp", "iat")
    checked: ClassVar[tuple[str, ...]] = (*TokenClaims.checked, "azp")

    def validate_azp(self, claims: Mapping[str, Any], now: float) -> None:
        """Items 4-5: with several audiences `azp` must be present (the CONTRACT makes this
        SHOULD a MUST), and when present it must be an accepted client id."""
        azp = claims.get("azp")
        if azp is not None and not isinstance(azp, str):
            raise InvalidToken("azp not a string")  # a list would not even be hashable
        several = isinstance(claims["aud"], list) and len(claims["aud"]) > 1
        if (several or azp is not None) and azp not in (self.audiences or ()):
            raise InvalidToken("azp not accepted")


class TokenValidator:
    def __init__(
        self,
        oidc: OidcSettings,
        key_lookup: KeyLookup,
        *,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._oidc = oidc
        self._keys = key_lookup
        self._jws = JwsVerifier(algorithms=oidc.algorithms, types=PLAIN_JWT)
        self._claims = IdTokenClaims(
            issuer=oidc.issuer,
            audiences=oidc.audiences or (oidc.client_id,),
            leeway_s=oidc.leeway_s,
            clock=clock,
        )
        self._verified = VerifiedTokenCache(cache_size, clock)

    async def validate_bearer(self, token: str) -> dict[str, Any]:
        """Claims of a valid bearer token; a repeated token is served from the verified cache."""
        check_token_size(token)
        check_compact_jws(token)
        claims = self._verified.get(token, self._oidc.leeway_s)
        if claims is None:
            claims = await self._verify(token)
            self._verified.put(token, claims)
        return claims

    async def validate_id_token(
        self, token: str, *, nonce: str, access_token: str | None = None
    ) -> dict[str, Any]:
        """Claims of the id token from the login callback, with `nonce` and `at_hash` checked."""
        check_token_size(token)
        verified = await self._jws.verify(token, self._keys)
        claims = verified.claims
        self._claims.validate(claims)
        if not _same_ascii(claims.get("nonce"), nonce):
            raise InvalidToken("nonce mismatch")
        if access_token is not None and "at_hash" in claims:
            expected = at_hash(access_token, verified.algorithm)
            if not _same_ascii(claims["at_hash"], expected):
                raise InvalidToken("at_hash mismatch")
        return claims

    async def validate_refreshed_id_token(self, token: str, *, sub: str) -> dict[str, Any]:
        """OIDC Core section 12.2: a refreshed id token has the same `iss` and `sub`, and
        carries no `nonce` check (none was sent)."""
        check_token_size(token)
        claims = await self._verify(token)
        if claims["sub"] != sub:
            raise InvalidToken("sub changed on refresh")
        return claims

    async def _verify(self, token: str) -> dict[str, Any]:
        claims = (await self._jws.verify(token, self._keys)).claims
        self._claims.validate(claims)
        return claims


def _same_ascii(claim: object, expected: str) -> bool:
    """`claim` equals the ASCII `expected`, compared in constant time (`compare_digest` takes
    ASCII strings only: anything else, a provider's non-ASCII claim, is a mismatch)."""
    return isinstance(claim, str) and claim.isascii() and hmac.compare_digest(claim, expected)


def at_hash(access_token: str, algorithm: str) -> str:
    """OIDC Core 3.1.3.6: base64url of the left half of the hash of the access token."""
    digest = jwt.get_algorithm_by_name(algorithm).compute_hash_digest(access_token.encode())
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


class VerifiedTokenCache:
    """Claims of tokens already verified, so a repeated token skips the RSA check.

    Keyed by SHA-256 of the token (the token itself is never kept as a key); bounded (least
    recently used dropped first); an entry is only served while `exp` (plus leeway) is ahead.
    """

    def __init__(self, max_entries: int, clock: Callable[[], float]) -> None:
        self._entries: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def get(self, token: str, leeway_s: float) -> dict[str, Any] | None:
        digest = hashlib.sha256(token.encode()).digest()
        claims = self._entries.get(digest)
        if claims is None:
            return None
        if self._clock() > claims["exp"] + leeway_s:
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        return claims

    def put(self, token: str, claims: dict[str, Any]) -> None:
        digest = hashlib.sha256(token.encode()).digest()
        self._entries[digest] = claims
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
