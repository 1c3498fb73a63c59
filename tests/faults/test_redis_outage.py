"""Redis stops under a steady mixed load: frozen (SIGSTOP/SIGCONT) and killed then restarted.

Contract: "session store ... unreachable when needed -> 503 with Retry-After; never a 200 and
never a 500"; bearer tokens need no session store. The store timeout is short (0.5 s) so a
frozen Redis costs each session request about that long, then 503. The killed Redis keeps
nothing on disk (`--save ""`, no AOF), so its sessions are gone after the restart: their
cookies then get 401 (session ended), and new logins work again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from tests.faults.load import Actor, MixedLoad, bearer, count, session
from tests.faults.logins import login_session, login_sessions
from tests.faults.scenario import (
    assert_retry_after_on_503,
    hold,
    session_statuses,
    wait_recovered,
)

STORE_TIMEOUT_S = 0.5
SESSIONS = 20
# A 503 for a session request costs at most a few store commands' timeouts; far below this.
OUTAGE_ANSWER_BOUND_S = 4 * STORE_TIMEOUT_S + 1.0


def redis_config(url: str) -> dict[str, Any]:
    return {"session": {"redis_url": url, "store_timeout_s": STORE_TIMEOUT_S}}


def mixed(token: str, cookie_name: str, tickets: list[str]) -> list[Actor]:
    """As many bearer requests as session requests, the sessions taken in turn."""
    return [a for t in tickets for a in (session(cookie_name, t), bearer(token))]


def first_answer_after(load: MixedLoad, since: float) -> float:
    """Seconds from `since` to the first session request the store answered (not 503)."""
    answered = [o.done for o in load.between(since) if o.kind == "session" and o.status != 503]
    return min(answered) - since if answered else float("nan")


async def outage_login_status(url: str) -> tuple[int, str | None]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url + "/.auth/login?rd=/", allow_redirects=False) as response,
    ):
        return response.status, response.headers.get("Retry-After")


async def test_redis_frozen_then_thawed(
    start_sidecar, fresh_provider, fault_redis, profile, fault_table
):
    sidecar = start_sidecar(redis_config(fault_redis.url))
    tickets, _ = await login_sessions(sidecar.url, fresh_provider, SESSIONS)
    tokens = await fresh_provider.login("user@example.com", "password")
    actors = mixed(tokens.id_token, sidecar.cookie_name, tickets)
    load = MixedLoad(sidecar.url, actors, rate_per_s=profile.rate_per_s)
    async with load.running():
        await hold(2.0)
        fault_redis.pause()
        paused_at = time.monotonic()
        try:
            await hold(0.6)
            login_during = await outage_login_status(sidecar.url)
            await hold(profile.fault_hold_s)
        finally:
            fault_redis.resume()
        resumed_at = time.monotonic()
        recovery = await wait_recovered(load, ["session", "bearer"], resumed_at)
    after = await session_statuses(sidecar.url, sidecar.cookie_name, tickets)

    outage = load.between(paused_at + STORE_TIMEOUT_S, resumed_at)
    fault_table(
        fault="Redis frozen (SIGSTOP) then thawed (SIGCONT)",
        hold_s=round(resumed_at - paused_at, 1),
        requests=len(load.outcomes),
        bearer=load.by_status("bearer"),
        session=load.by_status("session"),
        session_during_outage=load.by_status("session", paused_at, resumed_at),
        max_503_latency_s=round(max((o.latency for o in outage if o.status == 503), default=0), 3),
        login_during_outage=login_during[0],
        sessions_before=len(tickets),
        sessions_after=after.get(200, 0),
        recovery_s=round(recovery, 2),
    )
    assert not load.failures("bearer"), load.by_status("bearer")
    assert set(load.by_status("session")) <= {200, 503}, load.by_status("session")
    assert load.by_status("session", paused_at + STORE_TIMEOUT_S, resumed_at).get(503, 0) > 0
    assert_retry_after_on_503(load.outcomes)
    assert all(o.latency < OUTAGE_ANSWER_BOUND_S for o in outage), "a request hung on Redis"
    assert login_during[0] == 503, login_during
    assert login_during[1], "503 without Retry-After"
    assert after == {200: len(tickets)}, f"sessions lost over a SIGSTOP: {after}"


async def test_redis_killed_then_restarted(
    start_sidecar, fresh_provider, fault_redis, profile, fault_table
):
    sidecar = start_sidecar(redis_config(fault_redis.url))
    tickets, _ = await login_sessions(sidecar.url, fresh_provider, SESSIONS)
    tokens = await fresh_provider.login("admin-dex@example.com", "password")
    actors = mixed(tokens.id_token, sidecar.cookie_name, tickets)
    load = MixedLoad(sidecar.url, actors, rate_per_s=profile.rate_per_s)
    async with load.running():
        await hold(2.0)
        fault_redis.kill()
        killed_at = time.monotonic()
        await hold(0.6)
        login_during = await outage_login_status(sidecar.url)
        await hold(profile.fault_hold_s)
        restarting_at = time.monotonic()
        await asyncio.to_thread(fault_redis.start)  # same port, empty
        restarted_at = time.monotonic()
        # The old sessions are gone; a new login must work, and its session must serve.
        fresh_ticket = await login_session(sidecar.url, fresh_provider, "user@example.com")
        load.set_actors([*actors, session(sidecar.cookie_name, fresh_ticket, kind="new_session")])
        recovery = await wait_recovered(load, ["new_session", "bearer"], restarted_at)
        await hold(1.0)
    after = await session_statuses(sidecar.url, sidecar.cookie_name, tickets)
    old_after_restart = load.by_status("session", restarted_at + recovery)

    fault_table(
        fault="Redis killed (SIGKILL), restarted empty on the same port",
        hold_s=round(restarted_at - killed_at, 1),
        requests=len(load.outcomes),
        bearer=load.by_status("bearer"),
        session=load.by_status("session"),
        session_during_outage=count(load.within(killed_at, restarting_at), "session"),
        old_sessions_after_restart=old_after_restart,
        new_session=load.by_status("new_session"),
        login_during_outage=login_during[0],
        sessions_before=len(tickets),
        sessions_after=after.get(200, 0),
        sessions_lost=after.get(401, 0),
        store_answers_again_s=round(first_answer_after(load, restarting_at), 2),
        recovery_s=round(recovery, 2),
    )
    assert not load.failures("bearer"), load.by_status("bearer")
    # Never a 500 or a 200 for a session that the store cannot vouch for.
    assert set(load.by_status("session")) <= {200, 401, 503}, load.by_status("session")
    # Answered while Redis was down: 503 (a 200 only for a request answered before the kill).
    assert set(count(load.within(killed_at, restarting_at), "session")) <= {200, 503}
    assert (
        count(load.within(killed_at + STORE_TIMEOUT_S, restarting_at), "session").get(200, 0) == 0
    )
    assert_retry_after_on_503(load.outcomes)
    assert login_during[0] == 503, login_during
    assert login_during[1], "503 without Retry-After"
    # Nothing was on disk: every old session is gone (401, not 503: the store answers again).
    assert after == {401: len(tickets)}, after
    assert set(old_after_restart) <= {401}, old_after_restart
    assert not load.failures("new_session", restarted_at + recovery)
