"""The processes a benchmark run needs, each on a free loopback port, all stopped at the end.

The OpenID provider and the helpers that start and stop processes come from the test
fixtures (`tests/fixtures/`), so the benchmark runs the same real components as the tests.
Every process is in its own process group and gets SIGTERM if the runner dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.measure import cpu_seconds
from tests.fixtures.ports import free_port
from tests.fixtures.procs import log_tail, start_process, stop_process
from tests.fixtures.provider import OidcProvider
from tests.fixtures.sidecar import base_config, merge, write_config

# Far beyond a run: neither a session refresh nor an expired bearer token during the run.
ID_TOKEN_TTL_S = 3600
SHUTDOWN_GRACE_S = 5


@dataclass(frozen=True)
class Variant:
    """One sidecar configuration under test."""

    name: str
    uvloop: bool = True
    workers: int = 1
    log_level: str = "info"  # the shipped default: one access line per request
    routes: int = 0  # > 0: a route table of this many routes instead of the shorthand
    source: Path | None = None  # import `sidecar` from here (an older revision)
    session_cache_s: float | None = None  # `session.cache_s`; None: the default
    tracing: bool = False  # tracing.enabled, exporting to the run's OTLP sink
    env: tuple[tuple[str, str], ...] = ()  # extra environment (e.g. OTEL_TRACES_SAMPLER)


@dataclass
class SidecarProcess:
    variant: Variant
    url: str
    admin_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    exit_code: int | None = None
    clean_stop: bool | None = None
    ready_s: float = 0.0  # from the spawn to the first 200 of /readyz
    ready_cpu_s: float = 0.0  # CPU seconds its process tree had spent by then


def start_provider(workdir: Path) -> OidcProvider:
    provider = OidcProvider(workdir, id_token_ttl_s=ID_TOKEN_TTL_S)
    provider.start()
    return provider


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(workdir)]
    proc, _ = start_process(
        argv,
        log_path=workdir / "redis.log",
        ready=lambda line: "Ready to accept connections" in line,
    )
    return proc, f"redis://127.0.0.1:{port}/0"


def start_upstream(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc, line = start_process(
        [sys.executable, "-m", "bench.upstream"],
        log_path=workdir / "upstream.log",
        ready=lambda line: line.startswith("READY "),
    )
    return proc, f"http://127.0.0.1:{line.split()[1]}"


def start_otlp_sink(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """An OTLP/HTTP endpoint that answers every export and keeps nothing (the collector's cost
    is not the sidecar's): for the tracing variant's OTEL_EXPORTER_OTLP_ENDPOINT."""
    proc, line = start_process(
        [sys.executable, "-m", "tests.tracing.otlp_receiver", "--discard"],
        log_path=workdir / "otlp.log",
        ready=lambda line: line.startswith("READY "),
    )
    return proc, f"http://127.0.0.1:{line.split()[1]}"


def extract_revision(revision: str, workdir: Path) -> Path:
    """`sidecar/` as of `revision`, extracted under `workdir` (no checkout, no worktree)."""
    target = workdir / f"src-{revision.replace('/', '_')}"
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "sidecar"],
        capture_output=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def signing_key_pem() -> str:
    """A fresh EC P-256 key, so every worker signs with the same key (as in production)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode()


def sidecar_config(
    provider: OidcProvider, upstream: str, redis_url: str, variant: Variant, key_pem: str
) -> dict[str, Any]:
    port, admin_port = free_port(), free_port()
    overrides = {
        "session": {"redis_url": redis_url}
        | ({} if variant.session_cache_s is None else {"cache_s": variant.session_cache_s}),
        "assertion": {"signing_key": key_pem},
        "log": {"level": variant.log_level},
        "workers": variant.workers,
        "shutdown_grace_s": SHUTDOWN_GRACE_S,
        **({"tracing": {"enabled": True}} if variant.tracing else {}),
    }
    config = merge(base_config(provider, port, admin_port, upstream), overrides)
    return with_route_table(config, variant.routes) if variant.routes else config


def with_route_table(config: dict[str, Any], count: int) -> dict[str, Any]:
    """`config` with its `upstream` + `policy` turned into a table of `count` routes: the
    measured requests reach the last one (any host, `/`, the same policy), after lookups in
    tiers of exact hosts, wildcards and path prefixes that all hold decoys."""
    upstream, policy = config["upstream"], config["policy"]
    decoys: list[dict[str, Any]] = []
    for n in range(count - 1):
        match = [
            {"host": f"svc{n}.example.com", "path": f"/v{n}"},
            {"host": f"*.zone{n}.example.com"},
            {"path": f"/svc{n}"},
        ][n % 3]
        decoys.append({"match": match, "upstream": upstream, "policy": [dict(policy[-1])]})
        if "path" in match:
            decoys[-1]["policy"][0]["path"] = match["path"]
    catch_all = {"match": {"path": "/"}, "upstream": upstream, "policy": policy}
    return {**config, "upstream": None, "policy": None, "routes": [*decoys, catch_all]}


def start_sidecar(workdir: Path, config: dict[str, Any], variant: Variant) -> SidecarProcess:
    """`python -m sidecar --config FILE` (through `bench.sidecar_proc` for --no-uvloop)."""
    path = write_config(workdir / f"sidecar-{variant.name}.yaml", config)
    log_path = workdir / f"sidecar-{variant.name}.log"
    argv = [sys.executable, "-m", "bench.sidecar_proc", "--config", str(path)]
    if not variant.uvloop:
        argv.append("--no-uvloop")
    if variant.source is not None:
        argv += ["--source", str(variant.source)]
    # At log level warning nothing is printed when ready: poll /readyz instead.
    started = time.monotonic()
    proc = _spawn(argv, log_path, dict(variant.env))
    sidecar = SidecarProcess(
        variant, config["public_url"], "http://" + config["admin_listen"], proc, log_path
    )
    try:
        sidecar.ready_s = _wait_ready(sidecar) - started
        sidecar.ready_cpu_s = cpu_seconds(proc.pid)
    except BaseException:
        stop_process(proc, grace_s=0)
        raise
    return sidecar


def _spawn(argv: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def _die_with_parent() -> None:
    # Between fork and exec: SIGTERM when the runner dies (Linux PR_SET_PDEATHSIG = 1).
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _wait_ready(sidecar: SidecarProcess, timeout_s: float = 20.0) -> float:
    """When /readyz first answered 200 (monotonic). With workers, each process answers on
    the shared port: several 200s in a row are waited for."""
    deadline, in_a_row, first = time.monotonic() + timeout_s, 0, 0.0
    while in_a_row < 2 * sidecar.variant.workers:
        if sidecar.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"sidecar {sidecar.variant.name}: {log_tail(sidecar.log_path)}")
        if _ready(sidecar.admin_url):
            first, in_a_row = first or time.monotonic(), in_a_row + 1
        else:
            first, in_a_row = 0.0, 0
        time.sleep(0.01)
    return first


def _ready(admin_url: str) -> bool:
    try:
        with urllib.request.urlopen(admin_url + "/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop_sidecar(sidecar: SidecarProcess) -> None:
    """SIGTERM to the main process only (as Kubernetes does): it must relay to its workers and
    exit 0 within the grace period, leaving nothing of its process group behind."""
    proc = sidecar.process
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=SHUTDOWN_GRACE_S + 5)
    sidecar.exit_code = proc.poll()
    leftovers = _group_alive(proc.pid)
    sidecar.clean_stop = sidecar.exit_code == 0 and not leftovers
    stop_process(proc, grace_s=0)  # whatever did not stop by itself


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
