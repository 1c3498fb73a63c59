"""A failover right after a refresh must not bring back the rotated-out refresh token.

The provider rotates refresh tokens and refuses a second use of an old one by revoking the
whole grant (Dex: "refresh token claimed twice"). If the write of the refreshed session reaches
the master but not its replica, and the master dies, the promoted replica holds the old record:
the next refresh presents the old token and the session is lost. `session.min_replicas` makes
the refresh wait (Redis `WAIT`, bounded by `session.replica_wait_ms`) until a replica has it.

The lag is real: the replica is stopped (SIGSTOP) and 32 MiB of other writes fill the kernel's
socket buffers first, so the session write waits in the master's own replication buffer and
dies with it. With WAIT the replica resumes 0.5 s later and catches up before the refresh
answers; without, the master is killed while the replica is still stopped. Then the replica is
promoted (Sentinel: SENTINEL FAILOVER; Cluster: CLUSTER FAILOVER TAKEOVER) and the session is
used again. Real Sentinel set, real Cluster, real provider.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import redis

from sidecar.sessions.ticket import Ticket
from sidecar.sessions.vault import SESSION
from tests.auth.test_login_flow import browser, call, login
from tests.fixtures.redis_process import RedisServer, wait_until
from tests.fixtures.redis_servers import own_topology
from tests.fixtures.sidecar import new_secret
from tests.sessions.test_store_suite import replica_of

FILLER_CHUNKS, FILLER_CHUNK = 8, b"x" * (4 * 1024 * 1024)  # 32 MiB: beyond socket buffers
RESUME_AFTER_S = 0.5
RECOVERY_S = 30.0
UNREPLICATED = "sidecar_session_unreplicated_writes_total"
INVALID_GRANT = 'sidecar_token_refresh_total{result="invalid_grant"}'

# Every test here stops, kills or fails over a node: each gets a topology of its own.
redis_sentinel = own_topology("redis_sentinel")
redis_cluster = own_topology("redis_cluster")


def filler_keys(tag: str) -> list[str]:
    return [f"sidecar:{{{tag}}}:filler{index}" for index in range(FILLER_CHUNKS)]


def fill_replication_stream(master: RedisServer, tag: str) -> None:
    with master.admin(timeout_s=10) as client:
        for key in filler_keys(tag):
            client.set(key, FILLER_CHUNK, px=60_000)


async def status_after_recovery(base: str, cookie: str) -> int:
    """The session's answer once the store answers again (503 while the client reconnects)."""
    deadline = time.monotonic() + RECOVERY_S
    while time.monotonic() < deadline:
        status = (await call(base, "/x", cookie))[0]
        if status != 503:
            return status
        await asyncio.sleep(0.2)
    raise AssertionError("the store did not come back")


def promote_sentinel(sentinel: Any, master: RedisServer, replica: RedisServer) -> None:
    master.kill()
    replica.resume()
    sentinel.failover()


def promote_cluster(cluster: Any, master: RedisServer, replica: RedisServer) -> None:
    master.kill()
    replica.resume()

    def taken_over() -> bool:
        try:
            return bool(replica.command("CLUSTER", "FAILOVER", "TAKEOVER"))
        except (redis.ResponseError, redis.ConnectionError, redis.TimeoutError):
            return False  # not yet: the node is waking up

    wait_until(taken_over, 10, "CLUSTER FAILOVER TAKEOVER")
    cluster.wait_promoted(master)


@pytest.mark.parametrize("topology", ["sentinel", "cluster"])
@pytest.mark.parametrize("wait", [True, False], ids=["with-WAIT", "without-WAIT"])
async def test_failover_right_after_a_refresh(
    request: pytest.FixtureRequest, fresh_provider, sidecar_factory, topology, wait
):
    fixture = request.getfixturevalue(
        "redis_cluster" if topology == "cluster" else "redis_sentinel"
    )
    session: dict[str, Any] = {
        "secret": new_secret(),
        "redis_url": fixture.url,
        "redis_cluster": topology == "cluster",
        "cache_s": 0,
        "refresh_margin_s": 100_000,  # every use refreshes: the rotation is exercised each time
        "store_timeout_s": 5,
        "min_replicas": 1 if wait else 0,
        "replica_wait_ms": 3000,
    }
    running = await sidecar_factory({"session": session})
    async with browser() as http:
        done = await login(http, running.url, fresh_provider)
    ticket = Ticket.from_cookie(done.cookie)
    assert ticket is not None
    if topology == "cluster":
        master = fixture.master_for_key(ticket.store_key(SESSION))
        servers = fixture.nodes
    else:
        master, servers = fixture.master(), fixture.data_nodes
    replica = replica_of(master, servers)
    await asyncio.to_thread(fixture.wait_replicated)  # the login's record (old token) is there

    replica.pause()
    resumer = threading.Timer(RESUME_AFTER_S, replica.resume)
    try:
        await asyncio.to_thread(fill_replication_stream, master, ticket.tag)
        if wait:
            resumer.start()
        refreshed = (await call(running.url, "/x", done.cookie))[0]  # the refresh + its write
        unreplicated = metric(await metrics_text(running.admin_url), UNREPLICATED)
        promote = promote_cluster if topology == "cluster" else promote_sentinel
        await asyncio.to_thread(promote, fixture, master, replica)
        after = await status_after_recovery(running.url, done.cookie)
        refused = metric(await metrics_text(running.admin_url), INVALID_GRANT)
    finally:
        resumer.cancel()
        if resumer.is_alive():
            resumer.join()
        replica.resume()
    print(f"\n[{topology}, {'with' if wait else 'without'} WAIT] refresh {refreshed}, after the "
          f"failover {after}, unreplicated writes {unreplicated}")  # fmt: skip
    assert refreshed == 200
    if wait:
        assert after == 200, "the refreshed session did not survive the failover"
        assert unreplicated == 0  # the refresh's write reached the replica before its answer
        assert refused == 0
    else:
        # The promoted replica had the old refresh token: the provider refused it (and revoked
        # the grant), so the session ended. This is what WAIT is for.
        assert after == 401
        assert refused == 1  # not a lost record: the old token, presented and refused


async def metrics_text(admin_url: str) -> str:
    async with browser() as http, http.get(admin_url + "/metrics") as r:
        return await r.text()


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def test_a_stopped_replica_never_fails_a_login_or_a_refresh(
    fresh_provider, sidecar_factory, redis_sentinel
):
    """The WAIT path with a stopped replica: the login and the refresh each wait
    `replica_wait_ms`, are counted and logged as unreplicated, and succeed."""
    session = {
        "secret": new_secret(),
        "redis_url": redis_sentinel.url,
        "cache_s": 0,
        "refresh_margin_s": 100_000,
        "min_replicas": 1,
        "replica_wait_ms": 200,
    }
    running = await sidecar_factory({"session": session})
    replica = replica_of(redis_sentinel.master(), redis_sentinel.data_nodes)
    replica.pause()
    try:
        async with browser() as http:
            done = await login(http, running.url, fresh_provider)  # the login's write
        status = (await call(running.url, "/x", done.cookie))[0]  # a refresh's write
        unreplicated = metric(await metrics_text(running.admin_url), UNREPLICATED)
    finally:
        replica.resume()
    assert status == 200
    assert unreplicated == 2
