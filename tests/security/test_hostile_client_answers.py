"""Every answer, aiohttp's own included, in the contract's shape (issue 16 item 7).

CONTRACT "Status codes": error bodies are small JSON `{"error", "request_id"}` with
`X-Request-ID`, and the access line's `status` is the status sent. `OPTIONS *` (RFC 9112
section 3.2.4, the asterisk-form) matched no route: aiohttp's router answered a plain-text
`404: Not Found` and the log line said 500. The first tests use the real sidecar; the rest run
the sidecar's own middlewares and server class on an app whose handlers make aiohttp answer
(a 405, a raised `HTTPException`, a timeout, a bug), which the sidecar's routes never do today.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from sidecar.http.middleware import error_middleware, make_context_middleware
from sidecar.http.protocol_errors import SidecarRunner
from sidecar.metrics import Metrics
from tests.fixtures.ports import LOOPBACK, free_port
from tests.security.rawhttp import RawResponse, exchange, request_bytes, send


def assert_contract_error(response: RawResponse, status: int) -> str:
    """The JSON body and `X-Request-ID` (the same id); returns the id."""
    assert response.status == status, response
    assert (response.header("Content-Type") or "").startswith("application/json"), response
    body = response.json()
    assert set(body) == {"error", "request_id"}, body
    assert response.header("X-Request-ID") == body["request_id"], response
    return str(body["request_id"])


def access_lines(out: str) -> dict[str, dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {line["request_id"]: line for line in lines if line.get("event") == "request"}


@pytest.mark.parametrize(
    ("method", "target"),
    [("OPTIONS", "*"), ("CONNECT", "127.0.0.1:80")],
    ids=["asterisk", "connect"],
)
async def test_router_answers_are_json_with_the_request_id_and_logged_as_sent(
    lying_sidecar_factory, capsys, method, target
):
    sidecar = await lying_sidecar_factory({"log": {"level": "info"}})
    capsys.readouterr()
    response = await send(sidecar.url, method, target)
    req_id = assert_contract_error(response, 404)
    await asyncio.sleep(0.05)  # the access line leaves at the next loop iteration
    line = access_lines(capsys.readouterr().out)[req_id]
    assert line["status"] == 404
    assert line["decision"] == "not_found"


async def test_an_unparsable_target_gets_the_request_id_header_too(lying_sidecar):
    """`GET *` fails in aiohttp's parser, before any middleware: the protocol handler's JSON
    answer carries `X-Request-ID` as well."""
    (response,) = await exchange(lying_sidecar.url, request_bytes("GET", "*"))
    assert_contract_error(response, 400)


# --- aiohttp's other answers, through the sidecar's middlewares ---------------------------------


class Lines:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, **fields})


async def _timeout(request: web.Request) -> web.StreamResponse:
    raise TimeoutError


async def _bug(request: web.Request) -> web.StreamResponse:
    raise RuntimeError("internal detail never shown")


async def _too_large(request: web.Request) -> web.StreamResponse:
    raise web.HTTPRequestEntityTooLarge(max_size=10, actual_size=20)


async def _moved(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/elsewhere")


async def _ok(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Lines]]:
    lines = Lines()
    app = web.Application(
        middlewares=[make_context_middleware([], Metrics(), lines), error_middleware]
    )
    app.router.add_get("/only-get", _ok)
    for path, handler in [("/timeout", _timeout), ("/bug", _bug), ("/large", _too_large)]:
        app.router.add_get(path, handler)
    app.router.add_get("/moved", _moved)
    runner = SidecarRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, LOOPBACK, port).start()
    try:
        yield f"http://{LOOPBACK}:{port}", lines
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/only-get", 405),
        ("GET", "/large", 413),
        ("GET", "/timeout", 504),
        ("GET", "/bug", 500),
        ("GET", "/nowhere", 404),
    ],
)
async def test_aiohttp_answers_in_the_contract_shape(served, method, path, status):
    url, lines = served
    response = await send(url, method, path)
    req_id = assert_contract_error(response, status)
    assert b"internal detail" not in response.body
    logged = [line for line in lines.lines if line["request_id"] == req_id]
    assert [line["status"] for line in logged] == [status]
    if status == 405:
        assert "GET" in (response.header("Allow") or "")


async def test_a_raised_redirect_keeps_its_location_and_gets_the_request_id(served):
    url, lines = served
    response = await send(url, "GET", "/moved")
    assert response.status == 302
    assert response.header("Location") == "/elsewhere"
    assert response.header("X-Request-ID") == lines.lines[-1]["request_id"]
    assert lines.lines[-1]["status"] == 302
