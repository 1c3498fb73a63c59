"""Issue 16 item 17: aiohttp's undocumented API is used in `sidecar.aiohttp_internals` only;
when it moved, the start-up self-check says so once and the proxy serves every request with
aiohttp's public client.

"Moved" is simulated by making the self-check look for a keyword that
`ResponseHandler.set_response_params` does not take (aiohttp's own client still uses the
real one, so the rest of the process keeps working), or by an import that failed.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import structlog

from sidecar import aiohttp_internals
from sidecar.upstream.proxy import UpstreamProxy
from sidecar.upstream.session import create_upstream_session
from tests.upstream.hostile import call, hostile_upstream, proxy_to

SIDECAR = Path(aiohttp_internals.__file__).parent
# aiohttp's documented modules (https://docs.aiohttp.org/): everything else is internal.
PUBLIC = {"aiohttp", "aiohttp.web", "aiohttp.hdrs", "aiohttp.typedefs", "aiohttp.abc"}


@pytest.fixture
def moved(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    wanted = aiohttp_internals._RESPONSE_PARAMS | {"renamed_in_a_later_release"}
    monkeypatch.setattr(aiohttp_internals, "_RESPONSE_PARAMS", wanted)
    aiohttp_internals.usable.cache_clear()
    yield
    aiohttp_internals.usable.cache_clear()


def test_the_internals_are_where_this_release_keeps_them() -> None:
    assert aiohttp_internals.self_check() is None


def test_no_other_module_imports_aiohttp_internals() -> None:
    offenders = []
    for path in SIDECAR.rglob("*.py"):
        if path.name == "aiohttp_internals.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            offenders += [
                f"{path.relative_to(SIDECAR)}: {name}"
                for name in names
                if name.startswith("aiohttp.") and name not in PUBLIC
            ]
        source = path.read_text()
        for private in ("__class__", "ResponseHandler(", "StreamWriter(", "_make_server"):
            if private in source:
                offenders.append(f"{path.relative_to(SIDECAR)}: {private}")
    assert offenders == []


def test_a_failed_import_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiohttp_internals, "_IMPORT_ERROR", ImportError("no client_proto"))
    assert "no client_proto" in (aiohttp_internals.self_check() or "")


def test_moved_internals_are_reported_once(moved: None) -> None:
    with structlog.testing.capture_logs() as logs:
        assert (aiohttp_internals.usable(), aiohttp_internals.usable()) == (False, False)
    assert [entry["event"] for entry in logs] == ["aiohttp_internals_moved"]
    assert logs[0]["log_level"] == "warning"
    assert "renamed_in_a_later_release" in logs[0]["problem"]


async def test_with_moved_internals_the_public_client_serves_every_request(moved: None):
    async with hostile_upstream() as upstream:
        session = create_upstream_session(connect_timeout_s=1.0)
        proxy = UpstreamProxy(str(upstream.url), session, response_timeout_s=5.0)
        assert proxy._connections is None  # no pool: aiohttp's ClientSession for everything
        await proxy.close()
        await session.close()
        async with (
            proxy_to(upstream.url, pooled=False) as url,
            aiohttp.ClientSession() as client,
        ):
            for method in ("GET", "HEAD", "DELETE"):
                status, body, _ = await call(client, method, url / "me", "bob")
                assert (status, body) == (200, "" if method == "HEAD" else "for:bob")
            assert (await call(client, "POST", url / "me", "bob", streamed=True))[:2] == (
                200,
                "for:bob",
            )
            # and it is as safe: an unsolicited response never reaches the next caller
            await call(client, "GET", url / "unsolicited", "alice")
            await upstream.injected.wait()
            await asyncio.sleep(0.05)
            assert await call(client, "GET", url / "me", "bob") == (200, "for:bob", None)
