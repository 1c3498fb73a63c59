"""The session signal over a change of Redis topology: the subscriptions follow a Sentinel
failover to the new master, and move to another Cluster node when theirs dies. Real Sentinel
set, real Cluster; the sidecars as in `test_signal.py`."""

from __future__ import annotations

import asyncio

import pytest

from sidecar.sessions.events import CHANNEL
from tests.fixtures.redis_process import RedisProcesses, RedisServer
from tests.fixtures.redis_topologies import SentinelSet, start_sentinel_set
from tests.sessions.signout import RelayedSocket
from tests.sessions.test_login_flow import browser, login
from tests.sessions.test_signal import closes_after, logout, replicas, wait_subscribed

__all__ = ["replicas"]  # the fixture, imported for this module


@pytest.fixture(scope="module")
def redis_sentinel(
    redis_processes: RedisProcesses, tmp_path_factory: pytest.TempPathFactory
) -> SentinelSet:
    """A Sentinel set of this module's own: its planned failovers start from a fresh set, not
    from one that earlier tests' failovers and 32 MiB writes left still resyncing."""
    return start_sentinel_set(redis_processes, tmp_path_factory.mktemp("redis-sentinel-topology"))


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
    try:
        victim.kill()
        if was_master:
            await asyncio.to_thread(redis_cluster.wait_promoted, victim)
        await wait_subscribed([a, b])
        async with browser() as http:
            done = await login(http, a.url, fresh_provider)
        socket = await RelayedSocket.open(b.url, done.cookie)
        try:
            code, took = await closes_after(socket, lambda: logout(a.url, done.cookie))
        finally:
            await socket.close()
    finally:
        if not victim.alive:
            await asyncio.to_thread(victim.start)
            await asyncio.to_thread(redis_cluster.wait_healthy)
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
    old_master = redis_sentinel.master()
    try:
        await asyncio.to_thread(redis_sentinel.failover)
        code, took = await closes_after(socket, lambda: logout(a.url, done.cookie))
    finally:
        await socket.close()
        await asyncio.to_thread(redis_sentinel.wait_converted, old_master)
    print(f"\n[sentinel, logout at once after a failover] websocket closed {code} after "
          f"{took * 1000:.1f} ms")  # fmt: skip
    assert code == 1008
