"""The websocket registry remembers sessions that just ended (issue 16 item 3).

A request that opens a websocket is authenticated (a store read, maybe a token refresh) before
its watch starts. A logout in between delivers its "ended" event while nobody watches that
session yet: the watch that starts afterwards must be set at once, or the socket relays for
good. The registry runs on the real in-process signal (`LocalEvents`, the memory store's).
"""

from __future__ import annotations

import pytest

from sidecar.sessions import sockets
from sidecar.sessions.events import LocalEvents, SessionEvent
from sidecar.sessions.sockets import SocketRegistry
from sidecar.sessions.ticket import session_id_for_tag


async def _always_alive(tag: str) -> bool:
    return True


def registry() -> tuple[SocketRegistry, LocalEvents]:
    events = LocalEvents()
    return SocketRegistry(events, session_id_for_tag, _always_alive), events


async def test_a_watch_started_after_its_session_ended_is_set_at_once() -> None:
    registry_, events = registry()
    await events.publish(SessionEvent("ended", session_id_for_tag("tag-a")))
    with registry_.watch("tag-a") as ended, registry_.watch("tag-b") as other:
        assert ended.is_set()
        assert not other.is_set()


async def test_a_watch_started_before_the_end_is_set_by_the_event() -> None:
    registry_, events = registry()
    with registry_.watch("tag-a") as ended:
        assert not ended.is_set()
        await events.publish(SessionEvent("changed", session_id_for_tag("tag-a")))
        assert not ended.is_set()
        await events.publish(SessionEvent("ended", session_id_for_tag("tag-a")))
        assert ended.is_set()
    assert len(registry_) == 0


async def test_the_memory_forgets_after_its_window_and_beyond_its_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(sockets.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(sockets, "ENDED_MEMORY_MAX", 3)
    registry_, events = registry()
    for name in ("t1", "t2", "t3", "t4"):
        await events.publish(SessionEvent("ended", session_id_for_tag(name)))
    with registry_.watch("t1") as first, registry_.watch("t4") as last:
        assert not first.is_set()  # the oldest of four, beyond the size
        assert last.is_set()
    now[0] += sockets.ENDED_MEMORY_S + 1
    with registry_.watch("t4") as later:
        assert not later.is_set()
