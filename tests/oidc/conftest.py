"""The JWKS server the tests control (keys, Cache-Control, failures, hit count) and a fake
clock for the cache, shared by the JWKS tests."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sidecar.oidc import jwks as jwks_module
from tests.app.forge import public_jwk, rsa_key
from tests.fixtures.ports import LOOPBACK


class JwksServer:
    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = [public_jwk(rsa_key(), "k1", use="sig")]
        self.cache_control: str | None = "max-age=600, must-revalidate"
        self.status = 200
        self.delay_s = 0.0
        self.hits = 0
        self.url = ""
        self.server: Any = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/keys", self._keys)
        return app

    async def _keys(self, request: web.Request) -> web.Response:
        self.hits += 1
        await asyncio.sleep(self.delay_s)
        headers = {"Cache-Control": self.cache_control} if self.cache_control else {}
        return web.json_response({"keys": self.keys}, status=self.status, headers=headers)


class FakeTime:
    """A clock for the cache, and a `sleep` that moves it instead of waiting."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)

    def patch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The jwks module sees this `sleep`; the rest of its `asyncio` is the real one."""
        fake = types.SimpleNamespace(**{**vars(asyncio), "sleep": self.sleep})
        monkeypatch.setattr(jwks_module, "asyncio", fake)


@pytest.fixture
async def jwks_server(aiohttp_server: Callable[..., Any]) -> JwksServer:
    state = JwksServer()
    state.server = await aiohttp_server(state.app(), host=LOOPBACK)
    state.url = f"http://{LOOPBACK}:{state.server.port}/keys"
    return state


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
