"""Run `wrk --latency` and read its summary (printed by `bench/summary.lua`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUMMARY_SCRIPT = Path(__file__).with_name("summary.lua")
_PREFIX = "BENCH_SUMMARY "


@dataclass(frozen=True)
class Load:
    threads: int
    connections: int
    duration_s: float


@dataclass(frozen=True)
class Result:
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    error_kinds: dict[str, int]  # connect, read, write, timeout (socket) and status (non-2xx/3xx)

    @property
    def errors(self) -> int:
        return sum(self.error_kinds.values())

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is missing: `make deps` installs it (apt wrk)")
    return path


def run_wrk(url: str, headers: dict[str, str], load: Load, rate: float | None = None) -> Result:
    """A closed-loop run of `load`; with `rate`, each connection waits a random (exponential)
    gap between its requests, so that together they send about `rate` requests per second."""
    argv = [
        wrk_binary(),
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{max(1, round(load.duration_s))}s",
        "--latency",
        "-s",
        str(SUMMARY_SCRIPT),
    ]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    environ = dict(os.environ)
    if rate:
        environ["BENCH_GAP_MS"] = f"{load.connections / rate * 1000:.3f}"
    done = subprocess.run(
        [*argv, url],
        capture_output=True,
        text=True,
        timeout=load.duration_s + 60,
        check=False,
        env=environ,
    )
    for line in done.stdout.splitlines():
        if line.startswith(_PREFIX):
            return _result(json.loads(line.removeprefix(_PREFIX)))
    raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")


def _result(summary: dict[str, int]) -> Result:
    kinds = {k: summary[k] for k in ("connect", "read", "write", "status", "timeout") if summary[k]}
    return Result(
        requests=summary["requests"],
        duration_s=summary["duration_us"] / 1e6,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        error_kinds=kinds,
    )
