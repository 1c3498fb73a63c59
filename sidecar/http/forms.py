"""Reading a bounded request body whole.

The app streams bodies (no `client_max_size` applies to `request.content`), so each form
handler bounds its own. `StreamReader.read(n)` returns as soon as *any* bytes are buffered: a
body split across TCP segments would come back cut off, so the reads loop until the end of the
body or one byte past the bound.
"""

from __future__ import annotations

from aiohttp import web


async def read_bounded_body(request: web.Request, max_bytes: int) -> bytes | None:
    """The whole body, or None when it is longer than `max_bytes` (declared or sent)."""
    if request.content_length is not None and request.content_length > max_bytes:
        return None
    body = bytearray()
    while len(body) <= max_bytes:
        chunk = await request.content.read(max_bytes + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body) if len(body) <= max_bytes else None
