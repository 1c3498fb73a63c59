"""Network helpers shared by every layer: whether a TCP peer is one of a list of networks, and
a bounded read of a whole body (a request's or a provider's answer)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import aiohttp

from sidecar.config.settings import IPNetwork


def is_trusted_peer(peer: str | None, trusted: Sequence[IPNetwork]) -> bool:
    """Whether the TCP peer address is inside one of `trusted_proxies`."""
    if not peer or not trusted:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted)


async def read_bounded(stream: aiohttp.StreamReader, max_bytes: int) -> bytes | None:
    """The whole body, or None when it is longer than `max_bytes`. `StreamReader.read(n)`
    returns as soon as *any* bytes are buffered: a body split across TCP segments (or chunks)
    would come back cut off, so the reads loop until the end or one byte past the bound."""
    body = bytearray()
    while len(body) <= max_bytes:
        chunk = await stream.read(max_bytes + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body) if len(body) <= max_bytes else None
