"""Browser sessions: a narrow byte-level store, the sealed ticket, and the manager.

Importing the package imports redis-py (the Redis store and the session signal) without the
OpenTelemetry metrics SDK: redis-py 8 loads it at import time whenever it is installed (the
`tracing` extra installs the SDK) for metrics of its own that the sidecar never turns on.
That SDK, with psutil and the modules it pulls in, is about 2.6 MB of idle RSS and 60
modules. The block lasts for that one import only; whatever imports the SDK later gets it.
"""

from __future__ import annotations

import importlib
import sys

_REDIS_UNUSED = "opentelemetry.sdk.metrics"


def _import_redis_without_otel_metrics() -> None:
    if "redis" in sys.modules or _REDIS_UNUSED in sys.modules:
        return
    sys.modules[_REDIS_UNUSED] = None  # type: ignore[assignment]  # `import` raises ImportError
    try:
        importlib.import_module("redis.asyncio")
    finally:
        if _REDIS_UNUSED in sys.modules and sys.modules[_REDIS_UNUSED] is None:
            del sys.modules[_REDIS_UNUSED]


_import_redis_without_otel_metrics()
