"""Tracing off (the default): nothing of it is wired, `traceparent`/`tracestate` pass through
untouched; and without the `tracing` extra the sidecar runs, while `tracing.enabled` is a
clear start-up error naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from sidecar.http.middleware import error_middleware
from sidecar.keys import STORE
from sidecar.pipeline.context import Pipeline
from sidecar.pipeline.entry import PROXY_PIPELINE, VERIFY_PIPELINE
from sidecar.pipeline.steps import ProxyToUpstream
from sidecar.sessions.memory import MemoryStore
from sidecar.tracing.tracer import TRACING
from tests.fixtures.ports import free_port
from tests.fixtures.procs import start_process, stop_process
from tests.fixtures.sidecar import base_config, merge, write_config
from tests.tracing.conftest import sidecar_env
from tests.tracing.spans import TRACEPARENT, TRACESTATE, echoed_header, get

UNTRUSTED = {"trusted_proxies": "10.0.0.0/8"}


async def test_off_by_default_nothing_is_wired(sidecar_factory):
    running = await sidecar_factory()
    app = running.app
    assert running.settings.tracing.enabled is False
    assert TRACING not in app
    assert len(app.middlewares) == 2  # the context and the error middlewares only
    assert app.middlewares[-1] is error_middleware
    assert type(app[STORE]) is MemoryStore  # not a decorator
    for key in (PROXY_PIPELINE, VERIFY_PIPELINE):
        pipeline: Pipeline = app[key]
        assert all(type(step).__module__.startswith("sidecar.pipeline") for step in pipeline.steps)
    assert any(type(step) is ProxyToUpstream for step in app[PROXY_PIPELINE].steps)


async def test_off_traceparent_and_tracestate_pass_through_unchanged(
    oidc_provider, echo_upstream, sidecar_factory
):
    tokens = await oidc_provider.login("user@example.com", "password")
    for overrides in ({}, UNTRUSTED):
        running = await sidecar_factory(overrides)
        headers = {
            "Authorization": f"Bearer {tokens.id_token}",
            "traceparent": TRACEPARENT,
            "tracestate": TRACESTATE,
        }
        assert (await get(running.url + "/api/x", headers))[0] == 200
        echo = echo_upstream.last()
        assert echoed_header(echo, "traceparent") == [TRACEPARENT]
        assert echoed_header(echo, "tracestate") == [TRACESTATE]


def without_opentelemetry(tmp_path: Path) -> dict[str, str]:
    """An environment where `import opentelemetry` fails, as without the `tracing` extra: a
    regular package of that name earlier on the path shadows the installed namespace one."""
    shadow = tmp_path / "no-otel" / "opentelemetry"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("the tracing extra is absent")\n')
    env = sidecar_env(None)
    env["PYTHONPATH"] = f"{shadow.parent}:{env['PYTHONPATH']}"
    return env


def config_file(tmp_path: Path, oidc_provider, upstream: str, tracing: bool) -> dict[str, Any]:
    port, admin_port = free_port(), free_port()
    config = merge(
        base_config(oidc_provider, port, admin_port, upstream),
        {"log": {"level": "info"}, "tracing": {"enabled": tracing}},
    )
    config["path"] = write_config(tmp_path / f"sidecar-{tracing}.yaml", config)
    return config


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m sidecar ARGS` to its end, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_without_the_extra_the_sidecar_runs(tmp_path, oidc_provider, echo_upstream):
    config = config_file(tmp_path, oidc_provider, echo_upstream.url, tracing=False)
    log_path = tmp_path / "no-otel.log"
    process, _ = start_process(
        [sys.executable, "-m", "sidecar", "--config", str(config["path"])],
        log_path=log_path,
        ready=lambda line: '"serving"' in line,
        env=without_opentelemetry(tmp_path),
    )
    try:
        tokens = await oidc_provider.login("user@example.com", "password")
        headers = {"Authorization": f"Bearer {tokens.id_token}", "traceparent": TRACEPARENT}
        assert (await get(config["public_url"] + "/api/x", headers))[0] == 200
        assert echoed_header(echo_upstream.last(), "traceparent") == [TRACEPARENT]
        assert (await get(f"http://{config['admin_listen']}/readyz"))[0] == 200
    finally:
        exit_code = stop_process(process)
    assert exit_code == 0, log_path.read_text()[-2000:]  # a clean shutdown
    assert "Traceback" not in log_path.read_text()


def test_without_the_extra_tracing_enabled_is_a_start_up_error(
    tmp_path, oidc_provider, echo_upstream
):
    config = config_file(tmp_path, oidc_provider, echo_upstream.url, tracing=True)
    done = run_cli(["--config", str(config["path"])], without_opentelemetry(tmp_path))
    assert done.returncode == 2, done.stderr[-2000:]
    problem = done.stderr.strip().splitlines()[-1]
    assert problem.startswith("tracing.enabled (SIDECAR_TRACING_ENABLED): OpenTelemetry is")
    assert "auth-sidecar[tracing]" in problem
    assert "Traceback" not in done.stderr
    assert '"serving"' not in done.stdout + done.stderr


def test_without_the_extra_check_config_names_the_key(tmp_path, oidc_provider, echo_upstream):
    config = config_file(tmp_path, oidc_provider, echo_upstream.url, tracing=True)
    args = ["check-config", "--config", str(config["path"])]
    done = run_cli(args, without_opentelemetry(tmp_path))
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().startswith("tracing.enabled (SIDECAR_TRACING_ENABLED):")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""  # no effective settings printed for a config that cannot serve


def test_an_unsupported_otlp_protocol_is_a_start_up_error(tmp_path, oidc_provider, echo_upstream):
    config = config_file(tmp_path, oidc_provider, echo_upstream.url, tracing=True)
    env = sidecar_env(None, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    done = run_cli(["--config", str(config["path"])], env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "OTEL_EXPORTER_OTLP_PROTOCOL='grpc' is not supported" in done.stderr
