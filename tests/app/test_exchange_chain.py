"""A calls B calls C on the user's behalf (CONTRACT "Service to service"), end to end: three
sidecar processes, real Redis sessions, the real provider, an echo upstream behind each.

The test plays each service's app: it reads the `X-Auth-Assertion` its upstream received,
exchanges it at that service's own sidecar (from loopback, the pod's address) for the next
service, and calls the next sidecar with the token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import jwt

from tests.app.calls import call, upstream_headers
from tests.app.conftest import ADMIN, bearer
from tests.fixtures.ports import free_port
from tests.fixtures.procs import stop_process
from tests.fixtures.sidecar import SpawnedSidecar, base_config, merge
from tests.tokens.exchange_stack import (
    Service,
    exchange,
    exchange_form,
    kid_for,
    new_key,
    new_service,
    pem_of,
    post_token,
    service_config,
    unverified,
)

HTML = {"Accept": "text/html"}


def spawn_service(
    spawn_sidecar: Callable[..., Any], provider: Any, redis_url: str, service: Service, **kw: Any
) -> SpawnedSidecar:
    """`auth-sidecar` as its own process for `service`."""
    port = int(service.url.rsplit(":", 1)[1])
    config = merge(
        base_config(provider, port, free_port(), service.echo.url),
        merge(service_config(service, **kw), {"session": {"redis_url": redis_url}}),
    )
    spawned: SpawnedSidecar = spawn_sidecar(config, name=service.name)
    return spawned


async def session_login(base: str, provider: Any, cookie_name: str) -> str:
    """The browser login at `base` through the provider's forms; the session cookie."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(base + "/.auth/login", allow_redirects=False) as r:
            authorize_url = r.headers["Location"]
        callback_url = await provider.complete_login(http, authorize_url, ADMIN, "password")
        async with http.get(callback_url, allow_redirects=False) as r:
            assert r.status == 302, await r.text()
            return r.cookies[cookie_name].value


def verified_with(service: Service, token: str, audience: str) -> dict[str, Any]:
    """`token` checked as an upstream would: the service's published key, pinned iss/aud."""
    claims: dict[str, Any] = jwt.decode(
        token,
        service.key.public_key(),
        algorithms=["ES256"],
        issuer=service.url,
        audience=audience,
    )
    return claims


async def test_a_calls_b_calls_c_as_the_user(
    aiohttp_server, spawn_sidecar, fresh_provider, redis_standalone
):
    a, b, c = [await new_service(name, aiohttp_server) for name in "abc"]

    def spawn(service: Service, **kw: Any) -> SpawnedSidecar:
        return spawn_service(spawn_sidecar, fresh_provider, redis_standalone.url, service, **kw)

    spawn(c, trusts=[b])
    b_admin = spawn(b, trusts=[a], audiences=[c]).admin_url
    a_process = spawn(a, audiences=[b])
    a_admin = a_process.admin_url

    # The user signs in at A (a Redis session); A's app gets the user's assertion.
    cookie = await session_login(a.url, fresh_provider, "session_a")
    answer = await call(a.url + "/orders", {"Cookie": f"session_a={cookie}"})
    assert answer.status == 200, answer.text
    seen_a = upstream_headers(a.echo.last())
    assert "X-Auth-Actor" not in seen_a  # the user called A directly
    user_sub = seen_a["X-Auth-Subject"]

    # A's app exchanges it for B.
    answer = await post_token(a, exchange_form(seen_a["X-Auth-Assertion"], b.url))
    assert answer.status == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:jwt"
    assert body["token_type"] == "N_A"
    for_b = verified_with(a, body["access_token"], audience=b.url)
    subject = unverified(seen_a["X-Auth-Assertion"])
    assert for_b["sub"] == user_sub
    assert for_b["act"] == {"sub": a.url}
    assert for_b["email"] == ADMIN
    assert for_b["groups"] == ["admins", "devs"]
    assert for_b["jti"]
    assert for_b["exp"] <= subject["exp"]
    assert 0 < body["expires_in"] <= 60

    # B's upstream sees the user, called through A.
    answer = await call(b.url + "/inventory", bearer(body["access_token"]))
    assert answer.status == 200, answer.text
    seen_b = upstream_headers(b.echo.last())
    assert seen_b["X-Auth-Subject"] == user_sub
    assert seen_b["X-Auth-Email"] == ADMIN
    assert seen_b["X-Auth-Groups"] == "admins,devs"
    assert seen_b["X-Auth-Actor"] == a.url
    b_assertion = verified_with(b, seen_b["X-Auth-Assertion"], audience=b.echo.url)
    assert b_assertion["act"] == {"sub": a.url}

    # B's app calls C on the same user's behalf: the act chain nests.
    for_c_token = await exchange(b, seen_b["X-Auth-Assertion"], c)
    for_c = verified_with(b, for_c_token, audience=c.url)
    assert for_c["act"] == {"sub": b.url, "act": {"sub": a.url}}
    answer = await call(c.url + "/stock", bearer(for_c_token))
    assert answer.status == 200, answer.text
    seen_c = upstream_headers(c.echo.last())
    assert seen_c["X-Auth-Subject"] == user_sub
    assert seen_c["X-Auth-Actor"] == b.url
    c_assertion = verified_with(c, seen_c["X-Auth-Assertion"], audience=c.echo.url)
    assert c_assertion["act"] == {"sub": b.url, "act": {"sub": a.url}}

    # A's token for B is no good at C (C trusts B, not A): the issuer is not trusted there.
    answer = await call(c.url + "/stock", bearer(body["access_token"]))
    assert answer.status == 401, answer.text

    a_metrics = (await call(a_admin + "/metrics")).text
    assert 'sidecar_token_exchange_total{result="ok"} 1.0' in a_metrics
    b_metrics = (await call(b_admin + "/metrics")).text
    assert f'sidecar_trusted_issuer_jwks_fetch_total{{issuer="{a.url}",result="ok"}}' in b_metrics
    ready = (await call(b_admin + "/readyz")).json()
    assert ready == {"status": "ready", "trusted_issuer_keys": {a.url: True}}

    # A's log: the exchange is one request line naming the user; no token is ever logged.
    lines = [json.loads(line) for line in a_process.log_path.read_text().splitlines()
             if line.startswith("{")]  # fmt: skip
    exchanges = [line for line in lines if line.get("decision") == "token_exchange"]
    assert [(line["path"], line["status"], line["sub"]) for line in exchanges] == [
        ("/.auth/token", 200, user_sub)
    ]
    log_text = a_process.log_path.read_text()
    for token in (seen_a["X-Auth-Assertion"], body["access_token"]):
        assert token.rsplit(".", 1)[1] not in log_text


