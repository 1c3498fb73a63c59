"""One suite for every session store (the shape of oauth2-proxy's session_store_tests.go).

The `store_case` fixture runs each test against the memory store and against real Redis:
standalone, TLS, Cluster and Sentinel. Time moves by an injected clock for the memory store
and by short real TTLs (about a second) for Redis.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
from redis.exceptions import RedisClusterException, RedisError

from sidecar.config.settings import SessionSettings
from sidecar.errors import StoreUnavailable
from sidecar.sessions.factory import build_store
from sidecar.sessions.memory import MemoryStore
from sidecar.sessions.store import SessionStore
from tests.fixtures.redis_process import RedisServer

REDIS_KINDS = ["standalone", "tls", "cluster", "sentinel"]
# Generous: 20 concurrent TLS handshakes on 2 busy cores took over a second once, and over 3 s
# (the connect alone) with a second xdist worker on a box loaded 6-fold. The outage tests set
# their own short timeout.
STORE_TIMEOUT_S = 10.0
HANG_GUARD_S = 30.0  # far above the store timeout: only a hang trips it


def new_key(kind: str = "session") -> str:
    """A fresh hash-tagged key, as the session manager derives them."""
    return f"sidecar:{{{secrets.token_hex(8)}}}:{kind}"


def redis_store(url: str, cluster: bool, timeout_s: float = STORE_TIMEOUT_S) -> SessionStore:
    settings = SessionSettings(
        secrets=(b"x" * 32,), redis_url=url, redis_cluster=cluster, store_timeout_s=timeout_s
    )
    return build_store(settings)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class RedisTarget:
    kind: str
    url: str
    cluster: bool
    server_for: Callable[[str], RedisServer]  # the server that holds a key (its master)
    url_at: Callable[[int], str]  # the same kind of URL on another port


def make_target(request: pytest.FixtureRequest, kind: str, own: bool = False) -> RedisTarget:
    """The shared server or topology of `kind`; with `own`, one of the test's own (for a test
    that pauses a node)."""
    prefix = "own_" if own else ""
    if kind in ("standalone", "tls"):
        server = request.getfixturevalue(f"{prefix}redis_{kind}")
        return RedisTarget(
            kind,
            server.url,
            False,
            lambda _key: server,
            lambda port: server.url.replace(f":{server.port}/", f":{port}/"),
        )
    if kind == "cluster":
        cluster = request.getfixturevalue(f"{prefix}redis_cluster")
        return RedisTarget(
            kind, cluster.url, True, cluster.master_for_key, lambda p: f"redis://127.0.0.1:{p}"
        )
    sentinel = request.getfixturevalue(f"{prefix}redis_sentinel")
    return RedisTarget(
        kind,
        sentinel.url,
        False,
        lambda _key: sentinel.master(),
        lambda port: f"redis+sentinel://127.0.0.1:{port}/{sentinel.service_name}/0",
    )


@dataclass
class StoreCase:
    kind: str
    store: SessionStore
    advance: Callable[[float], Awaitable[None]]  # let time pass for the store
    target: RedisTarget | None = None


@pytest.fixture(params=["memory", *REDIS_KINDS])
async def store_case(request: pytest.FixtureRequest) -> AsyncIterator[StoreCase]:
    if request.param == "memory":
        clock = FakeClock()

        async def advance_clock(seconds: float) -> None:
            clock.now += seconds

        store: SessionStore = MemoryStore(max_entries=10_000, clock=clock)
        case = StoreCase("memory", store, advance_clock)
    else:
        target = make_target(request, request.param)
        store = redis_store(target.url, target.cluster)
        case = StoreCase(target.kind, store, asyncio.sleep, target)
    try:
        yield case
    finally:
        await case.store.close()


@pytest.fixture(params=REDIS_KINDS)
def redis_target(request: pytest.FixtureRequest) -> RedisTarget:
    return make_target(request, request.param)


@pytest.fixture(params=REDIS_KINDS)
def own_redis_target(request: pytest.FixtureRequest) -> RedisTarget:
    """Like `redis_target`, on servers of the test's own: for tests that pause one."""
    return make_target(request, request.param, own=True)


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port bound but not listening: connecting is refused at once."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


# ---- values ----------------------------------------------------------------------------------


async def test_store_implements_the_protocol(store_case: StoreCase) -> None:
    assert isinstance(store_case.store, SessionStore)


