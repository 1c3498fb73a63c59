"""The policy's answers in proxy mode: 401 (which challenge), 403, 302 to login, public."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.app.calls import (
    INVALID_TOKEN_CHALLENGE,
    NO_CREDENTIAL_CHALLENGE,
    assert_refused,
    call,
    upstream_headers,
)
from tests.app.conftest import ADMIN, UNVERIFIED, USER, bearer
from tests.app.raw_http import raw_request

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_no_credential_is_401_with_the_realm_challenge(sidecar, echo_upstream):
    answer = await call(sidecar.url + "/x", {"Accept": "application/json"})
    assert_refused(answer, 401, "unauthenticated", NO_CREDENTIAL_CHALLENGE)
    assert echo_upstream.requests == []


async def test_bad_token_is_401_with_invalid_token(sidecar, echo_upstream):
    answer = await call(sidecar.url + "/x", bearer("not.a.token"))
    assert_refused(answer, 401, "invalid_token", INVALID_TOKEN_CHALLENGE)
    assert echo_upstream.requests == []


@pytest.mark.parametrize(("email", "status"), [(USER, 403), (ADMIN, 200)])
async def test_groups_rule(sidecar, id_tokens, echo_upstream, email, status):
    answer = await call(sidecar.url + "/admin/panel", bearer(id_tokens[email]))
    assert answer.status == status, answer.text
    if status == 403:
        assert_refused(answer, 403, "forbidden", None)
        assert echo_upstream.requests == []


@pytest.mark.parametrize(("email", "status"), [(UNVERIFIED, 403), (USER, 200)])
async def test_email_domain_rule_needs_a_verified_email(sidecar, id_tokens, email, status):
    """unverified@example.com is in the domain but not verified: it proves nothing."""
    answer = await call(sidecar.url + "/reports/q3", bearer(id_tokens[email]))
    assert answer.status == status, answer.text


@pytest.mark.parametrize("token", ["garbage", "e" * 9000, None])
async def test_public_path_with_a_bad_token_passes_anonymous(sidecar, echo_upstream, token):
    headers = bearer(token) if token else {}
    answer = await call(sidecar.url + "/public/page", headers)
    assert answer.status == 200, answer.text
    seen = upstream_headers(echo_upstream.last())
    injected = [name for name in seen if name.lower().startswith(("x-auth-", "x-credential"))]
    assert injected == []
    assert "Authorization" not in seen


async def test_public_path_with_a_valid_token_carries_the_identity(
    sidecar, id_tokens, echo_upstream
):
    answer = await call(sidecar.url + "/public/page", bearer(id_tokens[USER]))
    assert answer.status == 200, answer.text
    assert upstream_headers(echo_upstream.last())["X-Auth-Email"] == USER


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("target", ["/app", "/app/page?a=1&b=x%20y", "/reports/q3?z=%2F"])
async def test_browser_without_credential_is_sent_to_login(sidecar, method, target):
    # Raw bytes: an HTTP client library may re-encode the query (yarl decodes %2F).
    answer = await raw_request(sidecar.url + target, list(BROWSER.items()), method=method)
    assert answer.status == 302
    expected = f"{sidecar.settings.public_url}/.auth/login?rd={quote(target, safe='')}"
    assert answer.headers["Location"] == expected
    assert "WWW-Authenticate" not in answer.headers


async def test_browser_with_a_bad_token_is_sent_to_login(sidecar):
    answer = await call(sidecar.url + "/app", {**BROWSER, **bearer("garbage")})
    assert answer.status == 302
    assert answer.headers["Location"].endswith("/.auth/login?rd=%2Fapp")


@pytest.mark.parametrize(
    ("method", "accept"),
    [
        ("GET", "application/json"),
        ("GET", "*/*"),
        ("GET", None),
        ("POST", BROWSER["Accept"]),
        ("DELETE", BROWSER["Accept"]),
    ],
)
async def test_api_callers_get_401_not_a_redirect(sidecar, method, accept):
    headers = {"Accept": accept} if accept else {}
    answer = await call(sidecar.url + "/app", headers, method=method)
    assert_refused(answer, 401, "unauthenticated", NO_CREDENTIAL_CHALLENGE)


async def test_browser_on_a_forbidden_path_gets_403_not_a_login_loop(sidecar, id_tokens):
    answer = await call(sidecar.url + "/admin", {**BROWSER, **bearer(id_tokens[USER])})
    assert_refused(answer, 403, "forbidden", None)
