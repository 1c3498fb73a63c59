"""A real browser (Debian's chromium, driven by Playwright) through the whole login: the
sidecar's redirect, the provider's login and consent forms, the callback, the cookie, and
sign-out through the sidecar's page (a POST form), alone and on to the provider's own logout.

Never `playwright install`: the browser is the system's `/usr/bin/chromium` (`make deps`
installs it). Without it this test fails, loudly: a skipped browser test proves nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page

from tests.fixtures.chromium import chromium
from tests.fixtures.sidecar import oidc_of
from tests.sessions.conftest import logout_provider

__all__ = ["chromium", "logout_provider"]  # the fixtures, imported for this module
pytestmark = pytest.mark.browser

ADMIN = "admin-dex@example.com"
COOKIE = "sidecar_session"


async def sign_in(page: Page, target: str, issuer: str) -> dict[str, Any]:
    """Open `target`, go through the provider's forms; the upstream's JSON on arrival."""
    await page.goto(target)
    assert page.url.startswith(issuer + "/interaction/"), page.url  # the provider's login page
    await page.fill("input[name=login]", ADMIN)
    await page.fill("input[name=password]", "password")
    await page.click("button[type=submit]")
    await page.wait_for_selector("input[name=prompt][value=consent]", state="attached")
    async with page.expect_response(lambda response: response.url == target) as arrival:
        await page.click("button[type=submit]")
    response = await arrival.value
    assert response.status == 200, await response.text()
    assert page.url == target
    body: dict[str, Any] = await response.json()
    return body


def session_cookie(cookies: list[Any]) -> Any:
    found = [cookie for cookie in cookies if cookie["name"] == COOKIE]
    assert len(found) == 1, cookies
    return found[0]


async def test_browser_login_me_logout(chromium, fresh_provider, sidecar):
    context: BrowserContext = await chromium.new_context()
    page = await context.new_page()
    target = sidecar.url + "/app/page?tab=1"
    echo = await sign_in(page, target, fresh_provider.issuer)

    headers = {name.lower(): value for name, value in echo["headers"]}
    assert headers["x-auth-email"] == ADMIN
    assert headers["x-auth-groups"] == "admins,devs"
    assert headers["x-auth-username"] == "admin"
    assert "x-auth-assertion" in headers
    assert COOKIE not in headers.get("cookie", "")

    cookie = session_cookie(await context.cookies(sidecar.url))
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["secure"] is False  # http public_url
    assert not any(c["name"].startswith(COOKIE + "_login") for c in await context.cookies())

    me = await page.goto(sidecar.url + "/.auth/me")
    assert me is not None
    assert me.status == 200
    identity = await me.json()
    assert identity["email"] == ADMIN
    assert set(identity) == {"sub", "email", "name", "preferred_username", "groups", "expires_at"}
    assert "eyJ" not in json.dumps(identity)
    # Script on the page cannot read the session cookie (HttpOnly).
    assert COOKIE not in await page.evaluate("document.cookie")

    await page.goto(sidecar.url + "/.auth/logout?rd=/public/bye")  # the page: nothing yet
    assert session_cookie(await context.cookies(sidecar.url))["value"] == cookie["value"]
    await page.click("#sign-out")
    await page.wait_for_url(sidecar.url + "/public/bye")
    assert not [c for c in await context.cookies(sidecar.url) if c["name"] == COOKIE]
    await context.close()

    # The old cookie, replayed in a fresh browser, opens nothing.
    replay = await chromium.new_context()
    await replay.add_cookies([{"name": COOKIE, "value": cookie["value"], "url": sidecar.url}])
    page = await replay.new_page()
    await page.goto(sidecar.url + "/app/page")
    assert page.url.startswith(fresh_provider.issuer + "/interaction/")  # sent to log in
    api = await replay.request.get(
        sidecar.url + "/app/page", headers={"Accept": "application/json"}, max_redirects=0
    )
    assert api.status == 401
    await replay.close()


async def test_browser_signs_out_through_the_page_and_the_provider(
    chromium, logout_provider, sidecar_factory
):
    """The provider lists an end_session_endpoint: the sign-out button leads to the provider's
    own "sign out?" page, then back through `/.auth/logout/done` to `rd`; the provider's
    session is gone too (the next visit asks for the password again)."""
    sidecar = await sidecar_factory(oidc_of(logout_provider))
    context: BrowserContext = await chromium.new_context()
    page = await context.new_page()
    await sign_in(page, sidecar.url + "/app", logout_provider.issuer)

    await page.goto(sidecar.url + "/.auth/logout?rd=/public/bye")
    await page.click("#sign-out")
    await page.wait_for_url(logout_provider.issuer + "/session/end**")
    assert not [c for c in await context.cookies(sidecar.url) if c["name"] == COOKIE]
    await page.click("button[name=logout][value=yes]")
    await page.wait_for_url(sidecar.url + "/public/bye")

    await page.goto(sidecar.url + "/app")
    assert page.url.startswith(logout_provider.issuer + "/interaction/")
    assert await page.locator("input[name=password]").count() == 1  # no provider session left
    await context.close()
