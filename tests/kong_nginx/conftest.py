"""The Kong plugin in nginx in front of the real sidecar (route table, no upstream), the echo
upstream and the stand-in provider. `plugin_conf` is the plugin's configuration (the test may
override it by indirect parametrization); `verify_url` is filled in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.fixtures.gateways import ROUTES, Ports, RunningGateway, wait_ready
from tests.fixtures.kong_nginx import start_kong_nginx
from tests.fixtures.ports import free_port, refused_port
from tests.fixtures.upstream import AiohttpServer, EchoUpstream, echo_app


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=30)) as s:
        yield s


@pytest.fixture
async def echo_upstream(aiohttp_server: AiohttpServer) -> EchoUpstream:
    """The echo upstream, taking up to 4096 header lines (aiohttp's default is 128): the
    header-limit tests send the plugin 1000 lines, and those it keeps go on."""
    record: list[dict[str, Any]] = []
    limits = {"max_headers": 4096, "max_field_size": 32768, "max_line_size": 32768}
    server = await aiohttp_server(echo_app(record), host="127.0.0.1", **limits)
    return EchoUpstream(url=f"http://127.0.0.1:{server.port}", requests=record)


@pytest.fixture
def plugin_conf(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(getattr(request, "param", {}))


@pytest.fixture
def started() -> Iterator[list[RunningGateway]]:
    gateways: list[RunningGateway] = []
    yield gateways
    for gateway in gateways:
        gateway.stop()


def _ports(upstream: EchoUpstream, sidecar_port: int) -> Ports:
    upstream_port = urlsplit(upstream.url).port
    assert upstream_port
    return Ports(gateway=free_port(), sidecar=sidecar_port, upstream=upstream_port)


@pytest.fixture
async def kong(
    tmp_path: Path,
    plugin_conf: dict[str, Any],
    sidecar_factory: Callable[..., Any],
    echo_upstream: EchoUpstream,
    started: list[RunningGateway],
) -> RunningGateway:
    ports = _ports(echo_upstream, free_port())
    sidecar_overrides = plugin_conf.pop("sidecar", {})
    max_headers = plugin_conf.pop("nginx_max_headers", 2000)
    overrides = {
        "public_url": f"http://127.0.0.1:{ports.gateway}",
        "trusted_proxies": "127.0.0.1/32",
        "policy": None,
        "routes": ROUTES,
        **sidecar_overrides,
    }
    await sidecar_factory(overrides, port=ports.sidecar, upstream=None)
    verify_url = f"http://127.0.0.1:{ports.sidecar}/.auth/verify"
    if "verify_status" in plugin_conf:  # a verify endpoint answering that status: the echo's
        verify_url = f"{echo_upstream.url}/__status?code={plugin_conf.pop('verify_status')}"
    conf = {"verify_url": verify_url, **plugin_conf}
    gateway = start_kong_nginx(tmp_path, ports, conf, max_headers)
    started.append(gateway)
    await wait_ready(gateway, lambda status: status == 200)
    return gateway


@pytest.fixture
async def kong_without_sidecar(
    tmp_path: Path, echo_upstream: EchoUpstream, started: list[RunningGateway]
) -> AsyncIterator[RunningGateway]:
    with refused_port() as port:
        ports = _ports(echo_upstream, port)
        conf = {"verify_url": f"http://127.0.0.1:{port}/.auth/verify", "timeout_ms": 500}
        gateway = start_kong_nginx(tmp_path, ports, conf)
        started.append(gateway)
        await wait_ready(gateway, lambda status: status >= 500)
        yield gateway
