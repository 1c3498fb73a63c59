"""Redis topologies under faults, and the store factory's URL handling.

The fault tests keep one store object across the fault: recovery must come from the client
itself (Sentinel rediscovery, Cluster slot-map reload), never from building a new store.
"""

from __future__ import annotations

import asyncio
import secrets

import pytest

from sidecar.config.settings import SessionSettings
from sidecar.errors import StoreUnavailable
from sidecar.sessions.factory import build_store
from sidecar.sessions.memory import MemoryStore
from sidecar.sessions.redis import RedisStore
from sidecar.sessions.redis_connect import (
    MASTER_CHECK_INTERVAL_S,
    SentinelTarget,
    connect,
    parse_sentinel_url,
)
from sidecar.sessions.store import SessionStore
from tests.fixtures.redis_servers import own_topology
from tests.fixtures.redis_topologies import RedisCluster, SentinelSet
from tests.sessions.test_store_suite import new_key, redis_store

# The fault tests fail over or kill a node: each gets a topology of its own.
redis_sentinel = own_topology("redis_sentinel")
redis_cluster = own_topology("redis_cluster")


class Traffic:
    """A stream of save-then-load round trips on fresh keys, counting what worked."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.ok = 0
        self.unavailable = 0
        self.written: dict[str, bytes] = {}  # acknowledged writes that read back
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            key, value = new_key(), secrets.token_bytes(16)
            try:
                await self.store.save(key, value, 300)
                assert await self.store.load(key) == value
            except StoreUnavailable:
                self.unavailable += 1
                await asyncio.sleep(0.05)  # an outage: do not spin
                continue
            self.ok += 1
            self.written[key] = value
            await asyncio.sleep(0.01)

    async def until_ok(self, count: int, timeout_s: float = 20.0) -> None:
        """Wait until `count` more round trips have succeeded."""
        target = self.ok + count
        async with asyncio.timeout(timeout_s):
            while self.ok < target:
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()


async def first_success(store: SessionStore, key: str, attempts: int = 10) -> bytes | None:
    """Load `key`, allowing the client a few calls to notice the new topology."""
    for attempt in range(attempts):
        try:
            return await store.load(key)
        except StoreUnavailable:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


@pytest.mark.slow
async def test_sentinel_failover_during_traffic(redis_sentinel: SentinelSet) -> None:
    store = redis_store(redis_sentinel.url, cluster=False, timeout_s=2.0)
    before = {new_key(): secrets.token_bytes(32) for _ in range(50)}
    traffic = Traffic(store)
    runner = asyncio.create_task(traffic.run())
    try:
        for key, value in before.items():
            await store.save(key, value, 300)
        await asyncio.to_thread(redis_sentinel.wait_replicated)
        old_master = redis_sentinel.master()
        await traffic.until_ok(10)

        new_master = await asyncio.to_thread(redis_sentinel.failover)

        assert new_master.port != old_master.port
        # The store re-asks Sentinel at most MASTER_CHECK_INTERVAL_S apart: writes after
        # that must reach the new master, not the old one that still answers as a master.
        await asyncio.sleep(MASTER_CHECK_INTERVAL_S + 0.5)
        written_before_switch = set(traffic.written)
        await traffic.until_ok(20)  # the same store carries on
        after_switch = {k: v for k, v in traffic.written.items() if k not in written_before_switch}
        await asyncio.to_thread(redis_sentinel.wait_converted, old_master)
        for key, value in before.items():
            assert await store.load(key) == value  # the replica had them
        for key, value in after_switch.items():
            assert await store.load(key) == value  # not lost with the old master's data
            assert new_master.command("EXISTS", key) == 1
    finally:
        traffic.stop()
        await runner
        await store.close()


@pytest.mark.slow
async def test_cluster_master_killed_during_traffic(redis_cluster: RedisCluster) -> None:
    store = redis_store(redis_cluster.url, cluster=True, timeout_s=1.0)
    before = {new_key(): secrets.token_bytes(32) for _ in range(60)}
    traffic = Traffic(store)
    runner = asyncio.create_task(traffic.run())
    victim_key = next(iter(before))
    victim = redis_cluster.master_for_key(victim_key)
    try:
        for key, value in before.items():
            await store.save(key, value, 300)
        await asyncio.to_thread(redis_cluster.wait_replicated)
        await traffic.until_ok(10)

        victim.kill()
        await asyncio.to_thread(redis_cluster.wait_promoted, victim)

        assert await first_success(store, victim_key) == before[victim_key]
        promoted = redis_cluster.master_for_key(victim_key)
        assert promoted.port != victim.port
        assert promoted.alive
        for key, value in before.items():
            assert await store.load(key) == value  # the replicas had them
        await traffic.until_ok(20)
    finally:
        traffic.stop()
        await runner
        await store.close()


# ---- the factory and URLs --------------------------------------------------------------------


def settings(url: str | None, cluster: bool = False) -> SessionSettings:
    return SessionSettings(secrets=(b"s" * 32,), redis_url=url, redis_cluster=cluster)


async def test_no_redis_url_gives_the_memory_store() -> None:
    store = build_store(settings(None))
    assert isinstance(store, MemoryStore)
    await store.close()


@pytest.mark.parametrize(
    ("url", "cluster"),
    [
        ("redis://127.0.0.1:1/0", False),
        ("rediss://127.0.0.1:1/0", False),
        ("redis://127.0.0.1:1", True),
        ("redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster/1", False),
    ],
)
async def test_redis_urls_give_the_redis_store_without_io(url: str, cluster: bool) -> None:
    store = build_store(settings(url, cluster))
    assert isinstance(store, RedisStore)
    await store.close()


def test_sentinel_url_parts() -> None:
    target = parse_sentinel_url("redis+sentinel://:p%40ss@10.0.0.1:26380,[::1]:26381,s3/cache/2")
    assert target == SentinelTarget(
        sentinels=(("10.0.0.1", 26380), ("::1", 26381), ("s3", 26379)),
        service_name="cache",
        db=2,
        username=None,
        password="p@ss",
    )
    assert parse_sentinel_url("redis+sentinel://h:1/svc").db == 0


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://h:1/",  # no service name
        "redis+sentinel://h:1/svc/zero",  # db not a number
        "redis+sentinel://h:99999/svc",  # port out of range
        "redis+sentinel:///svc",  # no sentinel
        "redis+sentinel://h:1/svc/0/extra",
    ],
)
def test_bad_sentinel_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="Sentinel"):
        parse_sentinel_url(url)


def test_unsupported_scheme_and_sentinel_cluster_mix_are_refused() -> None:
    with pytest.raises(ValueError, match="scheme"):
        connect("memcached://h:1", cluster=False, timeout_s=1, max_connections=1)
    with pytest.raises(ValueError, match="Sentinel"):
        connect("redis+sentinel://h:1/svc", cluster=True, timeout_s=1, max_connections=1)
