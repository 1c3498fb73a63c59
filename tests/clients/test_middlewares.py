"""The aiohttp, ASGI and WSGI middlewares: a verified assertion reaches the application as
claims; none, a duplicated or a refused one is 401; keys that cannot be fetched are 503."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

import aiohttp
import pytest
from aiohttp import web
from auth_sidecar_verifier import Claims, Verifier
from auth_sidecar_verifier.middleware import CLAIMS_KEY, STATE_KEY
from auth_sidecar_verifier.middleware.aiohttp import CLAIMS, assertion_middleware, claims_of
from auth_sidecar_verifier.middleware.asgi import AssertionMiddleware as AsgiMiddleware
from auth_sidecar_verifier.middleware.wsgi import AssertionMiddleware as WsgiMiddleware

from tests.clients.conftest import JwksServer
from tests.clients.signing import AUDIENCE, ISSUER, TestKey, claims
from tests.fixtures.ports import LOOPBACK

INVALID = {"error": "invalid_assertion"}
UNAVAILABLE = {"error": "jwks_unavailable"}


@pytest.fixture
def key(jwks_server: JwksServer) -> TestKey:
    key = TestKey()
    jwks_server.serve(key.jwks())
    return key


@pytest.fixture
def verifier(jwks_server: JwksServer) -> Verifier:
    return Verifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_server.url)


def described(found: Claims | None) -> Any:
    return None if found is None else {"sub": found.sub, "groups": list(found.groups)}


def cases(key: TestKey) -> list[tuple[str, list[tuple[str, str]], int, Any]]:
    """(name, request headers, status, body) every middleware must give."""
    good = key.sign(claims())
    other = TestKey().sign(claims())  # same kid "test-key", another key
    return [
        ("valid", [("X-Auth-Assertion", good)], 200, {"sub": "user-1", "groups": ["devs"]}),
        (
            "lower-case name",
            [("x-auth-assertion", good)],
            200,
            {"sub": "user-1", "groups": ["devs"]},
        ),
        ("missing", [("X-Auth-Subject", "user-1")], 401, INVALID),
        ("forged", [("X-Auth-Assertion", other)], 401, INVALID),
        ("expired", [("X-Auth-Assertion", key.sign(claims(exp=1, iat=0)))], 401, INVALID),
        ("duplicated", [("X-Auth-Assertion", good), ("X-Auth-Assertion", good)], 401, INVALID),
        ("garbage", [("X-Auth-Assertion", "Bearer abc")], 401, INVALID),
    ]


# -- aiohttp ---------------------------------------------------------------------------------


async def aiohttp_app(aiohttp_server: Any, verifier: Verifier, **kw: Any) -> str:
    async def show(request: web.Request) -> web.Response:
        assert request[CLAIMS] is claims_of(request)
        return web.json_response(described(claims_of(request)))

    app = web.Application(middlewares=[assertion_middleware(verifier, **kw)])
    app.router.add_get("/", show)
    server = await aiohttp_server(app, host=LOOPBACK)
    return f"http://{LOOPBACK}:{server.port}/"


async def aiohttp_get(url: str, headers: list[tuple[str, str]]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.json()


async def test_aiohttp(aiohttp_server: Any, verifier: Verifier, key: TestKey) -> None:
    url = await aiohttp_app(aiohttp_server, verifier)
    for name, headers, status, body in cases(key):
        assert await aiohttp_get(url, headers) == (status, body), name


async def test_aiohttp_optional_and_unavailable(
    aiohttp_server: Any, verifier: Verifier, key: TestKey, jwks_server: JwksServer
) -> None:
    url = await aiohttp_app(aiohttp_server, verifier, optional=True)
    assert await aiohttp_get(url, []) == (200, None)
    assert await aiohttp_get(url, [("X-Auth-Assertion", "x.y.z")]) == (401, INVALID)
    jwks_server.status = 500
    assert await aiohttp_get(url, [("X-Auth-Assertion", key.sign(claims()))]) == (503, UNAVAILABLE)


# -- ASGI (called as an ASGI server calls it) -----------------------------------------------


class AsgiCall:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.scope: dict[str, Any] | None = None

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        if scope["type"] == "http":
            body = json.dumps(described(scope["state"][STATE_KEY])).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})

    async def run(self, middleware: AsgiMiddleware, kind: str, headers: list[tuple[str, str]]):
        scope = {
            "type": kind,
            "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
            "state": {"from_lifespan": 1},
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            self.sent.append(message)

        await middleware(scope, receive, send)
        if kind != "http":
            return None
        return self.sent[0]["status"], json.loads(self.sent[1]["body"])


async def test_asgi(verifier: Verifier, key: TestKey) -> None:
    for name, headers, status, body in cases(key):
        call = AsgiCall()
        assert await call.run(AsgiMiddleware(call.app, verifier), "http", headers) == (status, body)
        if status == 200:
            assert call.scope is not None
            assert call.scope["state"]["from_lifespan"] == 1, name  # the state is kept
        else:
            assert call.scope is None, name  # the application never ran


async def test_asgi_websocket_lifespan_and_optional(verifier: Verifier, key: TestKey) -> None:
    call = AsgiCall()
    await call.run(AsgiMiddleware(call.app, verifier), "websocket", [])
    assert call.sent == [{"type": "websocket.close", "code": 1008}]
    assert call.scope is None
    call = AsgiCall()
    await call.run(
        AsgiMiddleware(call.app, verifier), "websocket", [("X-Auth-Assertion", key.sign(claims()))]
    )
    assert call.scope is not None
    assert call.scope["state"][STATE_KEY].sub == "user-1"
    call = AsgiCall()
    await call.run(AsgiMiddleware(call.app, verifier), "lifespan", [])
    assert call.scope is not None  # passed through untouched
    call = AsgiCall()
    assert await call.run(AsgiMiddleware(call.app, verifier, optional=True), "http", []) == (
        200,
        None,
    )


# -- WSGI (a real wsgiref server in a thread) ------------------------------------------------


def wsgi_show(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    body = json.dumps(described(environ[CLAIMS_KEY])).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def wsgi_server() -> Iterator[Callable[..., str]]:
    servers = []

    def start(verifier: Verifier, *, optional: bool = False) -> str:
        app = WsgiMiddleware(wsgi_show, verifier, optional=optional)
        server = make_server(LOOPBACK, 0, app, handler_class=QuietHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://{LOOPBACK}:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def wsgi_get(url: str, headers: list[tuple[str, str]]) -> tuple[int, Any]:
    """http.client, to send a header twice (urllib keeps one per name)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or LOOPBACK, parts.port, timeout=10)
    try:
        connection.putrequest("GET", "/")
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_wsgi(wsgi_server: Callable[..., str], verifier: Verifier, key: TestKey) -> None:
    url = wsgi_server(verifier)
    for name, headers, status, body in cases(key):
        assert wsgi_get(url, headers) == (status, body), name


def test_wsgi_optional_and_unavailable(
    wsgi_server: Callable[..., str], verifier: Verifier, key: TestKey, jwks_server: JwksServer
) -> None:
    url = wsgi_server(verifier, optional=True)
    assert wsgi_get(url, []) == (200, None)
    assert wsgi_get(url, [("X-Auth-Assertion", "x.y.z")]) == (401, INVALID)
    jwks_server.status = 500
    assert wsgi_get(url, [("X-Auth-Assertion", key.sign(claims()))]) == (503, UNAVAILABLE)
