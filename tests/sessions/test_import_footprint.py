"""Importing the app leaves out what redis-py would load for its own OpenTelemetry metrics
(`sidecar/sessions/__init__.py`), and the SDK still imports for whoever asks for it later."""

import importlib.util
import subprocess
import sys

import pytest

SDK = "opentelemetry.sdk.metrics"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("opentelemetry.sdk") is None, reason="the tracing extra is absent"
)


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_importing_the_app_does_not_import_the_otel_metrics_sdk_or_psutil():
    code = (
        "import sys, sidecar.app, redis.asyncio;"
        f"print(sorted(m for m in sys.modules if m.startswith(('{SDK}', 'psutil'))))"
    )
    assert _run(code) == "[]"


def test_the_sdk_imports_afterwards_and_redis_works_without_it():
    code = (
        "import sidecar.app, importlib, redis.asyncio;"
        f"importlib.import_module('{SDK}');"
        "redis.asyncio.Redis.from_url('redis://127.0.0.1:1/0');"
        "print('ok')"
    )
    assert _run(code) == "ok"
