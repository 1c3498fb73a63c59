"""Id token validation (OpenID Connect Core 1.0 section 3.1.3.7, RFC 8725).

Dex access tokens are id tokens too, so one validator serves bearer tokens and the login
callback. Every rule here is a refusal; nothing is repaired:

- RFC 8725 section 3.1: the algorithm comes from the configured allow-list *and must fit the key*
  named by `kid`; the token's `alg` only selects within that. `none` and HMAC never verify.
- RFC 8725 section 3.11/3.12 and RFC 7515 section 4.1.2/4.1.5: `jku`, `x5u`, `jwk`, `x5c` are
  never followed: keys come only from the provider's JWKS.
- RFC 7516: a JWE (five segments) is refused; only compact JWS is accepted.
- OIDC Core 3.1.3.7 items 2-3: `iss` equals the issuer exactly; `aud` contains an accepted
  audience; with several audiences, `azp` must be present and accepted (item 4-5).
- Items 9-10: `exp` required and in the future; `iat` (and `nbf`) not in the future beyond the
  leeway.
- Item 11: `nonce` equals the one sent, at login. Section 3.1.3.8: `at_hash` checked when present.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import jwt

from sidecar.config.settings import OidcSettings
from sidecar.errors import BadRequest, InvalidToken
from sidecar.oidc.jwks import SigningKey

MAX_TOKEN_BYTES = 8192

KeyLookup = Callable[[str], Awaitable[SigningKey | None]]
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


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
        self._key_lookup = key_lookup
        self._clock = clock
        self._audiences = frozenset(oidc.audiences or (oidc.client_id,))
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
        claims = await self._verify(token)
        if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(
            claims["nonce"], nonce
        ):
            raise InvalidToken("nonce mismatch")
        if access_token is not None and "at_hash" in claims:
            algorithm = jwt.get_unverified_header(token)["alg"]
            if not hmac.compare_digest(str(claims["at_hash"]), at_hash(access_token, algorithm)):
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
        header = compact_jws_header(token)
        algorithm = header.get("alg")
        if algorithm not in self._oidc.algorithms:
            raise InvalidToken("algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("no kid")
        key = await self._key_lookup(kid)
        if key is None:
            raise InvalidToken("unknown kid")
        if not key.fits(algorithm):
            raise InvalidToken("algorithm does not fit the key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=list(self._audiences),
                issuer=self._oidc.issuer,
                leeway=self._oidc.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"], "strict_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
        except OverflowError as exc:  # pyjwt's int() of an `exp` of JSON `Infinity` / 1e400
            raise InvalidToken("time claim out of range") from exc
        check_numeric_dates(claims)
        self._check_azp(claims)
        sub = claims["sub"]
        if not isinstance(sub, str) or not sub or not sub.isprintable() or len(sub) > 255:
            # OIDC Core 2: at most 255 ASCII characters; a sub that cannot travel in a header
            # would leave the upstream with an authenticated request and no subject.
            raise InvalidToken("bad sub")
        return claims

    def _check_azp(self, claims: dict[str, Any]) -> None:
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if azp is not None and not isinstance(azp, str):
            raise InvalidToken("azp not a string")  # a list would not even be hashable
        if (len(audiences) > 1 or azp is not None) and azp not in self._audiences:
            raise InvalidToken("azp not accepted")


def check_numeric_dates(claims: dict[str, Any]) -> None:
    """RFC 7519 section 2: `exp`, `iat`, `nbf` are JSON numbers. pyjwt accepts anything
    `int()` takes (the string "9999999999"), which later arithmetic on `exp` cannot."""
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidToken(f"{name} is not a NumericDate")


def check_token_size(token: str) -> None:
    if len(token) > MAX_TOKEN_BYTES:
        raise BadRequest("token too large")


def is_compact_jws(token: str) -> bool:
    """Three base64url segments (RFC 7515 section 7.1), so ASCII only: a cheap test that
    never raises, whatever bytes a client sent."""
    return _COMPACT_JWS.fullmatch(token) is not None


def check_compact_jws(token: str) -> None:
    """Before a verified-token cache hashes the token: aiohttp hands non-UTF-8 header bytes
    over as surrogates, which `str.encode` refuses (a 500, were it not checked first)."""
    if not is_compact_jws(token):
        raise InvalidToken("not a compact JWS")


def compact_jws_header(token: str) -> dict[str, Any]:
    if token.count(".") != 2:
        raise InvalidToken("not a compact JWS")  # JWE has five segments
    if not _COMPACT_JWS.fullmatch(token):
        # RFC 7515 section 2: BASE64URL without '=' padding. A lenient decoder would accept
        # padded or otherwise re-encoded variants of one token (malleability).
        raise InvalidToken("not canonical base64url")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("malformed token") from exc
    if any(name in header for name in _FORBIDDEN_HEADERS):
        raise InvalidToken("key-carrying or critical header")
    return header


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
