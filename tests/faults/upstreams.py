"""Upstreams that fail on demand: one that can be stopped and started again on the same port,
and one that accepts connections and never answers."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from tests.fixtures.ports import LOOPBACK, free_port
from tests.fixtures.upstream import echo_app


class StoppableUpstream:
    """The echo upstream on a fixed port; `stop()` closes the listener and every connection."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(echo_app(self.requests), shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, LOOPBACK, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class HangingUpstream:
    """Accepts TCP connections, reads whatever comes, never answers. `open_connections` is how
    many connections the sidecar still holds to it."""

    def __init__(self) -> None:
        self.url = ""
        self.accepted = 0
        self.open_connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._swallow, LOOPBACK, 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{LOOPBACK}:{port}"

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open_connections += 1
        self._writers.add(writer)
        try:
            while await reader.read(65536):  # until the peer closes
                pass
        except ConnectionError:
            pass
        finally:
            self.open_connections -= 1
            self._writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()  # the handlers see the connection end and return
            await self._server.wait_closed()
            await asyncio.sleep(0)
