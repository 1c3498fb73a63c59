"""Raw HTTP/1.1 over a socket: the exact bytes an attacker sends, none normalized by a client.

aiohttp's client (like every client) cleans up paths, folds header names and refuses CR/LF,
which would hide exactly the requests these tests are about. Responses are parsed just enough
to count them and read their status, headers and body (Content-Length or chunked).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

READ_IDLE_S = 5.0  # only ends a read that got stuck; never decides a test


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)


def request_bytes(
    method: str,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    *,
    close: bool = True,
) -> bytes:
    """One request; header names and values go out byte for byte (latin-1)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def exchange(base_url: str, payload: bytes) -> list[RawResponse]:
    """Send `payload` on one connection; every response read until the server closes."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    received = bytearray()
    try:
        writer.write(payload)
        await writer.drain()
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), READ_IDLE_S)
            if not chunk:
                break
            received += chunk
    except (TimeoutError, ConnectionResetError, BrokenPipeError):
        pass  # what arrived so far is the answer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            await writer.wait_closed()
    return parse_responses(bytes(received))


async def send(
    base_url: str,
    method: str,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> RawResponse:
    """One request, one response (the connection is closed after it)."""
    responses = await exchange(base_url, request_bytes(method, target, headers, body))
    assert len(responses) == 1, f"expected one response, got {len(responses)}"
    return responses[0]


def parse_responses(data: bytes) -> list[RawResponse]:
    responses = []
    while data.startswith(b"HTTP/"):
        head, separator, rest = data.partition(b"\r\n\r\n")
        if not separator:
            break
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = [tuple(h.split(":", 1)) for h in header_lines if ":" in h]
        headers = [(k.strip(), v.strip()) for k, v in headers]
        response = RawResponse(int(status_line.split(" ")[1]), headers, b"")  # type: ignore[arg-type]
        response.body, data = _body(response, rest)
        responses.append(response)
    return responses


def _body(response: RawResponse, rest: bytes) -> tuple[bytes, bytes]:
    if (response.header("Transfer-Encoding") or "").lower() == "chunked":
        body = bytearray()
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            body += rest[:size]
            rest = rest[size + 2 :]
            if size == 0:
                return bytes(body), rest.removeprefix(b"\r\n")
    length = response.header("Content-Length")
    if length is None:
        return rest, b""
    return rest[: int(length)], rest[int(length) :]
