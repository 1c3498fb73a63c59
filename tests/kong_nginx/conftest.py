"""The Kong plugin in nginx in front of the real sidecar (route table, no upstream), the echo
upstream and the stand-in provider. `plugin_conf` is the plugin's configuration (the test may
override it by indirect parametrization); `verify_url` is filled in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.gateways import RunningGateway
from tests.fixtures.kong_nginx import start_kong_nginx
from tests.fixtures.ports import refused_port
from tests.fixtures.through_gateway import client, ports_for, ready, sidecar_behind_gateway, started
from tests.fixtures.upstream import AiohttpServer, EchoUpstream, echo_app

__all__ = ["client", "started"]  # the fixtures, for this directory


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
async def kong(
    tmp_path: Path,
    plugin_conf: dict[str, Any],
    sidecar_factory: Callable[..., Any],
    echo_upstream: EchoUpstream,
    started: list[RunningGateway],
) -> RunningGateway:
    sidecar_overrides = plugin_conf.pop("sidecar", {})
    max_headers = plugin_conf.pop("nginx_max_headers", 2000)
    ports = await sidecar_behind_gateway(sidecar_factory, echo_upstream, sidecar_overrides)
    verify_url = f"http://127.0.0.1:{ports.sidecar}/.auth/verify"
    if "verify_status" in plugin_conf:  # a verify endpoint answering that status: the echo's
        verify_url = f"{echo_upstream.url}/__status?code={plugin_conf.pop('verify_status')}"
    conf = {"verify_url": verify_url, **plugin_conf}
    gateway = start_kong_nginx(tmp_path, ports, conf, max_headers)
    return await ready(started, gateway, lambda status: status == 200)


@pytest.fixture
async def kong_without_sidecar(
    tmp_path: Path, echo_upstream: EchoUpstream, started: list[RunningGateway]
) -> AsyncIterator[RunningGateway]:
    with refused_port() as port:
        conf = {"verify_url": f"http://127.0.0.1:{port}/.auth/verify", "timeout_ms": 500}
        gateway = start_kong_nginx(tmp_path, ports_for(echo_upstream, port), conf)
        yield await ready(started, gateway, lambda status: status >= 500)
