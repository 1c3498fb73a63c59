"""Verifying this sidecar's own `X-Auth-Assertion`s: the subject tokens of a token exchange.

CONTRACT "Service to service", step 1: the subject token must be an assertion this sidecar
signed itself: one of its own keys (never a key named by the token, RFC 8725 section 3.10),
ES256 only (RFC 8725 section 3.1), `iss` = its `public_url`, not expired. Its own clock signed
it, so no leeway. The `aud` is the upstream's (one per route), so it is not pinned here.

An exchanged token is signed with the same key; its header `typ` (RFC 8725 section 3.11,
explicit typing) tells the two apart, so that an exchanged token can never be passed off as an
assertion and exchanged again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt

from sidecar.errors import InvalidToken
from sidecar.oidc.jwks import SigningKey, parse_jwks
from sidecar.tokens.assertion import ALGORITHM, AssertionSigner
from sidecar.tokens.id_tokens import check_numeric_dates, check_token_size, compact_jws_header

# The JWS `typ` of an exchanged token (RFC 8725 section 3.11; media type without
# "application/", RFC 7515 section 4.1.9).
EXCHANGED_TOKEN_TYP = "token-exchange+jwt"


class OwnAssertionVerifier:
    """Claims of an assertion signed by this sidecar's keys, or `InvalidToken`."""

    def __init__(
        self, signer: AssertionSigner, *, issuer: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._keys: dict[str, SigningKey] = parse_jwks(signer.jwks())
        self._issuer = issuer
        self._clock = clock

    def verify(self, token: str) -> dict[str, Any]:
        check_token_size(token)
        header = compact_jws_header(token)
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("algorithm not allowed")
        if header.get("typ", "JWT") != "JWT":
            raise InvalidToken("not an assertion")  # e.g. an exchanged token
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise InvalidToken("not signed by this sidecar")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                leeway=0,
                options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
        except OverflowError as exc:
            raise InvalidToken("time claim out of range") from exc
        check_numeric_dates(claims)
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise InvalidToken("bad sub")
        if claims["exp"] <= self._clock():
            raise InvalidToken("expired")  # pyjwt allows exp == now; a lifetime cap must not
        return claims
