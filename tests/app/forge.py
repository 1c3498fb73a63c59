"""Forged tokens and a forging issuer, for the refusal cases a real provider never produces.

Keys are generated at run time and live only in memory. `ForgingIssuer` is a small real
aiohttp OpenID provider (discovery + JWKS) whose keys the test holds, so a test can sign any
claims with a key the sidecar trusts; it also serves `/jku`, a URL a token may name in its
header, and counts every hit so a test can prove the sidecar never fetched it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

FORGED_CLIENT_ID = "forged-client"
RSA_KID = "forged-rsa"
EC_KID = "forged-ec"
DELETE = object()  # a claim override that removes the claim


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: Any, kid: str | None, **members: Any) -> dict[str, Any]:
    """The public JWK of a private key, with `kid` (None: without) and extra members."""
    algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    return {**jwk, **members}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An unsecured JWS (RFC 7515 appendix A.5): `alg: none`, empty signature."""
    return f"{segment({**header, 'alg': 'none'})}.{segment(claims)}."


def hmac_signed(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """HS256 by hand: pyjwt itself refuses a PEM as an HMAC secret, the attacker does not."""
    signing_input = f"{segment({**header, 'alg': 'HS256'})}.{segment(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def relabelled(token: str, **header: Any) -> str:
    """`token` with header members replaced, keeping its payload and signature bytes."""
    old_header, payload, signature = token.split(".")
    members = json.loads(base64.urlsafe_b64decode(old_header + "=" * (-len(old_header) % 4)))
    return f"{segment({**members, **header})}.{payload}.{signature}"


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


class ForgingIssuer:
    """Discovery at `/.well-known/openid-configuration`, keys at `/keys`, a bait at `/jku`."""

    def __init__(self) -> None:
        self.url = ""  # set once the server listens
        self.client_id = FORGED_CLIENT_ID
        self.rsa = rsa_key()
        self.ec = ec_key()
        self.hits: Counter[str] = Counter()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/keys", self._keys)
        app.router.add_get("/jku", self._bait)
        app.router.add_get("/x5u", self._bait)
        return app

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                public_jwk(self.rsa, RSA_KID, use="sig"),
                public_jwk(self.ec, EC_KID, use="sig"),
            ]
        }

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Dex-shaped claims, valid for ten minutes; an override of `DELETE` drops a claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": "CgRmb3JnZWQSBWxvY2Fs",
            "aud": self.client_id,
            "exp": now + 600,
            "iat": now,
            "email": "forged@example.com",
            "email_verified": True,
            "groups": ["devs"],
            "name": "Forged User",
            "preferred_username": "forged",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not DELETE}

    def mint(
        self,
        claims: dict[str, Any] | None = None,
        *,
        key: str = "rsa",
        headers: dict[str, Any] | None = None,
    ) -> str:
        """A token signed with this issuer's RSA (RS256) or EC (ES256) key, named by its kid;
        a header member given as `DELETE` is left out."""
        signing_key, algorithm, kid = (
            (self.rsa, "RS256", RSA_KID) if key == "rsa" else (self.ec, "ES256", EC_KID)
        )
        header = {"kid": kid, **(headers or {})}
        return jwt.encode(
            self.claims() if claims is None else claims,
            signing_key,
            algorithm=algorithm,
            headers={name: value for name, value in header.items() if value is not DELETE},
        )

    async def _discovery(self, request: web.Request) -> web.Response:
        self.hits["discovery"] += 1
        return web.json_response(
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/auth",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/keys",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        self.hits["jwks"] += 1
        return web.json_response(self.jwks(), headers={"Cache-Control": "max-age=600"})

    async def _bait(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        # Were it fetched, it would offer the attacker's own key.
        return web.json_response({"keys": []})
