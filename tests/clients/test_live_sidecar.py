"""Both verifiers on assertions from a running sidecar (real provider, real login, the echo
upstream), and the aiohttp middleware as a real upstream behind the sidecar."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from auth_sidecar_verifier import VerificationError, Verifier
from auth_sidecar_verifier.middleware.aiohttp import assertion_middleware, claims_of

from tests.app.calls import call, upstream_headers
from tests.app.conftest import USER
from tests.clients.conftest import REPO
from tests.fixtures.ports import LOOPBACK, free_port
from tests.fixtures.sidecar import RunningSidecar

CLI = REPO / "clients" / "js" / "bin" / "verify-assertion.js"


async def live_assertion(sidecar: RunningSidecar, token: str, echo_upstream: Any) -> str:
    answer = await call(sidecar.url + "/x", {"Authorization": f"Bearer {token}"})
    assert answer.status == 200
    assertion: str = upstream_headers(echo_upstream.last())["X-Auth-Assertion"]
    return assertion


async def test_python_verifier_accepts_the_sidecars_assertion(
    sidecar: RunningSidecar, id_tokens: dict[str, str], echo_upstream: Any
) -> None:
    assertion = await live_assertion(sidecar, id_tokens[USER], echo_upstream)
    # jwks_url left to its default, {issuer}/.auth/jwks: here the sidecar's own URL.
    verifier = Verifier(issuer=sidecar.settings.public_url, audience=echo_upstream.url)
    found = await verifier.verify_async(assertion)
    user_sub = jwt.decode(id_tokens[USER], options={"verify_signature": False})["sub"]
    assert (found.sub, found.email, found.name) == (user_sub, USER, "Plain User")
    assert found.groups == ("devs",)
    assert 0 < found.expires_at - found.issued_at <= 60
    threaded = await asyncio.to_thread(verifier.verify, assertion)  # the sync API, its own fetch
    assert threaded == found


@pytest.mark.parametrize(
    ("pins", "reason"),
    [
        ({"audience": "http://another-upstream:8080"}, "audience"),
        ({"issuer": "http://127.0.0.1:1"}, "issuer"),
    ],
)
async def test_python_verifier_refuses_other_pins(
    sidecar: RunningSidecar,
    id_tokens: dict[str, str],
    echo_upstream: Any,
    pins: dict[str, str],
    reason: str,
) -> None:
    assertion = await live_assertion(sidecar, id_tokens[USER], echo_upstream)
    options = {"issuer": sidecar.settings.public_url, "audience": echo_upstream.url} | pins
    verifier = Verifier(**options, jwks_url=sidecar.url + "/.auth/jwks")
    with pytest.raises(VerificationError) as refused:
        await verifier.verify_async(assertion)
    assert refused.value.reason == reason


async def test_another_sidecars_assertion_is_refused(
    sidecar_factory: Callable[..., Any], id_tokens: dict[str, str], echo_upstream: Any
) -> None:
    ours, theirs = await sidecar_factory(), await sidecar_factory()
    assertion = await live_assertion(theirs, id_tokens[USER], echo_upstream)
    verifier = Verifier(issuer=ours.settings.public_url, audience=echo_upstream.url)
    with pytest.raises(VerificationError) as refused:
        await verifier.verify_async(assertion)
    assert refused.value.reason == "unknown_kid"  # their key is not in our JWKS


async def run_js_cli(assertion: str, issuer: str, audience: str, jwks_url: str) -> Any:
    node = shutil.which("node")
    assert node is not None, "node is needed for the JS verifier"
    process = await asyncio.create_subprocess_exec(
        *[node, str(CLI), "--issuer", issuer, "--audience", audience, "--jwks-url", jwks_url],
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(assertion.encode()), 60)
    assert stdout, stderr.decode()
    return process.returncode, json.loads(stdout)


async def test_js_verifier_accepts_the_sidecars_assertion(
    sidecar: RunningSidecar, id_tokens: dict[str, str], echo_upstream: Any
) -> None:
    assertion = await live_assertion(sidecar, id_tokens[USER], echo_upstream)
    jwks_url = sidecar.url + "/.auth/jwks"
    issuer = sidecar.settings.public_url
    code, found = await run_js_cli(assertion, issuer, echo_upstream.url, jwks_url)
    assert code == 0
    python = await Verifier(issuer=issuer, audience=echo_upstream.url).verify_async(assertion)
    assert found["raw"] == dict(python.raw)
    assert (found["sub"], found["email"], found["groups"]) == (python.sub, USER, ["devs"])
    assert await run_js_cli(assertion, issuer, "http://another", jwks_url) == (
        1,
        {"error": "audience"},
    )


async def test_the_aiohttp_middleware_as_an_upstream_behind_the_sidecar(
    sidecar_factory: Callable[..., Any], aiohttp_server: Any, id_tokens: dict[str, str]
) -> None:
    """Start the sidecar first (its URL is the verifier's issuer), then the upstream on the
    port the sidecar already forwards to."""
    upstream_url = f"http://{LOOPBACK}:{free_port()}"
    sidecar: RunningSidecar = await sidecar_factory(upstream=upstream_url)
    verifier = Verifier(
        issuer=sidecar.settings.public_url,
        audience=upstream_url,  # the sidecar's default `assertion.audience`
        jwks_url=sidecar.url + "/.auth/jwks",
    )

    async def whoami(request: web.Request) -> web.Response:
        found = claims_of(request)
        return web.json_response(
            None if found is None else {"sub": found.sub, "email": found.email}
        )

    app = web.Application(middlewares=[assertion_middleware(verifier, optional=True)])
    app.router.add_get("/{tail:.*}", whoami)
    await aiohttp_server(app, host=LOOPBACK, port=int(upstream_url.rsplit(":", 1)[1]))

    through = await call(sidecar.url + "/me", {"Authorization": f"Bearer {id_tokens[USER]}"})
    assert (through.status, through.json()["email"]) == (200, USER)
    anonymous = await call(sidecar.url + "/public/page")  # the sidecar sends no assertion
    assert (anonymous.status, anonymous.json()) == (200, None)
    async with aiohttp.ClientSession() as http:  # around the sidecar, straight to the upstream
        spoofed = {"X-Auth-Email": "admin@example.com", "X-Auth-Assertion": "e30.e30.x"}
        async with http.get(upstream_url + "/me", headers=spoofed) as direct:
            assert (direct.status, await direct.json()) == (401, {"error": "invalid_assertion"})
