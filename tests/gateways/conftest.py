"""The forward-auth stack behind each gateway: sidecar (no upstream, a route table), echo
upstream, stand-in provider, and the gateway configured as docs/gateways.md says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.fixtures.gateway_kinds import KINDS, Kind
from tests.fixtures.gateways import ROUTES, Ports, RunningGateway, wait_ready
from tests.fixtures.ports import free_port, refused_port
from tests.fixtures.upstream import EchoUpstream


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    jar = aiohttp.CookieJar(unsafe=True)  # the default jar drops cookies of IP hosts
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=30)) as s:
        yield s


@pytest.fixture
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[list[RunningGateway]]:
    gateways: list[RunningGateway] = []
    yield gateways
    for gateway in gateways:
        gateway.stop()


def _ports(upstream: EchoUpstream, sidecar_port: int) -> Ports:
    upstream_port = urlsplit(upstream.url).port
    assert upstream_port
    return Ports(gateway=free_port(), sidecar=sidecar_port, upstream=upstream_port)


@pytest.fixture
def sidecar_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """More sidecar settings, by indirect parametrization."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
async def stack(
    kind: Kind,
    sidecar_overrides: dict[str, Any],
    tmp_path: Path,
    sidecar_factory: Callable[..., Any],
    echo_upstream: EchoUpstream,
    started: list[RunningGateway],
) -> RunningGateway:
    """The gateway in front of a running sidecar, ready (its /.auth/jwks answers 200)."""
    ports = _ports(echo_upstream, free_port())
    overrides = {
        "public_url": f"http://127.0.0.1:{ports.gateway}",
        "trusted_proxies": "127.0.0.1/32",
        "policy": None,
        "routes": ROUTES,
        **sidecar_overrides,
    }
    await sidecar_factory(overrides, port=ports.sidecar, upstream=None)
    gateway = kind.start(tmp_path, ports)
    started.append(gateway)
    await wait_ready(gateway, lambda status: status == 200)
    return gateway


@pytest.fixture
async def stack_without_sidecar(
    kind: Kind, tmp_path: Path, echo_upstream: EchoUpstream, started: list[RunningGateway]
) -> AsyncIterator[RunningGateway]:
    """The gateway configured for a sidecar whose port refuses connections."""
    with refused_port() as port:
        gateway = kind.start(tmp_path, _ports(echo_upstream, port))
        started.append(gateway)
        await wait_ready(gateway, lambda status: status >= 500)
        yield gateway
