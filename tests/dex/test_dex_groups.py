"""Groups that a Dex connector really produces (Dex's `mockCallback`: Kilgore Trout, group
`authors`), through the connector list, into `X-Auth-Groups` and a groups rule."""

from __future__ import annotations

import pytest

from tests.dex.conftest import echoed_headers, sign_in

pytestmark = pytest.mark.dex
JSON = {"Accept": "application/json"}
POLICY = [
    {"path": "/authors", "groups": ["authors"]},
    {"path": "/admin", "groups": ["admins"]},
    {"path": "/", "allow": "authenticated"},
]


async def test_connector_groups_reach_the_header_and_the_groups_rule(
    dex_factory, start_sidecar, browser
):
    dex = dex_factory(storage="memory", mock_connector=True)
    sidecar = await start_sidecar(dex, overrides={"policy": POLICY})
    visit = await sign_in(browser, dex, sidecar.url + "/authors/page", connector="mock")

    assert visit.status == 200, visit.text[:300]
    assert visit.pages == ["connectors", "approval"]  # Dex lists both connectors; no password
    headers = echoed_headers(visit)
    assert headers["x-auth-groups"] == "authors"
    assert headers["x-auth-email"] == "kilgore@kilgore.trout"
    async with browser.get(sidecar.url + "/admin/x", headers=JSON) as response:
        assert response.status == 403
    async with browser.get(sidecar.url + "/.auth/me", headers=JSON) as response:
        assert (await response.json())["groups"] == ["authors"]


async def test_the_static_user_has_no_groups_as_deployed(dex, start_sidecar, browser):
    sidecar = await start_sidecar(dex, overrides={"policy": POLICY})
    visit = await sign_in(browser, dex, sidecar.url + "/page")
    assert visit.status == 200
    assert echoed_headers(visit).get("x-auth-groups", "") == ""
    async with browser.get(sidecar.url + "/authors/x", headers=JSON) as response:
        assert response.status == 403
