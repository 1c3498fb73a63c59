"""Hand-written HTTP/1.1 over a raw socket: exact header bytes, duplicates and underscores
included, which an HTTP client library may merge, reorder or refuse."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from multidict import CIMultiDict


@dataclass
class RawResponse:
    status: int
    headers: CIMultiDict[str]


async def raw_request(
    url: str, headers: list[tuple[str, str]], *, method: str = "GET"
) -> RawResponse:
    """Send one request with exactly `headers` (plus Host and Connection: close); read the
    status line and headers of the answer. The body is left unread: what reached the
    upstream is read from the echo upstream's record instead."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response_headers: CIMultiDict[str] = CIMultiDict()
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            response_headers.add(name.strip(), value.strip())
    return RawResponse(int(status_line.split(" ")[1]), response_headers)
