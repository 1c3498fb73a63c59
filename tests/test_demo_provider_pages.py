"""The demo provider's login and consent pages (tests/provider/lib/interactions.mjs), as a
new user of `make demo` meets them: labelled fields, the app named, a Dex-like approval screen
that can also be refused. Read from the real provider process and parsed as HTML."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp

from tests.fixtures.oidc_flow import AuthorizationRequest
from tests.fixtures.provider import USERS, OidcProvider

ADMIN = USERS[0]


class Page(HTMLParser):
    """The parts of a page a person uses: title, headings, labels, inputs, buttons, text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.labels: dict[str, str] = {}  # for= -> label text
        self.inputs: dict[str, dict[str, str | None]] = {}  # id or name -> attributes
        self.buttons: list[str] = []
        self.texts: list[str] = []
        self._open: tuple[str, str | None] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input":
            self.inputs[str(a.get("id") or a.get("name"))] = a
        elif tag in ("label", "button", "title", "h1", "li", "p", "strong"):
            self._open = (tag, a.get("for"))

    def handle_data(self, data: str) -> None:
        if self._open is None or not data.strip():
            return
        tag, target = self._open
        if tag == "label" and target:
            self.labels[target] = data.strip()
        elif tag == "button":
            self.buttons.append(data.strip())
        self.texts.append(data.strip())

    def handle_endtag(self, tag: str) -> None:
        self._open = None


async def open_login(session: aiohttp.ClientSession, provider: OidcProvider) -> str:
    url = AuthorizationRequest(provider.client).url(provider.authorization_endpoint)
    for _ in range(5):
        async with session.get(url, allow_redirects=False) as resp:
            if resp.status not in (302, 303):
                assert "/interaction/" in url
                return url
            url = urljoin(url, resp.headers["Location"])
    raise AssertionError("no login page")


async def test_login_page_has_labelled_fields_and_names_the_app(
    oidc_provider: OidcProvider,
) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        url = await open_login(session, oidc_provider)
        async with session.get(url) as resp:
            page = Page(await resp.text())
        assert f"Log in to {oidc_provider.client_id}" in page.texts
        assert page.labels == {"login": "Email Address", "password": "Password"}
        assert page.inputs["login"]["type"] == "email"
        assert page.inputs["password"]["type"] == "password"
        assert page.buttons == ["Login"]
        assert any("stand-in for Dex" in t for t in page.texts)

        form = {"prompt": "login", "login": ADMIN.email, "password": "wrong"}
        async with session.post(url, data=form, allow_redirects=False) as resp:
            assert resp.status == 200
            wrong = Page(await resp.text())
        assert "Invalid Email Address and password." in wrong.texts
        assert wrong.labels == page.labels


async def test_consent_page_lists_the_scopes_and_can_refuse(oidc_provider: OidcProvider) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        url = await open_login(session, oidc_provider)
        form = {"prompt": "login", "login": ADMIN.email, "password": ADMIN.password}
        async with session.post(url, data=form, allow_redirects=False) as resp:
            url = urljoin(url, resp.headers["Location"])
        while "/interaction/" not in url:
            async with session.get(url, allow_redirects=False) as resp:
                url = urljoin(url, resp.headers["Location"])
        async with session.get(url) as resp:
            page = Page(await resp.text())
        assert "Grant Access" in page.texts
        assert oidc_provider.client_id in page.texts
        assert {"View your email address", "View your groups"} <= set(page.texts)
        assert page.buttons == ["Grant Access", "Cancel"]

        refuse = {"prompt": "consent", "deny": "1"}
        async with session.post(url, data=refuse, allow_redirects=False) as resp:
            url = urljoin(url, resp.headers["Location"])
        while urlsplit(url).netloc == urlsplit(oidc_provider.issuer).netloc:
            async with session.get(url, allow_redirects=False) as resp:
                url = urljoin(url, resp.headers["Location"])
        assert parse_qs(urlsplit(url).query)["error"] == ["access_denied"]
