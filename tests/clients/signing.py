"""A throwaway ES256 key for tests that need tokens the vectors do not hold."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ISSUER = "https://app.example.com"
AUDIENCE = "http://orders.internal:8080"


class TestKey:
    __test__ = False  # not a test class

    def __init__(self, kid: str = "test-key") -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.kid = kid
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwk = {**jwk, "kid": kid, "alg": "ES256", "use": "sig"}

    def jwks(self, *others: TestKey) -> dict[str, Any]:
        return {"keys": [self.jwk, *(other.jwk for other in others)]}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        if not isinstance(claims.get("iss", ""), str):  # pyjwt refuses to encode that
            payload = json.dumps(claims).encode()
            return jwt.PyJWS().encode(payload, self.private, "ES256", {"kid": self.kid, **header})
        return jwt.encode(
            claims, self.private, algorithm="ES256", headers={"kid": self.kid, **header}
        )


def claims(now: float | None = None, **changes: Any) -> dict[str, Any]:
    at = int(time.time() if now is None else now)
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "email": "ann@example.com",
        "groups": ["devs"],
        "iat": at,
        "exp": at + 60,
    }
    merged = {**base, **changes}
    return {name: value for name, value in merged.items() if value is not None}
