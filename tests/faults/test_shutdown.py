"""SIGTERM under load (CONTRACT "Command line"): stop accepting, finish in-flight requests within
`shutdown_grace_s`, exit 0. Slow requests in flight when the signal arrives must complete with
their upstream's answer; meanwhile `/readyz` says the process is draining. Requests sent after
the signal may be refused (the listener is closed): that is the load balancer's cue, not a
failure, and they are counted apart.
"""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp

from tests.faults.load import MixedLoad, Outcome, bearer, count, session
from tests.faults.logins import login_sessions
from tests.faults.scenario import hold

SLOW_REQUESTS = 12
SLOW_DELAY_S = 2.0


async def test_sigterm_drains_in_flight_requests(
    start_sidecar, fresh_provider, profile, fault_table
):
    sidecar = start_sidecar({"shutdown_grace_s": 10})
    tickets, _ = await login_sessions(sidecar.url, fresh_provider, 4)
    token = (await fresh_provider.login("user@example.com", "password")).id_token
    actors = [a for t in tickets for a in (session(sidecar.cookie_name, t), bearer(token))]
    slow = bearer(token, path=f"/__slow?delay={SLOW_DELAY_S}", kind="slow")
    load = MixedLoad(sidecar.url, actors, rate_per_s=profile.rate_per_s)
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as slow_http,
        aiohttp.ClientSession(timeout=timeout) as admin_http,
        load.running(),
    ):
        await hold(1.0)
        in_flight = [asyncio.create_task(load.send(slow_http, slow)) for _ in range(SLOW_REQUESTS)]
        await hold(SLOW_DELAY_S / 2)  # they have reached the upstream and wait there
        sidecar.handle.process.send_signal(signal.SIGTERM)
        signalled_at = time.monotonic()
        await hold(0.3)
        async with admin_http.get(sidecar.admin_url + "/readyz") as response:
            readyz_draining = response.status
        slow_outcomes: list[Outcome] = await asyncio.gather(*in_flight)
        await hold(0.5)
    exit_code = await asyncio.to_thread(sidecar.handle.process.wait, 20)
    exited_at = time.monotonic()

    before = load.between(0, signalled_at)
    after = load.between(signalled_at)
    fault_table(
        fault="SIGTERM under load",
        requests=len(load.outcomes) + len(slow_outcomes),
        sent_before_signal=count(before),
        slow_in_flight=count(slow_outcomes),
        sent_after_signal=count(after),
        readyz_while_draining=readyz_draining,
        exit_code=exit_code,
        exit_after_signal_s=round(exited_at - signalled_at, 2),
    )
    assert count(slow_outcomes) == {200: SLOW_REQUESTS}, count(slow_outcomes)
    assert not [o for o in before if not o.ok], count(before)
    assert readyz_draining == 503
    assert exit_code == 0
