"""structlog set-up: one JSON line per event, request context carried by contextvars.

Tokens, cookies, codes, secrets and tickets are never passed to a logger; `drop_secrets` is the
belt to those braces: any event key that names one is replaced before rendering.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any, Protocol

import structlog

_SECRET_KEY_PARTS = (
    "token",
    "cookie",
    "secret",
    "ticket",
    "password",
    "authorization",
    "assertion",
    "code",
)


def drop_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event):
        lowered = key.lower()
        if key != "event" and any(part in lowered for part in _SECRET_KEY_PARTS):
            event[key] = "[redacted]"
    return event


def configure_logging(level: str = "info", fmt: str = "json", stream: Any = None) -> None:
    """Process-wide logging configuration: called once, by the server at start-up.

    One format on one stream: the sidecar's own events and the records of the libraries it
    uses (aiohttp, redis-py, OpenTelemetry; warning and above) are rendered by the same
    processors (structlog's `ProcessorFormatter`), as JSON lines on stdout (or `stream`: a
    shell command keeps stdout for its answer)."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_secrets,
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or _CurrentStdout())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.WARNING))


class AccessLog(Protocol):
    """What the middleware calls once per request (CONTRACT "Logs and metrics")."""

    def info(self, event: str, **fields: Any) -> Any: ...


class _AccessRenderer:
    """Adds `level` and an ISO 8601 UTC `timestamp` (as `TimeStamper(fmt="iso", utc=True)`
    writes it), then renders with `json.dumps`'s own C encoder, built once instead of per call
    (most of `json.dumps`'s cost for a small dict is making that encoder)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""
        self._encode = _one_shot_encoder()

    def __call__(self, _logger: Any, method: str, event: MutableMapping[str, Any]) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            moment = datetime.datetime.fromtimestamp(second, datetime.UTC)
            self._second, self._prefix = second, moment.strftime("%Y-%m-%dT%H:%M:%S")
        event["level"] = method
        event["timestamp"] = f"{self._prefix}.{int((now - second) * 1e6):06d}Z"
        return self._encode(event)


def _one_shot_encoder() -> Callable[[Any], str]:
    """`json.dumps` for the access line. CPython's C encoder (`c_make_encoder`) is not public
    API: when this Python has it, it is built once with the arguments
    `JSONEncoder.iterencode(o, _one_shot=True)` passes for the defaults (the same call
    `json.dumps` makes, so a Python that changed it breaks `json` too); else the public
    `JSONEncoder.encode`."""
    encoder = json.JSONEncoder()
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator
        return encoder.encode
    c_encoder = make(
        None,
        encoder.default,
        json.encoder.encode_basestring_ascii,
        None,
        encoder.key_separator,
        encoder.item_separator,
        False,
        False,
        True,
    )
    return lambda event: "".join(c_encoder(event, 0))


class _CurrentStdout:
    """`sys.stdout` as it is at each write (a test's capture, a redirect), like `print`."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class _PerLoopIteration:
    """The lines written during one event-loop iteration leave in one write, at the start of
    the next iteration (before its I/O callbacks run), instead of one write system call each.

    Under load an iteration completes several requests, so this saves most of the access
    log's system calls; a line still reaches the output within one iteration, i.e. before the
    loop handles anything else. Outside a running loop every line is written at once.
    """

    def __init__(self, target: Any) -> None:
        self._target = target
        self._pending: list[str] = []

    def write(self, text: str) -> int:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._target.write(text)
            self._target.flush()
            return len(text)
        if not self._pending:
            loop.call_soon(self.flush_pending)
        self._pending.append(text)
        return len(text)

    def flush(self) -> None:
        """structlog's `WriteLogger` flushes after every line: the flush is `flush_pending`."""

    def flush_pending(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._target.write(text)
            self._target.flush()


class _JsonAccessLine:
    """`info(event, **fields)`: the event dict structlog would build (the fields, then
    `event`), rendered by `_AccessRenderer`, one line to `out`. No bound-logger layer: the
    access line has no bound context and one level, so structlog's per-call dispatch, context
    copy and lock would be all it added (~3 us a line)."""

    def __init__(self, out: _PerLoopIteration) -> None:
        self._render = _AccessRenderer()
        self._out = out

    def info(self, event: str, **fields: Any) -> None:
        fields["event"] = event
        self._out.write(self._render(None, "info", fields) + "\n")


class _Silent:
    """The access line below its level: nothing is rendered or written."""

    def info(self, event: str, **fields: Any) -> None:
        return None


def access_logger(level: str = "info", fmt: str = "json", file: Any = None) -> AccessLog:
    """The access line's own logger: the same JSON line as `configure_logging` renders
    (level, ISO UTC timestamp, `json.dumps`), at a fraction of the cost per call.

    The general chain costs ~30 to 70 us a line on the bench machine, much of it
    `merge_contextvars` (it copies and walks the whole context), `drop_secrets` and a new JSON
    encoder per call; here one renderer adds level and time and renders with an encoder built
    once. The caller passes `request_id` itself, and the line's keys are the fixed names of the
    contract, none of which names a secret (so `drop_secrets` has nothing to find). The lines
    of one event-loop iteration are written together (`_PerLoopIteration`). `console` keeps
    structlog's general chain, for humans.
    """
    if fmt != "json":
        return structlog.get_logger("sidecar.access")  # type: ignore[no-any-return]
    if logging.getLevelNamesMapping()[level.upper()] > logging.INFO:
        return _Silent()
    return _JsonAccessLine(_PerLoopIteration(file if file is not None else _CurrentStdout()))
