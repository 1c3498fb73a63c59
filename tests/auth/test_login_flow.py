"""The browser login, end to end without a browser: `/.auth/login`, the provider's real login
and consent forms, `/.auth/callback`, the session cookie, `/.auth/me`, `/.auth/logout`.

The helpers at the top (`login`, `call`) are shared by the other session tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.cookies import Morsel
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from sidecar.config.settings import OidcSettings
from sidecar.keys import PROVIDER
from sidecar.sessions.memory import MemoryStore
from sidecar.tokens.id_tokens import TokenValidator
from tests.fixtures.provider import OidcProvider, TokenEndpointError
from tests.fixtures.sidecar import new_secret
from tests.security.rawhttp import send

ADMIN = "admin-dex@example.com"
COOKIE = "sidecar_session"
HTML = {"Accept": "text/html,application/xhtml+xml"}


def browser() -> aiohttp.ClientSession:
    """A client that keeps cookies for 127.0.0.1 and follows no redirect by itself."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


@dataclass
class LoggedIn:
    location: str  # where the callback sent the browser
    cookie: str  # the session cookie's value (the ticket)
    morsel: Morsel[str]  # the Set-Cookie, with its flags


async def begin_login(http: aiohttp.ClientSession, base: str, rd: str | None = None) -> str:
    """`/.auth/login?rd=...` -> the provider's authorization URL."""
    params = {} if rd is None else {"rd": rd}
    async with http.get(base + "/.auth/login", params=params, allow_redirects=False) as r:
        assert r.status == 302, await r.text()
        return r.headers["Location"]


async def callback(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
    async with http.get(url, allow_redirects=False) as response:
        await response.read()
        return response


async def login(
    http: aiohttp.ClientSession,
    base: str,
    provider: OidcProvider,
    email: str = ADMIN,
    rd: str | None = None,
    cookie_name: str = COOKIE,
) -> LoggedIn:
    """The whole browser login through the provider's forms; returns the session cookie."""
    authorize_url = await begin_login(http, base, rd)
    callback_url = await provider.complete_login(http, authorize_url, email, "password")
    response = await callback(http, callback_url)
    assert response.status == 302, response.status
    morsel = response.cookies[cookie_name]
    return LoggedIn(response.headers["Location"], morsel.value, morsel)


async def fetch(
    url: str, headers: dict[str, str], method: str = "GET"
) -> tuple[int, dict[str, str], Any, dict[str, Morsel[str]]]:
    """One request with exactly `headers` (no jar): status, headers, JSON (or text), cookies."""
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.request(method, url, headers=headers, allow_redirects=False) as r,
    ):
        text = await r.text()
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        return r.status, dict(r.headers), body, dict(r.cookies)


async def call(
    base: str, path: str, cookie: str | None, *, browser_nav: bool = False, method: str = "GET"
) -> tuple[int, dict[str, str], Any]:
    """A request carrying exactly the session `cookie`: status, headers, JSON body (or text)."""
    headers = dict(HTML) if browser_nav else {"Accept": "application/json"}
    if cookie is not None:
        headers["Cookie"] = f"{COOKIE}={cookie}"
    status, response_headers, body, _ = await fetch(base + path, headers, method)
    return status, response_headers, body


def upstream_headers(echo: dict[str, Any]) -> dict[str, str]:
    return {name.lower(): value for name, value in echo["headers"]}


# --- the happy path ------------------------------------------------------------------------


async def test_login_sets_a_session_that_reaches_the_upstream(
    fresh_provider, sidecar, echo_upstream
):
    async with browser() as http:
        done = await login(http, sidecar.url, fresh_provider, rd="/app/page?x=1")
        assert done.location == "/app/page?x=1"
        flags = done.morsel
        assert flags["httponly"] is True
        assert flags["samesite"] == "Lax"
        assert flags["path"] == "/"
        assert not flags["secure"]  # public_url is plain http
        assert done.cookie.startswith("v1.")
        # The browser's next request, with every cookie the jar holds (the provider's too).
        async with http.get(sidecar.url + "/app/page?x=1", headers=HTML) as r:
            assert r.status == 200, await r.text()
            echo = await r.json()
    headers = upstream_headers(echo)
    assert headers["x-auth-email"] == ADMIN
    assert headers["x-auth-groups"] == "admins,devs"
    assert headers["x-auth-username"] == "admin"
    assert headers["x-auth-name"] == "Admin Dex"
    assert headers["x-auth-subject"] == headers["x-credential-identifier"]
    assert headers["x-auth-assertion"].count(".") == 2
    # The sidecar's cookie is removed from what the upstream gets; other cookies stay.
    assert done.cookie not in json.dumps(echo)
    assert COOKIE not in headers.get("cookie", "")
    assert "op_" in headers.get("cookie", "")


