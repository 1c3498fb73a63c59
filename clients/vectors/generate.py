"""Shared test vectors for the assertion verifiers (clients/python, clients/js).

    python clients/vectors/generate.py OUTDIR

writes, with throwaway keys made in memory and never written anywhere:
- `jwks.json`: the JWKS first served (keys A and B, as a sidecar in mid-rotation publishes);
- `jwks-rotated.json`: the JWKS after a rotation (A and C): C is known only after a refetch;
- `vectors.json`: `{issuer, audience, leeway_s, max_lifetime_s, cases: [...]}`; each case has
  a `name`, a `token`, `jwks` (which document is served when it is checked), `expect`
  ("valid" or a refusal reason of the verifiers' shared vocabulary) and, when valid, the
  `claims` a verifier must return.
Times are relative to now with wide margins (minutes, hours), so a run a few minutes after
generation gives the same answers; regenerate for each test run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm

ISSUER = "https://app.example.com"
AUDIENCE = "http://orders.internal:8080"
LEEWAY_S = 30
MAX_LIFETIME_S = 600


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638, as the sidecar names its keys."""
    required = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":"))
    return b64(hashlib.sha256(canonical.encode()).digest())


class Key:
    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.kid = thumbprint(jwk)
        self.public_jwk = {**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm="ES256", headers={"kid": self.kid, **header}
        )

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def claims(now: int, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs",
        "email": "ann@example.com",
        "name": "Zoë Ann",
        "groups": ["devs", "staff"],
        "iat": now - 60,
        "exp": now + 240,
    }
    merged = {**base, **changes}
    return {name: value for name, value in merged.items() if value is not None}


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    """The signing input of a JWS made by hand: the forgeries pyjwt rightly refuses to make."""
    return ".".join(b64(json.dumps(part).encode()) for part in (header, payload))


def hs256(key_bytes: bytes, kid: str, payload: dict[str, Any]) -> str:
    """RFC 8725 section 2.1: an HMAC "keyed" with the public key, hoping the verifier takes
    `alg` from the token and the key bytes from its JWKS."""
    signing_input = unsigned({"alg": "HS256", "typ": "JWT", "kid": kid}, payload)
    mac = hmac.new(key_bytes, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tampered(token: str, payload: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64(json.dumps(payload).encode())}.{signature}"


def case(name: str, token: str, expect: str, jwks: str = "initial", **extra: Any) -> dict[str, Any]:
    return {"name": name, "token": token, "jwks": jwks, "expect": expect, **extra}


def valid_case(
    name: str, key: Key, payload: dict[str, Any], jwks: str = "initial"
) -> dict[str, Any]:
    return case(name, key.sign(payload), "valid", jwks, claims=payload)


def cases(a: Key, b: Key, c: Key, stranger: Key, now: int) -> list[dict[str, Any]]:
    good = claims(now)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    minimal = claims(now, email=None, name=None, groups=[])
    return [
        valid_case("valid", a, good),
        valid_case("valid_minimal", a, minimal),
        valid_case("rotated_second_key", b, good),
        case("expired", a.sign(claims(now, iat=now - 7200, exp=now - 7200 + 300)), "expired"),
        case("not_yet_valid", a.sign(claims(now, iat=now + 3600, exp=now + 3900)), "not_yet_valid"),
        case("lifetime_too_long", a.sign(claims(now, exp=now + 86400)), "lifetime"),
        case("wrong_aud", a.sign(claims(now, aud="http://billing.internal:8080")), "audience"),
        case("aud_missing", a.sign(claims(now, aud=None)), "claims"),
        case("wrong_iss", a.sign(claims(now, iss="https://evil.example.com")), "issuer"),
        case("sub_missing", a.sign(claims(now, sub=None)), "claims"),
        case(
            "alg_none",
            unsigned({"alg": "none", "typ": "JWT", "kid": a.kid}, good) + ".",
            "algorithm",
        ),
        case("hs256_public_pem", hs256(a.public_pem(), a.kid, good), "algorithm"),
        case(
            "hs256_public_jwk", hs256(json.dumps(a.public_jwk).encode(), a.kid, good), "algorithm"
        ),
        case(
            "rs256_known_kid",
            jwt.encode(good, rsa_key, algorithm="RS256", headers={"kid": a.kid}),
            "algorithm",
        ),
        case("no_kid", jwt.encode(good, a.private, algorithm="ES256"), "malformed"),
        case("unknown_kid", stranger.sign(good), "unknown_kid"),
        case("known_kid_other_key", stranger.sign(good, kid=a.kid), "signature"),
        case(
            "tampered_payload", tampered(a.sign(good), {**good, "groups": ["admins"]}), "signature"
        ),
        case("not_a_jws", "not.a-token", "malformed"),
        case("rotated_in_before_refetch", c.sign(good), "unknown_kid"),
        valid_case("rotated_in_after_refetch", c, good, jwks="rotated"),
    ]


def generate(outdir: Path, now: int | None = None) -> None:
    now = int(time.time()) if now is None else now
    a, b, c, stranger = Key(), Key(), Key(), Key()
    outdir.mkdir(parents=True, exist_ok=True)
    documents = {"jwks.json": [a, b], "jwks-rotated.json": [a, c]}
    for filename, keys in documents.items():
        (outdir / filename).write_text(json.dumps({"keys": [k.public_jwk for k in keys]}, indent=1))
    vectors = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "leeway_s": LEEWAY_S,
        "max_lifetime_s": MAX_LIFETIME_S,
        "generated_at": now,
        "jwks": {"initial": "jwks.json", "rotated": "jwks-rotated.json"},
        "cases": cases(a, b, c, stranger, now),
    }
    (outdir / "vectors.json").write_text(json.dumps(vectors, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: generate.py OUTDIR")
    generate(Path(sys.argv[1]))
