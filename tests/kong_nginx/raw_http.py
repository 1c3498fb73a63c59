"""A request written line by line on a socket: the exact header lines a test means to send
(aiohttp adds its own and merges names), and the status line and headers of the answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawResponse:
    status: int
    text: str  # the status line, headers and body


async def raw_request(url: str, lines: list[tuple[str, str]], path: str = "/app/x") -> RawResponse:
    """GET `path` with Host, Connection and exactly `lines`."""
    parts = urlsplit(url)
    assert parts.hostname
    assert parts.port
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        head = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in lines]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 30)
        rest = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    text = (status_line + rest).decode("latin-1")
    return RawResponse(int(status_line.split()[1]), text)