async def test_cookie_is_secure_when_the_public_url_is_https(fresh_provider, sidecar_factory):
    # Browsers would reach it through a TLS-terminating Kong; here the callback is replayed
    # over plain http to the real listener.
    public_url = "https://127.0.0.1:8443"
    secure = await sidecar_factory({"public_url": public_url})
    fresh_provider.register_redirect_uri(public_url + "/.auth/callback")
    async with browser() as http:
        # The jar would not send Secure cookies over http: read the Set-Cookie headers.
        async with http.get(secure.url + "/.auth/login", allow_redirects=False) as r:
            binding = next(m for m in r.cookies.values() if m.key.startswith(COOKIE + "_login"))
            authorize_url = r.headers["Location"]
        assert binding["secure"] is True
        assert parse_qs(urlsplit(authorize_url).query)["redirect_uri"][0].startswith("https://")
        callback_url = await fresh_provider.complete_login(http, authorize_url, ADMIN, "password")
        assert callback_url.startswith(public_url + "/.auth/callback?")
        plain = secure.url + callback_url.removeprefix(public_url)
        headers = {"Cookie": f"{binding.key}={binding.value}"}
        status, _, _, cookies = await fetch(plain, headers)
    assert status == 302
    morsel = cookies[COOKIE]
    assert morsel["secure"] is True
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"


async def test_me_shows_the_identity_and_never_a_token(fresh_provider, sidecar):
    async with browser() as http:
        done = await login(http, sidecar.url, fresh_provider)
    status, headers, body = await call(sidecar.url, "/.auth/me", done.cookie)
    assert status == 200
    assert set(body) == {"sub", "email", "name", "preferred_username", "groups", "expires_at"}
    assert body["email"] == ADMIN
    assert body["groups"] == ["admins", "devs"]
    assert body["preferred_username"] == "admin"
    assert isinstance(body["expires_at"], int)
    assert headers["Cache-Control"] == "no-store"
    raw = json.dumps(body)
    assert "eyJ" not in raw  # no JWT (id or access token) anywhere
    assert done.cookie not in raw
    status, _, _ = await call(sidecar.url, "/.auth/me", None)
    assert status == 401


async def test_logout_clears_the_cookie_and_ends_the_session(fresh_provider, sidecar):
    async with browser() as http:
        done = await login(http, sidecar.url, fresh_provider)
        async with http.post(sidecar.url + "/.auth/logout?rd=/bye", allow_redirects=False) as r:
            assert r.status == 302
            assert r.headers["Location"] == "/bye"
            cleared = r.cookies[COOKIE]
    assert cleared.value == ""
    assert cleared["max-age"] == "0"
    assert cleared["path"] == "/"
    status, _, _ = await call(sidecar.url, "/anything", done.cookie)
    assert status == 401
    status, headers, _ = await call(sidecar.url, "/anything", done.cookie, browser_nav=True)
    assert status == 302
    assert headers["Location"].startswith(sidecar.url + "/.auth/login?rd=")


# --- the protocol's guards -----------------------------------------------------------------


def binding_cookie(http: aiohttp.ClientSession) -> tuple[str, str]:
    """The login's browser-binding cookie from the jar."""
    for morsel in http.cookie_jar:
        if morsel.key.startswith(COOKIE + "_login"):
            return morsel.key, morsel.value
    raise AssertionError("no binding cookie")


async def test_authorize_url_asks_for_pkce_s256_state_and_nonce(sidecar):
    async with browser() as http:
        authorize_url = await begin_login(http, sidecar.url)
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43  # base64url SHA-256, RFC 7636 section 4.2
    assert "plain" not in authorize_url
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == [sidecar.url + "/.auth/callback"]
    assert len(query["state"][0]) >= 43
    assert len(query["nonce"][0]) >= 32
    assert "offline_access" in query["scope"][0].split()


async def test_a_state_is_accepted_once(fresh_provider, sidecar):
    async with browser() as http:
        authorize_url = await begin_login(http, sidecar.url)
        name, value = binding_cookie(http)
        callback_url = await fresh_provider.complete_login(http, authorize_url, ADMIN, "password")
        first = await callback(http, callback_url)
        assert first.status == 302
    # The same callback again, binding cookie included: only the state's reuse refuses it.
    status, _, body, cookies = await fetch(callback_url, {"Cookie": f"{name}={value}"})
    assert status == 400
    assert body["error"] == "login_failed"
    assert COOKIE not in cookies


@pytest.mark.parametrize(
    "query",
    [
        "code=abc",
        "code=abc&state=",
        "code=abc&state=v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "code=abc&state=not-a-state",
        "code=abc&state=" + "v1." + "A" * 3000,
    ],
)
async def test_missing_or_unknown_state_is_400(sidecar, query):
    status, _, body = await call(sidecar.url, "/.auth/callback?" + query, None)
    assert status == 400
    assert body["error"] == "login_failed"


