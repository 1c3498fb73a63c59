"""The session list's bounds, in process (memory store): the 50 newest listed, newest first;
"all others" and the operator's revoke end every one of them, the unlisted included; a
session that idled out is neither listed nor found by its handle."""

from __future__ import annotations

import secrets

from sidecar.config.model import SessionSettings
from sidecar.metrics import Metrics
from sidecar.sessions.cache import SessionCache
from sidecar.sessions.directory import MAX_LISTED, ClientInfo, SessionDirectory
from sidecar.sessions.events import LocalEvents
from sidecar.sessions.memory import MemoryStore
from sidecar.sessions.record import SessionRecord
from sidecar.sessions.ticket import Sealer, Ticket
from sidecar.sessions.vault import SEEN, SessionVault

ISSUER = "https://issuer.example"


def directory_on(store: MemoryStore, now: list[float]) -> tuple[SessionVault, SessionDirectory]:
    events = LocalEvents()
    sealer = Sealer([secrets.token_bytes(32)])
    vault = SessionVault(
        store,
        sealer,
        SessionSettings(secrets=(), cache_s=0),
        Metrics(),
        issuer=ISSUER,
        events=events,
        cache=SessionCache(0, events),
        clock=lambda: now[0],
    )
    return vault, SessionDirectory(vault, sealer, ISSUER)


async def start(vault: SessionVault, directory: SessionDirectory, sub: str, at: float) -> Ticket:
    ticket = Ticket.new()
    record = SessionRecord.new(int(at), "id", "access", None, {"sub": sub, "exp": 1e12})
    await vault.start(ticket, record)
    await directory.record(ticket, record, ClientInfo(f"device {int(at)}", "192.0.2.1"))
    return ticket


async def test_the_50_newest_are_listed_and_all_end_with_all_others() -> None:
    store, now = MemoryStore(), [1_000_000.0]
    vault, directory = directory_on(store, now)
    tickets = []
    for n in range(MAX_LISTED + 3):
        now[0] = 1_000_000.0 + n * 60
        tickets.append(await start(vault, directory, "alice", now[0]))
    bob = await start(vault, directory, "bob", now[0])
    listed = await directory.list("alice", current_tag=tickets[-1].tag)
    assert len(listed) == MAX_LISTED
    assert [entry.device for entry in listed[:2]] == [
        f"device {int(now[0])}",
        f"device {int(now[0]) - 60}",
    ]
    assert listed[0].current
    assert listed[-1].device == f"device {1_000_000 + 3 * 60}"  # the 3 oldest are not shown
    # The oldest, unlisted, still ends by its handle and with "all others".
    assert await directory.find("alice", directory._sealer.handles(tickets[0].tag)[0])
    assert await directory.end_all("alice", keep_tag=tickets[-1].tag) == MAX_LISTED + 2
    assert [entry.current for entry in await directory.list("alice", tickets[-1].tag)] == [True]
    assert await vault.exists(bob.tag)
    assert await vault.exists(tickets[-1].tag)
    assert not any([await vault.exists(t.tag) for t in tickets[:-1]])


async def test_an_idled_out_session_is_neither_listed_nor_found() -> None:
    store, now = MemoryStore(), [2_000_000.0]
    vault, directory = directory_on(store, now)
    gone = await start(vault, directory, "alice", now[0])
    kept = await start(vault, directory, "alice", now[0] + 1)
    await store.clear(gone.store_key(SEEN))  # what the idle lifetime does
    listed = await directory.list("alice")
    assert [entry.device for entry in listed] == [f"device {int(now[0]) + 1}"]
    assert await directory.find("alice", directory._sealer.handles(gone.tag)[0]) is None
    assert await directory.find("alice", listed[0].handle) == kept.tag
    assert await directory.find("bob", listed[0].handle) is None
    assert await directory.end_all("alice") == 1  # the live one: an idled-out one is no count
    assert not await vault.exists(kept.tag)
