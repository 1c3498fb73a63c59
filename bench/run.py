"""The benchmark run: start the stack, log in for real, measure (a)-(d) per variant, report.

Settings (environment, or `--variants a,b` on the command line):
  BENCH_DURATION     seconds measured per target (default 10)
  BENCH_WARMUP       seconds of unmeasured load before each target (default 2)
  BENCH_CONNECTIONS  wrk connections (default 32); BENCH_THREADS wrk threads (default 1)
  BENCH_VARIANTS     sidecar configurations, comma separated (default: default); one of
                     default, no-uvloop, workers2, info-log
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import credentials, stack
from bench.report import Measurement, table
from bench.stack import SidecarProcess, Variant
from bench.wrk import Load, run_wrk, wrk_binary
from tests.fixtures.procs import stop_process
from tests.fixtures.provider import OidcProvider

VARIANTS = {
    variant.name: variant
    for variant in (
        Variant("default"),
        Variant("no-uvloop", uvloop=False),
        Variant("workers2", workers=2),
        Variant("info-log", log_level="info"),
    )
}

Target = tuple[str, str, str, dict[str, str], str | None]  # variant, scenario, url, headers, sub


@dataclass(frozen=True)
class Options:
    load: Load
    warmup_s: float
    variants: tuple[Variant, ...]


def options(argv: list[str], environ: Mapping[str, str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default=environ.get("BENCH_VARIANTS", "default"))
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        parser.error(f"variants: unknown {unknown}; choose from {', '.join(VARIANTS)}")
    load = Load(
        threads=int(environ.get("BENCH_THREADS", "1")),
        connections=int(environ.get("BENCH_CONNECTIONS", "32")),
        duration_s=float(environ.get("BENCH_DURATION", "10")),
    )
    warmup = float(environ.get("BENCH_WARMUP", "2"))
    return Options(load, warmup, tuple(VARIANTS[name] for name in dict.fromkeys(names)))


def main(argv: list[str] | None = None) -> int:
    opts = options(sys.argv[1:] if argv is None else argv, os.environ)
    wrk_binary()
    per_target = opts.load.duration_s + (opts.warmup_s if opts.warmup_s >= 1 else 0)
    expected = per_target * (1 + 3 * len(opts.variants))
    _say(
        f"{os.cpu_count()} cores shared by wrk, sidecar, upstream, Redis and provider; "
        f"load average {os.getloadavg()[0]:.2f}; about {expected:.0f} s of load"
    )
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, contextlib.ExitStack() as cleanup:
        running = _start_stack(Path(tmp), opts.variants, cleanup)
        targets = asyncio.run(_targets(running))
        measurements = [_measure(target, opts) for target in targets]
        for sidecar in running.sidecars.values():
            stack.stop_sidecar(sidecar)
    _say(f"load average after: {os.getloadavg()[0]:.2f}")
    print(table(measurements, opts.variants[0].name))
    print(f"wrk -t{opts.load.threads} -c{opts.load.connections} -d{opts.load.duration_s:.0f}s")
    return _verdict(measurements, running.sidecars)


@dataclass
class Running:
    provider: OidcProvider
    upstream_url: str
    sidecars: dict[str, SidecarProcess]


def _start_stack(
    workdir: Path, variants: tuple[Variant, ...], cleanup: contextlib.ExitStack
) -> Running:
    provider = stack.start_provider(workdir)
    cleanup.callback(provider.stop)
    redis, redis_url = stack.start_redis(workdir)
    cleanup.callback(stop_process, redis)
    upstream, upstream_url = stack.start_upstream(workdir)
    cleanup.callback(stop_process, upstream)
    key_pem = stack.signing_key_pem()
    sidecars: dict[str, SidecarProcess] = {}
    for variant in variants:
        config = stack.sidecar_config(provider, upstream_url, redis_url, variant, key_pem)
        sidecar = stack.start_sidecar(workdir, config, variant)
        cleanup.callback(stack.stop_sidecar, sidecar)
        sidecars[variant.name] = sidecar
    return Running(provider, upstream_url, sidecars)


async def _targets(running: Running) -> list[Target]:
    """(a) once, then (b), (c), (d) per sidecar, each checked with one request."""
    token = await credentials.bearer(running.provider)
    bearer = {"Authorization": f"Bearer {token.token}"}
    targets: list[Target] = [("", "a", f"{running.upstream_url}/api/x", {}, None)]
    for name, sidecar in running.sidecars.items():
        cookie = await credentials.session_cookie(running.provider, sidecar.url)
        targets += [
            (name, "b", f"{sidecar.url}/public/x", {}, None),
            (name, "c", f"{sidecar.url}/api/x", bearer, token.sub),
            (name, "d", f"{sidecar.url}/api/x", {"Cookie": cookie}, token.sub),
        ]
    for _, _, url, headers, sub in targets:
        await credentials.check_target(url, headers, sub)
    return targets


def _measure(target: Target, opts: Options) -> Measurement:
    variant, scenario, url, headers, _ = target
    if opts.warmup_s >= 1:
        run_wrk(url, headers, Load(opts.load.threads, opts.load.connections, opts.warmup_s))
    _say(f"measuring ({scenario}) {variant or 'upstream'} for {opts.load.duration_s:.0f} s")
    return Measurement(variant, scenario, run_wrk(url, headers, opts.load))


def _verdict(measurements: list[Measurement], sidecars: dict[str, SidecarProcess]) -> int:
    failed = False
    for name, sidecar in sidecars.items():
        state = "clean" if sidecar.clean_stop else "NOT CLEAN"
        print(f"shutdown {name}: SIGTERM -> exit {sidecar.exit_code}, {state}")
        failed |= not sidecar.clean_stop
    for m in measurements:
        if m.result.errors:
            print(f"errors in ({m.scenario}) {m.variant or 'upstream'}: {m.result.errors}")
            failed = True
    return 1 if failed else 0


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
