"""Fixtures for the tests against the real Dex (`tests/fixtures/dex.py`).

`dex` (session): Dex v2.45.1 as deployed, on Postgres storage, shared by the tests that leave it
as they found it; it is also this directory's `oidc_provider`, so `sidecar_factory` points at it.
`dex_factory` (function): a Dex of the test's own (other storage, expiry, connectors, or the
main-branch build for logout), stopped at the end. `start_sidecar(dex, index)` runs a sidecar on
the index-th port Dex has a callback for. The binary is built on the first run (minutes) and
cached in ~/.cache/auth-sidecar; without Go the tests fail, loudly.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from scripts.dex_build import GoMissing, dex_binary
from tests.fixtures.dex import DexOptions, DexServer
from tests.fixtures.dex_pages import Credentials, Visit, browse
from tests.fixtures.postgres import PostgresCluster, postgres_cluster
from tests.fixtures.provider import serve
from tests.fixtures.sidecar import merge, oidc_of

__all__ = ["postgres_cluster"]  # the fixture, for this directory

COOKIE = "sidecar_session"


def built(variant: str, config: pytest.Config) -> Path:
    """Dex's binary; a first build says so on the terminal, past pytest's output capture."""
    capture = config.pluginmanager.getplugin("capturemanager")

    def say(line: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"\n{line}", file=sys.stderr, flush=True)

    try:
        return dex_binary(variant, log=say)
    except GoMissing as exc:
        pytest.fail(f"{exc}: the Dex tests need Go >= 1.25.8 (see tests/dex/build)")


@pytest.fixture(scope="session")
def dex_release_binary(pytestconfig: pytest.Config) -> Path:
    return built("release", pytestconfig)


@pytest.fixture(scope="session")
def dex_main_binary(pytestconfig: pytest.Config) -> Path:
    return built("main", pytestconfig)


def postgres_storage(cluster: PostgresCluster) -> dict[str, Any]:
    """Dex's `storage` block for a fresh database of `cluster` (as the deployment's)."""
    config = {
        "host": cluster.host,
        "port": cluster.port,
        "database": cluster.new_database(),
        "user": cluster.user,
        "password": "unused",  # trust authentication on loopback
        "ssl": {"mode": "disable"},
    }
    return {"type": "postgres", "config": config}


@pytest.fixture(scope="session")
def dex(
    dex_release_binary: Path,
    postgres_cluster: PostgresCluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DexServer]:
    options = DexOptions(storage=postgres_storage(postgres_cluster))
    yield from serve(DexServer(dex_release_binary, tmp_path_factory.mktemp("dex"), options))


@pytest.fixture(scope="session")
def oidc_provider(dex: DexServer) -> DexServer:
    """Here the provider is Dex: `sidecar_factory` and `base_config` read its issuer and client."""
    return dex


@pytest.fixture
def dex_factory(
    dex_release_binary: Path,
    tmp_path: Path,
    postgres_cluster: PostgresCluster,
    pytestconfig: pytest.Config,
) -> Iterator[Callable[..., DexServer]]:
    started: list[DexServer] = []

    def make(variant: str = "release", storage: str = "memory", **options: Any) -> DexServer:
        binary = dex_release_binary if variant == "release" else built(variant, pytestconfig)
        workdir = tmp_path / f"dex-{len(started)}"
        workdir.mkdir()
        chosen: dict[str, Any] = {"type": "memory"}
        if storage == "sqlite":
            chosen = {"type": "sqlite3", "config": {"file": str(workdir / "dex.db")}}
        elif storage == "postgres":
            chosen = postgres_storage(postgres_cluster)
        server = DexServer(binary, workdir, DexOptions(storage=chosen, **options))
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def start_sidecar(sidecar_factory: Callable[..., Any]) -> Callable[..., Any]:
    """`await start_sidecar(dex, index=0, overrides=None)`: an in-process sidecar on Dex's
    index-th registered callback port, pointed at that Dex."""

    async def start(dex: DexServer, index: int = 0, overrides: dict[str, Any] | None = None) -> Any:
        config = merge(oidc_of(dex), overrides or {})
        return await sidecar_factory(config, port=dex.callback_ports[index])

    return start


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client with a cookie jar that keeps cookies of IP hosts, as a browser does."""
    jar = aiohttp.CookieJar(unsafe=True)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as session:
        yield session


async def sign_in(
    session: aiohttp.ClientSession, dex: DexServer, url: str, connector: str = "local"
) -> Visit:
    """Open `url` (a protected sidecar page) and log in through Dex's pages as the admin."""
    user = Credentials(dex.admin.email, dex.admin.password, connector)
    if connector == "mock":
        user = Credentials("", "", "mock")
    return await browse(session, url, user, dex.issuer)


def echoed_headers(visit: Visit) -> dict[str, str]:
    """The headers the echo upstream received, names lower-cased."""
    return {name.lower(): value for name, value in visit.json()["headers"]}