async def test_binary_values_round_trip(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key()
    value = bytes(range(256)) * 64 + b"\x00\r\n"  # every byte, NUL, CRLF, 16 KiB
    await store.save(key, value, 60)
    assert await store.load(key) == value
    await store.save(key, b"", 60)
    assert await store.load(key) == b""


async def test_missing_key_loads_none(store_case: StoreCase) -> None:
    assert await store_case.store.load(new_key()) is None
    assert await store_case.store.take(new_key()) is None


async def test_load_many_reads_a_sessions_keys_in_order(store_case: StoreCase) -> None:
    store, tag = store_case.store, secrets.token_hex(8)
    session, seen, absent = (f"sidecar:{{{tag}}}:{kind}" for kind in ("session", "seen", "x"))
    await store.save(session, b"sealed\x00", 60)
    await store.save(seen, b"1700000000", 60)
    assert await store.load_many([session, absent, seen]) == [b"sealed\x00", None, b"1700000000"]
    await store.save(seen, b"short", 1)
    await store_case.advance(1.3)
    assert await store.load_many([session, seen]) == [b"sealed\x00", None]


async def test_overwrite_replaces_value_and_ttl(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key()
    await store.save(key, b"first", 1)
    await store.save(key, b"second", 60)
    assert await store.load(key) == b"second"
    await store_case.advance(1.3)
    assert await store.load(key) == b"second"


async def test_value_expires_after_its_ttl(store_case: StoreCase) -> None:
    store, key, other = store_case.store, new_key(), new_key()
    await store.save(key, b"short", 1)
    await store.save(other, b"long", 60)
    assert await store.load(key) == b"short"
    await store_case.advance(1.3)
    assert await store.load(key) is None
    assert await store.take(key) is None
    assert await store.load(other) == b"long"


async def test_clear_deletes_and_tolerates_absent_keys(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key()
    await store.save(key, b"v", 60)
    await store.clear(key)
    assert await store.load(key) is None
    await store.clear(key)
    await store.clear(new_key())


async def test_take_returns_the_value_once(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key("login")
    await store.save(key, b"state", 60)
    assert await store.take(key) == b"state"
    assert await store.take(key) is None
    assert await store.load(key) is None


async def test_concurrent_takes_exactly_one_wins(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key("login")
    await store.save(key, b"state", 60)
    results = await asyncio.gather(*(store.take(key) for _ in range(20)))
    assert results.count(b"state") == 1
    assert results.count(None) == 19


async def test_many_hash_tags_spread_and_round_trip(store_case: StoreCase) -> None:
    store = store_case.store
    keys = [new_key() for _ in range(120)]
    await asyncio.gather(*(store.save(k, k.encode(), 60) for k in keys))
    loaded = await asyncio.gather(*(store.load(k) for k in keys))
    assert loaded == [k.encode() for k in keys]
    if store_case.target is not None and store_case.target.cluster:
        owners = {k: store_case.target.server_for(k) for k in keys}
        assert len({server.port for server in owners.values()}) == 3  # every master got keys
        assert all(server.command("EXISTS", k) == 1 for k, server in owners.items())


async def test_ping_answers(store_case: StoreCase) -> None:
    await store_case.store.ping()


# ---- locks -----------------------------------------------------------------------------------


async def test_lock_is_exclusive(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key("lock")
    assert await store.acquire_lock(key, "replica-a", 30)
    assert not await store.acquire_lock(key, "replica-b", 30)


async def test_concurrent_acquires_exactly_one_wins(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key("lock")
    won = await asyncio.gather(*(store.acquire_lock(key, f"owner-{i}", 30) for i in range(20)))
    assert won.count(True) == 1


async def test_only_the_owner_releases(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key("lock")
    assert await store.acquire_lock(key, "owner", 30)
    await store.release_lock(key, "intruder")
    assert not await store.acquire_lock(key, "intruder", 30)
    await store.release_lock(key, "owner")
    assert await store.acquire_lock(key, "intruder", 30)


async def test_only_the_owner_renews_and_renewal_extends(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key("lock")
    assert await store.acquire_lock(key, "owner", 1)
    assert not await store.renew_lock(key, "intruder", 30)
    assert await store.renew_lock(key, "owner", 30)
    await store_case.advance(1.3)
    assert not await store.acquire_lock(key, "intruder", 30)


async def test_lease_expires_and_a_lost_lock_stays_lost(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key("lock")
    assert await store.acquire_lock(key, "slow", 1)
    await store_case.advance(1.3)
    assert await store.acquire_lock(key, "next", 30)
    assert not await store.renew_lock(key, "slow", 30)
    await store.release_lock(key, "slow")  # must not free the next owner's lock
    assert not await store.acquire_lock(key, "third", 30)


async def test_renewing_an_absent_lock_fails(store_case: StoreCase) -> None:
    assert not await store_case.store.renew_lock(new_key("lock"), "owner", 30)
    await store_case.store.release_lock(new_key("lock"), "owner")


# ---- outages (Redis only) --------------------------------------------------------------------


def assert_outage_cause(exc: BaseException) -> None:
    assert isinstance(exc.__cause__, RedisError | RedisClusterException | OSError)


async def test_unreachable_backend_gives_store_unavailable(
    redis_target: RedisTarget, refused_port: int
) -> None:
    store = redis_store(redis_target.url_at(refused_port), redis_target.cluster)
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            for call in (store.ping(), store.save(new_key(), b"v", 60), store.load(new_key())):
                with pytest.raises(StoreUnavailable) as caught:
                    await call
                assert_outage_cause(caught.value)
    finally:
        await store.close()


async def test_stopped_server_gives_store_unavailable_then_recovers(
    own_redis_target: RedisTarget,
) -> None:
    target = own_redis_target
    store, key = redis_store(target.url, target.cluster, timeout_s=0.5), new_key()
    try:
        await store.save(key, b"kept", 60)
        server = target.server_for(key)
        server.pause()
        try:
            async with asyncio.timeout(HANG_GUARD_S):
                with pytest.raises(StoreUnavailable) as caught:
                    await store.load(key)
        finally:
            server.resume()
        assert_outage_cause(caught.value)
        assert await store.load(key) == b"kept"
    finally:
        await store.close()


# ---- the memory store's own rules ------------------------------------------------------------


async def test_memory_store_never_exceeds_its_bound() -> None:
    clock = FakeClock()
    store = MemoryStore(max_entries=10, clock=clock)
    keys = [new_key() for _ in range(50)]
    for index, key in enumerate(keys):
        await store.save(key, b"v", 100 + index)
        assert len(store) <= 10
    assert [await store.load(k) for k in keys[-10:]] == [b"v"] * 10


async def test_memory_store_evicts_the_soonest_to_expire() -> None:
    store = MemoryStore(max_entries=3, clock=FakeClock())
    await store.save("a", b"a", 100)
    await store.save("b", b"b", 10)
    await store.save("c", b"c", 50)
    await store.save("d", b"d", 60)
    assert [await store.load(k) for k in "abcd"] == [b"a", None, b"c", b"d"]
    await store.save("a", b"a2", 100)  # an overwrite is not a new entry: nothing evicted
    assert [await store.load(k) for k in "acd"] == [b"a2", b"c", b"d"]


async def test_memory_store_prunes_expired_entries_on_writes() -> None:
    clock = FakeClock()
    store = MemoryStore(max_entries=1000, clock=clock)
    for _ in range(100):
        await store.save(new_key(), b"old", 1)
    clock.now += 2
    for _ in range(100):
        await store.save(new_key(), b"new", 100)
    assert len(store) == 100  # every expired entry went, without a single read


# ---- write-once, indexes, replicated writes --------------------------------------------------


async def test_save_if_absent_stores_once(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key("jti")
    assert await store.save_if_absent(key, b"1", 1)
    assert not await store.save_if_absent(key, b"2", 60)
    assert await store.load(key) == b"1"
    await store_case.advance(1.3)
    assert await store.save_if_absent(key, b"3", 60)  # refused only for the first one's TTL


async def test_index_members_expire_one_by_one(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key("by-sid")
    await store.index_add(key, "short", 1)
    await store.index_add(key, "long", 3)
    assert sorted(await store.index_members(key)) == ["long", "short"]
    await store_case.advance(1.3)
    assert await store.index_members(key) == ["long"]
    await store.index_remove(key, "long")
    await store.index_remove(key, "absent")
    assert await store.index_members(key) == []


async def test_index_lives_as_long_as_its_longest_member(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key("by-sub")
    await store.index_add(key, "a", 1)
    await store.index_add(key, "b", 2)
    await store.index_add(key, "a", 1)  # re-adding never shortens a member's life
    await store_case.advance(2.3)
    assert await store.index_members(key) == []
    if store_case.target is not None:  # the key itself is gone from Redis: no orphans
        assert store_case.target.server_for(key).command("EXISTS", key) == 0


async def test_save_replicated_writes_and_reports_acknowledgements(store_case: StoreCase) -> None:
    store, key = store_case.store, new_key()
    acked = await store.save_replicated(key, b"durable", 60, 1, 1000)
    assert await store.load(key) == b"durable"
    if store_case.kind in ("cluster", "sentinel"):
        assert acked == 1  # each master has one replica, which acknowledged within the wait
    else:
        assert acked == 0  # no replicas: nothing to wait for


def replica_of(master: RedisServer, servers: list[RedisServer]) -> RedisServer:
    """The (first) replica `master` reports in INFO replication."""
    info = master.command("INFO", "replication")
    port = int(info["slave0"]["port"]) if "slave0" in info else -1
    return next(server for server in servers if server.port == port)


@pytest.mark.parametrize("kind", ["sentinel", "cluster"])
async def test_save_replicated_with_a_stopped_replica_times_out_and_keeps_the_write(
    request: pytest.FixtureRequest, kind: str
) -> None:
    """The `WAIT` path with a stopped replica: the write stays on the master and the answer
    says nobody acknowledged it (so WAIT ran on the connection that wrote: on another one it
    would count the replica at once)."""
    target, key = make_target(request, kind, own=True), new_key()
    store = redis_store(target.url, target.cluster)
    topology = request.getfixturevalue(f"own_redis_{kind}")
    servers = topology.nodes if kind == "cluster" else topology.data_nodes
    try:
        await store.save(key, b"first", 60)
        replica = replica_of(target.server_for(key), servers)
        replica.pause()
        try:
            acked = await store.save_replicated(key, b"kept", 60, 1, 300)
        finally:
            replica.resume()
        assert acked == 0
        assert await store.load(key) == b"kept"
    finally:
        await store.close()
