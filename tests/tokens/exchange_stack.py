"""Services behind sidecars that call each other on a user's behalf (CONTRACT "Service to
service"): each `Service` is a real sidecar, its own echo upstream, and the assertion key it
signs with (generated now, so a test can also forge what that sidecar never would)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from sidecar.tokens.assertion import jwk_thumbprint
from sidecar.tokens.assertion_verify import EXCHANGED_TOKEN_TYP
from sidecar.tokens.exchange import GRANT_TYPE, JWT_TOKEN_TYPE
from tests.app.calls import Answer
from tests.fixtures.ports import LOOPBACK, free_port
from tests.fixtures.sidecar import RunningSidecar
from tests.fixtures.upstream import EchoUpstream, echo_app


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem_of(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def kid_for(key: ec.EllipticCurvePrivateKey) -> str:
    return jwk_thumbprint(ECAlgorithm.to_jwk(key.public_key(), as_dict=True))


@dataclass
class Service:
    name: str
    url: str  # the sidecar's public_url
    key: ec.EllipticCurvePrivateKey
    echo: EchoUpstream
    sidecar: RunningSidecar | None = None

    @property
    def jwks_url(self) -> str:
        return self.url + "/.auth/jwks"

    def trusted_entry(self) -> dict[str, str]:
        return {"issuer": self.url, "jwks_url": self.jwks_url}

    def sign(
        self, claims: dict[str, Any], *, typ: str | None = EXCHANGED_TOKEN_TYP, **header: Any
    ) -> str:
        """Any claims, signed with this sidecar's own key and kid (ES256)."""
        headers: dict[str, Any] = {"kid": kid_for(self.key), **header}
        if typ is not None:
            headers["typ"] = typ
        return jwt.encode(claims, self.key, algorithm="ES256", headers=headers)

    def exchanged_claims(self, audience: str, **overrides: Any) -> dict[str, Any]:
        """What this sidecar's exchange would issue for a plain user, before overrides."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": audience,
            "sub": "forged-user",
            "email": "forged@example.com",
            "groups": ["devs"],
            "iat": now,
            "exp": now + 60,
            "jti": "j",
            "act": {"sub": self.url},
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}


async def new_service(name: str, aiohttp_server: Callable[..., Any]) -> Service:
    """The echo upstream now; the sidecar's port is reserved so others can name it."""
    record: list[dict[str, Any]] = []
    server = await aiohttp_server(echo_app(record), host=LOOPBACK)
    echo = EchoUpstream(url=f"http://{LOOPBACK}:{server.port}", requests=record)
    return Service(name, f"http://{LOOPBACK}:{free_port()}", new_key(), echo)


def service_config(
    service: Service,
    *,
    audiences: Sequence[Service] = (),
    trusts: Sequence[Service] = (),
    **extra: Any,
) -> dict[str, Any]:
    """Overrides for `sidecar_factory`: this service's key, whom it calls, whom it trusts."""
    config: dict[str, Any] = {
        "assertion": {"signing_key": pem_of(service.key)},
        "session": {"cookie_name": f"session_{service.name}"},
        **extra,
    }
    if audiences:
        config["token_exchange"] = {
            **extra.get("token_exchange", {}),
            "audiences": ",".join(s.url for s in audiences),
        }
    if trusts:
        config["trusted_issuers"] = [s.trusted_entry() for s in trusts]
    return config


async def start(
    sidecar_factory: Callable[..., Any], service: Service, **config: Any
) -> RunningSidecar:
    port = int(service.url.rsplit(":", 1)[1])
    running: RunningSidecar = await sidecar_factory(
        service_config(service, **config), port=port, upstream=service.echo.url
    )
    service.sidecar = running
    return running


def exchange_form(subject_token: str, audience: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": GRANT_TYPE,
        "subject_token": subject_token,
        "subject_token_type": JWT_TOKEN_TYPE,
        "audience": audience,
        **extra,
    }


async def post_token(
    service: Service,
    form: dict[str, str] | None = None,
    *,
    data: bytes | str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """`POST {service}/.auth/token` as the app in its pod would (from loopback)."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            service.url + "/.auth/token", data=form if data is None else data, headers=headers
        ) as response,
    ):
        return Answer(response.status, response.headers, await response.text())


async def exchange(service: Service, subject_token: str, audience: Service) -> str:
    answer = await post_token(service, exchange_form(subject_token, audience.url))
    assert answer.status == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims
