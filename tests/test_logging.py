"""The access line's fast logger writes the same JSON line as the general structlog chain."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from sidecar.logging import _one_shot_encoder, access_logger, configure_logging

FIELDS = {
    "request_id": "0f" * 16,
    "method": "GET",
    "path": '/caf\u00e9/"quoted"',
    "status": 200,
    "decision": "allow",
    "duration_ms": 1.234,
    "sub": None,
}


def _timestamp(value: str) -> datetime.datetime:
    assert value.endswith("Z"), value
    assert len(value) == len("2026-01-01T00:00:00.000000Z"), value
    return datetime.datetime.fromisoformat(value.removesuffix("Z") + "+00:00")


@pytest.fixture
def restored_structlog() -> Iterator[None]:
    """configure_logging is process-wide: put the previous configuration back afterwards."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:], root.level = handlers, level


@pytest.mark.usefixtures("restored_structlog")
def test_library_records_are_json_lines_on_the_same_stream(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", "json")
    logging.getLogger("aiohttp.server").error("Error handling request %s", "x", exc_info=False)
    logging.getLogger("redis.cluster").info("below warning: not written")
    structlog.get_logger("sidecar").warning("own_event", token="abc")
    captured = capsys.readouterr()
    assert captured.err == ""
    library, own = (json.loads(line) for line in captured.out.splitlines())
    assert library["event"] == "Error handling request x"
    assert library["level"] == "error"
    assert library["logger"] == "aiohttp.server"
    _timestamp(library["timestamp"])
    assert own["event"] == "own_event"
    assert own["token"] == "[redacted]"


def test_the_access_encoder_falls_back_to_the_public_one(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = json.dumps(FIELDS)
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)  # a Python without it
    fallback = _one_shot_encoder()
    assert getattr(fallback, "__self__", None).__class__ is json.JSONEncoder
    assert fallback(FIELDS) == expected


@pytest.mark.usefixtures("restored_structlog")
def test_the_same_line_as_the_general_chain(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    structlog.get_logger("sidecar.access").info("request", **FIELDS)
    general = capsys.readouterr().out.strip()
    out = io.StringIO()
    access_logger("info", "json", out).info("request", **FIELDS)
    fast = out.getvalue()
    assert fast.endswith("\n")
    assert fast.count("\n") == 1
    general_line, fast_line = json.loads(general), json.loads(fast)
    assert fast_line.keys() == general_line.keys()
    assert {k: v for k, v in fast_line.items() if k != "timestamp"} == {
        k: v for k, v in general_line.items() if k != "timestamp"
    }
    gap = _timestamp(fast_line["timestamp"]) - _timestamp(general_line["timestamp"])
    assert datetime.timedelta(0) <= gap < datetime.timedelta(minutes=1)
    assert fast.isascii()  # as json.dumps: non-ASCII escaped


def test_below_its_level_nothing_is_written() -> None:
    out = io.StringIO()
    access_logger("warning", "json", out).info("request", **FIELDS)
    assert out.getvalue() == ""


class CountingOutput(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def test_the_lines_of_one_loop_iteration_leave_in_one_write() -> None:
    out = CountingOutput()
    log = access_logger("info", "json", out)
    for n in range(3):
        log.info("request", **(FIELDS | {"status": 200 + n}))
    assert out.getvalue() == ""  # not yet: at the start of the next iteration
    await asyncio.sleep(0)
    assert out.writes == 1
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["status"] for line in lines] == [200, 201, 202]
    log.info("request", **FIELDS)
    await asyncio.sleep(0)
    assert out.writes == 2
