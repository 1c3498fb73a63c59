"""Fixtures of the verifier-library tests: the shared vectors, generated fresh with throwaway
keys (clients/vectors/generate.py), and a real HTTP server publishing a JWKS.

The JWKS server runs in a thread of its own (http.server), so that both the sync API (which
blocks the calling thread) and the async API (on the test's event loop) can fetch from it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.app.conftest import id_tokens  # noqa: F401 (the real logins, as a fixture here)
from tests.fixtures.ports import LOOPBACK

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "clients" / "vectors" / "generate.py"


@dataclass
class Vectors:
    dir: Path
    issuer: str
    audience: str
    leeway_s: float
    max_lifetime_s: float
    cases: list[dict[str, Any]]
    documents: dict[str, Any]  # "initial" / "rotated" -> the JWKS document

    def named(self, name: str) -> dict[str, Any]:
        return next(case for case in self.cases if case["name"] == name)


def generate_vectors(outdir: Path) -> Vectors:
    subprocess.run([sys.executable, str(GENERATOR), str(outdir)], check=True, timeout=60)
    data = json.loads((outdir / "vectors.json").read_text())
    documents = {
        phase: json.loads((outdir / filename).read_text())
        for phase, filename in data["jwks"].items()
    }
    return Vectors(
        dir=outdir,
        issuer=data["issuer"],
        audience=data["audience"],
        leeway_s=data["leeway_s"],
        max_lifetime_s=data["max_lifetime_s"],
        cases=data["cases"],
        documents=documents,
    )


@pytest.fixture(scope="module")
def vectors(tmp_path_factory: pytest.TempPathFactory) -> Vectors:
    """Per module, so that the vectors' relative times stay minutes from now."""
    return generate_vectors(tmp_path_factory.mktemp("vectors"))


@dataclass
class JwksServer:
    """`document` is served at `url` with `cache_control` (bytes as they are, else as JSON);
    `status` != 200 makes it fail; `hold` (a threading.Event) holds each answer until set;
    `hits` counts requests."""

    url: str = ""
    document: Any = None
    cache_control: str | None = "public, max-age=300"
    status: int = 200
    hold: threading.Event | None = None
    hits: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)  # set at every request
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, document: Any, cache_control: str | None = "public, max-age=300") -> None:
        self.document, self.cache_control, self.status = document, cache_control, 200


def _handler(state: JwksServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.hits += 1
            state.arrived.set()
            if state.hold is not None:
                state.hold.wait(timeout=30)
            raw = state.document
            body = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if state.cache_control is not None:
                self.send_header("Cache-Control", state.cache_control)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    state = JwksServer()
    server = ThreadingHTTPServer((LOOPBACK, 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://{LOOPBACK}:{server.server_address[1]}/.auth/jwks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    if state.hold is not None:
        state.hold.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class FakeClock:
    """The only fake here: time, so that TTLs and the refetch interval pass without waiting."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
