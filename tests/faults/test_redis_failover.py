"""Redis topologies changing their master under a steady mixed load.

Sentinel: `SENTINEL FAILOVER` promotes the replica; the sidecar's client must follow the
master Sentinel now names (the old one answers READONLY). Cluster: a master is killed; its
replica is promoted after the node timeout (2 s) and the client must reload the slot map.
Sessions written before the change are on the replica (the tests wait for replication first),
so they should all survive; the tests count them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sidecar.sessions.ticket import Ticket
from sidecar.sessions.vault import SESSION
from tests.faults.load import Actor, MixedLoad, bearer, count, session
from tests.faults.logins import login_session, login_sessions, try_login
from tests.faults.scenario import (
    assert_retry_after_on_503,
    hold,
    session_statuses,
    wait_recovered,
)
from tests.fixtures.redis_servers import own_topology
from tests.fixtures.store_recovery import wait_until_logins_start

# Each test fails over or kills a node: each gets a topology of its own.
redis_sentinel = own_topology("redis_sentinel")
redis_cluster = own_topology("redis_cluster")

STORE_TIMEOUT_S = 0.5
SESSIONS = 30
EMAIL = "user@example.com"
# The sidecar re-asks Sentinel for the master once a second
# (sidecar.sessions.redis_connect.MASTER_CHECK_INTERVAL_S); a login after that must last.
SENTINEL_RECHECK_S = 2.0
# Sessions are touched (a write) every idle_ttl/20 s: a short idle TTL makes the load write
# as well as read, so the client must find the new master, not just a readable replica.
IDLE_TTL_S = 60


def store_config(url: str, cluster: bool = False) -> dict[str, Any]:
    return {
        "session": {
            "redis_url": url,
            "redis_cluster": cluster,
            "store_timeout_s": STORE_TIMEOUT_S,
            "idle_ttl_s": IDLE_TTL_S,
        }
    }


async def login_after_change(load: MixedLoad, sidecar: Any, provider: Any) -> None:
    """A login (writes login state, takes it, writes the session) on the new topology, once
    the store takes writes again (503 until then); its session joins the load as
    `new_session`."""
    await wait_until_logins_start(sidecar.url)
    ticket = await login_session(sidecar.url, provider, EMAIL)
    load.set_actors([*load.actors, session(sidecar.cookie_name, ticket, kind="new_session")])


def mixed(token: str, cookie_name: str, tickets: list[str]) -> list[Actor]:
    return [a for t in tickets for a in (session(cookie_name, t), bearer(token))]


async def test_sentinel_failover(
    start_sidecar, fresh_provider, redis_sentinel, profile, fault_table
):
    sidecar = start_sidecar(store_config(redis_sentinel.url))
    tickets, _ = await login_sessions(sidecar.url, fresh_provider, SESSIONS)
    tokens = await fresh_provider.login("user@example.com", "password")
    load = MixedLoad(
        sidecar.url, mixed(tokens.id_token, sidecar.cookie_name, tickets), profile.rate_per_s
    )
    async with load.running():
        await hold(2.0)
        await asyncio.to_thread(redis_sentinel.wait_replicated)
        old_master = redis_sentinel.master()
        started = time.monotonic()
        new_master = await asyncio.to_thread(redis_sentinel.failover)
        switched = time.monotonic()
        # A login at once: the sidecar may not have re-asked Sentinel yet (it does once a
        # second), while the old master still accepts writes until Sentinel demotes it.
        early_status, early_ticket = await try_login(sidecar.url, fresh_provider, EMAIL)
        await hold(SENTINEL_RECHECK_S)
        await login_after_change(load, sidecar, fresh_provider)
        recovery = await wait_recovered(load, ["session", "new_session", "bearer"], switched)
        await hold(profile.fault_hold_s)
    # The old master discards what it took meanwhile once it follows the new one.
    await asyncio.to_thread(redis_sentinel.wait_converted, old_master)
    after = await session_statuses(sidecar.url, sidecar.cookie_name, tickets)
    early = await session_statuses(sidecar.url, sidecar.cookie_name, [early_ticket or ""])

    fault_table(
        fault="Sentinel failover (SENTINEL FAILOVER)",
        failover_s=round(switched - started, 2),
        requests=len(load.outcomes),
        bearer=load.by_status("bearer"),
        session=load.by_status("session"),
        session_during_failover=count(load.within(started, switched), "session"),
        new_session=load.by_status("new_session"),
        login_at_once=early_status,
        login_at_once_survived=early.get(200, 0) == 1,
        sessions_before=len(tickets),
        sessions_after=after.get(200, 0),
        recovery_s=round(recovery, 2),
    )
    assert early_status == 302
    assert early.get(200, 0) == 1, f"the login made at once after the failover was lost: {early}"
    assert new_master.port != old_master.port
    assert not load.failures("bearer"), load.by_status("bearer")
    assert set(load.by_status("session")) <= {200, 503}, load.by_status("session")
    assert_retry_after_on_503(load.outcomes)
    assert after == {200: len(tickets)}, f"sessions lost in the failover: {after}"


def master_port_of(cluster: Any, ticket: str) -> int:
    parsed = Ticket.from_cookie(ticket)
    assert parsed is not None
    return int(cluster.master_for_key(parsed.store_key(SESSION)).port)


async def test_cluster_master_killed(
    start_sidecar, fresh_provider, redis_cluster, profile, fault_table
):
    sidecar = start_sidecar(store_config(redis_cluster.url, cluster=True))
    tickets, _ = await login_sessions(sidecar.url, fresh_provider, SESSIONS)
    tokens = await fresh_provider.login("admin-dex@example.com", "password")
    load = MixedLoad(
        sidecar.url, mixed(tokens.id_token, sidecar.cookie_name, tickets), profile.rate_per_s
    )
    async with load.running():
        await hold(2.0)
        await asyncio.to_thread(redis_cluster.wait_replicated)
        victim = redis_cluster.masters()[0]
        on_victim = [t for t in tickets if master_port_of(redis_cluster, t) == victim.port]
        victim.kill()
        killed_at = time.monotonic()
        await asyncio.to_thread(redis_cluster.wait_promoted, victim)
        promoted_at = time.monotonic()
        await login_after_change(load, sidecar, fresh_provider)
        recovery = await wait_recovered(load, ["session", "new_session", "bearer"], promoted_at)
        await hold(profile.fault_hold_s)
    after = await session_statuses(sidecar.url, sidecar.cookie_name, tickets)

    fault_table(
        fault="Redis Cluster master killed (SIGKILL), replica promoted",
        promotion_s=round(promoted_at - killed_at, 2),
        requests=len(load.outcomes),
        bearer=load.by_status("bearer"),
        session=load.by_status("session"),
        session_until_promoted=count(load.within(killed_at, promoted_at), "session"),
        sessions_on_killed_master=len(on_victim),
        new_session=load.by_status("new_session"),
        sessions_before=len(tickets),
        sessions_after=after.get(200, 0),
        recovery_after_promotion_s=round(recovery, 2),
    )
    assert on_victim, "no session on the killed master: the test proves nothing"
    assert not load.failures("bearer"), load.by_status("bearer")
    assert set(load.by_status("session")) <= {200, 503}, load.by_status("session")
    assert count(load.within(killed_at, promoted_at), "session").get(503, 0) > 0
    assert_retry_after_on_503(load.outcomes)
    assert after == {200: len(tickets)}, f"sessions lost with the master: {after}"
