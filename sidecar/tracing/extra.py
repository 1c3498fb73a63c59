"""Whether the `tracing` extra is installed: asked at start-up and by `check-config`, without
importing OpenTelemetry (or anything of the app)."""

from __future__ import annotations

import importlib.util

from sidecar.config.settings import ConfigError

EXTRA_MODULES = ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")
MISSING_EXTRA = (
    "tracing.enabled (SIDECAR_TRACING_ENABLED): OpenTelemetry is not installed; "
    "install the `tracing` extra (pip install 'auth-sidecar[tracing]') or turn tracing off"
)


def check_installed() -> None:
    """`ConfigError` naming the key when the `tracing` extra is missing."""
    for module in EXTRA_MODULES:
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:  # a parent package is missing or broken
            found = False
        if not found:
            raise ConfigError([MISSING_EXTRA])
