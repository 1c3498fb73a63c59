"""Sign-out: the GET page changes nothing, the POST refuses foreign origins (CSRF), ends the
session and goes on to the provider's RP-initiated logout; the provider's own back-channel
logout ends the session too. Real provider (npm oidc-provider) with RP-initiated logout on."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
import jwt
import pytest

from sidecar.auth.logout import origin_of
from tests.auth.test_login_flow import ADMIN, browser, call, login
from tests.fixtures.sidecar import oidc_of
from tests.sessions.signout import RelayedSocket

OP_FORM_XSRF = re.compile(r'name="xsrf" value="([^"]+)"')


@pytest.fixture
async def rp_sidecar(logout_provider, sidecar_factory) -> Any:
    """A sidecar whose provider lists an end_session_endpoint, registered for back-channel
    logout at `{public_url}/.auth/backchannel-logout`."""
    running = await sidecar_factory(oidc_of(logout_provider))
    logout_provider.control(
        "POST",
        "backchannel-uri",
        {"client_id": logout_provider.client_id, "uri": running.url + "/.auth/backchannel-logout"},
    )
    logout_provider.reset_counters()
    return running


async def post_logout(
    base: str, cookie: str | None, headers: dict[str, str] | None = None, rd: str = "/bye"
) -> aiohttp.ClientResponse:
    sent = dict(headers or {})
    if cookie:
        sent["Cookie"] = f"sidecar_session={cookie}"
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.post(f"{base}/.auth/logout?rd={rd}", headers=sent, allow_redirects=False) as r,
    ):
        await r.read()
        return r


# --- the page ----------------------------------------------------------------------------------


async def test_get_shows_a_post_form_and_changes_nothing(fresh_provider, sidecar):
    async with browser() as http:
        done = await login(http, sidecar.url, fresh_provider)
        for _ in range(3):  # a link, an <img>, a prefetch
            async with http.get(sidecar.url + "/.auth/logout?rd=/bye", allow_redirects=False) as r:
                page = await r.text()
                assert r.status == 200
                assert r.headers["Cache-Control"] == "no-store"
                assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
                assert "Set-Cookie" not in r.headers
    assert '<form method="post" action="/.auth/logout?rd=/bye">' in page
    assert (await call(sidecar.url, "/x", done.cookie))[0] == 200


async def test_the_page_escapes_rd(sidecar):
    async with (
        aiohttp.ClientSession() as http,
        http.get(sidecar.url + '/.auth/logout?rd=/a"><script>x</script>') as r,
    ):
        page = await r.text()
    assert "<script>" not in page


# --- CSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "http://127.0.0.1:1", "Referer": "PUBLIC/.auth/logout"},
    ],
    ids=["foreign-origin", "null-origin", "foreign-referer", "origin-wins-over-referer"],
)
async def test_post_from_another_origin_is_403_and_the_session_lives(
    fresh_provider, sidecar, headers
):
    headers = {k: v.replace("PUBLIC", sidecar.url) for k, v in headers.items()}
    async with browser() as http:
        done = await login(http, sidecar.url, fresh_provider)
    response = await post_logout(sidecar.url, done.cookie, headers)
    assert response.status == 403
    assert "Set-Cookie" not in response.headers
    assert (await call(sidecar.url, "/x", done.cookie))[0] == 200


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "PUBLIC"}, {"Referer": "PUBLIC/.auth/logout?rd=/bye"}, {}],
    ids=["same-origin", "same-origin-referer", "no-browser-headers"],
)
async def test_post_from_our_origin_ends_the_session(fresh_provider, sidecar, headers):
    headers = {k: v.replace("PUBLIC", sidecar.url) for k, v in headers.items()}
    async with browser() as http:
        done = await login(http, sidecar.url, fresh_provider)
    response = await post_logout(sidecar.url, done.cookie, headers)
    assert response.status == 302
    assert response.headers["Location"] == "/bye"  # this provider lists no end_session
    assert (await call(sidecar.url, "/x", done.cookie))[0] == 401


async def test_a_cookie_in_use_before_the_logout_is_refused_after_it(fresh_provider, sidecar):
    """The cookie -> ticket and claims -> identity memos never stand in for the store."""
    async with browser() as http:
        done = await login(http, sidecar.url, fresh_provider)
    for _ in range(3):
        assert (await call(sidecar.url, "/x", done.cookie))[0] == 200
    response = await post_logout(sidecar.url, done.cookie, {"Origin": sidecar.url})
    assert response.status == 302
    for _ in range(2):
        assert (await call(sidecar.url, "/x", done.cookie))[0] == 401


# --- RP-initiated logout at the provider ---------------------------------------------------------


async def confirm_at_provider(http: aiohttp.ClientSession, url: str) -> str:
    """Answer the provider's "sign out?" page with yes; returns where it sends the browser."""
    async with http.get(url, allow_redirects=False) as r:
        page = await r.text()
        assert r.status == 200, page[:300]
    xsrf = OP_FORM_XSRF.search(page)
    assert xsrf is not None, page[:300]
    confirm = urljoin(url, "/session/end/confirm")
    form = {"xsrf": xsrf.group(1), "logout": "yes"}
    async with http.post(confirm, data=form, allow_redirects=False) as r:
        assert r.status in (302, 303), await r.text()
        return urljoin(confirm, r.headers["Location"])


