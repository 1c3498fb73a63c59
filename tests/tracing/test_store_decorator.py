"""The store decorator against the real memory store and the real SDK (in-memory exporter):
a span per call under the caller's span, none outside a request, and operations the store
protocol gains later traced too."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from sidecar.sessions.memory import MemoryStore
from sidecar.tracing.store import TracedStore


class GrownStore(MemoryStore):
    """A store whose protocol grew an operation after the decorator was written."""

    async def save_twice(self, key: str, value: bytes, ttl_s: float) -> None:
        await self.save(key, value, ttl_s)
        await self.save(key, value, ttl_s)


def tracer_and_exporter():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


async def test_each_call_is_a_client_span_under_the_request_and_never_names_the_key():
    tracer, exporter = tracer_and_exporter()
    store = TracedStore(GrownStore(max_entries=10), tracer, "memory")
    with tracer.start_as_current_span("request", kind=SpanKind.SERVER) as request:
        await store.save("{ticket-derived}:s", b"sealed", 60)
        assert await store.load("{ticket-derived}:s") == b"sealed"
        await store.save_twice("{ticket-derived}:t", b"sealed", 60)
        assert await store.acquire_lock("{ticket-derived}:l", "me", 5) is True
    spans = [s for s in exporter.get_finished_spans() if s.name != "request"]
    assert [s.name for s in spans] == [
        "session_store save",
        "session_store load",
        "session_store save_twice",
        "session_store acquire_lock",
    ]
    for span in spans:
        assert span.kind == SpanKind.CLIENT
        assert span.parent is not None
        assert span.parent.span_id == request.get_span_context().span_id
        assert span.attributes["db.system.name"] == "memory"
        assert "ticket-derived" not in str(dict(span.attributes))


async def test_calls_outside_a_request_make_no_span():
    tracer, exporter = tracer_and_exporter()
    store = TracedStore(GrownStore(max_entries=10), tracer, "memory")
    await store.ping()
    await store.save_twice("k", b"v", 60)
    assert exporter.get_finished_spans() == ()
