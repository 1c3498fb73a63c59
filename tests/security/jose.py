"""Hand-built JOSE objects for the attacks: every header, payload and signature byte chosen
by the test, including the ones pyjwt refuses to produce (`none`, HMAC keyed with a public key,
five-segment JWE look-alikes). Keys are generated at run time; none is ever committed.
"""

from __future__ import annotations

import base64
import datetime
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def compact(header: dict[str, Any], payload: dict[str, Any], key: Any, alg: str) -> str:
    """A compact JWS signed with `key` under `alg` (any pyjwt algorithm name)."""
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
    algorithm = jwt.get_algorithm_by_name(alg)
    signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(key))
    return f"{signing_input}.{b64url(signature)}"


def unsecured(header: dict[str, Any], payload: dict[str, Any]) -> str:
    """RFC 7515 appendix A.5: an unsecured JWS, empty signature."""
    return f"{b64url_json(header)}.{b64url_json(payload)}."


def hmac_signed(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """HS256/384/512 (per `header["alg"]`) with an arbitrary secret, e.g. the provider's public
    key in PEM: the classic algorithm-confusion forgery pyjwt itself refuses to build."""
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
    hash_name = {"HS384": "sha384", "HS512": "sha512"}.get(header.get("alg", ""), "sha256")
    digest = hmac.new(secret, signing_input.encode(), hash_name).digest()
    return f"{signing_input}.{b64url(digest)}"


def jwe_lookalike(header: dict[str, Any]) -> str:
    """Five segments, as RFC 7516 compact serialization (the content is never decryptable)."""
    parts = [b64url_json(header)] + [b64url(bytes(range(n))) for n in (32, 12, 48, 16)]
    return ".".join(parts)


def public_pem(private_key: Any) -> bytes:
    return private_key.public_key().public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_jwk(private_key: Any, kid: str) -> dict[str, Any]:
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


def self_signed_der(private_key: Any) -> bytes:
    """A self-signed certificate for `private_key` (for an `x5c` header)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


@dataclass
class Signer:
    """A key pair the test owns: the lying provider's, or an attacker's."""

    issuer: str
    audience: str
    rsa_kid: str = "rsa-1"
    ec_kid: str = "ec-1"
    rsa_key: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    ec_key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [public_jwk(self.rsa_key, self.rsa_kid), public_jwk(self.ec_key, self.ec_kid)]
        }

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Valid id-token claims (Dex-shaped); an override of None removes the claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "CiQxMjM0NTYSBWxvY2Fs",
            "aud": self.audience,
            "exp": now + 600,
            "iat": now,
            "email": "user@example.com",
            "email_verified": True,
            "groups": ["devs"],
            "name": "Plain User",
            "preferred_username": "user",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, header: dict[str, Any] | None = None, alg: str = "RS256", **claims: Any) -> str:
        """A correctly signed token; `header` entries are added (None removes one)."""
        key, kid = (
            (self.ec_key, self.ec_kid) if alg.startswith("ES") else (self.rsa_key, self.rsa_kid)
        )
        base = {"alg": alg, "typ": "JWT", "kid": kid}
        merged = {k: v for k, v in {**base, **(header or {})}.items() if v is not None}
        return compact(merged, self.claims(**claims), key, alg)
