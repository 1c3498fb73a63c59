"""The claim rules every token kind shares, after `JwsVerifier` checked the signature.

In the shape of authlib's `JWTClaims`: one `validate_<claim>` method per claim, and `validate`
runs the kind's list of them. Each kind (id token, logout token, assertion, exchanged token)
subclasses `TokenClaims` in its own module, naming its required claims and adding its own
rules. The shared ones, the same for every kind:

- RFC 7519 section 4.1.1: `iss` is a string equal to the expected issuer exactly;
- RFC 7519 section 4.1.3, RFC 8725 section 3.9: `aud` is a string or a list of strings that
  contains an accepted audience;
- RFC 7519 sections 2 and 4.1.4-4.1.6: `exp`, `iat`, `nbf` are NumericDates, JSON numbers
  (never a string, a boolean, or a number no float holds exactly); `exp` plus the leeway is
  still ahead; `iat` and `nbf` are not beyond the leeway in the future;
- RFC 7519 section 4.1.2, OIDC Core section 2: `sub` is a non-empty string of at most 255
  printable characters: a subject that cannot travel in a header would leave the upstream
  with an authenticated request and no subject;
- RFC 8417 section 4.3, RFC 8725 section 3.11: a token carrying `events` is a Security Event
  Token (a back-channel logout token): refused by every kind but the one that expects it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar, TypeGuard

from sidecar.errors import InvalidToken

# Beyond 2**53 a JSON number is no longer an exact float: arithmetic on it (a TTL, a sort)
# would be wrong or overflow, and no real token is dated that far off.
_MAX_NUMERIC_DATE = 2**53
_MAX_SUB_LENGTH = 255


class TokenClaims:
    """Validates the claims of one token kind; subclasses set `required` and `checked`."""

    required: ClassVar[tuple[str, ...]] = ("iss", "sub", "exp", "iat")
    checked: ClassVar[tuple[str, ...]] = ("iss", "aud", "exp", "iat", "nbf", "sub", "events")

    def __init__(
        self,
        *,
        issuer: str,
        audiences: Collection[str] | None,
        leeway_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audiences = None if audiences is None else frozenset(audiences)  # None: unchecked
        self.leeway_s = leeway_s
        self.clock = clock
        self._validators = tuple(getattr(self, f"validate_{name}") for name in self.checked)

    def validate(self, claims: Mapping[str, Any]) -> None:
        """Every required claim present, then each `validate_<claim>` of `checked` in turn."""
        for name in self.required:
            if name not in claims:
                raise InvalidToken(f"{name} missing")
        now = self.clock()
        for validator in self._validators:
            validator(claims, now)

    def validate_iss(self, claims: Mapping[str, Any], now: float) -> None:
        if claims.get("iss") != self.issuer or not isinstance(claims.get("iss"), str):
            raise InvalidToken("iss is not the issuer")

    def validate_aud(self, claims: Mapping[str, Any], now: float) -> None:
        if self.audiences is None:
            return
        if not any(aud in self.audiences for aud in audiences_of(claims)):
            raise InvalidToken("aud holds no accepted audience")

    def validate_exp(self, claims: Mapping[str, Any], now: float) -> None:
        exp = numeric_date(claims, "exp")
        if exp is not None and exp + self.leeway_s <= now:
            raise InvalidToken("expired")

    def validate_iat(self, claims: Mapping[str, Any], now: float) -> None:
        iat = numeric_date(claims, "iat")
        if iat is not None and iat > now + self.leeway_s:
            raise InvalidToken("iat in the future")

    def validate_nbf(self, claims: Mapping[str, Any], now: float) -> None:
        nbf = numeric_date(claims, "nbf")
        if nbf is not None and nbf > now + self.leeway_s:
            raise InvalidToken("not valid yet (nbf)")

    def validate_sub(self, claims: Mapping[str, Any], now: float) -> None:
        if "sub" in claims and not is_subject(claims["sub"]):
            raise InvalidToken("bad sub")

    def validate_events(self, claims: Mapping[str, Any], now: float) -> None:
        if "events" in claims:
            raise InvalidToken("events: a security event token, not this kind")


def numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """RFC 7519 section 2: a JSON number of seconds; None when the claim is absent."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"{name} is not a NumericDate")
    if not -_MAX_NUMERIC_DATE <= value <= _MAX_NUMERIC_DATE:  # also false for NaN
        raise InvalidToken(f"{name} out of range")
    return value


def audiences_of(claims: Mapping[str, Any]) -> list[str]:
    """RFC 7519 section 4.1.3: `aud` is one string or an array of strings; anything else, or
    a missing `aud`, is refused."""
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise InvalidToken("aud is not a string or an array of strings")
    return audiences


def is_subject(sub: object) -> TypeGuard[str]:
    return isinstance(sub, str) and 0 < len(sub) <= _MAX_SUB_LENGTH and sub.isprintable()
