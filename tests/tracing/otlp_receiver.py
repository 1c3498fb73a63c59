"""An OTLP/HTTP trace receiver: what a collector would get from the sidecar, decoded.

`POST /v1/traces` takes a protobuf `ExportTraceServiceRequest` (opentelemetry-proto's own
message classes, so a malformed export fails here, not silently) and keeps every span as a
`ReceivedSpan`. `python -m tests.tracing.otlp_receiver [--discard]` runs it standalone and
prints `READY <port>`; with `--discard` (the benchmark's collector stand-in) it decodes nothing.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

PROTOBUF = "application/x-protobuf"
KINDS = {value: name.removeprefix("SPAN_KIND_") for name, value in Span.SpanKind.items()}


def any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which) if which else None


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    kind: str  # SERVER, CLIENT, INTERNAL, ...
    trace_id: str  # hex, as in traceparent
    span_id: str
    parent_span_id: str  # "" for a root span
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status: str  # UNSET, OK, ERROR
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def decode(cls, span: Span, resource: dict[str, Any]) -> ReceivedSpan:
        return cls(
            name=span.name,
            kind=KINDS[span.kind],
            trace_id=span.trace_id.hex(),
            span_id=span.span_id.hex(),
            parent_span_id=span.parent_span_id.hex(),
            attributes={kv.key: any_value(kv.value) for kv in span.attributes},
            resource=resource,
            status=Status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
            events=[
                {"name": e.name, **{kv.key: any_value(kv.value) for kv in e.attributes}}
                for e in span.events
            ],
        )


@dataclass
class OtlpReceiver:
    url: str = ""  # base URL, for OTEL_EXPORTER_OTLP_ENDPOINT
    spans: list[ReceivedSpan] = field(default_factory=list)
    exports: int = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._export)
        return app

    async def _export(self, request: web.Request) -> web.Response:
        if request.content_type != PROTOBUF:
            return web.Response(status=415)
        message = ExportTraceServiceRequest()
        try:
            message.ParseFromString(await request.read())
        except DecodeError:
            return web.Response(status=400)
        for resource_spans in message.resource_spans:
            resource = {kv.key: any_value(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend(ReceivedSpan.decode(s, resource) for s in scope_spans.spans)
        self.exports += 1
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type=PROTOBUF)

    def in_trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.trace_id == trace_id]

    async def wait_for(
        self, found: Callable[[list[ReceivedSpan]], bool], timeout_s: float = 10.0
    ) -> list[ReceivedSpan]:
        """Poll until `found(spans)`; the spans then, or AssertionError with what came."""
        deadline = time.monotonic() + timeout_s
        while not found(self.spans):
            if time.monotonic() > deadline:
                names = [(s.name, s.trace_id[:8]) for s in self.spans]
                raise AssertionError(f"spans not received in {timeout_s} s; got {names}")
            await asyncio.sleep(0.05)
        return list(self.spans)


async def _discard(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=b"", content_type=PROTOBUF)


async def _serve_forever(discard: bool) -> None:
    receiver = OtlpReceiver()
    app = receiver.app()
    if discard:  # a sink: answer every export, decode and keep nothing
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", _discard)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"READY {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(_serve_forever(discard="--discard" in sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(0)
