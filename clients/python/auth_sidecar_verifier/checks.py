"""The checks on one assertion, in the order they run; the key lookup sits between steps 1
and 2 (see `verifier.py`).

1. `read_header`: a compact JWS (RFC 7515 section 7.1) whose `alg` is exactly ES256 and which
   names its key by `kid`. Nothing else is looked at before the signature is verified; `alg:
   none` and HS256 "keyed with the public key" (RFC 8725 section 2.1) stop here, before any
   key is fetched. A `crit` header is refused: we understand no extension (RFC 7515 4.1.11).
2. `decode`: pyjwt verifies the signature with the key named by `kid`, then `iss` against the
   pinned issuer and `aud` against the pinned audience (RFC 7519 sections 4.1.1 and 4.1.3) --
   both come from the caller, never from the token or its JWKS.
3. `check_times`: `exp`, `iat` (and `nbf`, if present) against one clock with a leeway, and a
   maximum lifetime `exp - iat`: a stolen signing key or a misconfigured sidecar cannot mint
   assertions valid for days.
"""

from __future__ import annotations

from typing import Any

import jwt

from auth_sidecar_verifier.errors import VerificationError
from auth_sidecar_verifier.keyset import ALGORITHM

MAX_TOKEN_BYTES = 32 * 1024
ALWAYS_REQUIRED = ("iss", "aud", "iat", "exp")


def read_header(token: object) -> str:
    """The `kid` of a well-formed ES256 compact JWS."""
    if not isinstance(token, str) or not token:
        raise VerificationError("malformed", "no assertion")
    if len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise VerificationError("malformed", "not a compact JWS")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:  # DecodeError, or pyjwt's own `crit`/`kid` checks
        raise VerificationError("malformed", "unreadable JOSE header") from exc
    if header.get("alg") != ALGORITHM:
        raise VerificationError("algorithm", f"alg {str(header.get('alg'))[:16]!r} is not ES256")
    if "crit" in header:
        raise VerificationError("malformed", "crit header parameters are not supported")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise VerificationError("malformed", "no kid in the header")
    return kid


def decode(token: str, key: jwt.PyJWK, *, issuer: str, audience: str) -> dict[str, Any]:
    """Signature, then `iss` and `aud`; times are left to `check_times` (one clock)."""
    options: Any = {
        "require": list(ALWAYS_REQUIRED),
        "verify_exp": False,
        "verify_iat": False,
        "verify_nbf": False,
    }
    try:
        payload: dict[str, Any] = jwt.decode(
            token, key, algorithms=[ALGORITHM], issuer=issuer, audience=audience, options=options
        )
    except jwt.InvalidSignatureError as exc:
        raise VerificationError("signature", "signature does not verify") from exc
    except jwt.InvalidIssuerError as exc:
        raise VerificationError("issuer", "iss is not the pinned issuer") from exc
    except jwt.InvalidAudienceError as exc:
        raise VerificationError("audience", "aud does not name the pinned audience") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise VerificationError("algorithm", "algorithm does not fit the key") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise VerificationError("claims", f"required claim {exc.claim!r} is missing") from exc
    except jwt.DecodeError as exc:
        raise VerificationError("malformed", "payload is not a JWT claims set") from exc
    except jwt.InvalidTokenError as exc:
        raise VerificationError("claims", type(exc).__name__) from exc
    return payload


def _timestamp(payload: dict[str, Any], name: str) -> int:
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise VerificationError("claims", f"{name} must be an integer NumericDate")
    return value


def check_times(
    payload: dict[str, Any], *, now: float, leeway_s: float, max_lifetime_s: float
) -> None:
    """RFC 7519 sections 4.1.4-4.1.6, with `leeway_s` of clock skew either way."""
    exp, iat = _timestamp(payload, "exp"), _timestamp(payload, "iat")
    if now >= exp + leeway_s:
        raise VerificationError("expired", "exp is in the past")
    if iat > now + leeway_s:
        raise VerificationError("not_yet_valid", "iat is in the future")
    if "nbf" in payload and _timestamp(payload, "nbf") > now + leeway_s:
        raise VerificationError("not_yet_valid", "nbf is in the future")
    if exp <= iat:
        raise VerificationError("claims", "exp is not after iat")
    if exp - iat > max_lifetime_s:
        raise VerificationError("lifetime", f"lifetime over {max_lifetime_s:g} s")
