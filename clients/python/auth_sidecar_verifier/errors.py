"""Why an assertion was refused.

Every refusal is a `VerificationError` with a `reason` from a small fixed vocabulary, the same
one the JS package uses (and `clients/vectors` expects), so logs and tests read alike in both.
The message never holds the token.
"""

from __future__ import annotations

from typing import Literal

Reason = Literal[
    "malformed",  # not a compact JWS, no `kid`, bad JSON, `crit` present
    "algorithm",  # `alg` is not ES256 (none, HS256, RS256 ...)
    "unknown_kid",  # no key with that `kid`, even after a refetch
    "signature",  # the signature does not match (tampered, or another key)
    "issuer",  # `iss` is not the pinned issuer
    "audience",  # `aud` does not name the pinned audience
    "expired",  # `exp` is past (beyond the leeway)
    "not_yet_valid",  # `iat` or `nbf` is in the future (beyond the leeway)
    "lifetime",  # `exp - iat` is longer than the maximum lifetime
    "claims",  # a required claim is missing or has the wrong type
]


class VerificationError(Exception):
    """The assertion is not acceptable: answer 401, never trust its claims."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


class KeySetUnavailable(Exception):
    """The JWKS could not be fetched and no usable keys are cached: answer 503, not 401,
    because the assertion may well be good."""
