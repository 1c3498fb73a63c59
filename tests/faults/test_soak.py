"""The soak: a bounded mixed load on a sidecar with many live sessions in Redis.

Sessions are made the real way (login through the sidecar and the provider's forms, in
parallel batches). The load mixes public pages, session requests, bearer requests, requests
the policy refuses (403) and admin requests that pass. Recorded: logins per second,
throughput, p50/p99 latency, the sidecar's RSS along the run. Asserted: every request got the
answer its caller should get, and memory levels off (no absolute timing).
Short profile: ~20 s and 100 sessions; `FAULTS_PROFILE=full`: minutes and 1,000 sessions.
"""

from __future__ import annotations

import asyncio
import time

from tests.faults.load import Actor, MixedLoad, bearer, latency_percentiles, session
from tests.faults.logins import login_sessions
from tests.faults.procstats import assert_rss_levels_off, rss_halves

SAMPLES = 10
EMAILS = ("user@example.com", "admin-dex@example.com")  # taken in turn by login_sessions


def soak_actors(cookie: str, tickets: list[str], token: str) -> list[Actor]:
    actors: list[Actor] = []
    for index, ticket in enumerate(tickets):
        is_admin = EMAILS[index % len(EMAILS)] == "admin-dex@example.com"
        actors.append(session(cookie, ticket, path=f"/app/{index}", kind="session"))
        if is_admin:
            actors.append(session(cookie, ticket, path="/admin/panel", kind="admin"))
        elif index % 4 == 0:
            refused = session(cookie, ticket, path="/admin/panel", kind="forbidden")
            actors.append(Actor(refused.kind, refused.path, refused.headers, expect=403))
        if index % 3 == 0:
            actors.append(Actor("public", f"/public/{index}"))
            actors.append(bearer(token, path=f"/api/{index}"))
    return actors


async def test_soak(start_sidecar, fresh_provider, fault_redis, profile, fault_table):
    sidecar = start_sidecar({"session": {"redis_url": fault_redis.url}})
    rss_at_start = sidecar.stats().rss_mib
    tickets, logins_per_s = await login_sessions(
        sidecar.url, fresh_provider, profile.soak_sessions, emails=EMAILS
    )
    token = (await fresh_provider.login("user@example.com", "password")).id_token
    actors = soak_actors(sidecar.cookie_name, tickets, token)
    load = MixedLoad(sidecar.url, actors, rate_per_s=profile.soak_rate_per_s, workers=16)
    samples = []
    async with load.running():
        started = time.monotonic()
        for _ in range(SAMPLES):
            await asyncio.sleep(profile.soak_s / SAMPLES)
            samples.append(sidecar.stats())
        ended = time.monotonic()

    first_half, second_half = rss_halves(samples)
    kinds = sorted({a.kind for a in actors})
    fault_table(
        fault=f"Soak: {profile.soak_s:.0f} s, {len(tickets)} sessions",
        logins_per_s=round(logins_per_s, 1),
        requests=len(load.outcomes),
        throughput_per_s=round(len(load.outcomes) / (ended - started), 1),
        **latency_percentiles(load.outcomes),
        statuses={kind: load.by_status(kind) for kind in kinds},
        rss_mib_at_start=rss_at_start,
        rss_mib_after_logins=samples[0].rss_mib,
        rss_mib_at_end=samples[-1].rss_mib,
        rss_growth_first_half_mib=first_half,
        rss_growth_second_half_mib=second_half,
        fds_end=samples[-1].fds,
        tcp_end=samples[-1].tcp,
        redis_keys=fault_redis.command("DBSIZE"),  # two per session: record and last-seen
    )
    wrong = load.failures()
    assert not wrong, f"{len(wrong)} unexpected answers: {load.by_status()}"
    assert_rss_levels_off(samples)
