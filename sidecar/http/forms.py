"""Reading a bounded request body whole.

The app streams bodies (no `client_max_size` applies to `request.content`), so each form
handler bounds its own (the read loop is `sidecar.net.read_bounded`).
"""

from __future__ import annotations

from aiohttp import web

from sidecar.net import read_bounded


async def read_bounded_body(request: web.Request, max_bytes: int) -> bytes | None:
    """The whole body, or None when it is longer than `max_bytes` (declared or sent)."""
    if request.content_length is not None and request.content_length > max_bytes:
        return None
    return await read_bounded(request.content, max_bytes)
