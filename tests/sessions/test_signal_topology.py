"""The session signal over a change of Redis topology: the subscriptions follow a Sentinel
failover to the new master, and move to another Cluster node when theirs dies. Real Sentinel
set, real Cluster; the sidecars as in `test_signal.py`."""

from __future__ import annotations

import asyncio
import contextlib

from sidecar.sessions import redis_connect
from sidecar.sessions.events import CHANNEL, SessionEvent
from sidecar.sessions.factory import build_events
from tests.auth.test_login_flow import browser, login
from tests.fixtures.redis_process import RedisServer
from tests.fixtures.redis_servers import own_topology
from tests.fixtures.store_recovery import wait_until_logins_start
from tests.sessions.signout import RelayedSocket
from tests.sessions.test_signal import closes_after, logout, replicas, wait_subscribed
from tests.sessions.test_store_suite import new_key, redis_store

__all__ = ["replicas"]  # the fixture, imported for this module


# Every test here fails over or kills a node: each gets a Sentinel set and a Cluster of its own.
redis_sentinel = own_topology("redis_sentinel")
redis_cluster = own_topology("redis_cluster")


def subscribed_nodes(servers: list[RedisServer]) -> list[RedisServer]:
    """The data nodes holding a subscription to the session signal right now."""
    found = []
    for server in servers:
        if server.alive and server.command("PUBSUB", "NUMSUB", CHANNEL)[1] > 0:
            found.append(server)
    return found


async def test_the_signal_follows_a_sentinel_failover(fresh_provider, replicas, redis_sentinel):
    """After SENTINEL FAILOVER the subscriptions move to the new master, and a logout on A
    still closes the websocket on B."""
    a, b = await replicas(2, "sentinel")
    old_master = redis_sentinel.master()
    assert old_master in subscribed_nodes(redis_sentinel.data_nodes)
    await asyncio.to_thread(redis_sentinel.failover)
    new_master = redis_sentinel.master()
    await asyncio.to_thread(redis_sentinel.wait_converted, old_master)

    async def moved() -> bool:
        return subscribed_nodes(redis_sentinel.data_nodes) == [new_master]

    async with asyncio.timeout(10):
        while not await moved():  # the master check runs once a second
            await asyncio.sleep(0.1)
    await wait_subscribed([a, b])
    async with browser() as http:
        done = await login(http, a.url, fresh_provider)
    socket = await RelayedSocket.open(b.url, done.cookie)
    try:
        code, took = await closes_after(socket, lambda: logout(a.url, done.cookie))
    finally:
        await socket.close()
    print(f"\n[sentinel, after a failover] websocket closed {code} after {took * 1000:.1f} ms")
    assert code == 1008


async def test_the_signal_survives_losing_its_cluster_node(fresh_provider, replicas, redis_cluster):
    """Kill the node B's subscription is on: B subscribes on another node (a plain PUBLISH
    reaches every node), and a logout on A still closes B's websocket."""
    a, b = await replicas(2, "cluster")
    holders = subscribed_nodes(redis_cluster.nodes)
    assert holders
    victim = holders[0]
    was_master = victim in redis_cluster.masters()
    victim.kill()
    if was_master:
        await asyncio.to_thread(redis_cluster.wait_promoted, victim)
    await wait_subscribed([a, b])
    await wait_until_logins_start(a.url)  # A's store may still be re-learning the slot map
    async with browser() as http:
        done = await login(http, a.url, fresh_provider)
    socket = await RelayedSocket.open(b.url, done.cookie)
    try:
        code, took = await closes_after(socket, lambda: logout(a.url, done.cookie))
    finally:
        await socket.close()
    print(f"\n[cluster, subscription node killed] websocket closed {code} after "
          f"{took * 1000:.1f} ms")  # fmt: skip
    assert code == 1008


async def test_a_logout_at_once_after_a_sentinel_failover_still_closes_the_websocket(
    fresh_provider, replicas, redis_sentinel
):
    """The logout lands before either replica noticed the failover: A publishes on the new
    master (it re-asks Sentinel first), B may still listen on the old one; B's move to the new
    master re-checks its websockets, so the close comes at the latest then."""
    a, b = await replicas(2, "sentinel")
    async with browser() as http:
        done = await login(http, a.url, fresh_provider)
    await asyncio.to_thread(redis_sentinel.wait_replicated)
    socket = await RelayedSocket.open(b.url, done.cookie)
    try:
        await asyncio.to_thread(redis_sentinel.failover)
        code, took = await closes_after(socket, lambda: logout(a.url, done.cookie))
    finally:
        await socket.close()
    print(f"\n[sentinel, logout at once after a failover] websocket closed {code} after "
          f"{took * 1000:.1f} ms")  # fmt: skip
    assert code == 1008


class ReadsOnUp:
    """A listener that, each time the signal comes up, reads `key` from the store at once, as
    the websocket catch-up and the memory cache do."""

    def __init__(self, store, key: str) -> None:
        self.store, self.key = store, key
        self.reads: list[asyncio.Task[bytes | None]] = []

    def session_event(self, event: SessionEvent) -> None:
        pass

    def signal_state(self, up: bool) -> None:
        if up:
            self.reads.append(asyncio.get_running_loop().create_task(self.store.load(self.key)))

    async def read_number(self, n: int, timeout_s: float = 15.0) -> bytes | None:
        async with asyncio.timeout(timeout_s):
            while len(self.reads) < n:
                await asyncio.sleep(0.05)
        return await self.reads[n - 1]


async def test_after_following_a_failover_the_first_reads_come_from_the_new_master(
    redis_sentinel, monkeypatch
):
    """The subscription moves to the new master while the old one still answers as a master
    (Sentinel converts it up to ~10 s later) with what the new one has deleted since. The
    reads listeners make as the signal comes back must already see the new master; a stale
    one there is made once and kept (a logged-out websocket left open, a session cached).
    The periodic master check is kept from coming due (a fake clock for Sentinel's sake), so
    only the re-ask on the way up can move the store's connections."""
    monkeypatch.setattr(redis_connect, "MASTER_CHECK_INTERVAL_S", 3600.0)
    store = redis_store(redis_sentinel.url, cluster=False, timeout_s=2.0)
    key = new_key()
    events = build_events(store, timeout_s=2.0, on_publish_error=lambda: None)
    reads = ReadsOnUp(store, key)
    events.listen(reads)
    runner = asyncio.create_task(events.run())
    old_master = redis_sentinel.master()
    try:
        await store.save(key, b"before", 300)
        await asyncio.to_thread(redis_sentinel.wait_replicated)
        assert await reads.read_number(1) == b"before"
        new_master = await asyncio.to_thread(redis_sentinel.failover)
        new_master.command("DEL", key)  # a logout on another replica, after the switch
        after = await reads.read_number(2)  # the subscription followed the master
        old_still_had_it = old_master.command("EXISTS", key) == 1
        assert after is None, f"a stale read (old master still had the key: {old_still_had_it})"
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await store.close()
