"""Fixtures for the tracing tests: the OTLP receiver, and sidecar processes exporting to it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ports import LOOPBACK, free_port
from tests.fixtures.procs import start_process, stop_process
from tests.fixtures.sidecar import base_config, merge, write_config
from tests.fixtures.upstream import AiohttpServer
from tests.tracing.otlp_receiver import OtlpReceiver

REPO = Path(__file__).resolve().parents[2]
SERVICE_NAME = "sidecar-under-test"


@pytest.fixture
async def otlp_receiver(aiohttp_server: AiohttpServer) -> OtlpReceiver:
    receiver = OtlpReceiver()
    server = await aiohttp_server(receiver.app(), host=LOOPBACK)
    receiver.url = f"http://{LOOPBACK}:{server.port}"
    return receiver


@dataclass
class TracedSidecar:
    url: str
    admin_url: str
    config: dict[str, Any]
    log_path: Path
    process: Any


def sidecar_env(receiver: OtlpReceiver | None, **extra: str) -> dict[str, str]:
    """The environment of a spawned sidecar: this checkout's `sidecar/`, the OTLP endpoint,
    and a short export delay so that spans arrive while the test waits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SIDECAR_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(":")
    if receiver is not None:
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_SERVICE_NAME=SERVICE_NAME,
            OTEL_BSP_SCHEDULE_DELAY="50",
        )
    env.update(extra)
    return env


@pytest.fixture
def traced_sidecar(
    tmp_path: Path, oidc_provider: Any, echo_upstream: Any, otlp_receiver: OtlpReceiver
) -> Iterator[Callable[..., TracedSidecar]]:
    """`start(overrides, upstream=..., env=...)`: `python -m sidecar` with tracing on."""
    started: list[TracedSidecar] = []

    def start(
        overrides: dict[str, Any] | None = None,
        *,
        upstream: str | None = None,
        env: dict[str, str] | None = None,
    ) -> TracedSidecar:
        port, admin_port = free_port(), free_port()
        config = base_config(oidc_provider, port, admin_port, upstream or echo_upstream.url)
        config = merge(config, {"log": {"level": "info"}, "tracing": {"enabled": True}})
        config = merge(config, overrides or {})
        path = write_config(tmp_path / f"sidecar-{port}.yaml", config)
        log_path = tmp_path / f"sidecar-{port}.log"
        process, _ = start_process(
            [sys.executable, "-m", "sidecar", "--config", str(path)],
            log_path=log_path,
            ready=lambda line: '"serving"' in line,
            env=env if env is not None else sidecar_env(otlp_receiver),
        )
        handle = TracedSidecar(
            config["public_url"], "http://" + config["admin_listen"], config, log_path, process
        )
        started.append(handle)
        return handle

    yield start
    for handle in started:
        stop_process(handle.process)