async def test_logout_goes_through_the_providers_end_session_and_back_to_rd(
    logout_provider, rp_sidecar
):
    async with browser() as http:
        done = await login(http, rp_sidecar.url, logout_provider)
        async with http.post(
            rp_sidecar.url + "/.auth/logout?rd=/after/logout%3Fx%3D1",
            headers={"Origin": rp_sidecar.url},
            allow_redirects=False,
        ) as r:
            assert r.status == 302
            location = r.headers["Location"]
        parts = urlsplit(location)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert location.startswith(logout_provider.issuer + "/session/end?")
        assert query["client_id"] == logout_provider.client_id
        assert query["post_logout_redirect_uri"] == rp_sidecar.url + "/.auth/logout/done"
        hint = jwt.decode(query["id_token_hint"], options={"verify_signature": False})
        assert hint["aud"] == logout_provider.client_id
        assert "/after" not in query["state"]  # sealed, not readable
        assert (await call(rp_sidecar.url, "/x", done.cookie))[0] == 401  # ended before
        back = await confirm_at_provider(http, location)
        assert back.startswith(rp_sidecar.url + "/.auth/logout/done?state=")
        async with http.get(back, allow_redirects=False) as r:
            assert r.status == 302
            assert r.headers["Location"] == "/after/logout?x=1"
    # The provider also posted its back-channel logout to the sidecar, which accepted it.
    assert logout_provider.counters()["backchannel"] == {"ok": 1}


@pytest.mark.parametrize("state", ["", "forged", "v1.AAAA", "A" * 5000])
async def test_logout_done_with_a_missing_or_forged_state_lands_on_root(rp_sidecar, state):
    async with aiohttp.ClientSession() as http:
        params = {"state": state} if state else {}
        async with http.get(
            rp_sidecar.url + "/.auth/logout/done", params=params, allow_redirects=False
        ) as r:
            assert r.status == 302
            assert r.headers["Location"] == "/"


async def test_end_session_off_returns_to_rd(logout_provider, sidecar_factory):
    running = await sidecar_factory({**oidc_of(logout_provider), "oidc": {
        **oidc_of(logout_provider)["oidc"], "end_session": "off"}})  # fmt: skip
    async with browser() as http:
        done = await login(http, running.url, logout_provider)
    response = await post_logout(running.url, done.cookie)
    assert response.headers["Location"] == "/bye"


async def test_the_providers_own_logout_ends_the_session_through_the_back_channel(
    logout_provider, rp_sidecar
):
    """The user signs out at the provider (another app's logout, no id_token_hint): the
    provider posts its Logout Token to the sidecar, and the session is gone."""
    async with browser() as http:
        done = await login(http, rp_sidecar.url, logout_provider)
        assert (await call(rp_sidecar.url, "/x", done.cookie))[0] == 200
        await confirm_at_provider(http, logout_provider.issuer + "/session/end")
    assert logout_provider.counters()["backchannel"] == {"ok": 1}
    assert (await call(rp_sidecar.url, "/x", done.cookie))[0] == 401
    assert ADMIN  # the user whose provider session ended


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://App.Example.com:443/prefix", "https://app.example.com"),
        ("http://127.0.0.1:8080/x?y", "http://127.0.0.1:8080"),
        ("http://[::1]:80/", "http://[::1]"),
        ("null", None),
        ("http://host:99999/", None),
        ("/relative", None),
    ],
)
def test_origins_compare_as_rfc_6454_serializes_them(url, origin):
    """A default port written out or a capital letter must not turn our own origin foreign."""
    assert origin_of(url) == origin


async def test_an_origin_spelled_with_its_default_port_is_ours(fresh_provider, sidecar_factory):
    running = await sidecar_factory({"public_url": "https://app.example.com"})
    response = await post_logout(running.url, None, {"Origin": "https://APP.example.com:443"})
    assert response.status == 302
    response = await post_logout(running.url, None, {"Origin": "https://app.example.com:8443"})
    assert response.status == 403


async def test_logout_closes_the_websockets_of_the_session_with_the_memory_store(
    fresh_provider, sidecar
):
    """One process, no Redis: the in-process signal closes them too (1008), and only them."""
    async with browser() as first, browser() as second:
        done = await login(first, sidecar.url, fresh_provider)
        other = await login(second, sidecar.url, fresh_provider)
    mine = await RelayedSocket.open(sidecar.url, done.cookie)
    theirs = await RelayedSocket.open(sidecar.url, other.cookie)
    try:
        closing = asyncio.create_task(mine.wait_closed())
        assert (await post_logout(sidecar.url, done.cookie)).status == 302
        code, _ = await closing
        assert code == 1008
        await theirs.ws.send_str("still here")
        assert await theirs.ws.receive_str(timeout=5) == "still here"
    finally:
        await mine.close()
        await theirs.close()
