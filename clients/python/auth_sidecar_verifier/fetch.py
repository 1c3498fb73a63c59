"""Fetching the JWKS document: synchronously with the standard library (no extra dependency
for WSGI users), asynchronously with aiohttp (imported only when the async API is used).

Both return the parsed JSON and the `Cache-Control` header, or raise `FetchError`. A body over
`MAX_BODY_BYTES` is refused: a JWKS of a few keys is a few KiB.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_BODY_BYTES = 256 * 1024


class FetchError(Exception):
    """The JWKS could not be fetched or is not JSON."""


@dataclass(frozen=True, slots=True)
class Fetched:
    document: Any
    cache_control: str | None


def check_jwks_url(url: str) -> str:
    """Only http(s): urllib would happily open `file://` or `ftp://` URLs."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"jwks_url must be an http(s) URL, not {url!r}")
    return url


def parse_body(body: bytes) -> Any:
    if len(body) > MAX_BODY_BYTES:
        raise FetchError(f"JWKS larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FetchError("JWKS is not JSON") from exc


def fetch_sync(url: str, timeout_s: float) -> Fetched:
    # The scheme was checked by check_jwks_url at construction (S310).
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            if response.status != 200:
                raise FetchError(f"JWKS answered {response.status}")
            body = response.read(MAX_BODY_BYTES + 1)
            cache_control = response.headers.get("Cache-Control")
    except urllib.error.HTTPError as exc:
        raise FetchError(f"JWKS answered {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:  # refused, DNS, timeout (TimeoutError)
        raise FetchError(f"JWKS unreachable: {exc}") from exc
    return Fetched(parse_body(body), cache_control)


async def fetch_async(url: str, timeout_s: float) -> Fetched:
    import aiohttp  # the optional extra `auth-sidecar-verifier[aiohttp]`

    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(url, headers={"Accept": "application/json"}) as resp,
        ):
            if resp.status != 200:
                raise FetchError(f"JWKS answered {resp.status}")
            body = bytearray()
            async for chunk in resp.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    break
            return Fetched(parse_body(bytes(body)), resp.headers.get("Cache-Control"))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise FetchError(f"JWKS unreachable: {exc!r}") from exc
