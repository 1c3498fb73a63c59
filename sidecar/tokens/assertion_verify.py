"""Verifying this sidecar's own `X-Auth-Assertion`s: the subject tokens of a token exchange.

CONTRACT "Service to service", step 1: the subject token must be an assertion this sidecar
signed itself: one of its own keys (never a key named by the token, RFC 8725 section 3.10),
ES256 only (RFC 8725 section 3.1), `iss` = its `public_url`, `iat` present, not expired. Its own
clock signed it, so no leeway. The `aud` is the upstream's (one per route), so it is not pinned
here. The signature and header rules are the one JWS verifier's (`sidecar/tokens/jws.py`).

An exchanged token is signed with the same key; its header `typ` (RFC 8725 section 3.11,
explicit typing) tells the two apart, so that an exchanged token can never be passed off as an
assertion and exchanged again; a token with `events` (a logout token) is no assertion either.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sidecar.oidc.jwks import KeySet, parse_jwks
from sidecar.tokens.assertion import ALGORITHM, AssertionSigner
from sidecar.tokens.claims import TokenClaims
from sidecar.tokens.jws import EXCHANGED_JWT, PLAIN_JWT, JwsVerifier, check_token_size

# The JWS `typ` of an exchanged token (RFC 8725 section 3.11; media type without
# "application/", RFC 7515 section 4.1.9).
(EXCHANGED_TOKEN_TYP,) = EXCHANGED_JWT


class AssertionClaims(TokenClaims):
    """An assertion's claims: `iss`, `sub`, `iat`, `exp` required, `aud` not pinned."""

    required = ("iss", "sub", "exp", "iat")


class OwnAssertionVerifier:
    """Claims of an assertion signed by this sidecar's keys, or `InvalidToken`."""

    def __init__(
        self, signer: AssertionSigner, *, issuer: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._keys: KeySet = parse_jwks(signer.jwks())
        self._jws = JwsVerifier(algorithms=(ALGORITHM,), types=PLAIN_JWT)
        self._claims = AssertionClaims(issuer=issuer, audiences=None, leeway_s=0, clock=clock)

    def verify(self, token: str) -> dict[str, Any]:
        check_token_size(token)
        claims = self._jws.verify_local(token, self._keys).claims
        self._claims.validate(claims)
        return claims
