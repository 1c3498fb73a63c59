"""The benchmark run: start the stack, log in for real, measure (a)-(d) per variant, report.

Settings (environment; the variants also as `--variants a,b`):
  BENCH_DURATION     seconds of load per target, split over the rounds (default 12)
  BENCH_ROUNDS       interleaved rounds per target (default 3)
  BENCH_WARMUP       seconds of unmeasured load per target before the first round (default 2)
  BENCH_CONNECTIONS  wrk connections (default 32); BENCH_THREADS wrk threads (default 1)
  BENCH_VARIANTS     sidecar configurations, comma separated, the first the reference
                     (default: default); of default, no-uvloop, workers2, quiet-log, cache0,
                     routes50 (a table of 50 routes instead of the one-route shorthand),
                     tracing (tracing.enabled, every request sampled, spans to a discarding
                     OTLP sink), tracing-1pct (the same, 1% of traces sampled), and
                     @REV: the default configuration running `sidecar/` as of git revision
                     REV (before/after a change in one run: `--variants @HEAD~1,default`)
  BENCH_PEERS        1 (default): also nginx, Apache mod_proxy, mod_auth_openidc, oauth2-proxy
                     and Envoy, the peer tables, the footprint (RSS idle and after 10,000
                     distinct tokens, time to ready), the goals, and the paced p99 runs;
                     0: the sidecar variants only
  BENCH_PROFILE      a directory: record each sidecar round with py-spy (collapsed stacks,
                     `<variant>-<scenario>-<round>.txt`); figures taken so are not comparable
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import credentials, footprint, goals, lineup, peer_report, stack
from bench.lineup import Lineup
from bench.measure import Measurement, Target, measure, measure_paced, worker_cpu_seconds
from bench.report import table
from bench.stack import SidecarProcess, Variant
from bench.unfair import UNFAIR
from bench.wrk import Load, wrk_binary
from tests.fixtures.procs import stop_process
from tests.fixtures.provider import OidcProvider

VARIANTS = {
    variant.name: variant
    for variant in (
        Variant("default"),
        Variant("no-uvloop", uvloop=False),
        Variant("workers2", workers=2),
        Variant("quiet-log", log_level="warning"),
        Variant("cache0", session_cache_s=0),
        Variant("routes50", routes=50),
        Variant("tracing", tracing=True),
        Variant(
            "tracing-1pct",
            tracing=True,
            env=(("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.01")),
        ),
    )
}


@dataclass(frozen=True)
class Options:
    load: Load  # one round
    rounds: int
    warmup_s: float
    variants: tuple[Variant, ...]
    profile_dir: Path | None = None
    peers: bool = True


@dataclass
class Running:
    provider: OidcProvider
    upstream_url: str
    upstream_pid: int
    redis_url: str
    sidecars: dict[str, SidecarProcess]
    peers: Lineup | None = None
    token: credentials.Bearer | None = None  # the run's real id token


def options(argv: list[str], environ: Mapping[str, str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default=environ.get("BENCH_VARIANTS", "default"))
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS and not name.startswith("@")]
    if unknown or not names:
        parser.error(f"variants: unknown {unknown}; choose from {', '.join(VARIANTS)}")
    rounds = max(1, int(environ.get("BENCH_ROUNDS", "3")))
    duration = float(environ.get("BENCH_DURATION", "12"))
    load = Load(
        threads=int(environ.get("BENCH_THREADS", "1")),
        connections=int(environ.get("BENCH_CONNECTIONS", "32")),
        duration_s=max(1, round(duration / rounds)),  # wrk takes whole seconds
    )
    warmup = float(environ.get("BENCH_WARMUP", "2"))
    variants = tuple(VARIANTS.get(name) or Variant(name) for name in dict.fromkeys(names))
    profile = environ.get("BENCH_PROFILE")
    peers = environ.get("BENCH_PEERS", "1") != "0"
    return Options(load, rounds, warmup, variants, Path(profile) if profile else None, peers)


def main(argv: list[str] | None = None) -> int:
    opts = options(sys.argv[1:] if argv is None else argv, os.environ)
    wrk_binary()
    targets_count = 1 + 3 * len(opts.variants) + (11 if opts.peers else 0)
    expected = targets_count * (opts.load.duration_s * opts.rounds + opts.warmup_s)
    expected += 2 * 14 * opts.load.duration_s if opts.peers else 0
    _say(
        f"{os.cpu_count()} cores shared by wrk, the servers, upstream, Redis and provider; "
        f"load average {os.getloadavg()[0]:.2f}; about {expected:.0f} s of load"
    )
    reference = opts.variants[0].name
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, contextlib.ExitStack() as cleanup:
        variants = tuple(_with_source(variant, Path(tmp)) for variant in opts.variants)
        running = _start_stack(Path(tmp), variants, cleanup)
        if opts.peers:
            running.peers = lineup.start_peers(
                Path(tmp), running.provider, running.upstream_url, running.redis_url, cleanup
            )
        targets = asyncio.run(_targets(running))
        servers = _servers(running) if opts.peers else []
        sizes = footprint.idle(servers)
        measurements = measure(targets, opts.load, opts.rounds, opts.warmup_s, opts.profile_dir)
        paced = _paced(measurements, reference, opts.load) if opts.peers else []
        if servers and running.token is not None:
            _say(f"minting {footprint.DISTINCT} distinct tokens; each server gets all of them")
            tokens = footprint.mint_tokens(running.provider.workdir, running.token.token)
            footprint.after_distinct(servers, sizes, tokens)
        worker_cpu = {
            name: worker_cpu_seconds(sidecar.process.pid)
            for name, sidecar in running.sidecars.items()
            if sidecar.variant.workers > 1
        }
        for sidecar in running.sidecars.values():
            stack.stop_sidecar(sidecar)
        if any(m.errors for m in measurements + [p.target for p in paced]):
            _keep_logs(Path(tmp))
    _say(f"load average after: {os.getloadavg()[0]:.2f}")
    print(table(measurements, reference))
    print(
        f"wrk -t{opts.load.threads} -c{opts.load.connections} -d{opts.load.duration_s}s "
        f"x {opts.rounds} interleaved rounds; req/s, p50, p99, CPU: medians of the rounds; "
        "CPU: the measured server's process tree (for (a) the upstream)"
    )
    for name, seconds in worker_cpu.items():
        shares = ", ".join(f"{s:.1f}" for s in seconds)
        print(f"workers {name}: CPU seconds per worker process: {shares}")
    if opts.peers:
        _print_peers(measurements, reference, paced, sizes)
    return _verdict(measurements, running.sidecars)


def _print_peers(
    measurements: list[Measurement],
    reference: str,
    paced: list[peer_report.Paced],
    sizes: dict[str, footprint.Footprint],
) -> None:
    side = sizes.get(f"sidecar {reference}")
    for block in (
        peer_report.peer_table(measurements, reference, paced),
        peer_report.ratio_table(measurements, reference),
        footprint.table(sizes),
        peer_report.paced_table(paced),
        goals.render(
            "Goals (issue 9), ratios from this run:", goals.issue9(measurements, reference, paced)
        ),
        goals.render(
            "Goals (issue 18), from this run:", goals.issue18(measurements, reference, side)
        ),
        UNFAIR,
    ):
        print()
        print(block)


def _paced(measurements: list[Measurement], reference: str, load: Load) -> list[peer_report.Paced]:
    """(b), (c), (d) of the reference sidecar and of every peer at half its own measured peak,
    each after the upstream alone at the same rate: the latency a target adds when it is not
    saturated."""
    upstream = next(m.target for m in measurements if m.target.scenario == "a")
    paced = []
    for m in measurements:
        if m.target.scenario == "a" or m.target.variant not in (reference, *peer_report.PEERS):
            continue
        rate = m.rate / 2
        alone = measure_paced(upstream, rate, load)
        paced.append(
            peer_report.Paced(m.target.scenario, rate, measure_paced(m.target, rate, load), alone)
        )
    return paced


def _servers(running: Running) -> list[footprint.Server]:
    servers = [
        footprint.Server(
            f"sidecar {name}", s.process.pid, s.ready_s, s.ready_cpu_s, f"{s.url}/api/x", "tokens"
        )
        for name, s in running.sidecars.items()
    ]
    if running.peers is not None:
        for name, peer, url, credential in running.peers.footprint_targets():
            pid, ready, cpu = peer.process.pid, peer.ready_s, peer.ready_cpu_s
            servers.append(footprint.Server(name, pid, ready, cpu, url, credential))
    return servers


def _with_source(variant: Variant, workdir: Path) -> Variant:
    if not variant.name.startswith("@"):
        return variant
    return dataclasses.replace(variant, source=stack.extract_revision(variant.name[1:], workdir))


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
    if any(variant.tracing for variant in variants):
        sink, os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = stack.start_otlp_sink(workdir)
        cleanup.callback(stop_process, sink)
    sidecars: dict[str, SidecarProcess] = {}
    for variant in variants:
        config = stack.sidecar_config(provider, upstream_url, redis_url, variant, key_pem)
        sidecar = stack.start_sidecar(workdir, config, variant)
        cleanup.callback(stack.stop_sidecar, sidecar)
        sidecars[variant.name] = sidecar
    return Running(provider, upstream_url, upstream.pid, redis_url, sidecars)


async def _targets(running: Running) -> list[Target]:
    """(a) once, then (b), (c), (d) per sidecar, each checked with one request."""
    token = running.token = await credentials.bearer(running.provider)
    bearer = {"Authorization": f"Bearer {token.token}"}
    targets = [Target("", "a", f"{running.upstream_url}/api/x", {}, None, running.upstream_pid)]
    for name, sidecar in running.sidecars.items():
        cookie = {"Cookie": await credentials.session_cookie(running.provider, sidecar.url)}
        pid = sidecar.process.pid
        targets += [
            Target(name, "b", f"{sidecar.url}/public/x", {}, None, pid),
            Target(name, "c", f"{sidecar.url}/api/x", bearer, token.sub, pid),
            Target(name, "d", f"{sidecar.url}/api/x", cookie, token.sub, pid),
        ]
    if running.peers is not None:
        targets += await lineup.peer_targets(running.provider, running.peers, token)
    for target in targets:
        await credentials.check_target(target.url, target.headers, target.expected_sub)
    return targets


def _verdict(measurements: list[Measurement], sidecars: dict[str, SidecarProcess]) -> int:
    failed = False
    for name, sidecar in sidecars.items():
        state = "clean" if sidecar.clean_stop else "NOT CLEAN"
        print(f"shutdown {name}: SIGTERM -> exit {sidecar.exit_code}, {state}")
        failed |= not sidecar.clean_stop
    for m in measurements:
        if m.errors:
            where = f"({m.target.scenario}) {m.target.variant or 'upstream'}"
            print(f"errors in {where}: {m.error_kinds}")
            failed = True
    return 1 if failed else 0


def _keep_logs(workdir: Path) -> None:
    kept = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    for log in workdir.glob("*.log"):
        shutil.copy(log, kept / log.name)
    _say(f"errors during the run: logs kept in {kept}")


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
