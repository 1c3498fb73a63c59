"""Policy: path normalization, longest-prefix rules on segment boundaries, access checks."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.config.settings import PolicyRule
from sidecar.errors import BadRequest
from sidecar.pipeline.policy import DEFAULT_RULE, Policy, normalize_path
from sidecar.tokens.identity import Identity

ADMIN = PolicyRule("/admin", "restricted", groups=frozenset({"admins"}))
PUBLIC = PolicyRule("/public", "public")
DOCS = PolicyRule("/docs/", "public")
REPORTS = PolicyRule(
    "/reports",
    "restricted",
    emails=frozenset({"Boss@Corp.io"}),
    email_domains=frozenset({"example.com"}),
)
ROOT = PolicyRule("/", "authenticated")
ADMIN_AUDIT = PolicyRule("/admin/audit", "restricted", groups=frozenset({"auditors"}))


@pytest.fixture
def policy() -> Policy:
    return Policy([PUBLIC, ADMIN, ADMIN_AUDIT, DOCS, REPORTS, ROOT])


def user(
    *, groups: tuple[str, ...] = (), email: str | None = None, verified: bool = True
) -> Identity:
    claims = {"sub": "u1", "exp": 2_000_000_000, "groups": list(groups)}
    if email is not None:
        claims |= {"email": email, "email_verified": verified}
    return Identity.from_claims(claims, "bearer", "")


def rule_of(policy: Policy, raw: str) -> PolicyRule:
    return policy.rule_for(normalize_path(raw), "GET")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/admin", ADMIN),
        ("/admin/", ADMIN),
        ("/admin/users/1", ADMIN),
        ("/admin/audit", ADMIN_AUDIT),  # longest prefix wins
        ("/admin/audit/log", ADMIN_AUDIT),
        ("/admin/auditor", ADMIN),  # segment boundary
        ("/administrator", ROOT),  # segment boundary
        ("/public", PUBLIC),
        ("/publicity", ROOT),
        ("/docs/", DOCS),
        ("/docs/intro", DOCS),
        ("/docs", ROOT),  # a rule ending in '/' covers its subtree only
        ("/", ROOT),
        ("/anything/else", ROOT),
    ],
)
def test_longest_prefix_on_segment_boundaries(
    policy: Policy, raw: str, expected: PolicyRule
) -> None:
    assert rule_of(policy, raw) is expected


def test_default_rule_is_authenticated_when_nothing_matches() -> None:
    policy = Policy([ADMIN])
    assert policy.rule_for("/elsewhere", "GET") == DEFAULT_RULE == PolicyRule("/", "authenticated")
    assert Policy([]).rule_for("/", "GET") == DEFAULT_RULE


def test_first_rule_wins_for_equal_paths() -> None:
    first, second = PolicyRule("/x", "public"), PolicyRule("/x", "authenticated")
    assert Policy([first, second]).rule_for("/x/y", "GET") is first


@pytest.mark.parametrize(
    "raw",
    [
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public/%2E%2E/admin",
        "/public/.%2e/admin",
        "//admin",
        "///admin//users",
        "/%61dmin",
        "/%61%64%6d%69%6e/x",
        "/public/..%2fadmin",
        "/public/..%2Fadmin",
        "/public%2f..%2fadmin",
        "/public\\..\\admin",
        "/public/..%5cadmin",
        "/./admin",
        "/../../admin",
        "/ADMIN",  # matched case-insensitively: Express and IIS route that way
        "/Admin/Users",
        "/admin;x",  # matrix parameters: Tomcat and Spring read /admin
        "/admin;jsessionid=1/users",
        "/admin?next=/public",
        "/admin#/public",
        "http://evil.example/admin",  # absolute-form request target
    ],
)
def test_normalization_bypasses_reach_the_admin_rule(policy: Policy, raw: str) -> None:
    rule = rule_of(policy, raw)
    assert rule is ADMIN
    assert not Policy.permits(rule, user(groups=("staff",)))
    assert Policy.permits(rule, user(groups=("admins",)))


def test_encoded_slash_dot_dot_resolves_to_its_parent(policy: Policy) -> None:
    # `/admin%2f..` is `/admin/..`, i.e. `/`: the proxy must forward this normalized form so
    # that an upstream reading `%2f` as data cannot serve /admin under the root rule.
    assert normalize_path("/admin%2f..") == "/"
    assert rule_of(policy, "/admin%2f..") is ROOT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "/"),
        ("/", "/"),
        ("/a/b/", "/a/b/"),
        ("/a/b/.", "/a/b/"),
        ("/a/b/..", "/a/"),
        ("/a/./b/../c", "/a/c"),
        ("/..", "/"),
        ("/a%20b", "/a b"),
        ("/caf%C3%A9", "/café"),
        ("/public?/../admin", "/public"),  # the query is never read
        ("/public%3F/../admin", "/admin"),  # a decoded '?' is a path character
        ("/Admin;x", "/Admin;x"),  # case and parameters are kept in the forwarded form
        ("/....//x", "/..../x"),  # not a dot-segment
        ("/100%", "/100%"),
    ],
)
def test_normalize_path_forms(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "/admin\x00",
        "/admin%00",
        "/a\r\nX-Injected: 1",
        "/a%0d%0aX-Injected:%201",
        "/a%0A",
        "/a\t",
        "/a%7f",
        "/%252e%252e/admin",  # double encoding: one upstream decodes twice
        "/public/%252fadmin",
        "/public/%255cadmin",
        "/a%2525",
        "/a%2541",  # any escape left after one pass: `/%2561dmin` is `/admin` decoded twice
        "/%2561dmin/x",
        "/x%25c3%25a9",
        "/public/..;/admin",  # Tomcat reads `..;` as `..`
        "/public/.;x/admin",
        "/%ff",  # not UTF-8
        "/%C3",
    ],
)
def test_refused_paths(raw: str) -> None:
    with pytest.raises(BadRequest):
        normalize_path(raw)


@given(st.text(max_size=60))
def test_normalized_form_is_canonical_and_stable(raw: str) -> None:
    try:
        path = normalize_path(raw)
    except BadRequest:
        return
    assert path.startswith("/")
    assert "//" not in path
    assert "\\" not in path
    segments = path.split("/")
    assert "." not in segments
    assert ".." not in segments
    # Forwarding the normalized path (percent-encoded) gives the same decision upstream.
    assert normalize_path(quote(path, safe="/;")) == path


def test_rule_paths_are_normalized_too() -> None:
    rule = PolicyRule("//Admin//", "restricted", groups=frozenset({"admins"}))
    assert Policy([rule]).rule_for("/admin/x", "GET") is rule


def test_public_needs_no_identity() -> None:
    assert Policy.permits(PUBLIC, None)
    assert Policy.permits(PUBLIC, user())


def test_authenticated_needs_any_identity() -> None:
    assert not Policy.permits(ROOT, None)
    assert Policy.permits(ROOT, user())


def test_restricted_by_group() -> None:
    assert Policy.permits(ADMIN, user(groups=("staff", "admins")))
    assert not Policy.permits(ADMIN, user(groups=("Admins",)))  # groups are exact
    assert not Policy.permits(ADMIN, user())
    assert not Policy.permits(ADMIN, None)


@pytest.mark.parametrize(
    ("email", "allowed"),
    [
        ("boss@corp.io", True),
        ("BOSS@CORP.IO", True),  # emails are compared case-insensitively
        ("other@corp.io", False),
        ("ann@example.com", True),
        ("ann@EXAMPLE.COM", True),
        ("ann@evilexample.com", False),  # no suffix tricks
        ("ann@sub.example.com", False),  # exact domain only
        ("ann@example.com.evil.io", False),
        ("example.com@evil.io", False),
        ('"ann@example.com"@evil.io', False),  # the domain is after the last '@'
        ("example.com", False),
    ],
)
def test_restricted_by_email_and_domain(email: str, allowed: bool) -> None:
    assert Policy.permits(REPORTS, user(email=email)) is allowed


def test_unverified_email_is_never_matched() -> None:
    assert not Policy.permits(REPORTS, user(email="boss@corp.io", verified=False))
    assert not Policy.permits(REPORTS, user(email="ann@example.com", verified=False))


def test_restricted_without_any_list_admits_nobody() -> None:
    rule = PolicyRule("/locked", "restricted")
    assert not Policy.permits(rule, user(groups=("admins",), email="ann@example.com"))


def test_domain_rule_with_leading_at() -> None:
    rule = PolicyRule("/r", "restricted", email_domains=frozenset({"@Example.com"}))
    assert Policy.permits(rule, user(email="ann@example.com"))
