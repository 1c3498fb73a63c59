"""One login in a real browser (Debian's chromium, driven by Playwright) at Dex's own pages:
the sidecar's redirect, Dex's password form, its approval screen, the callback, the cookie.
Never `playwright install`: the browser is `/usr/bin/chromium` (`make deps` installs it)."""

from __future__ import annotations

import json
import os

import pytest
from playwright.async_api import async_playwright

pytestmark = [pytest.mark.dex, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def test_chromium_logs_in_at_dex_pages(dex, start_sidecar):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make deps` (apt-get install -y chromium)")
    sidecar = await start_sidecar(dex)
    target = sidecar.url + "/app/page?tab=1"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await (await browser.new_context()).new_page()
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
        finally:
            await browser.close()
    headers = {name.lower(): value for name, value in echo["headers"]}
    assert headers["x-auth-email"] == dex.admin.email
    assert me["email"] == dex.admin.email