async def test_b_follows_a_key_rotation_at_a(
    aiohttp_server, spawn_sidecar, fresh_provider, redis_standalone, id_tokens
):
    """A restarts signing with a new key (the old one still published, as rotation goes): B,
    which cached A's old JWKS, fetches the new `kid` on first sight and accepts the token.

    (B loads A's keys in the background at its start. Had B started first and loaded them
    lazily for a first token, that fetch would count as the unknown-`kid` refetch of the
    next 10 s, and a rotation inside those 10 s would be refused until the next one.)"""
    a, b = await new_service("a", aiohttp_server), await new_service("b", aiohttp_server)

    def spawn(service: Service, **kw: Any) -> SpawnedSidecar:
        return spawn_service(spawn_sidecar, fresh_provider, redis_standalone.url, service, **kw)

    old_key = a.key
    first = spawn(a, audiences=[b])
    b_process = spawn(b, trusts=[a])
    await keys_loaded(b_process.admin_url, a.url)  # B's background load, at its start-up
    for round_ in ("before", "after"):
        answer = await call(a.url + "/x", bearer(id_tokens[ADMIN]))
        assert answer.status == 200, answer.text
        token = await exchange(a, upstream_headers(a.echo.last())["X-Auth-Assertion"], b)
        answer = await call(b.url + "/x", bearer(token))
        assert answer.status == 200, f"{round_}: {answer.text}"
        assert upstream_headers(b.echo.last())["X-Auth-Actor"] == a.url
        if round_ == "before":
            stop_process(first.process)
            a.key = new_key()
            config = service_config(a, audiences=[b])
            config["assertion"]["signing_key"] += pem_of(old_key)  # new first, old published
            spawn_sidecar(
                merge(base_config(fresh_provider, port_of(a), free_port(), a.echo.url),
                      merge(config, {"session": {"redis_url": redis_standalone.url}})),
                name="a-rotated",
            )  # fmt: skip
    assert kid_for(a.key) != kid_for(old_key)
    assert jwt.get_unverified_header(token)["kid"] == kid_for(a.key)
    metrics = (await call(b_process.admin_url + "/metrics")).text
    assert f'sidecar_trusted_issuer_jwks_fetch_total{{issuer="{a.url}",result="ok"}} 2.0' in metrics


async def keys_loaded(admin_url: str, issuer: str) -> None:
    for _ in range(100):
        answer = await call(admin_url + "/readyz")
        if answer.json().get("trusted_issuer_keys", {}).get(issuer):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{issuer}'s keys never loaded: {answer.text}")


def port_of(service: Service) -> int:
    return int(service.url.rsplit(":", 1)[1])
