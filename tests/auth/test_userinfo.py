"""`oidc.userinfo` (CONTRACT "Userinfo"): the provider's userinfo endpoint called at login and
at every refresh, its claims winning over the id token's, a `sub` mismatch refusing the login
(OIDC Core 5.3.2), and a provider without the endpoint refused at start-up. The real provider,
whose userinfo answer a test may make differ from its id token (control API)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sidecar.oidc.userinfo import UserinfoMismatch, merge_userinfo
from tests.auth.test_login_flow import ADMIN, begin_login, browser, call, callback, login
from tests.fixtures.ports import free_port
from tests.fixtures.provider import OidcProvider, serve
from tests.fixtures.sidecar import base_config

USERINFO = {
    "email": "renamed@example.org",
    "email_verified": True,
    "name": "Name From Userinfo",
    "preferred_username": "from-userinfo",
    "groups": ["userinfo-group"],
}


@pytest.fixture
def userinfo_provider(fresh_provider: OidcProvider) -> Iterator[OidcProvider]:
    yield fresh_provider
    fresh_provider.set_userinfo(ADMIN, None)


async def test_login_merges_the_userinfo_claims(userinfo_provider, sidecar_factory):
    running = await sidecar_factory({"oidc": {"userinfo": True}})
    userinfo_provider.set_userinfo(ADMIN, USERINFO)
    async with browser() as http:
        done = await login(http, running.url, userinfo_provider)
    assert userinfo_provider.counters()["userinfo"] == 1
    status, _, me = await call(running.url, "/.auth/me", done.cookie)
    assert status == 200
    assert {name: me[name] for name in ("email", "name", "preferred_username", "groups")} == {
        name: USERINFO[name] for name in ("email", "name", "preferred_username", "groups")
    }
    status, _, echo = await call(running.url, "/x", done.cookie)
    headers = {name.lower(): value for name, value in echo["headers"]}
    assert headers["x-auth-email"] == "renamed@example.org"  # verified, says userinfo
    assert headers["x-auth-groups"] == "userinfo-group"


async def test_each_refresh_merges_again(userinfo_provider, sidecar_factory):
    running = await sidecar_factory(
        {"oidc": {"userinfo": True}, "session": {"refresh_margin_s": 100_000, "cache_s": 0}}
    )
    async with browser() as http:
        done = await login(http, running.url, userinfo_provider)
    assert (await call(running.url, "/.auth/me", done.cookie))[2]["groups"] == ["admins", "devs"]
    userinfo_provider.set_userinfo(ADMIN, {"groups": ["moved"]})
    await call(running.url, "/x", done.cookie)  # every request refreshes (the margin)
    assert (await call(running.url, "/.auth/me", done.cookie))[2]["groups"] == ["moved"]
    assert userinfo_provider.counters()["userinfo"] >= 3
    assert userinfo_provider.counters()["token"]["refresh_token"] >= 2


async def test_a_sub_mismatch_refuses_the_login(userinfo_provider, sidecar_factory):
    running = await sidecar_factory({"oidc": {"userinfo": True}})
    userinfo_provider.set_userinfo(ADMIN, {"sub": "somebody-else"})
    async with browser() as http:
        authorize_url = await begin_login(http, running.url)
        callback_url = await userinfo_provider.complete_login(
            http, authorize_url, ADMIN, "password"
        )
        response = await callback(http, callback_url)
    assert response.status == 400
    assert "sidecar_session" not in response.cookies
    assert userinfo_provider.counters()["userinfo"] == 1


async def test_a_sub_mismatch_at_refresh_ends_the_session(userinfo_provider, sidecar_factory):
    running = await sidecar_factory(
        {"oidc": {"userinfo": True}, "session": {"refresh_margin_s": 100_000, "cache_s": 0}}
    )
    async with browser() as http:
        done = await login(http, running.url, userinfo_provider)
    userinfo_provider.set_userinfo(ADMIN, {"sub": "somebody-else"})
    assert (await call(running.url, "/x", done.cookie))[0] == 401
    userinfo_provider.set_userinfo(ADMIN, None)
    assert (await call(running.url, "/x", done.cookie))[0] == 401  # ended, not suspended


async def test_a_userinfo_outage_at_refresh_keeps_the_rotated_tokens(
    userinfo_provider, sidecar_factory
):
    """The token endpoint has rotated the refresh token (the old one is spent) before userinfo
    fails: the new tokens are kept, so the session outlives the outage, with the userinfo
    claims of the last merge until userinfo answers again."""
    running = await sidecar_factory(
        {"oidc": {"userinfo": True}, "session": {"refresh_margin_s": 100_000, "cache_s": 0}}
    )
    userinfo_provider.set_userinfo(ADMIN, {"groups": ["from-userinfo"]})
    async with browser() as http:
        done = await login(http, running.url, userinfo_provider)
    userinfo_provider.set_fault("userinfo", "error")
    try:
        assert (await call(running.url, "/x", done.cookie))[0] == 200  # refreshed meanwhile
        status, _, me = await call(running.url, "/.auth/me", done.cookie)
        assert (status, me["groups"]) == (200, ["from-userinfo"])  # not the id token's
    finally:
        userinfo_provider.set_fault("userinfo", None)
    assert (await call(running.url, "/x", done.cookie))[0] == 200  # not a spent refresh token
    assert userinfo_provider.counters()["token"]["refresh_token"] >= 3


async def test_off_by_default(fresh_provider, sidecar):
    async with browser() as http:
        await login(http, sidecar.url, fresh_provider)
    assert fresh_provider.counters()["userinfo"] == 0


def test_merge_rules():
    claims = {"sub": "s", "email": "a@x", "email_verified": True, "groups": ["g"]}
    assert merge_userinfo(claims, {"sub": "s", "email": "b@x"})["email_verified"] is False
    assert merge_userinfo(claims, {"sub": "s", "email": "a@x"})["email_verified"] is True
    odd = {"sub": "s", "groups": "g2", "name": 7, "email_verified": "yes", "picture": "p"}
    assert merge_userinfo(claims, odd) == claims  # wrong types and other claims: ignored
    for sub in (None, "S", 1):
        with pytest.raises(UserinfoMismatch):
            merge_userinfo(claims, {"sub": sub})


@pytest.fixture(scope="module")
def no_userinfo_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """The test provider without a userinfo endpoint."""
    workdir = tmp_path_factory.mktemp("no-userinfo-provider")
    yield from serve(OidcProvider(workdir, options={"userinfo": False}))


async def test_userinfo_on_without_the_endpoint_is_a_start_up_error(
    no_userinfo_provider, tmp_path: Path
):
    config = base_config(no_userinfo_provider, free_port(), free_port(), None)
    config["oidc"]["userinfo"] = True
    path = tmp_path / "sidecar.yaml"
    path.write_text(yaml.safe_dump(config))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "--config", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "oidc.userinfo (SIDECAR_OIDC_USERINFO)" in err.decode()
    assert "userinfo_endpoint" in err.decode()


async def test_without_the_option_that_provider_serves(no_userinfo_provider, sidecar_factory):
    from tests.fixtures.sidecar import oidc_of

    running = await sidecar_factory(oidc_of(no_userinfo_provider))
    async with browser() as http:
        done = await login(http, running.url, no_userinfo_provider)
    assert (await call(running.url, "/x", done.cookie))[0] == 200


async def test_a_userinfo_outage_at_login_is_503_not_a_session(userinfo_provider, sidecar_factory):
    running = await sidecar_factory({"oidc": {"userinfo": True}})
    userinfo_provider.set_fault("userinfo", "error")
    try:
        async with browser() as http:
            authorize_url = await begin_login(http, running.url)
            callback_url = await userinfo_provider.complete_login(
                http, authorize_url, ADMIN, "password"
            )
            response = await callback(http, callback_url)
    finally:
        userinfo_provider.set_fault("userinfo", None)
    assert response.status == 503
    assert response.headers["Retry-After"]
    assert "sidecar_session" not in response.cookies
