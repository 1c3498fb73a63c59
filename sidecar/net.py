"""Network helpers shared by every layer: whether a TCP peer is one of a list of networks."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

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
