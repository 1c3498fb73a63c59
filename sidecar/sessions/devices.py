"""What the session list says about where a login came from: a short device description from
the `User-Agent`, and the client address as the trusted proxies report it.

Only the description is kept, never the raw `User-Agent` (a free-form string the client
chooses, and a fingerprint): a browser family and a platform from short fixed lists.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from sidecar.config.settings import IPNetwork
from sidecar.net import is_trusted_peer

# Checked in order: Edge and Opera say "Chrome" too, Chrome says "Safari", Android "Linux".
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-requests/", "Python requests"),
    ("aiohttp/", "Python aiohttp"),
)
_PLATFORMS = (
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)
UNKNOWN_DEVICE = "Unknown device"


def describe_device(user_agent: str | None) -> str:
    """`Chrome on Linux`, `Firefox on Windows`, `curl`, ... or `Unknown device`."""
    if not user_agent:
        return UNKNOWN_DEVICE
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    platform = next((name for marker, name in _PLATFORMS if marker in user_agent), None)
    if browser and platform:
        return f"{browser} on {platform}"
    return browser or platform or UNKNOWN_DEVICE


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> str:
    """The client's address: from a trusted peer, the last `X-Forwarded-For` hop that is not
    itself a trusted proxy (the ones before it are the client's to write); else the peer."""
    if not is_trusted_peer(peer, trusted):
        return peer or ""
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_address(hop):
            return peer or ""  # garbage: believe nothing before it
        if not is_trusted_peer(hop, trusted):
            return hop
    return hops[0] if hops else peer or ""  # all of them proxies: the first one asked


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
