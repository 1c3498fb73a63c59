"""A session store decorator: each call a CLIENT span, under the request that made it.

Spans name the operation and the backend, never a key (keys are derived from tickets) or a
value. A call outside any request (a readiness probe, a background task) is not traced: it
would be a trace of one span that nobody asked for.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode, Tracer

from sidecar.errors import StoreUnavailable
from sidecar.sessions.store import SessionStore
from sidecar.tracing import attributes as attr


class TracedStore:
    def __init__(self, inner: SessionStore, tracer: Tracer, system: str) -> None:
        self._inner = inner
        self._tracer = tracer
        self._system = system

    @contextlib.contextmanager
    def _span(self, operation: str) -> Iterator[None]:
        if not trace.get_current_span().is_recording():
            yield
            return
        with self._tracer.start_as_current_span(
            f"session_store {operation}",
            kind=SpanKind.CLIENT,
            attributes={attr.DB_SYSTEM: self._system, attr.DB_OPERATION: operation},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except StoreUnavailable:
                span.set_attribute(attr.ERROR_TYPE, "StoreUnavailable")
                span.set_status(StatusCode.ERROR)
                raise

    async def save(self, key: str, value: bytes, ttl_s: float) -> None:
        with self._span("save"):
            await self._inner.save(key, value, ttl_s)

    async def load(self, key: str) -> bytes | None:
        with self._span("load"):
            return await self._inner.load(key)

    async def load_many(self, keys: Sequence[str]) -> list[bytes | None]:
        with self._span("load_many"):
            return await self._inner.load_many(keys)

    async def take(self, key: str) -> bytes | None:
        with self._span("take"):
            return await self._inner.take(key)

    async def clear(self, key: str) -> None:
        with self._span("clear"):
            await self._inner.clear(key)

    async def acquire_lock(self, key: str, owner: str, lease_s: float) -> bool:
        with self._span("acquire_lock"):
            return await self._inner.acquire_lock(key, owner, lease_s)

    async def renew_lock(self, key: str, owner: str, lease_s: float) -> bool:
        with self._span("renew_lock"):
            return await self._inner.renew_lock(key, owner, lease_s)

    async def release_lock(self, key: str, owner: str) -> None:
        with self._span("release_lock"):
            await self._inner.release_lock(key, owner)

    async def ping(self) -> None:
        with self._span("ping"):
            await self._inner.ping()

    async def close(self) -> None:
        await self._inner.close()

    def __getattr__(self, name: str) -> Any:
        """Operations added to the store protocol after this decorator was written: traced
        the same way, named by the method (anything else passes through)."""
        attribute = getattr(self._inner, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attribute):
            return attribute

        async def traced(*args: Any, **kwargs: Any) -> Any:
            with self._span(name):
                return await attribute(*args, **kwargs)

        return traced
