"""`/.auth/sessions` on one sidecar (memory store): who may see the list, the Origin/Referer
rule, the form's refusals, the HTML page, and handles that open nothing. The multi-replica
behaviour (Redis, websockets, timings) is `tests/sessions/test_session_list.py`."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from sidecar.sessions.ticket import Ticket
from tests.auth.test_login_flow import ADMIN, HTML, browser, call, fetch, login
from tests.sessions.test_session_list import end_sessions, listed

USER = "user@example.com"


async def signed_in(base: str, provider: Any, email: str = ADMIN) -> str:
    async with browser() as http:
        return (await login(http, base, provider, email=email)).cookie


async def test_without_a_session_401_for_an_api_and_the_login_redirect_for_a_browser(sidecar):
    status, headers, body = await call(sidecar.url, "/.auth/sessions", None)
    assert status == 401
    assert body["error"] == "unauthenticated"
    status, headers, _ = await call(sidecar.url, "/.auth/sessions", None, browser_nav=True)
    assert status == 302
    assert headers["Location"] == sidecar.url + "/.auth/login?rd=/.auth/sessions"
    status, _, _ = await call(sidecar.url, "/.auth/sessions", "v1.forged", browser_nav=True)
    assert status == 302
    response = await end_sessions(sidecar.url, "v1.forged", {"all_others": "1"})
    assert response.status == 401


async def test_a_bearer_caller_gets_403(fresh_provider, sidecar, id_tokens):
    cookie = await signed_in(sidecar.url, fresh_provider)
    for extra in ({}, {"Cookie": f"sidecar_session={cookie}"}):
        headers = {"Authorization": f"Bearer {id_tokens[ADMIN]}", **extra}
        status, _, body, _ = await fetch(sidecar.url + "/.auth/sessions", headers)
        assert status == 403, body


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Referer": "https://evil.example/"}],
    ids=["foreign-origin", "null-origin", "foreign-referer"],
)
async def test_ending_from_another_origin_is_403_and_nothing_ends(fresh_provider, sidecar, headers):
    first, second = [await signed_in(sidecar.url, fresh_provider) for _ in range(2)]
    sent = {"Cookie": f"sidecar_session={first}", **headers}
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.post(sidecar.url + "/.auth/sessions/end", data={"all_others": "1"}, headers=sent) as r,
    ):
        assert r.status == 403
    assert (await call(sidecar.url, "/x", second))[0] == 200


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"handle": ""},
        {"all_others": "0"},
        {"handle": "x", "all_others": "1"},
        {"h": "x" * 3000},
    ],
    ids=["empty", "empty-handle", "all-others-0", "both", "oversized"],
)
async def test_a_malformed_form_is_400(fresh_provider, sidecar, form):
    cookie = await signed_in(sidecar.url, fresh_provider)
    assert (await end_sessions(sidecar.url, cookie, form)).status == 400
    assert (await call(sidecar.url, "/x", cookie))[0] == 200


async def test_unknown_and_foreign_handles_are_404(fresh_provider, sidecar):
    mine = await signed_in(sidecar.url, fresh_provider)
    theirs = await signed_in(sidecar.url, fresh_provider, USER)
    their_handle = (await listed(sidecar.url, theirs))[0]["handle"]
    # another user's, the cookie itself, and one no handle spells (a handle is base64url)
    for handle in ("nope", their_handle, mine, "h\u00e9"):
        assert (await end_sessions(sidecar.url, mine, {"handle": handle})).status == 404
    assert (await call(sidecar.url, "/x", theirs))[0] == 200
    assert [s["current"] for s in await listed(sidecar.url, mine)] == [True]  # only ADMIN's


async def test_ending_this_session_clears_the_cookie(fresh_provider, sidecar):
    cookie = await signed_in(sidecar.url, fresh_provider)
    handle = (await listed(sidecar.url, cookie))[0]["handle"]
    response = await end_sessions(sidecar.url, cookie, {"handle": handle})
    assert response.status == 303
    assert response.cookies["sidecar_session"].value == ""
    assert (await call(sidecar.url, "/x", cookie))[0] == 401


async def test_no_handle_opens_a_session_as_a_cookie(fresh_provider, sidecar):
    cookies = [await signed_in(sidecar.url, fresh_provider) for _ in range(2)]
    handles = [s["handle"] for s in await listed(sidecar.url, cookies[0])]
    assert len(handles) == 2
    for handle in handles:
        assert Ticket.from_cookie(handle) is None
        assert Ticket.from_cookie("v1." + handle) is None  # 144 bits: not a ticket's length
        for value in (handle, "v1." + handle, "v1." + handle + "A" * 19):
            assert (await call(sidecar.url, "/x", value))[0] == 401
            assert (await call(sidecar.url, "/.auth/sessions", value))[0] == 401
        assert all(handle not in cookie for cookie in cookies)


async def test_the_html_page_shows_the_device_description_never_the_raw_user_agent(
    fresh_provider, sidecar
):
    evil = '<script>alert(1)</script> "Chrome/1"'
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"User-Agent": evil}
    ) as http:
        cookie = (await login(http, sidecar.url, fresh_provider)).cookie
    headers = {**HTML, "Cookie": f"sidecar_session={cookie}"}
    status, response_headers, page, _ = await fetch(sidecar.url + "/.auth/sessions", headers)
    assert status == 200
    assert response_headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response_headers["Content-Security-Policy"]
    assert "<script>" not in page
    assert "Chrome" in page  # the description, never the raw User-Agent
    assert "This session" in page
    assert 'action="/.auth/sessions/end"' in page
    assert cookie not in page
    assert cookie.removeprefix("v1.") not in page
