"""`make demo`: the whole login on this machine, no cluster.

Starts the real Dex (`scripts/demo_dex.py`: built from the Go module proxy on the first run,
Postgres storage, the static users with random passwords shown in the banner; where no Go
toolchain is present, the stand-in `tests/provider` instead, and the banner says which), a Redis
of its own when `redis-server` exists (else the in-memory store), and two services, each an
upstream page (`scripts/demo_upstream.py`) behind its own sidecar (`python -m sidecar --config
FILE`). The first service's page calls the second on the user's behalf: it exchanges its
`X-Auth-Assertion` at its sidecar's `POST /.auth/token` and calls the second sidecar with the
token (CONTRACT "Service to service"), then shows what the second service saw, actor included.
Prints the URL to open; stops everything on Ctrl-C (SIGINT) or SIGTERM. Run as `.venv/bin/python
-m scripts.demo [--provider auto|dex|standin] [--sidecar-port N ...]`; a port of 0, or a default
that is taken, means any free port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from scripts.demo_dex import DemoProvider, start_provider
from scripts.demo_upstream import AssertionCheck, Downstream, start_upstream
from scripts.dex_build import find_go
from tests.fixtures.procs import ProcessStartError, start_process, stop_process
from tests.fixtures.provider import PROVIDER_DIR

DEFAULT_PORTS = {
    "sidecar": 4180,
    "admin": 4181,
    "upstream": 4182,
    "provider": 5556,
    "second-sidecar": 4183,
    "second-admin": 4184,
    "second-upstream": 4185,
}
LOOPBACK = "127.0.0.1"


@dataclass
class Stack:
    url: str
    upstream_port: int
    second_url: str
    second_upstream_port: int
    provider: DemoProvider
    redis_url: str | None
    workdir: Path


def pick_port(preferred: int) -> int:
    """`preferred` when it can be bound on loopback right now, else any free port."""
    for port in ((preferred,) if preferred else ()) + (0,):
        with socket.socket() as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                continue
            chosen: int = probe.getsockname()[1]
            return chosen
    raise OSError("no free loopback port")


def missing_prerequisites(choice: str) -> list[str]:
    """What the stand-in needs, when it is the one that will run."""
    problems: list[str] = []
    if choice == "dex" or (choice == "auto" and find_go() is not None):
        return problems
    if shutil.which("node") is None:
        problems.append("node is not installed (Node 20 runs the test OpenID provider)")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        problems.append("tests/provider/node_modules is missing: run `make deps`")
    return problems


def start_redis(workdir: Path, cleanup: contextlib.ExitStack) -> str | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = pick_port(0)
    argv = [binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(workdir)]
    process, _ = start_process(
        argv, log_path=workdir / "redis.log", ready=lambda line: "Ready to accept" in line
    )
    cleanup.callback(stop_process, process)
    return f"redis://{LOOPBACK}:{port}/0"


def sidecar_config(
    provider: DemoProvider, redis_url: str | None, url: str, ports: dict[str, int], prefix: str
) -> dict[str, Any]:
    """One service's sidecar; `prefix` is "" for the first service, "second-" for the second."""
    upstream = f"http://{LOOPBACK}:{ports[prefix + 'upstream']}"
    session: dict[str, Any] = {"redis_url": redis_url} if redis_url else {}
    if prefix:  # both sidecars live on 127.0.0.1, where cookies ignore the port
        session["cookie_name"] = "second_session"
    return {
        "oidc": {"issuer": provider.issuer, "client_id": provider.client_id},
        "public_url": url,
        "listen": f"{LOOPBACK}:{ports[prefix + 'sidecar']}",
        "admin_listen": f"{LOOPBACK}:{ports[prefix + 'admin']}",
        "upstream": upstream,
        "assertion": {"audience": upstream},
        "session": session,
        "log": {"level": "info", "format": "json"},
        "policy": [
            {"path": "/public", "allow": "public"},
            {"path": "/admins", "groups": ["admins"]},
            {"path": "/", "allow": "authenticated"},
        ],
    }


def start_sidecar(
    stack: Stack, name: str, config: dict[str, Any], cleanup: contextlib.ExitStack
) -> None:
    path = stack.workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    # The secrets go by environment (env wins over the file), never into a file on disk.
    env = dict(os.environ)
    env["SIDECAR_OIDC_CLIENT_SECRET"] = stack.provider.client_secret
    env["SIDECAR_SESSION_SECRET"] = secrets.token_urlsafe(32)  # as `auth-sidecar gen-secret`
    process, _ = start_process(
        [sys.executable, "-m", "sidecar", "--config", str(path)],
        log_path=stack.workdir / f"{name}.log",
        ready=lambda line: '"serving"' in line,
        timeout_s=30,
        env=env,
    )
    cleanup.callback(stop_process, process)


