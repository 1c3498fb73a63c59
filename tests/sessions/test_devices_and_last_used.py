"""The session list's pieces that need no server: the device description, the client address
as the trusted proxies report it, and "last used" (`seen`) written only when the minute
changes, so that the hot path pays at most one store write a minute per session."""

from __future__ import annotations

import ipaddress
import secrets

import pytest

from sidecar.config.model import SessionSettings
from sidecar.metrics import Metrics
from sidecar.sessions.cache import SessionCache
from sidecar.sessions.devices import client_address, describe_device
from sidecar.sessions.events import LocalEvents
from sidecar.sessions.memory import MemoryStore
from sidecar.sessions.record import SessionRecord
from sidecar.sessions.ticket import Sealer, Ticket
from sidecar.sessions.vault import SEEN, SessionVault


@pytest.mark.parametrize(
    ("agent", "device"),
    [
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
         "Chrome on Linux"),
        ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 "
         "Edg/131.0", "Edge on Windows"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile Safari/604",
         "Safari on iOS"),
        ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131 Mobile Safari/537.36",
         "Chrome on Android"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:133.0) Gecko Firefox/133.0",
         "Firefox on macOS"),
        ("curl/8.5.0", "curl"),
        ("", "Unknown device"),
        (None, "Unknown device"),
        ("<script>", "Unknown device"),
    ],
)  # fmt: skip
def test_device_descriptions(agent: str | None, device: str) -> None:
    assert describe_device(agent) == device


KONG = [ipaddress.ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "address"),
    [
        ("10.0.0.5", ["203.0.113.7"], "203.0.113.7"),  # Kong says who asked
        ("10.0.0.5", ["198.51.100.1, 203.0.113.7"], "203.0.113.7"),  # the first is the client's
        ("10.0.0.5", ["203.0.113.7, 10.0.0.9"], "203.0.113.7"),  # past our own proxies
        ("10.0.0.5", ["nonsense, 10.0.0.9"], "10.0.0.5"),  # garbage: believe nothing before it
        ("10.0.0.5", [], "10.0.0.5"),
        ("10.0.0.5", ["10.0.0.7"], "10.0.0.7"),  # only proxies: the first one asked
        ("192.0.2.9", ["203.0.113.7"], "192.0.2.9"),  # not a trusted peer: its header is a lie
    ],
)
def test_client_address(peer: str, forwarded: list[str], address: str) -> None:
    assert client_address(peer, forwarded, KONG) == address


async def test_last_used_is_written_when_the_minute_changes_only() -> None:
    now = [60_000.0 + 10]  # 10 s into a minute
    store, events = MemoryStore(), LocalEvents()
    vault = SessionVault(
        store,
        Sealer([secrets.token_bytes(32)]),
        SessionSettings(secrets=(), cache_s=0),
        Metrics(),
        issuer="https://issuer.example",
        events=events,
        cache=SessionCache(0, events),
        clock=lambda: now[0],
    )
    ticket = Ticket.new()
    record = SessionRecord.new(int(now[0]), "id", "access", "refresh", {"sub": "s", "exp": 1e12})
    await vault.start(ticket, record)
    writes: list[bytes] = []
    original = store.save

    async def counting(key: str, value: bytes, ttl_s: float) -> None:
        if key == ticket.store_key(SEEN):
            writes.append(value)
        await original(key, value, ttl_s)

    store.save = counting  # type: ignore[method-assign]
    for step in (1, 10, 20, 39):  # within the same minute: no write
        now[0] = 60_010 + step
        assert await vault.load(ticket) is not None
    assert writes == []
    now[0] = 60_060.5  # the next minute
    assert await vault.load(ticket) is not None
    now[0] = 60_070
    assert await vault.load(ticket) is not None
    assert writes == [b"60060"]
