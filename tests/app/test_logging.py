"""The log, read where operators read it: the stdout of a real `python -m sidecar` process.

One JSON line per request with the contract's fields; and after bearer tokens, cookies and a
full browser login, not one line holds a token, a cookie value, a code, a state or a secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import pytest

from tests.app.conftest import USER, bearer
from tests.fixtures.ports import free_port
from tests.fixtures.procs import stop_process
from tests.fixtures.sidecar import base_config

REQUEST_FIELDS = {"request_id", "method", "path", "status", "decision", "duration_ms", "sub"}


@dataclass
class Run:
    """What the test sent (and must find logged) and what must never be logged."""

    sent: list[tuple[str, int]] = field(default_factory=list)  # (path, status)
    secrets: dict[str, str] = field(default_factory=dict)


@pytest.fixture
async def logged_run(spawn_sidecar, oidc_provider, echo_upstream, id_tokens):
    """Spawn a sidecar, drive bearer, cookie and login traffic through it, stop it; return
    the run and the JSON lines of its output."""
    port, admin_port = free_port(), free_port()
    config = base_config(oidc_provider, port, admin_port, echo_upstream.url)
    spawned = spawn_sidecar(config, "logging")
    run = Run()
    token = id_tokens[USER]
    run.secrets.update(
        id_token=token,
        signature=token.rsplit(".", 1)[1],
        client_secret=oidc_provider.client_secret,
        session_secret=config["session"]["secret"],
        other_cookie="other-cookie-value-7f3a9",
    )
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:

        async def get(path: str, headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
            async with http.get(spawned.url + path, headers=headers, allow_redirects=False) as r:
                await r.read()
                run.sent.append((urlsplit(path).path, r.status))
                return r

        await get(
            "/x?code=query-code-123", {**bearer(token), "Cookie": "other=other-cookie-value-7f3a9"}
        )
        await get("/x", bearer("garbage." + run.secrets["signature"]))
        await get("/x")
        await get("/admin", bearer(token))
        await get("/public/p")
        login = await get("/.auth/login?rd=/after")
        callback = await oidc_provider.complete_login(
            http, login.headers["Location"], USER, "password"
        )
        query = parse_qs(urlsplit(callback).query)
        run.secrets.update(code=query["code"][0], state=query["state"][0])
        # Every cookie the browser holds now (the login binding, the provider's): non-empty ones.
        run.secrets.update({f"cookie:{c.key}": c.value for c in jar if len(c.value) >= 8})
        done = await get(urlsplit(callback).path + "?" + urlsplit(callback).query)
        assert done.status == 302, "the login completed"
        ticket = next(c.value for c in jar if c.key == "sidecar_session")
        run.secrets["ticket"] = ticket
        assert (await get("/after")).status == 200
    assert stop_process(spawned.process) == 0  # flushes and ends the log
    text = spawned.log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return run, text, lines


def request_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("event") == "request"]


async def test_one_line_per_request_with_the_contract_fields(logged_run, id_tokens):
    run, _, lines = logged_run
    logged = request_lines(lines)
    assert [(line["path"], line["status"]) for line in logged] == run.sent
    for line in logged:
        assert set(line) >= REQUEST_FIELDS, line
        assert isinstance(line["duration_ms"], int | float)
        assert len(line["request_id"]) == 32
    assert len({line["request_id"] for line in logged}) == len(logged)
    sub = jwt.decode(id_tokens[USER], options={"verify_signature": False})["sub"]
    decisions = [(line["decision"], line["sub"]) for line in logged]
    assert decisions[:5] == [
        ("allow", sub),
        ("invalid_token", None),
        ("unauthenticated", None),
        ("forbidden", sub),
        ("public", None),
    ]
    assert decisions[-1] == ("allow", sub)  # the browser session


async def test_no_secret_reaches_the_log(logged_run):
    run, text, _ = logged_run
    assert set(run.secrets) >= {"code", "state", "ticket", "id_token", "client_secret"}
    for name, secret in run.secrets.items():
        assert len(secret) >= 8, name  # a short value could match by chance
        assert secret not in text, f"{name} is in the log"
