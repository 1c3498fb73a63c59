"""The forward-auth stack behind each gateway: sidecar (no upstream, a route table), echo
upstream, stand-in provider, and the gateway configured as docs/gateways.md says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.gateway_kinds import KINDS, Kind
from tests.fixtures.gateways import RunningGateway
from tests.fixtures.ports import refused_port
from tests.fixtures.through_gateway import client, ports_for, ready, sidecar_behind_gateway, started
from tests.fixtures.upstream import EchoUpstream

__all__ = ["client", "started"]  # the fixtures, for this directory


@pytest.fixture
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


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
    ports = await sidecar_behind_gateway(sidecar_factory, echo_upstream, sidecar_overrides)
    return await ready(started, kind.start(tmp_path, ports), lambda status: status == 200)


@pytest.fixture
async def stack_without_sidecar(
    kind: Kind, tmp_path: Path, echo_upstream: EchoUpstream, started: list[RunningGateway]
) -> AsyncIterator[RunningGateway]:
    """The gateway configured for a sidecar whose port refuses connections."""
    with refused_port() as port:
        gateway = kind.start(tmp_path, ports_for(echo_upstream, port))
        yield await ready(started, gateway, lambda status: status >= 500)
