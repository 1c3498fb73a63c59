"""Header advisories of comparable proxies, sent as exact bytes over a socket.

- GHSA-vjrc-mh2v-45x6 (oauth2-proxy, CVE-2025-64484): identity headers smuggled past the
  strip list in another case or with `_` for `-`; WSGI/PHP/Rack upstreams read `X_Auth_Email`
  as `X-Auth-Email`. nginx and Kong drop underscore headers by default; aiohttp does not, so
  the sidecar must.
- GHSA-7x63-xv5r-3p2x (oauth2-proxy, CVE-2026-40575): a client-supplied `X-Forwarded-Uri`
  chose the path the rules were evaluated on. The sidecar believes `X-Forwarded-*` and
  `X-Original-URI` only from `trusted_proxies`.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.rawhttp import send

IDENTITY_NAMES = [
    "X-Auth-Subject",
    "x-auth-subject",
    "X-AUTH-SUBJECT",
    "X_Auth_Subject",
    "x_auth_subject",
    "X-Auth_Subject",
    "X-Auth-Email",
    "X_Auth_Email",
    "X-Auth-Username",
    "X-Auth-Name",
    "X-Auth-Groups",
    "X_AUTH_GROUPS",
    "X-Auth-Assertion",
    "X-Auth-Request-User",
    "X_Auth_Request_Email",
    "X-Auth-Request-Groups",
    "X-Credential-Identifier",
    "X_Credential_Identifier",
    "X-Forwarded-User",
    "X_Forwarded_User",
    "x-forwarded-email",
    "X_Forwarded_Email",
    "X-Forwarded-Groups",
    "X-Forwarded-Preferred-Username",
    "X_Forwarded_Preferred_Username",
    "X-Forwarded-Access-Token",
    "X-Consumer-ID",
    "X-Consumer-Username",
    "X_Consumer_Custom_ID",
    "X-Consumer-Groups",
    "X-Authenticated-Userid",
    "X_Authenticated_Groups",
    "X-Authenticated-Scope",
    "X-Anonymous-Consumer",
    "X-Userinfo",
    "X_Userinfo",
    "X-Id-Token",
    "X-Access-Token",
    "Remote-User",
    "Remote-Groups",
]
SPOOF = "spoofed-by-client"


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-")


def _upstream_headers(echo_upstream: Any) -> list[tuple[str, str]]:
    return [(name, value) for name, value in echo_upstream.last()["headers"]]


def _assert_no_spoof(headers: list[tuple[str, str]]) -> None:
    leaked = [(n, v) for n, v in headers if SPOOF in v]
    assert not leaked, leaked


async def test_ghsa_vjrc_mh2v_45x6_identity_headers_in_every_spelling_stripped_anonymous(
    lying_sidecar, echo_upstream
):
    """An anonymous request to a public path carrying every identity header of every system,
    in every case and underscore spelling: the upstream sees none of them."""
    headers = [(name, SPOOF) for name in IDENTITY_NAMES]
    response = await send(lying_sidecar.url, "GET", "/public/x", headers)
    assert response.status == 200, response
    upstream = _upstream_headers(echo_upstream)
    _assert_no_spoof(upstream)
    assert not [n for n, _ in upstream if _canonical(n).startswith("x-auth-")]


async def test_ghsa_vjrc_mh2v_45x6_identity_headers_replaced_for_an_authenticated_caller(
    lying_sidecar, lying_provider, echo_upstream
):
    """With a valid token, the sidecar's identity headers are the only ones: each exactly
    once, carrying the token's values, whatever the client put before and after them."""
    token = lying_provider.signer.token(groups=["devs"])
    headers = [(name, SPOOF) for name in IDENTITY_NAMES]
    headers = [*headers, ("Authorization", f"Bearer {token}"), *headers]  # duplicates too
    response = await send(lying_sidecar.url, "GET", "/x", headers)
    assert response.status == 200, response
    upstream = _upstream_headers(echo_upstream)
    _assert_no_spoof(upstream)
    by_name: dict[str, list[str]] = {}
    for name, value in upstream:
        by_name.setdefault(_canonical(name), []).append(value)
    sub = lying_provider.signer.claims()["sub"]
    assert by_name["x-auth-subject"] == [sub]
    assert by_name["x-credential-identifier"] == [sub]
    assert by_name["x-auth-groups"] == ["devs"]
    assert "authorization" not in by_name


