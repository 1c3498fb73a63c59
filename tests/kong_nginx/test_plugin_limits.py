"""What only a real nginx shows about the Kong plugin: header-line limits (get_headers(1000)
and "truncated"), duplicate header lines, `_` names, very long headers; and the Cookie and
Authorization the app gets after a browser login, per the plugin's configuration."""

from __future__ import annotations

import aiohttp
import pytest

from tests.fixtures.gateways import RunningGateway
from tests.fixtures.provider import USERS, OidcProvider
from tests.fixtures.through_gateway import (
    EVIL,
    assert_session_cookie_cut,
    bearer,
    login,
    logout,
    received,
)
from tests.fixtures.upstream import EchoUpstream
from tests.kong_nginx.raw_http import raw_request

pytestmark = pytest.mark.kong_nginx

ADMIN = USERS[0]
MAX_LINES = 1000  # the plugin's get_headers(max); Host and Connection are two of them


async def test_header_lines_past_the_plugin_limit_are_refused(
    kong: RunningGateway, oidc_provider: OidcProvider, echo_upstream: EchoUpstream
) -> None:
    auth = await bearer(oidc_provider, ADMIN)
    fixed = [("Accept", "application/json"), ("Authorization", auth["Authorization"])]
    padding = [("X-Pad", f"v{i}") for i in range(MAX_LINES - 2 - len(fixed) - 1)]
    spoof = [("X-Auth-Groups", EVIL)]
    # The spoofed header is the 1000th line, the last one read: cleared, the request allowed.
    assert (await raw_request(kong.url, fixed + padding + spoof)).status == 200
    seen = received(echo_upstream)
    assert seen["x-auth-groups"] == [",".join(ADMIN.groups)]
    assert len(seen["x-pad"]) == len(padding)
    # One line more and the spoofed header would be past the cut: 431, the sidecar not asked.
    count = len(echo_upstream.requests)
    refused = await raw_request(kong.url, fixed + padding + [("X-Pad", "1")] + spoof)
    assert refused.status == 431, refused.text
    assert len(echo_upstream.requests) == count


@pytest.mark.parametrize("plugin_conf", [{"nginx_max_headers": 1000}], indirect=True)
async def test_with_nginx_default_max_headers_nginx_refuses_first(
    kong: RunningGateway, echo_upstream: EchoUpstream
) -> None:
    lines = [("X-Pad", str(i)) for i in range(MAX_LINES - 2)] + [("X-Auth-Groups", EVIL)]
    refused = await raw_request(kong.url, lines)
    assert refused.status == 400, refused.text
    assert "Request Header Or Cookie Too Large" in refused.text
    assert echo_upstream.requests == []


async def test_duplicate_lines_and_underscores(
    kong: RunningGateway, oidc_provider: OidcProvider, echo_upstream: EchoUpstream
) -> None:
    auth = await bearer(oidc_provider, ADMIN)
    lines = [
        ("Accept", "application/json"),
        ("Authorization", auth["Authorization"]),
        ("X-Auth-Subject", EVIL),
        ("x-auth-subject", EVIL),
        ("X_Auth_Subject", EVIL),
        ("x_credential_identifier", EVIL),
        ("X-Forwarded-User", EVIL),
        ("x_forwarded_user", EVIL),
        ("Remote_User", EVIL),
        ("X_Forwarded_For", "10.0.0.1"),
        ("Cookie", "theme=dark; sidecar_session=x"),
        ("Cookie", "lang=en"),
        ("X-App", "one"),
        ("X-App", "two"),
    ]
    assert (await raw_request(kong.url, lines)).status == 200
    seen = received(echo_upstream)
    assert [name for name, values in seen.items() if EVIL in values] == []
    assert "x_forwarded_for" not in seen
    assert seen["x-auth-subject"] != [EVIL]
    assert seen["cookie"] == ["theme=dark; lang=en"], "joined, the session cookie cut out"
    assert seen["x-app"] == ["one", "two"], "other repeated headers pass as sent"


async def test_very_long_headers(
    kong: RunningGateway, oidc_provider: OidcProvider, echo_upstream: EchoUpstream
) -> None:
    auth = await bearer(oidc_provider, ADMIN)
    fixed = [("Accept", "application/json"), ("Authorization", auth["Authorization"])]
    long_spoof = [("X-Auth-Groups", "admins," * 1500), ("X_Auth_Email", "e" * 12000)]
    assert (await raw_request(kong.url, fixed + long_spoof)).status == 200
    seen = received(echo_upstream)
    assert seen["x-auth-groups"] == [",".join(ADMIN.groups)]
    assert "x_auth_email" not in seen
    count = len(echo_upstream.requests)
    # Past nginx's own buffer (16k a line here): nginx refuses before the plugin runs.
    assert (await raw_request(kong.url, [*fixed, ("X-Auth-Groups", "a" * 20000)])).status == 400
    # A bearer token over the sidecar's 8 KiB: the sidecar's refusal arrives as such.
    huge = [("Accept", "application/json"), ("Authorization", "Bearer " + "a" * 9000)]
    assert (await raw_request(kong.url, huge)).status in (400, 431)
    assert len(echo_upstream.requests) == count


async def test_browser_login_and_the_cookies_the_app_gets(
    kong: RunningGateway,
    oidc_provider: OidcProvider,
    client: aiohttp.ClientSession,
    echo_upstream: EchoUpstream,
) -> None:
    ticket = await login(kong, client, oidc_provider, echo_upstream, "/reports/q?a=1")
    await assert_session_cookie_cut(kong.url + "/app", ticket, echo_upstream)
    await logout(kong, client, ticket)


@pytest.mark.parametrize("plugin_conf", [{"cookie_name": "__Host-app"}], indirect=True)
async def test_cookie_name_names_the_cookie_cut_out(
    kong: RunningGateway, oidc_provider: OidcProvider, echo_upstream: EchoUpstream
) -> None:
    auth = await bearer(oidc_provider, ADMIN)
    cookie = [("Cookie", "__Host-app=T; sidecar_session=x")]
    assert (await raw_request(kong.url, [*auth.items(), *cookie])).status == 200
    assert received(echo_upstream)["cookie"] == ["sidecar_session=x"]


FORWARD = {"forward_token": True, "sidecar": {"headers": {"forward_token": True}}}


@pytest.mark.parametrize(
    ("plugin_conf", "sidecar_answers"),
    [(FORWARD, True), ({"forward_token": True}, False), ({}, False)],
    indirect=["plugin_conf"],
    ids=["both", "plugin-only", "off"],
)
async def test_forward_token_passes_only_the_sidecars_token(
    kong: RunningGateway,
    oidc_provider: OidcProvider,
    echo_upstream: EchoUpstream,
    sidecar_answers: bool,
) -> None:
    auth = await bearer(oidc_provider, ADMIN)
    assert (await raw_request(kong.url, list(auth.items()))).status == 200
    expected = [auth["Authorization"]] if sidecar_answers else []
    assert received(echo_upstream).get("authorization", []) == expected
