"""The fuzz target: a real `python -m sidecar` process (a crash is a dead process, not a
swallowed exception), in front of the echo upstream running in a thread, both started once
per test module. Requests are raw bytes over blocking sockets."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fixtures.ports import LOOPBACK, free_port
from tests.fixtures.procs import log_tail, start_process, stop_process
from tests.fixtures.sidecar import base_config, merge, write_config
from tests.fixtures.upstream import echo_app
from tests.security.rawhttp import RawResponse, parse_responses


@dataclass
class ThreadedUpstream:
    url: str
    requests: list[dict[str, Any]]


def run_upstream() -> Iterator[ThreadedUpstream]:
    """The echo upstream on its own event loop in a daemon thread."""
    record: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(echo_app(record), access_log=None)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, LOOPBACK, 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    port = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    try:
        yield ThreadedUpstream(f"http://{LOOPBACK}:{port}", record)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@dataclass
class FuzzTarget:
    port: int
    admin_port: int
    process: Any
    log_path: Path
    upstream: ThreadedUpstream

    def roundtrip(self, payload: bytes) -> list[RawResponse]:
        """Send `payload` (which should end with `Connection: close`), read until close."""
        received = bytearray()
        with socket.create_connection((LOOPBACK, self.port), timeout=10) as conn:
            try:
                conn.sendall(payload)
                while chunk := conn.recv(65536):
                    received += chunk
            except (ConnectionResetError, BrokenPipeError):
                pass  # the server may close before reading everything it was sent
        return parse_responses(bytes(received))

    def assert_alive(self) -> None:
        assert self.process.poll() is None, f"sidecar died:\n{log_tail(self.log_path)}"
        url = f"http://{LOOPBACK}:{self.admin_port}/healthz"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200

    def log_offset(self) -> int:
        return self.log_path.stat().st_size

    def crashes_logged(self, since: int = 0) -> list[str]:
        """500s in the access log, and unexpected exceptions (aiohttp's own parser errors,
        answered 400 and logged with a traceback by aiohttp, are not crashes)."""
        with self.log_path.open("rb") as log:
            log.seek(since)
            lines = log.read().decode(errors="replace").splitlines()
        crashes = [line for line in lines if '"status": 500' in line]
        in_traceback = False
        for line in lines:
            if line.startswith("Traceback"):
                in_traceback = True
            elif in_traceback and line and not line[0].isspace():
                in_traceback = False
                if not line.startswith("aiohttp.http_exceptions."):
                    crashes.append(line)
        return crashes


def spawn_fuzz_target(provider: Any, workdir: Path, upstream: ThreadedUpstream) -> FuzzTarget:
    """What the `spawn_sidecar` fixture does, at module scope."""
    port, admin_port = free_port(), free_port()
    config = merge(
        base_config(provider, port, admin_port, upstream.url), {"log": {"level": "info"}}
    )
    path = write_config(workdir / "fuzz-sidecar.yaml", config)
    log_path = workdir / "fuzz-sidecar.log"
    process, _ = start_process(
        [sys.executable, "-m", "sidecar", "--config", str(path)],
        log_path=log_path,
        ready=lambda line: '"serving"' in line,
        timeout_s=20,
    )
    return FuzzTarget(port, admin_port, process, log_path, upstream)


def stop_fuzz_target(target: FuzzTarget) -> None:
    stop_process(target.process)
