"""Chromium (the system's /usr/bin/chromium, driven by Playwright) shows `/.auth/sessions` and
ends another session through it: the plain page, its POST form (the browser's own `Origin`),
the 303 back to the list, and the other session refused afterwards."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext

from tests.auth.test_login_flow import call
from tests.browser.test_browser_login import session_cookie, sign_in
from tests.fixtures.chromium import chromium

__all__ = ["chromium"]  # the fixture, imported for this module
pytestmark = pytest.mark.browser


async def test_chromium_shows_the_sessions_and_ends_another(chromium, fresh_provider, sidecar):
    contexts: list[BrowserContext] = [await chromium.new_context() for _ in range(2)]
    pages = [await context.new_page() for context in contexts]
    for page in pages:
        await sign_in(page, sidecar.url + "/app", fresh_provider.issuer)
    other = session_cookie(await contexts[1].cookies())["value"]
    page = pages[0]

    response = await page.goto(sidecar.url + "/.auth/sessions")
    assert response is not None
    assert response.status == 200
    assert await page.title() == "Your sessions"
    rows = page.locator("tr.session")
    assert await rows.count() == 2
    assert await rows.nth(0).inner_text() != ""
    current = page.locator("tr.session", has_text="This session")
    assert await current.count() == 1
    assert "Chrome" in await current.inner_text()  # headless Chromium says "HeadlessChrome/"

    the_other = page.locator("tr.session", has_not_text="This session")
    async with page.expect_navigation():
        await the_other.locator("button.end-session").click()
    assert page.url == sidecar.url + "/.auth/sessions"  # the 303 back to the list
    assert await page.locator("tr.session").count() == 1
    assert await page.locator("tr.session", has_text="This session").count() == 1
    assert (await call(sidecar.url, "/x", other))[0] == 401
    mine = session_cookie(await contexts[0].cookies())["value"]
    assert (await call(sidecar.url, "/x", mine))[0] == 200
    for context in contexts:
        await context.close()
