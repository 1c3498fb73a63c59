"""Fixtures of the request-path tests: real logins (one per user per module), the forging
issuer, and a sidecar that trusts it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.app.forge import ForgingIssuer
from tests.fixtures.ports import LOOPBACK
from tests.fixtures.sidecar import RunningSidecar

ADMIN = "admin-dex@example.com"
USER = "user@example.com"
UNVERIFIED = "unverified@example.com"


@pytest.fixture(scope="module")
def id_tokens(oidc_provider: Any) -> dict[str, str]:
    """An id token minted by the real provider for each test user, by email.

    The logins run in a thread of their own so that they do not touch the test's event loop.
    """

    async def login_all() -> dict[str, str]:
        tokens = {}
        for email, user in oidc_provider.users.items():
            tokens[email] = (await oidc_provider.login(email, user.password)).id_token
        return tokens

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, login_all()).result()


@pytest.fixture
async def forging_issuer(aiohttp_server: Callable[..., Any]) -> ForgingIssuer:
    issuer = ForgingIssuer()
    server = await aiohttp_server(issuer.app(), host=LOOPBACK)
    issuer.url = f"http://{LOOPBACK}:{server.port}"
    return issuer


@pytest.fixture
async def forged_sidecar(
    sidecar_factory: Callable[..., Any], forging_issuer: ForgingIssuer
) -> RunningSidecar:
    """A sidecar whose provider is the forging issuer: any claims can be signed for it."""
    oidc = {"issuer": forging_issuer.url, "client_id": forging_issuer.client_id}
    running: RunningSidecar = await sidecar_factory({"oidc": oidc})
    return running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
