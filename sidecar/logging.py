"""structlog set-up: one JSON line per event, request context carried by contextvars.

Tokens, cookies, codes, secrets and tickets are never passed to a logger; `drop_secrets` is the
belt to those braces: any event key that names one is replaced before rendering.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

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


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Process-wide logging configuration: called once, by the server at start-up."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            drop_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    # Library loggers (aiohttp, redis) go to stderr at warning level and above.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)
