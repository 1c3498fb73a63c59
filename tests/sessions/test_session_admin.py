"""The operator's revoke (CONTRACT "Sessions people can see"): `GET /sessions?sub=` and
`POST /sessions/revoke` on the admin listener, behind `admin.token`, and `auth-sidecar sessions
revoke --sub S` from a shell. Real provider, real Redis, two replicas."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.auth.test_login_flow import ADMIN, browser, call, login
from tests.security import rawhttp
from tests.sessions.signout import RelayedSocket
from tests.sessions.test_session_list import admin_metrics
from tests.sessions.test_signal import closes_after, first_refusal, replicas

__all__ = ["replicas"]  # the fixture, imported for this module

USER = "user@example.com"
TOKEN = "an-operator-token-of-some-length"


async def subject_of(base: str, cookie: str) -> str:
    status, _, body = await call(base, "/.auth/me", cookie)
    assert status == 200, body
    return str(body["sub"])


async def admin_call(
    admin_url: str, method: str, path: str, token: str | None = TOKEN, **kw: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, admin_url + path, headers=headers, **kw) as r,
    ):
        text = await r.text()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


async def sign_in(base: str, provider: Any, email: str) -> str:
    async with browser() as http:
        return (await login(http, base, provider, email=email)).cookie


@pytest.mark.parametrize("topology", ["standalone", "cluster"])
async def test_revoke_ends_all_of_one_users_sessions_and_none_of_anothers(
    fresh_provider, replicas, topology
):
    a, b = await replicas(2, topology, admin={"token": TOKEN})
    mine = [await sign_in(a.url, fresh_provider, ADMIN) for _ in range(2)]
    theirs = await sign_in(a.url, fresh_provider, USER)
    sub = await subject_of(a.url, mine[0])
    status, body = await admin_call(b.admin_url, "GET", "/sessions", params={"sub": sub})
    assert status == 200
    assert len(body["sessions"]) == 2
    assert not any(entry["current"] for entry in body["sessions"])
    socket = await RelayedSocket.open(b.url, mine[1])
    try:
        started = time.monotonic()

        async def revoke() -> None:
            answer = await admin_call(a.admin_url, "POST", "/sessions/revoke", json={"sub": sub})
            assert answer == (200, {"ended": 2})

        code, closed_after = await closes_after(socket, revoke)
        refused_after, _ = await first_refusal(b.url, mine[0], started)
    finally:
        await socket.close()
    print(f"\n[{topology}] admin revoke on A -> refused on B after {refused_after * 1000:.1f} ms, "
          f"websocket closed {code} after {closed_after * 1000:.1f} ms")  # fmt: skip
    assert code == 1008
    assert refused_after < 1.0
    assert (await call(b.url, "/x", mine[1]))[0] == 401
    assert (await call(b.url, "/x", theirs))[0] == 200
    assert (await admin_call(a.admin_url, "GET", "/sessions", params={"sub": sub}))[1] == {
        "sessions": []
    }
    assert 'sidecar_logout_total{kind="admin"} 2.0' in await admin_metrics(a.admin_url)


async def test_the_admin_endpoints_refuse_a_missing_or_wrong_token(fresh_provider, replicas):
    (a,) = await replicas(1, "standalone", admin={"token": TOKEN})
    cookie = await sign_in(a.url, fresh_provider, ADMIN)
    sub = await subject_of(a.url, cookie)
    wrong = [None, "", "wrong", TOKEN[:-1], TOKEN + "x", TOKEN.upper()]
    for token in wrong:
        status, body = await admin_call(a.admin_url, "GET", "/sessions", token, params={"sub": sub})
        assert status == 401, token
        assert body == {"error": "unauthorized"}
        status, _ = await admin_call(
            a.admin_url, "POST", "/sessions/revoke", token, json={"sub": sub}
        )
        assert status == 401
    for scheme in ("Basic", "Token", ""):
        headers = {"Authorization": f"{scheme} {TOKEN}".strip()}
        async with (
            aiohttp.ClientSession() as http,
            http.get(a.admin_url + "/sessions", params={"sub": sub}, headers=headers) as r,
        ):
            assert r.status == 401
    # Not UTF-8 (aiohttp hands such bytes over as surrogates): refused, not a 500.
    odd = await rawhttp.send(
        a.admin_url, "GET", "/sessions?sub=x", [("Authorization", "Bearer \xff")]
    )
    assert odd.status == 401
    assert (await call(a.url, "/x", cookie))[0] == 200
    for bad in ({}, {"sub": ""}, {"sub": 7}, [sub], {"sub": "\udcff"}):
        assert (await admin_call(a.admin_url, "POST", "/sessions/revoke", json=bad))[0] == 400
    for body in (b"{nope", b"[" * 4000):  # nested past the JSON reader: 400, not a 500
        assert (await admin_call(a.admin_url, "POST", "/sessions/revoke", data=body))[0] == 400
    assert (await admin_call(a.admin_url, "GET", "/sessions"))[0] == 400
    for path in ("/healthz", "/readyz", "/metrics"):  # still open
        assert (await admin_call(a.admin_url, "GET", path, None))[0] == 200


async def test_without_admin_token_the_endpoints_are_404(fresh_provider, sidecar):
    for token in (None, TOKEN):
        assert (await admin_call(sidecar.admin_url, "GET", "/sessions", token))[0] == 404
        status, _ = await admin_call(
            sidecar.admin_url, "POST", "/sessions/revoke", token, json={"sub": "x"}
        )
        assert status == 404


async def run_cli(config: dict[str, Any], path: Path, *args: str) -> tuple[int, str, str]:
    path.write_text(yaml.safe_dump(config))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "sessions", "revoke", *args, "--config", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_cli_revokes_on_every_replica(fresh_provider, replicas, tmp_path):
    a, b = await replicas(2, "standalone")
    mine = [await sign_in(a.url, fresh_provider, ADMIN) for _ in range(2)]
    theirs = await sign_in(a.url, fresh_provider, USER)
    sub = await subject_of(a.url, mine[0])
    socket = await RelayedSocket.open(b.url, mine[0])
    try:
        started = time.monotonic()
        result: list[tuple[int, str, str]] = []

        async def revoke() -> None:
            result.append(await run_cli(a.config, tmp_path / "cli.yaml", "--sub", sub))

        code, _ = await closes_after(socket, revoke)
        refused_after, _ = await first_refusal(b.url, mine[1], started)
    finally:
        await socket.close()
    assert result[0][:2] == (0, '{"ended": 2}\n'), result
    assert code == 1008
    assert refused_after < 5.0  # includes the CLI's own start-up
    assert (await call(b.url, "/x", theirs))[0] == 200


async def test_the_cli_needs_a_shared_store(sidecar, tmp_path):
    status, out, err = await run_cli(sidecar.config, tmp_path / "cli.yaml", "--sub", "x")
    assert status == 1
    assert "session.redis_url" in err
    assert out == ""