def start_stack(
    workdir: Path, wanted: dict[str, int], cleanup: contextlib.ExitStack, choice: str = "auto"
) -> Stack:
    ports = {name: pick_port(port) for name, port in wanted.items()}
    sidecar_ports = [ports["sidecar"], ports["second-sidecar"]]
    provider = start_provider(workdir, ports["provider"], sidecar_ports, cleanup, choice)
    stack = Stack(
        url=f"http://{LOOPBACK}:{ports['sidecar']}",
        upstream_port=ports["upstream"],
        second_url=f"http://{LOOPBACK}:{ports['second-sidecar']}",
        second_upstream_port=ports["second-upstream"],
        provider=provider,
        redis_url=start_redis(workdir, cleanup),
        workdir=workdir,
    )
    first = sidecar_config(provider, stack.redis_url, stack.url, ports, "")
    first["token_exchange"] = {"audiences": stack.second_url}  # it may call the second
    second = sidecar_config(provider, stack.redis_url, stack.second_url, ports, "second-")
    second["trusted_issuers"] = [{"issuer": stack.url, "jwks_url": stack.url + "/.auth/jwks"}]
    start_sidecar(stack, "second-sidecar", second, cleanup)
    start_sidecar(stack, "sidecar", first, cleanup)
    return stack


def banner(stack: Stack) -> str:
    logins = [
        f"{email} / {password}  (groups: {', '.join(groups) or '-'})"
        for email, password, groups in stack.provider.logins
    ]
    others = "\n".join(f"               {line}" for line in logins[1:])
    store = stack.redis_url or "in-memory (no redis-server found)"
    return f"""
auth-sidecar demo is running.
  Open:        {stack.url}/
  Log in as:   {logins[0]}
  Others:
{others}
  Second:      {stack.second_url}/ (the first service calls it on your behalf)
  Provider:    {stack.provider.description}
               {stack.provider.issuer}
  Sessions:    {store}
  Logs:        {stack.workdir}
Ctrl-C stops everything."""


async def serve(stack: Stack) -> None:
    """Run the upstream page until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    first_upstream = f"http://{LOOPBACK}:{stack.upstream_port}"
    second_upstream = f"http://{LOOPBACK}:{stack.second_upstream_port}"
    first = AssertionCheck(
        jwks_url=stack.url + "/.auth/jwks", issuer=stack.url, audience=first_upstream
    )
    second = AssertionCheck(
        jwks_url=stack.second_url + "/.auth/jwks", issuer=stack.second_url, audience=second_upstream
    )
    downstream = Downstream(token_url=stack.url + "/.auth/token", url=stack.second_url)
    runners = [
        await start_upstream(first, stack.upstream_port, downstream),
        await start_upstream(second, stack.second_upstream_port),
    ]
    try:
        print(banner(stack), flush=True)
        await stop.wait()
        print("stopping...", flush=True)
    finally:
        for runner in runners:
            await runner.cleanup()


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt  # SIGTERM during start-up: unwind and stop what started, as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description="Run the sidecar demo locally.")
    for name, port in DEFAULT_PORTS.items():
        parser.add_argument(f"--{name}-port", type=int, default=port, metavar="N")
    parser.add_argument(
        "--provider",
        choices=["auto", "dex", "standin"],
        default="auto",
        help="auto (default): the real Dex when a Go toolchain can build it, else the stand-in",
    )
    args = parser.parse_args(argv)
    problems = missing_prerequisites(args.provider)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    wanted = {name: getattr(args, f"{name}_port".replace("-", "_")) for name in DEFAULT_PORTS}
    signal.signal(signal.SIGTERM, _interrupt)
    with (
        tempfile.TemporaryDirectory(prefix="auth-sidecar-demo-") as tmp,
        contextlib.ExitStack() as cleanup,
    ):
        try:
            stack = start_stack(Path(tmp), wanted, cleanup, args.provider)
            asyncio.run(serve(stack))
        except KeyboardInterrupt:
            print("stopping...", flush=True)
        except (ProcessStartError, OSError, RuntimeError) as exc:  # names the process, its log
            print(f"could not start the demo: {exc}", file=sys.stderr)
            return 1
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
