"""Fixtures of the fault suite: the profile, fresh Redis servers, spawned sidecars.

`FAULTS_PROFILE=full` (make test-faults) runs longer loads and the full soak; the default
(short) profile keeps the whole suite to a few minutes on two cores. Every test records one row
per fault class in `fault_table` (tests/faults/table.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.faults.procstats import ProcessStats
from tests.fixtures.ports import free_port
from tests.fixtures.redis_process import RedisServer
from tests.fixtures.sidecar import base_config, merge

PROFILE_ENV = "FAULTS_PROFILE"


@dataclass(frozen=True)
class Profile:
    name: str
    rate_per_s: float  # steady load during fault tests
    fault_hold_s: float  # how long a fault lasts under load
    upstream_failures: int  # 502s and 504s provoked per kind in the leak test
    soak_s: float
    soak_sessions: int
    soak_rate_per_s: float


PROFILES = {
    "short": Profile("short", 60.0, 2.0, 300, 20.0, 100, 120.0),
    "full": Profile("full", 120.0, 5.0, 2000, 180.0, 1000, 200.0),
}


@pytest.fixture(scope="session")
def profile() -> Profile:
    name = os.environ.get(PROFILE_ENV, "short")
    if name not in PROFILES:
        pytest.fail(f"{PROFILE_ENV} must be one of {', '.join(PROFILES)}, not {name!r}")
    return PROFILES[name]


# --- components ----------------------------------------------------------------------------------


@pytest.fixture
def fault_redis(own_redis_standalone: RedisServer) -> RedisServer:
    """A standalone Redis of this test's own (nothing on disk), killed after the test."""
    return own_redis_standalone


@dataclass
class SidecarProcess:
    url: str
    admin_url: str
    config: dict[str, Any]
    handle: Any  # tests.fixtures.sidecar.SpawnedSidecar

    @property
    def pid(self) -> int:
        return int(self.handle.process.pid)

    @property
    def cookie_name(self) -> str:
        return str(self.config.get("session", {}).get("cookie_name", "sidecar_session"))

    def stats(self) -> ProcessStats:
        return ProcessStats.of(self.pid)


@pytest.fixture
def start_sidecar(
    spawn_sidecar: Callable[..., Any], fresh_provider: Any, echo_upstream: Any
) -> Callable[..., SidecarProcess]:
    """`start_sidecar(overrides, upstream=URL)`: a real sidecar process on free ports."""
    count = 0

    def start(overrides: dict[str, Any] | None = None, **kw: Any) -> SidecarProcess:
        nonlocal count
        count += 1
        upstream = kw.get("upstream", echo_upstream.url)
        config = base_config(fresh_provider, free_port(), free_port(), upstream)
        config = merge(config, overrides or {})
        handle = spawn_sidecar(config, name=f"sidecar{count}")
        return SidecarProcess(handle.url, handle.admin_url, config, handle)

    return start