async def test_ghsa_vjrc_mh2v_45x6_underscore_twins_of_forwarding_headers_stripped(
    lying_sidecar, echo_upstream
):
    """Even from a trusted peer, `X_Forwarded_For`, `X_Forwarded_Host`, `X_Real_IP` and
    `X_Request_ID` are no real proxy's headers: they would shadow the real ones upstream."""
    names = ["X_Forwarded_For", "X_Forwarded_Host", "X_Forwarded_Proto", "X_Real_IP"]
    headers = [(name, SPOOF) for name in [*names, "X_Request_ID", "X_Original_URI"]]
    response = await send(lying_sidecar.url, "GET", "/public/x", headers)
    assert response.status == 200
    _assert_no_spoof(_upstream_headers(echo_upstream))


async def test_ghsa_7x63_xv5r_3p2x_spoofed_forwarded_uri_at_verify_ignored(
    lying_sidecar_factory,
):
    """Forward-auth from an untrusted peer (`trusted_proxies` empty): `X-Forwarded-Uri`,
    `X-Original-URI` and `X-Forwarded-Method` naming a public path do not make the
    request public; it is judged as `/`, and refused without a credential."""
    untrusted = await lying_sidecar_factory({"trusted_proxies": ""}, upstream=None)
    trusted = await lying_sidecar_factory({}, upstream=None)
    for spoof in (
        [("X-Forwarded-Uri", "/public/x")],
        [("X-Original-URI", "/public/x")],
        [("X-Forwarded-Uri", "/public/x"), ("X-Forwarded-Method", "GET")],
        [("X_Forwarded_Uri", "/public/x")],
        [("x-forwarded-uri", "/public/x"), ("X-Forwarded-Uri", "/public/y")],
    ):
        refused = await send(untrusted.url, "GET", "/.auth/verify", spoof)
        assert refused.status == 401, (spoof, refused)
    # The same header from a trusted proxy is believed: the refusal above is the trust rule.
    believed = await send(trusted.url, "GET", "/.auth/verify", [("X-Forwarded-Uri", "/public/x")])
    assert believed.status == 200


@pytest.mark.parametrize("target", ["/.auth/verify", "/public/x"])
async def test_ghsa_7x63_xv5r_3p2x_untrusted_peer_cannot_claim_a_protected_path_public(
    lying_sidecar_factory, target
):
    """Nor the other way round: a spoofed URI does not turn a protected real path public in
    proxy mode; the policy reads the request line only."""
    untrusted = await lying_sidecar_factory({"trusted_proxies": ""})
    response = await send(untrusted.url, "GET", "/admin/x", [("X-Forwarded-Uri", target)])
    assert response.status == 401


async def test_untrusted_peer_forwarding_headers_replaced_in_proxy_mode(
    lying_sidecar_factory, echo_upstream
):
    """`X-Forwarded-Host`, `-For`, `-Proto`, `Forwarded` (RFC 7239), `X-Real-IP`,
    `X-Forwarded-Uri`, `X-Original-URI` and `X-Request-ID` from an untrusted peer do not
    reach the upstream as sent: the sidecar writes what the connection says, drops the rest."""
    untrusted = await lying_sidecar_factory({"trusted_proxies": ""})
    spoofs = [
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Prefix", "/evil"),
        ("Forwarded", "for=203.0.113.9;host=evil.example;proto=https"),
        ("X-Real-IP", "203.0.113.9"),
        ("X-Forwarded-Uri", "/admin"),
        ("X-Original-URI", "/admin"),
        ("X-Forwarded-Method", "DELETE"),
        ("X-Request-ID", "attacker-chosen-id"),
    ]
    response = await send(untrusted.url, "GET", "/public/x", spoofs)
    assert response.status == 200
    upstream = {n.lower(): v for n, v in _upstream_headers(echo_upstream)}
    assert upstream["x-forwarded-for"] == "127.0.0.1"
    assert upstream["x-forwarded-proto"] == "http"
    assert upstream["x-forwarded-host"] == "127.0.0.1"  # the Host the client connected with
    assert upstream["x-request-id"] != "attacker-chosen-id"
    for dropped in ("forwarded", "x-real-ip", "x-forwarded-uri", "x-original-uri"):
        assert dropped not in upstream
    assert not {"x-forwarded-port", "x-forwarded-prefix", "x-forwarded-method"} & set(upstream)
