"""Measuring targets in interleaved rounds, with the CPU time the measured process spent.

Other work on this box (other test runs, wrk itself) moves absolute figures by tens of percent
within a minute. Two defences: the targets are measured round-robin, several short rounds each,
so that a ratio compares measurements taken seconds apart (the ratio reported is the median
of the per-round ratios); and the CPU time the server process spent per request is recorded,
which depends far less on the neighbours than requests per second does.
"""

from __future__ import annotations

import contextlib
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.profile import py_spy
from bench.wrk import Load, Result, run_wrk


@dataclass(frozen=True)
class Target:
    variant: str  # "" for the upstream itself
    scenario: str  # a, b, c, d
    url: str
    headers: dict[str, str]
    expected_sub: str | None
    pid: int  # the server whose CPU time is counted (with its worker processes)
    label: str = ""  # what the table calls it (default: the scenario's name)


@dataclass
class Measurement:
    target: Target
    rounds: list[Result] = field(default_factory=list)
    round_cpu_s: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.rounds)

    @property
    def p50_ms(self) -> float:
        return statistics.median(r.p50_ms for r in self.rounds)

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.p99_ms for r in self.rounds)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.rounds)

    @property
    def error_kinds(self) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for result in self.rounds:
            for kind, count in result.error_kinds.items():
                kinds[kind] = kinds.get(kind, 0) + count
        return kinds

    @property
    def cpu_us_per_request(self) -> float:
        """The median over rounds of CPU seconds spent / requests served."""
        per_round = [
            cpu / result.requests * 1e6
            for cpu, result in zip(self.round_cpu_s, self.rounds, strict=True)
            if result.requests
        ]
        return statistics.median(per_round) if per_round else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its live children (the workers)."""
    parent = psutil.Process(pid)
    total = 0.0
    for process in (parent, *parent.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def worker_cpu_seconds(pid: int) -> list[float]:
    """CPU seconds of each child of `pid` (with `workers`, each should have served)."""
    times = [child.cpu_times() for child in psutil.Process(pid).children()]
    return [t.user + t.system for t in times]


def measure(
    targets: list[Target], load: Load, rounds: int, warmup_s: float, profile_dir: Path | None
) -> list[Measurement]:
    """Each target warmed up once, then `rounds` rounds of `load`, round-robin."""
    if warmup_s >= 1:
        for target in targets:
            run_wrk(target.url, target.headers, Load(load.threads, load.connections, warmup_s))
    measurements = [Measurement(target) for target in targets]
    for round_number in range(rounds):
        for measurement in measurements:
            target = measurement.target
            with contextlib.ExitStack() as profiling:
                if profile_dir is not None and target.variant:
                    name = f"{target.variant}-{target.scenario}-{round_number}.txt"
                    profiling.enter_context(py_spy(target.pid, profile_dir / name, load.duration_s))
                before = cpu_seconds(target.pid)
                measurement.rounds.append(run_wrk(target.url, target.headers, load))
                measurement.round_cpu_s.append(cpu_seconds(target.pid) - before)
    return measurements


def measure_paced(target: Target, rate: float, load: Load) -> Measurement:
    """One round of `load` paced at about `rate` req/s (wrk's `delay()` hook, Poisson gaps)."""
    measurement = Measurement(target)
    before = cpu_seconds(target.pid)
    measurement.rounds.append(run_wrk(target.url, target.headers, load, rate=rate))
    measurement.round_cpu_s.append(cpu_seconds(target.pid) - before)
    return measurement
