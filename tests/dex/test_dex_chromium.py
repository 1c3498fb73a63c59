"""One login in a real browser (Debian's chromium, driven by Playwright) at Dex's own pages:
the sidecar's redirect, Dex's password form, its approval screen, the callback, the cookie.
Never `playwright install`: the browser is `/usr/bin/chromium` (`make deps` installs it)."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.chromium import chromium

__all__ = ["chromium"]  # the fixture, imported for this module
pytestmark = [pytest.mark.dex, pytest.mark.browser]


async def test_chromium_logs_in_at_dex_pages(chromium, dex, start_sidecar):
    sidecar = await start_sidecar(dex)
    target = sidecar.url + "/app/page?tab=1"
    page = await (await chromium.new_context()).new_page()
    await page.goto(target)
    assert page.url.startswith(dex.issuer + "/auth/local/login"), page.url
    await page.fill("input[name=login]", dex.admin.email)
    await page.fill("input[name=password]", dex.admin.password)
    await page.click("#submit-login")
    await page.wait_for_url(dex.issuer + "/approval**")
    async with page.expect_response(lambda r: r.url == target) as arrival:
        await page.click("form:has(input[name=approval][value=approve]) button")
    response = await arrival.value
    assert response.status == 200
    echo = await response.json()
    await page.goto(sidecar.url + "/.auth/me")
    me = json.loads(await page.inner_text("body"))
    headers = {name.lower(): value for name, value in echo["headers"]}
    assert headers["x-auth-email"] == dex.admin.email
    assert me["email"] == dex.admin.email