async def test_callback_in_another_browser_is_refused(fresh_provider, sidecar):
    async with browser() as victim:
        authorize_url = await begin_login(victim, sidecar.url)
        callback_url = await fresh_provider.complete_login(victim, authorize_url, ADMIN, "password")
    async with browser() as other:  # no binding cookie: login CSRF
        response = await callback(other, callback_url)
    assert response.status == 400
    assert COOKIE not in response.cookies


async def test_provider_error_callback_is_400_not_500(fresh_provider, sidecar):
    async with browser() as http:
        authorize_url = await begin_login(http, sidecar.url)
        state = parse_qs(urlsplit(authorize_url).query)["state"][0]
        url = f"{sidecar.url}/.auth/callback?error=access_denied&state={state}"
        async with http.get(url, allow_redirects=False) as r:
            assert r.status == 400
            body = await r.json()
    assert set(body) == {"error", "request_id"}
    assert "access_denied" not in json.dumps(body)


async def test_code_is_useless_without_the_right_verifier(fresh_provider, sidecar):
    async with browser() as http:
        authorize_url = await begin_login(http, sidecar.url)
        callback_url = await fresh_provider.complete_login(http, authorize_url, ADMIN, "password")
    code = parse_qs(urlsplit(callback_url).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": sidecar.url + "/.auth/callback",
        "code_verifier": "x" * 64,
    }
    with pytest.raises(TokenEndpointError) as refused:
        await fresh_provider.token_request(form)
    assert refused.value.error == "invalid_grant"


async def test_id_token_with_another_nonce_is_refused(fresh_provider, sidecar):
    from sidecar.errors import InvalidToken

    tokens = await fresh_provider.login(ADMIN, "password")
    oidc = OidcSettings(fresh_provider.issuer, fresh_provider.client_id, "unused")
    validator = TokenValidator(oidc, sidecar.app[PROVIDER].signing_key)
    claims = await validator.validate_id_token(
        tokens.id_token, nonce=tokens.nonce, access_token=tokens.access_token
    )
    assert claims["email"] == ADMIN
    with pytest.raises(InvalidToken, match="nonce"):
        await validator.validate_id_token(tokens.id_token, nonce="another-nonce")
    assert "at_hash" not in claims  # this provider omits it: see the next test


async def test_at_hash_is_checked_when_present():
    """The test provider never sends `at_hash`, so a provider of our own signs one (a fake
    key lookup: the one thing here that cannot be provoked for real)."""
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    from sidecar.errors import InvalidToken
    from sidecar.oidc.jwks import SigningKey
    from sidecar.tokens.id_tokens import at_hash

    private = ec.generate_private_key(ec.SECP256R1())
    key = SigningKey("k1", private.public_key(), "EC", "P-256", None)

    async def lookup(kid: str | None, algorithm: str) -> SigningKey | None:
        return key if kid == "k1" else None

    oidc = OidcSettings("https://issuer.test", "sidecar", "unused")
    now = int(time.time())
    claims = {"iss": oidc.issuer, "aud": "sidecar", "sub": "s", "exp": now + 60, "iat": now}
    claims |= {"nonce": "n", "at_hash": at_hash("the-access-token", "ES256")}
    token = jwt.encode(claims, private, algorithm="ES256", headers={"kid": "k1"})
    validator = TokenValidator(oidc, lookup)
    ok = await validator.validate_id_token(token, nonce="n", access_token="the-access-token")
    assert ok["sub"] == "s"
    with pytest.raises(InvalidToken, match="at_hash"):
        await validator.validate_id_token(token, nonce="n", access_token="another-token")
    with pytest.raises(InvalidToken, match="nonce"):
        await validator.validate_id_token(token, nonce="m", access_token="the-access-token")


# --- rd: open redirects -----------------------------------------------------------------------

HOSTILE_RD = [
    "//evil.example",
    "/\\evil.example",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "https:evil.example",
    "https://evil.example",
    "/%09/evil.example",
    "/\t/evil.example",
    "/%0d%0aSet-Cookie:%20x=1",
    "/\r\nSet-Cookie: x=1",
    "/%252F%252Fevil.example",
    "/" + "a" * 2100,
    "/caf\u00e9",
    "evil.example",
    "",
]


@pytest.mark.parametrize("rd", HOSTILE_RD)
async def test_hostile_rd_lands_on_root_after_login(fresh_provider, sidecar, rd):
    async with browser() as http:
        done = await login(http, sidecar.url, fresh_provider, rd=rd)
        assert done.location == "/"
        async with http.post(
            sidecar.url + "/.auth/logout", params={"rd": rd}, allow_redirects=False
        ) as r:
            assert r.status == 302
            assert r.headers["Location"] == "/"


