"""Fixtures of the attack suite: the lying provider, the attacker's key server, and a sidecar
wired to the lying provider (so a test can mint any token it needs, signed by a key the
sidecar trusts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.ports import LOOPBACK
from tests.fixtures.sidecar import RunningSidecar, merge
from tests.security.jose import Signer, self_signed_der
from tests.security.lying_provider import (
    AttackerServer,
    LyingProvider,
    attacker_app,
    lying_provider_app,
)


@pytest.fixture(scope="session")
def provider_keys() -> Signer:
    """The lying provider's keys, generated once per run (RSA generation is the slow part)."""
    return Signer(issuer="", audience="sidecar")


@pytest.fixture(scope="session")
def attacker_keys() -> Signer:
    return Signer(issuer="", audience="sidecar", rsa_kid="attacker-rsa", ec_kid="attacker-ec")


@pytest.fixture
async def lying_provider(aiohttp_server: Any, provider_keys: Signer) -> LyingProvider:
    provider = LyingProvider(issuer="", signer=provider_keys)
    server = await aiohttp_server(lying_provider_app(provider), host=LOOPBACK)
    provider.issuer = f"http://{LOOPBACK}:{server.port}"
    provider.signer = Signer(
        issuer=provider.issuer,
        audience=provider.client_id,
        rsa_key=provider_keys.rsa_key,
        ec_key=provider_keys.ec_key,
    )
    return provider


@pytest.fixture
async def attacker_server(aiohttp_server: Any, attacker_keys: Signer) -> AttackerServer:
    import base64

    der = self_signed_der(attacker_keys.rsa_key)
    pem = (
        b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"
    )
    server = AttackerServer(url="")
    app = attacker_app(server, attacker_keys, pem)
    running = await aiohttp_server(app, host=LOOPBACK)
    server.url = f"http://{LOOPBACK}:{running.port}"
    return server


@pytest.fixture
def lying_sidecar_factory(
    sidecar_factory: Callable[..., Any], lying_provider: LyingProvider
) -> Callable[..., Any]:
    """`sidecar_factory` with the lying provider as the issuer."""

    async def start(overrides: dict[str, Any] | None = None, **kw: Any) -> RunningSidecar:
        config = merge(lying_provider.sidecar_overrides(), overrides or {})
        running: RunningSidecar = await sidecar_factory(config, **kw)
        return running

    return start


@pytest.fixture
async def lying_sidecar(lying_sidecar_factory: Callable[..., Any]) -> RunningSidecar:
    running: RunningSidecar = await lying_sidecar_factory()
    return running
