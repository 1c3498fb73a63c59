"""A steady, bounded mixed load against a running sidecar, with per-status counters.

`MixedLoad` runs a few workers, each sending one request at a time at a fixed pace (so the
rate is bounded and a slow answer lowers it instead of piling up requests). Every answer is
kept as an `Outcome` (when it was sent, what kind of caller, the status, the latency and any
`Retry-After`), so a test can count statuses in any time window and measure recovery.
A connection failure is status 0; a client-side timeout is status -1.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import aiohttp

CONNECTION_FAILED = 0
CLIENT_TIMEOUT = -1


@dataclass(frozen=True)
class Actor:
    """One kind of caller: what it sends and what it should get when all is well."""

    kind: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    expect: int = 200


def bearer(token: str, path: str = "/api/bearer", kind: str = "bearer") -> Actor:
    return Actor(kind, path, {"Authorization": f"Bearer {token}"})


def session(cookie_name: str, ticket: str, path: str = "/api/session", kind: str = "session"):
    return Actor(kind, path, {"Cookie": f"{cookie_name}={ticket}"})


@dataclass(frozen=True)
class Outcome:
    sent: float  # time.monotonic() when the request was sent
    kind: str
    status: int
    latency: float
    retry_after: str | None
    expected: int

    @property
    def ok(self) -> bool:
        return self.status == self.expected

    @property
    def done(self) -> float:
        return self.sent + self.latency


@dataclass
class MixedLoad:
    base_url: str
    actors: Sequence[Actor]
    rate_per_s: float = 100.0
    workers: int = 8
    timeout_s: float = 15.0
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._next_actor = itertools.cycle(list(self.actors))
        self._stop = asyncio.Event()

    def set_actors(self, actors: Sequence[Actor]) -> None:
        """Callers from now on (e.g. new sessions logged in during the run)."""
        self.actors = list(actors)
        self._next_actor = itertools.cycle(self.actors)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[MixedLoad]:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        connector = aiohttp.TCPConnector(limit=self.workers * 2)
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector, cookie_jar=aiohttp.DummyCookieJar()
        ) as http:
            tasks = [asyncio.create_task(self._worker(http, i)) for i in range(self.workers)]
            try:
                yield self
            finally:
                self._stop.set()
                await asyncio.gather(*tasks)

    async def _worker(self, http: aiohttp.ClientSession, index: int) -> None:
        interval = self.workers / self.rate_per_s
        next_at = time.monotonic() + interval * index / self.workers
        while not self._stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                if self._stop.is_set():
                    return
            next_at = max(next_at + interval, time.monotonic())
            self.outcomes.append(await self.send(http, next(self._next_actor)))

    async def send_once(self, actor: Actor) -> Outcome:
        """One request outside the paced workers (kept with the others)."""
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            outcome = await self.send(http, actor)
        self.outcomes.append(outcome)
        return outcome

    async def send(self, http: aiohttp.ClientSession, actor: Actor) -> Outcome:
        sent = time.monotonic()
        retry_after = None
        try:
            async with http.get(
                self.base_url + actor.path, headers=actor.headers, allow_redirects=False
            ) as response:
                await response.read()
                status, retry_after = response.status, response.headers.get("Retry-After")
        except TimeoutError:
            status = CLIENT_TIMEOUT
        except aiohttp.ClientError:
            status = CONNECTION_FAILED
        return Outcome(sent, actor.kind, status, time.monotonic() - sent, retry_after, actor.expect)

    # --- figures ----------------------------------------------------------------------------

    def between(self, start: float = 0.0, end: float = float("inf")) -> list[Outcome]:
        return [o for o in self.outcomes if start <= o.sent < end]

    def within(self, start: float, end: float) -> list[Outcome]:
        """Requests sent at or after `start` and answered by `end`."""
        return [o for o in self.outcomes if start <= o.sent and o.done <= end]

    def by_status(
        self, kind: str | None = None, start: float = 0.0, end: float = float("inf")
    ) -> dict[int, int]:
        counts = Counter(o.status for o in self.between(start, end) if kind in (None, o.kind))
        return dict(sorted(counts.items()))

    def failures(self, kind: str | None = None, start: float = 0.0, end: float = float("inf")):
        return [o for o in self.between(start, end) if kind in (None, o.kind) and not o.ok]

    def recovery_s(self, kind: str, since: float) -> float:
        """From `since` until the end of the last failed `kind` request sent after it (0 when
        none failed): how long that kind of caller saw errors after the repair."""
        failed = [o.done for o in self.failures(kind, since)]
        return max(0.0, max(failed) - since) if failed else 0.0

    def first_ok_after(self, kind: str, since: float) -> float | None:
        oks = [o.sent for o in self.between(since) if o.kind == kind and o.ok]
        return min(oks) - since if oks else None


def count(outcomes: Sequence[Outcome], kind: str | None = None) -> dict[int, int]:
    """Status counts of `outcomes` (of one kind of caller, or all)."""
    return dict(sorted(Counter(o.status for o in outcomes if kind in (None, o.kind)).items()))


def latency_percentiles(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """p50 / p99 / max in milliseconds."""
    latencies = sorted(o.latency * 1000 for o in outcomes)
    if not latencies:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(p99, 1),
        "max_ms": round(latencies[-1], 1),
    }
