"""RFC 9700 (OAuth 2.0 Security Best Current Practice), the client's side of it: what the
sidecar sends in the authorization request, how it treats the callback, where it redirects,
and where the refresh token may (never) go."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from yarl import URL

from sidecar.sessions.memory import MemoryStore
from tests.security.bearer import present
from tests.security.flows import (
    COOKIE,
    begin_login,
    browser,
    hop,
    lying_login,
    session_cookie,
)

_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


async def test_rfc9700_2_1_1_pkce_s256_always_sent(lying_sidecar, lying_provider):
    """Section 2.1.1: PKCE with S256 on every authorization request, a fresh challenge each
    time, `plain` never; the token request then carries a verifier of RFC 7636 section 4.1
    shape (43-128 unreserved characters) whose S256 is the challenge."""
    async with browser() as http:
        first = _query(await begin_login(http, lying_sidecar.url))
        second = _query(await begin_login(http, lying_sidecar.url))
    for query in (first, second):
        assert query["code_challenge_method"] == ["S256"], query
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", query["code_challenge"][0]), query
        for name in ("state", "nonce"):  # RFC 9700 2.1: unguessable, at least 128 bits
            assert len(query[name][0]) >= 22, query
    for name in ("code_challenge", "state", "nonce"):
        assert first[name] != second[name]
    async with browser() as http:
        assert (await lying_login(http, lying_sidecar.url)).status == 302
    verifier = lying_provider.token_requests[-1]["code_verifier"]
    assert 43 <= len(verifier) <= 128
    assert _UNRESERVED.fullmatch(verifier)
    challenge = lying_provider.authorize_requests[-1]["code_challenge"]
    digest = hashlib.sha256(verifier.encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge


async def test_rfc9700_4_7_state_is_one_time(lying_sidecar, lying_provider):
    """Section 4.7 (CSRF) with RFC 6749 section 10.12: a callback replayed in the same
    browser, with the browser-binding cookie put back and even with a code the provider would
    still honour, sets no second session: the state itself is spent."""
    async with browser() as http:
        authorize = await begin_login(http, lying_sidecar.url)
        binding = {c.key: c.value for c in http.cookie_jar if c.key.startswith(COOKIE + "_login")}
        assert len(binding) == 1
        callback_url = (await hop(http, authorize)).location
        first = await hop(http, callback_url)
        assert first.status == 302
        http.cookie_jar.update_cookies(binding, URL(lying_sidecar.url))
        # A fresh, unspent code for the same state, as an attacker holding the URL would try.
        fresh = re.sub(r"code=[^&]+", "code=" + "x" * 22, callback_url)
        for replay_url in (callback_url, fresh):
            replay = await hop(http, replay_url)
            assert replay.status == 400, replay
            assert not any(c.startswith(f"{COOKIE}=v1.") for c in replay.set_cookies)
    assert len(lying_provider.token_requests) == 1  # the replays never reached the provider


async def test_rfc9700_4_7_state_is_bound_to_the_browser(lying_sidecar, lying_provider):
    """Section 4.7.1 (login CSRF): an attacker starts a login, completes it with their own
    account, and sends the victim the callback URL. The victim's browser lacks the binding
    cookie set for that state, so no session (of the attacker's account) is planted, whether
    or not the victim has a login of their own in flight."""
    async with browser() as attacker:
        authorize = await begin_login(attacker, lying_sidecar.url)
        attacker_callback = (await hop(attacker, authorize)).location
    async with browser() as victim:
        await begin_login(victim, lying_sidecar.url)  # the victim's own binding cookie
        answer = await hop(victim, attacker_callback)
        assert answer.status == 400, answer
        assert session_cookie(victim) is None
    assert lying_provider.token_requests == []  # refused before the code was spent


async def test_rfc9700_4_5_code_injection_refused(fresh_provider, sidecar):
    """Section 4.5 (authorization code injection), against the real provider: a code obtained
    in browser A's login is injected into browser B's callback (B's own state and binding
    cookie). The sidecar redeems it with B's PKCE verifier, the provider refuses, and B gets
    a 400 with no session."""
    async with browser() as browser_a:
        authorize_a = await begin_login(browser_a, sidecar.url)
        callback_a = await fresh_provider.complete_login(
            browser_a, authorize_a, "admin-dex@example.com", "password"
        )
    code_a = _query(callback_a)["code"][0]
    async with browser() as browser_b:
        state_b = _query(await begin_login(browser_b, sidecar.url))["state"][0]
        before = fresh_provider.counters()["token"].get("authorization_code", 0)
        injected = await hop(
            browser_b, f"{sidecar.url}/.auth/callback?code={code_a}&state={state_b}"
        )
        assert injected.status == 400, injected
        assert session_cookie(browser_b) is None
    after = fresh_provider.counters()["token"].get("authorization_code", 0)
    assert after == before + 1  # the provider saw the code and refused it (PKCE)


BAD_RD = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "/%5Cevil.example",
    "%2F%2Fevil.example",
    "https:evil.example",
    "https://evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    " //evil.example",
    "/%09/evil.example",
    "/\t/evil.example",
    "/%0d%0aSet-Cookie:%20pwned=1",
    "/%0D%0ALocation:%20//evil.example",
    "/%00/evil.example",
    "/%252F%252Fevil.example",
    "/%25252F%25252Fevil.example",
    "/%255Cevil.example",
    "/%250d%250aSet-Cookie:%20pwned=1",
    "/" + "a" * 2100,
    "/\uff45vil.example",  # fullwidth e: non-ASCII
    "/\u2028//evil.example",
    "/%C0%AF/evil.example",
]


async def _final_location_after_login(base: str, rd: str) -> str | None:
    async with browser() as http:
        answer = await lying_login(http, base, rd=rd)
        assert answer.status == 302, answer
        return answer.location


@pytest.mark.parametrize("rd", BAD_RD)
async def test_rfc9700_4_11_open_redirector_rd_on_login(lying_sidecar, rd):
    """Section 4.11 (open redirectors), GHSA-5m6c-jp6f-2vcv and successors: after login the
    browser lands on `/` whenever `rd` is not a plain same-origin path."""
    assert await _final_location_after_login(lying_sidecar.url, rd) == "/"


@pytest.mark.parametrize("rd", BAD_RD)
async def test_rfc9700_4_11_open_redirector_rd_on_logout(lying_sidecar, rd):
    async with browser() as http:
        for method in ("POST",):  # GET only shows the sign-out page (CONTRACT)
            async with http.request(
                method,
                lying_sidecar.url + "/.auth/logout",
                params={"rd": rd},
                allow_redirects=False,
            ) as response:
                assert response.status == 302
                assert response.headers["Location"] == "/"
                assert "pwned" not in str(response.headers)


@pytest.mark.parametrize("rd", ["/reports?x=1&y=%2F", "/a/b/", "/%E2%9C%93"])
async def test_rfc9700_4_11_plain_paths_are_kept(lying_sidecar, rd):
    """The counterpart, so the tests above cannot pass by always answering `/`."""
    assert await _final_location_after_login(lying_sidecar.url, rd) == rd
    async with (
        browser() as http,
        http.post(
            lying_sidecar.url + "/.auth/logout", params={"rd": rd}, allow_redirects=False
        ) as response,
    ):
        assert response.headers["Location"] == rd


async def _assert_never_ready(running, login_status: int = 503) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(running.admin_url + "/readyz") as ready:
            assert ready.status == 503
            assert "provider_metadata" in (await ready.json())["missing"]
        async with http.get(running.url + "/.auth/login", allow_redirects=False) as login:
            assert login.status == login_status
            assert "Retry-After" in login.headers


async def test_rfc9700_4_4_mix_up_issuer_with_trailing_slash_refused(
    fresh_provider, sidecar_factory
):
    """Section 4.4 (mix-up) and OIDC Discovery 4.3: the discovery document's `issuer` must be
    identical to the configured one. Configured with a trailing slash the real provider's
    document differs by that slash: the sidecar never becomes ready, logins are 503, and even
    a genuine bearer token is not accepted on the strength of that document."""
    running = await sidecar_factory({"oidc": {"issuer": fresh_provider.issuer + "/"}})
    assert fresh_provider.counters()["discovery"] >= 1  # asked, and refused the answer
    await _assert_never_ready(running)
    tokens = await fresh_provider.login("user@example.com", "password")
    assert (await present(running.url, tokens.id_token)).status == 503


async def test_rfc9700_4_4_mix_up_foreign_issuer_in_discovery_refused(
    lying_sidecar_factory, lying_provider
):
    """The classic mix-up: the metadata at our issuer's URL claims another issuer."""
    lying_provider.discovery_overrides = {"issuer": "https://honest-idp.example"}
    running = await lying_sidecar_factory()
    await _assert_never_ready(running)
    assert lying_provider.hits["/keys"] == 0  # nothing from that document is used


class RecordingStore(MemoryStore):
    """The in-memory store, keeping a copy of every value written (to search for tokens)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    async def save(self, key: str, value: bytes, ttl_s: float) -> None:
        self.written.append(key.encode() + b"=" + bytes(value))
        await super().save(key, value, ttl_s)


async def test_rfc9700_4_14_refresh_token_never_reaches_browser_or_upstream(
    lying_sidecar_factory, lying_provider, echo_upstream
):
    """Section 4.14 (refresh token protection): the refresh token (and the access token) stay
    server-side: never in a response to the browser, never sent upstream (even with
    `headers.forward_token`, which forwards only the id token), and sealed in the store."""
    store = RecordingStore()
    running = await lying_sidecar_factory(
        {"headers": {"forward_token": True}}, app_kwargs={"store": store}
    )
    seen_by_browser: list[str] = []
    async with browser() as http:
        callback = await lying_login(http, running.url)
        seen_by_browser += [str(callback), *callback.set_cookies]
        for path in ("/x", "/.auth/me", "/public/y"):
            async with http.get(running.url + path) as response:
                seen_by_browser += [str(response.headers), await response.text()]
        logout = await hop(http, running.url + "/.auth/logout")
        seen_by_browser += [str(logout), *logout.set_cookies]
    issued = lying_provider.issued[-1]
    upstream_view = repr(echo_upstream.requests)
    assert issued["id_token"] in upstream_view  # forward_token works, so the search is real
    for secret in (issued["refresh_token"], issued["access_token"]):
        assert not any(secret in text for text in seen_by_browser)
        assert secret not in upstream_view
        assert not any(secret.encode() in value for value in store.written)
    assert store.written  # the session was stored, sealed
