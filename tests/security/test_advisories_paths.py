"""Path-confusion advisories, through the proxy, with raw request targets.

Every bypass of this family (Envoy CVE-2019-9901, Tomcat `..;/`, Apache CVE-2021-41773,
Traefik and Zuul path-matcher advisories) is the gate and the upstream reading two different
paths. The sidecar judges one normalized path and forwards *that* path, so the assertions
are: an anonymous or non-admin caller never reaches the upstream through an `/admin`
equivalent, and an admin's request arrives upstream as the normalized path.

Also the query and fragment, which must never be matched as the path:
GHSA-7rh7-c77v-6434 (oauth2-proxy skip_auth_routes matched the query string) and
GHSA-pxq7-h93f-9jrg (a `#` suffix widened a pattern).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

from tests.security.rawhttp import send

# raw request target -> what an admin's request must arrive as upstream (None: refused, 400)
ADMIN_EQUIVALENTS: dict[str, str | None] = {
    "/public/../admin": "/admin",
    "/public/%2e%2e/admin": "/admin",
    "/public/%2E%2E/admin": "/admin",
    "/public/.%2e/admin": "/admin",
    "/public/./../admin": "/admin",
    "/public/x/../../admin": "/admin",
    "/public/..%2fadmin": "/admin",
    "/public/..%2Fadmin": "/admin",
    "/public%2f..%2fadmin": "/admin",
    "/public/..%2f..%2f..%2fadmin": "/admin",
    "/public/..%5cadmin": "/admin",
    "/public\\..\\admin": "/admin",
    "//admin": "/admin",
    "///admin/x": "/admin/x",
    "/./admin": "/admin",
    "/%61dmin": "/admin",
    "/%61%64%6d%69%6e/x": "/admin/x",
    "/ADMIN": "/ADMIN",
    "/Admin/x": "/Admin/x",
    "/admin;x=1": "/admin;x=1",
    "/admin;/x": "/admin;/x",
    "/admin/": "/admin/",
    "/admin%2fx": "/admin/x",
    "/public/%252e%252e/admin": None,  # double encoding: refused, never guessed
    "/public/%252fadmin": None,
    "/%2561dmin/x": None,  # issue 16 item 6: any escape left after one decoding pass
    "/%2541DMIN/x": None,
    "/adm%2569n": None,
    "/public/..;/admin": None,  # Tomcat's dot-segment with parameters
    "/public/%2e%2e;x/admin": None,
    "/public/..%00/admin": None,
    "/public/%c0%ae%c0%ae/admin": None,  # overlong UTF-8 for '..'
    "/public/%ff/../../admin": None,
}


def _upstream_paths(echo_upstream: Any) -> list[str]:
    """The paths the upstream received, percent-decoded: the proxy re-encodes the normalized
    path with its own quoting (`=` becomes `%3D`), so decoded form is what is compared."""
    return [unquote(request["raw_path"]) for request in echo_upstream.requests]


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


@pytest.mark.parametrize("target", list(ADMIN_EQUIVALENTS))
async def test_path_normalization_bypass_anonymous(lying_sidecar, echo_upstream, target):
    """An anonymous caller never reaches the upstream through a spelling of `/admin`."""
    response = await send(lying_sidecar.url, "GET", target)
    assert response.status in (400, 401), (target, response)
    assert echo_upstream.requests == []


@pytest.mark.parametrize("target", list(ADMIN_EQUIVALENTS))
async def test_path_normalization_bypass_non_admin(
    lying_sidecar, lying_provider, echo_upstream, target
):
    """A signed-in user outside `admins` gets 403 (or 400), never the admin upstream."""
    token = lying_provider.signer.token(groups=["devs"])
    response = await send(lying_sidecar.url, "GET", target, _bearer(token))
    assert response.status in (400, 403), (target, response)
    assert echo_upstream.requests == []


@pytest.mark.parametrize(("target", "expected"), list(ADMIN_EQUIVALENTS.items()))
async def test_path_normalization_upstream_receives_the_judged_path(
    lying_sidecar, lying_provider, echo_upstream, target, expected
):
    """For an admin, the upstream receives exactly the normalized path the policy judged, so
    an upstream that decodes or resolves differently cannot serve something else."""
    token = lying_provider.signer.token(groups=["admins"])
    response = await send(lying_sidecar.url, "GET", target, _bearer(token))
    if expected is None:
        assert response.status == 400, (target, response)
        assert echo_upstream.requests == []
    else:
        assert response.status == 200, (target, response)
        assert _upstream_paths(echo_upstream) == [expected]


async def test_path_normalization_escape_from_admin_is_judged_where_it_lands(
    lying_sidecar, lying_provider, echo_upstream
):
    """`/admin%2f..` resolves to `/`: judged (and forwarded) as `/`, not as `/admin`."""
    assert (await send(lying_sidecar.url, "GET", "/admin%2f..")).status == 401
    token = lying_provider.signer.token(groups=["devs"])
    response = await send(lying_sidecar.url, "GET", "/admin%2f..", _bearer(token))
    assert response.status == 200
    assert _upstream_paths(echo_upstream) == ["/"]


@pytest.mark.parametrize(
    "target",
    [
        "/admin?/public",
        "/admin?x=/public/",
        "/admin?/public/../public",
        "/x?/public",
        "/admin%3F/public",
        "/admin%3f/public",
        "/admin%23/public",
        "/admin#/public",
        "/admin/#/../public",
    ],
)
async def test_ghsa_7rh7_c77v_6434_query_or_fragment_never_matched_as_path(
    lying_sidecar, echo_upstream, target
):
    """A protected path stays protected whatever follows it in the query or fragment, or in
    an encoded `?`/`#` (which is a path character, not a delimiter)."""
    response = await send(lying_sidecar.url, "GET", target)
    assert response.status in (400, 401), (target, response)
    assert echo_upstream.requests == []


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [
        ("/public?x=/admin", "/public", "x=/admin"),
        ("/public?/../admin", "/public", "/../admin"),
        ("/public/x?next=%2Fadmin", "/public/x", "next=%2Fadmin"),
        ("/public#/../admin", "/public", ""),
    ],
)
async def test_ghsa_7rh7_c77v_6434_public_path_with_an_admin_looking_query(
    lying_sidecar, echo_upstream, target, path, query
):
    """The counterpart: a public path stays public and reaches the upstream as that path,
    the query passed through unchanged (and a fragment never forwarded)."""
    response = await send(lying_sidecar.url, "GET", target)
    if response.status == 400:  # a server may refuse a fragment in the request target
        assert "#" in target
        return
    assert response.status == 200, (target, response)
    echoed = echo_upstream.last()
    raw_path, _, raw_query = echoed["raw_path"].partition("?")
    assert raw_path == path
    assert raw_query == query


@pytest.mark.parametrize(
    "target", ["/PUBLIC/x", "/Public", "/public;x", "/public;jsessionid=1/x", "/PUBLIC;x/y"]
)
async def test_case_and_matrix_leniency_never_widens_a_public_rule(
    lying_sidecar, echo_upstream, target
):
    """The policy folds case and drops `;` parameters so that `/ADMIN` and `/admin;x` are
    judged as `/admin`. Applied to a public rule the same leniency would *open* paths that a
    case-sensitive, `;`-literal upstream serves outside `/public`; found by the raw-path fuzz
    (`/public;` reached the upstream anonymously). Public needs the literal match."""
    response = await send(lying_sidecar.url, "GET", target)
    assert response.status == 401, (target, response)
    assert echo_upstream.requests == []
    assert (await send(lying_sidecar.url, "GET", "/public/x;y")).status == 200
