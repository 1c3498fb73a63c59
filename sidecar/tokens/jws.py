"""The one JWS verifier: every token the sidecar reads (an id token, a back-channel logout
token, its own assertion, another sidecar's exchanged token) passes here before its claims are
looked at (`sidecar/tokens/claims.py` and the claims class of each kind).

Each rule a refusal (`InvalidToken`), nothing repaired:

- RFC 7515 section 7.1 / RFC 7516: compact JWS only, three canonical base64url segments; a JWE
  (five segments) and padded or re-encoded variants of a token are refused;
- RFC 8725 sections 3.10 and 3.12, RFC 7515 sections 4.1.2-4.1.6: `jku`, `x5u`, `jwk`, `x5c`
  are never followed or used: keys come only from the verifier's own key source; `crit`
  names an extension this verifier does not understand (it understands none, RFC 7515
  section 4.1.11);
- RFC 8725 section 3.11 (explicit typing): the header `typ` must be one the token kind accepts
  (`media_type`), so a logout token, an exchanged token and an id token or assertion are never
  taken for one another, even when signed by the same key;
- RFC 8725 sections 2.1 and 3.1: the algorithm comes from the verifier's allow-list (asymmetric
  ones only: never `none`, never HMAC) and must fit the key; the token's `alg` only selects
  within that list;
- RFC 7515 section 4.1.4, OIDC Core 10.1: `kid`, when present, is a non-empty string naming the
  key; without `kid` the key source may offer the single key that fits the algorithm;
- RFC 7519 section 4: the payload is a JSON object with each claim name once (a duplicate is
  refused rather than resolved), and no `NaN`, `Infinity` or number beyond a float.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from sidecar.errors import BadRequest, InvalidToken
from sidecar.oidc.jwks import KeySet, SigningKey

MAX_TOKEN_BYTES = 8192

# (kid or None, alg) -> the one key to verify with, or None. May raise ProviderUnavailable.
KeyLookup = Callable[[str | None, str], Awaitable[SigningKey | None]]

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_PYJWS = jwt.PyJWS()

# The `typ` values of each kind, as `media_type` spells them (None: no `typ` at all).
PLAIN_JWT = frozenset({None, "jwt"})  # id tokens (OIDC defines none), assertions
LOGOUT_JWT = frozenset({None, "logout+jwt"})  # Back-Channel Logout 1.0 section 2.4
EXCHANGED_JWT = frozenset({"token-exchange+jwt"})  # CONTRACT "Service to service"


@dataclass(frozen=True, slots=True)
class VerifiedJws:
    """A token whose header passed the rules and whose signature verified; its claims are
    not validated yet (that is the kind's claims class)."""

    header: dict[str, Any]
    claims: dict[str, Any]
    algorithm: str
    key: SigningKey


class JwsVerifier:
    """Header rules and signature for one token kind: its algorithms and its `typ`s. The keys
    come with each call: a lookup that may go to the network (`verify`), or a key set held in
    memory (`verify_local`, this sidecar's own keys)."""

    def __init__(self, *, algorithms: Iterable[str], types: frozenset[str | None]) -> None:
        allowed = frozenset(algorithms)
        if not allowed or not allowed <= ASYMMETRIC_ALGORITHMS:
            raise ValueError(f"not asymmetric JWS algorithms: {sorted(allowed)}")
        self._algorithms = allowed
        self._types = types

    async def verify(self, token: str, keys: KeyLookup) -> VerifiedJws:
        """The verified header and claims of `token`, or `InvalidToken` (`ProviderUnavailable`
        from the key lookup when its keys cannot be had: a 503, never a 401)."""
        header, algorithm, kid = self._checked_header(token)
        return _signed(token, header, algorithm, await keys(kid, algorithm))

    def verify_local(self, token: str, keys: KeySet) -> VerifiedJws:
        """`verify` against keys in memory."""
        header, algorithm, kid = self._checked_header(token)
        return _signed(token, header, algorithm, keys.find(kid, algorithm))

    def _checked_header(self, token: str) -> tuple[dict[str, Any], str, str | None]:
        header = compact_jws_header(token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            raise InvalidToken("algorithm not allowed")
        if media_type(header) not in self._types:
            raise InvalidToken("typ is not this kind of token")
        kid = header.get("kid")
        if "kid" in header and (not isinstance(kid, str) or not kid):
            raise InvalidToken("kid is not a string")
        return header, algorithm, kid


def _signed(
    token: str, header: dict[str, Any], algorithm: str, key: SigningKey | None
) -> VerifiedJws:
    if key is None:
        raise InvalidToken("no key for this kid and algorithm")
    if not key.fits(algorithm):
        raise InvalidToken("algorithm does not fit the key")
    try:
        verified = _PYJWS.decode_complete(token, key.key, algorithms=[algorithm])
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from exc
    return VerifiedJws(header, parse_payload(verified["payload"]), algorithm, key)


def media_type(header: dict[str, Any]) -> str | None:
    """RFC 7515 section 4.1.9: `typ` compared case-insensitively, `application/` implied when
    absent. Not a string: `"!"`, which no kind accepts."""
    if "typ" not in header:
        return None
    typ = header["typ"]
    if not isinstance(typ, str):
        return "!"
    typ = typ.lower()
    return typ.removeprefix("application/")


def parse_payload(payload: bytes) -> dict[str, Any]:
    """RFC 7519 section 4: a JSON object, claim names unique; RFC 8259 numbers only."""
    try:
        claims = json.loads(
            payload, object_pairs_hook=_unique, parse_constant=_no_constant, parse_float=_finite
        )
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidToken("payload is not a JSON object") from exc
    if not isinstance(claims, dict):
        raise InvalidToken("payload is not a JSON object")
    return claims


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member name")
    return members


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number no float holds")  # 1e400: Python's json makes it inf
    return value


def check_token_size(token: str) -> None:
    """CONTRACT "Status codes": a token over 8 KiB is a 400, before any parsing."""
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
    """The unverified header of a compact JWS, refused when it carries a key or `crit`."""
    if token.count(".") != 2:
        raise InvalidToken("not a compact JWS")  # JWE has five segments
    if not _COMPACT_JWS.fullmatch(token):
        # RFC 7515 section 2: BASE64URL without '=' padding. A lenient decoder would accept
        # padded or otherwise re-encoded variants of one token (malleability).
        raise InvalidToken("not canonical base64url")
    try:
        header = _PYJWS.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("malformed token") from exc
    if any(name in header for name in _FORBIDDEN_HEADERS):
        raise InvalidToken("key-carrying or critical header")
    return header
