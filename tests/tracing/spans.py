"""Helpers to read a received trace: the spans of one trace, by kind and name, and links."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import aiohttp

from tests.tracing.otlp_receiver import OtlpReceiver, ReceivedSpan

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
TRACESTATE = "kong=00f067aa0ba902b7,vendor=opaque"


def parse_traceparent(value: str) -> tuple[str, str]:
    """(trace id, parent span id) of a W3C `traceparent`."""
    version, trace_id, parent_id, flags = value.split("-")
    assert version == "00", value
    assert len(flags) == 2, value
    return trace_id, parent_id


def one(spans: Iterable[ReceivedSpan], kind: str, prefix: str = "") -> ReceivedSpan:
    found = [s for s in spans if s.kind == kind and s.name.startswith(prefix)]
    assert len(found) == 1, [(s.kind, s.name) for s in spans]
    return found[0]


def children(spans: Iterable[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    return [s for s in spans if s.parent_span_id == parent.span_id]


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.get(url, headers=headers or {}, allow_redirects=False) as response,
    ):
        text = await response.text()
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        return response.status, dict(response.headers), body


def echoed_header(echo: dict[str, Any], name: str) -> list[str]:
    """Every value of header `name` the echo upstream received."""
    return [v for k, v in echo["headers"] if k.lower() == name.lower()]


async def server_trace(receiver: OtlpReceiver, request_id: str) -> list[ReceivedSpan]:
    """All spans of the trace whose server span carries `request_id`, once the server span
    (always the last to end) has arrived."""

    def has_server(spans: list[ReceivedSpan]) -> bool:
        return any(s.attributes.get("sidecar.request_id") == request_id for s in spans)

    spans = await receiver.wait_for(has_server)
    server = next(s for s in spans if s.attributes.get("sidecar.request_id") == request_id)
    return receiver.in_trace(server.trace_id)
