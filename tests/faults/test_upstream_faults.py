"""The upstream fails: stopped (connection refused) and hanging (accepts, never answers).

Contract: "upstream refused or unreachable / too slow -> 502 / 504". After many failures the
sidecar must hold no more memory, descriptors or connections than before: a failed upstream
connection is closed, not kept in the pool or leaked.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.load import Actor, MixedLoad, bearer, count, latency_percentiles
from tests.faults.procstats import assert_rss_levels_off, rss_halves
from tests.faults.scenario import hold, wait_recovered
from tests.faults.upstreams import HangingUpstream, StoppableUpstream

UPSTREAM_TIMEOUT_S = 0.5
ROUNDS = 6
SETTLE_S = 1.0
FD_SLACK = 8


def upstream_config() -> dict:
    return {"upstream_timeout_s": UPSTREAM_TIMEOUT_S, "upstream_connect_timeout_s": 1.0}


async def test_upstream_stopped_then_back(start_sidecar, fresh_provider, profile, fault_table):
    upstream = StoppableUpstream()
    await upstream.start()
    try:
        sidecar = start_sidecar(upstream_config(), upstream=upstream.url)
        token = (await fresh_provider.login("user@example.com", "password")).id_token
        actors = [bearer(token), Actor("public", "/public/page")]
        load = MixedLoad(sidecar.url, actors, rate_per_s=profile.rate_per_s)
        async with load.running():
            await hold(1.0)
            await upstream.stop()
            stopped_at = time.monotonic()
            await hold(profile.fault_hold_s)
            restarting_at = time.monotonic()
            await upstream.start()
            recovery = await wait_recovered(load, ["bearer", "public"], restarting_at)
    finally:
        await upstream.stop()

    outage = load.within(stopped_at, restarting_at)
    fault_table(
        fault="Upstream stopped (connection refused), then restarted",
        requests=len(load.outcomes),
        all_requests=load.by_status(),
        during_outage=count(outage),
        recovery_s=round(recovery, 2),
    )
    assert set(count(outage)) == {502}, count(outage)
    assert set(load.by_status()) <= {200, 502}, load.by_status()


@pytest.mark.parametrize("failure", ["refused", "hanging"])
async def test_upstream_failures_leave_nothing_behind(
    start_sidecar, fresh_provider, upstream_down, profile, fault_table, failure
):
    hanging = HangingUpstream()
    await hanging.start()
    try:
        url = upstream_down if failure == "refused" else hanging.url
        expected = 502 if failure == "refused" else 504
        sidecar = start_sidecar(upstream_config(), upstream=url)
        token = (await fresh_provider.login("user@example.com", "password")).id_token
        actors = [Actor("bearer", "/api/x", bearer(token).headers, expect=expected)]
        # Concurrent enough that a hanging upstream holds many connections at once.
        load = MixedLoad(sidecar.url, actors, rate_per_s=200.0, workers=32)
        samples = []
        async with load.running():
            per_round = profile.upstream_failures // ROUNDS
            for _ in range(ROUNDS + 1):  # one warm-up round, then the measured rounds
                target = len(load.outcomes) + per_round
                while len(load.outcomes) < target:
                    await asyncio.sleep(0.1)
                samples.append(sidecar.stats())
        await asyncio.sleep(SETTLE_S)
        settled = sidecar.stats()
        port = int(url.rsplit(":", 1)[1])
    finally:
        await hanging.stop()

    measured = samples[1:]
    first_half, second_half = rss_halves(measured)
    fault_table(
        fault=f"Upstream {failure}: {len(load.outcomes)} failures",
        requests=len(load.outcomes),
        statuses=load.by_status(),
        rss_mib=[s.rss_mib for s in samples],
        rss_growth_first_half_mib=first_half,
        rss_growth_second_half_mib=second_half,
        fds_after_warmup=measured[0].fds,
        fds_settled=settled.fds,
        tcp_to_upstream_under_load=max(s.tcp_to(port) for s in samples),
        tcp_to_upstream_settled=settled.tcp_to(port),
        upstream_connections_open_settled=hanging.open_connections,
        **latency_percentiles(load.outcomes),
    )
    assert load.by_status() == {expected: len(load.outcomes)}, load.by_status()
    assert_rss_levels_off(measured)
    assert settled.fds <= measured[0].fds + FD_SLACK, (measured[0].fds, settled.fds)
    # A timed-out upstream connection is closed, never returned to the pool to hang again.
    assert settled.tcp_to(port) == 0, settled.tcp_by_remote_port
    if failure == "hanging":
        assert hanging.open_connections == 0, hanging.open_connections
