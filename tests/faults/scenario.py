"""Steps the fault tests share: wait for recovery under load, count the sessions that live."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence

import aiohttp

from tests.faults.load import MixedLoad, Outcome

RECOVERY_CAP_S = 40.0


async def hold(seconds: float) -> float:
    """Let the load run for `seconds`; returns the time it ended (monotonic)."""
    await asyncio.sleep(seconds)
    return time.monotonic()


async def wait_recovered(
    load: MixedLoad, kinds: Sequence[str], since: float, stable_s: float = 2.0
) -> float:
    """Wait until every kind in `kinds` has answered as expected for `stable_s` in a row
    (at least one request of each), at most RECOVERY_CAP_S after `since`. Returns the
    recovery time: from `since` to the end of the last failure of those kinds. Fails the test
    if they never settle."""
    deadline = since + RECOVERY_CAP_S
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        window_start = time.monotonic() - stable_s
        if window_start < since:
            continue
        recent = load.between(window_start)
        if all(_settled(recent, kind) for kind in kinds):
            return max(load.recovery_s(kind, since) for kind in kinds)
    failing = {kind: load.by_status(kind, deadline - stable_s) for kind in kinds}
    raise AssertionError(f"no recovery {RECOVERY_CAP_S:.0f} s after the repair: {failing}")


def _settled(outcomes: Sequence[Outcome], kind: str) -> bool:
    mine = [o for o in outcomes if o.kind == kind]
    return bool(mine) and all(o.ok for o in mine)


async def session_statuses(url: str, cookie_name: str, tickets: Sequence[str]) -> dict[int, int]:
    """`GET /.auth/me` with each ticket: status counts (200 = the session lives)."""
    gate = asyncio.Semaphore(16)
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=15)
    ) as http:

        async def one(ticket: str) -> int:
            async with (
                gate,
                http.get(url + "/.auth/me", headers={"Cookie": f"{cookie_name}={ticket}"}) as r,
            ):
                await r.read()
                return r.status

        statuses = await asyncio.gather(*(one(t) for t in tickets))
    return dict(sorted(Counter(statuses).items()))


async def metric(admin_url: str, name: str) -> float:
    """The sum of a Prometheus metric's samples on the sidecar's admin listener."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(admin_url + "/metrics") as response,
    ):
        text = await response.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def assert_retry_after_on_503(outcomes: Sequence[Outcome]) -> None:
    missing = [o for o in outcomes if o.status == 503 and not o.retry_after]
    assert not missing, f"{len(missing)} answers of 503 without Retry-After"