async def test_safe_rd_is_kept_on_login_and_logout(fresh_provider, sidecar):
    rd = "/reports/q3?year=2025&sort=desc"
    async with browser() as http:
        done = await login(http, sidecar.url, fresh_provider, rd=rd)
        async with http.post(
            sidecar.url + "/.auth/logout", params={"rd": rd}, allow_redirects=False
        ) as r:
            assert r.headers["Location"] == rd
    assert done.location == rd


# --- tickets: fixation, rotation, lifetimes --------------------------------------------------


async def test_login_replaces_a_preset_cookie_with_a_new_ticket(fresh_provider, sidecar):
    async with browser() as http:
        first = await login(http, sidecar.url, fresh_provider)
    assert (await call(sidecar.url, "/x", first.cookie))[0] == 200
    async with browser() as http:  # signed out at the provider, still holding the old cookie
        http.cookie_jar.update_cookies({COOKIE: first.cookie})
        second = await login(http, sidecar.url, fresh_provider, email="user@example.com")
    assert second.cookie != first.cookie
    assert (await call(sidecar.url, "/x", first.cookie))[0] == 401  # old session deleted
    status, _, body = await call(sidecar.url, "/.auth/me", second.cookie)
    assert status == 200
    assert body["email"] == "user@example.com"


async def test_an_attacker_chosen_cookie_is_never_adopted(fresh_provider, sidecar):
    planted = "v1." + "A" * 43  # a well-formed ticket the attacker knows
    async with browser() as http:
        http.cookie_jar.update_cookies({COOKIE: planted})
        done = await login(http, sidecar.url, fresh_provider)
    assert done.cookie != planted
    assert (await call(sidecar.url, "/x", planted))[0] == 401
    assert (await call(sidecar.url, "/x", done.cookie))[0] == 200


async def test_secret_rotation_first_seals_all_open(fresh_provider, sidecar_factory):
    store = MemoryStore()  # outlives the restarts, like Redis
    old, new = new_secret(), new_secret()

    async def with_secret(secret: str) -> str:
        running = await sidecar_factory(
            {"session": {"secret": secret}}, app_kwargs={"store": store}
        )
        return str(running.url)

    url_a = await with_secret(old)
    async with browser() as http:
        sealed_by_old = (await login(http, url_a, fresh_provider)).cookie
    url_ba = await with_secret(f"{new},{old}")
    assert (await call(url_ba, "/x", sealed_by_old))[0] == 200  # old secret still opens
    async with browser() as http:
        sealed_by_new = (await login(http, url_ba, fresh_provider)).cookie
    url_b = await with_secret(new)
    assert (await call(url_b, "/x", sealed_by_new))[0] == 200  # the first secret sealed it
    assert (await call(url_b, "/x", sealed_by_old))[0] == 401  # rotated out: session gone
    status, headers, _ = await call(url_b, "/x", sealed_by_old, browser_nav=True)
    assert status == 302
    assert "/.auth/login" in headers["Location"]


async def test_idle_session_expires_and_use_keeps_it_alive(fresh_provider, sidecar_factory):
    import asyncio

    running = await sidecar_factory({"session": {"idle_ttl_s": 2, "absolute_ttl_s": 60}})
    async with browser() as http:
        cookie = (await login(http, running.url, fresh_provider)).cookie
    for _ in range(4):  # 4 x 1.2 s of steady use outlives the 2 s idle lifetime
        await asyncio.sleep(1.2)
        assert (await call(running.url, "/x", cookie))[0] == 200
    await asyncio.sleep(3)
    assert (await call(running.url, "/x", cookie))[0] == 401


async def test_absolute_lifetime_ends_even_a_busy_session(fresh_provider, sidecar_factory):
    import asyncio

    running = await sidecar_factory({"session": {"idle_ttl_s": 2, "absolute_ttl_s": 4}})
    async with browser() as http:
        done = await login(http, running.url, fresh_provider)
    assert done.morsel["max-age"] == "4"
    assert (await call(running.url, "/x", done.cookie))[0] == 200
    for _ in range(6):  # used every second, never idle for 2 s
        await asyncio.sleep(1)
        status = (await call(running.url, "/x", done.cookie))[0]
    assert status == 401


async def test_a_binding_cookie_of_undecodable_bytes_is_400_not_500(fresh_provider, sidecar):
    async with browser() as http:
        authorize_url = await begin_login(http, sidecar.url)
        name, _ = binding_cookie(http)
        callback_url = await fresh_provider.complete_login(http, authorize_url, ADMIN, "password")
    target = callback_url.removeprefix(sidecar.url)
    # Latin-1 on the wire: b"\xff\xfe", which aiohttp reads as undecodable UTF-8.
    response = await send(sidecar.url, "GET", target, [("Cookie", f"{name}=\xff\xfe")])
    assert response.status == 400
    assert response.json()["error"] == "login_failed"
