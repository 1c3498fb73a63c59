"""Policy rules beyond groups (CONTRACT "Access policy"): `methods` (other methods fall through
to the next longest prefix), `claims` (any of each claim's values, every claim required, a
list claim contains one) and `actors` (the service a request came through)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sidecar.config.settings import PolicyRule
from sidecar.pipeline.policy import DEFAULT_RULE, Policy, normalize_path
from sidecar.tokens.identity import Identity

SERVICE_A = "https://orders.example.com"
SERVICE_B = "https://billing.example.com"


def identity(**claims: Any) -> Identity:
    return Identity.from_claims({"sub": "u1", "exp": 2_000_000_000, **claims}, "bearer", "")


def restricted(**fields: Any) -> PolicyRule:
    return PolicyRule("/x", "restricted", **fields)


def claims(**values: list[str]) -> tuple[tuple[str, frozenset[str]], ...]:
    return tuple(sorted((name, frozenset(v)) for name, v in values.items()))


READ_PUBLIC = PolicyRule("/api", "public", methods=frozenset({"GET", "HEAD"}))
WRITE_ADMINS = PolicyRule("/api", "restricted", groups=frozenset({"admins"}))
DELETE_OPS = PolicyRule(
    "/api/items", "restricted", groups=frozenset({"ops"}), methods=frozenset({"DELETE"})
)
ROOT = PolicyRule("/", "authenticated")


@pytest.fixture
def policy() -> Policy:
    return Policy([WRITE_ADMINS, READ_PUBLIC, DELETE_OPS, ROOT])


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/items", READ_PUBLIC),  # /api/items has no GET rule: falls to /api (GET)
        ("HEAD", "/api", READ_PUBLIC),
        ("POST", "/api/items", WRITE_ADMINS),  # neither method rule: the rule without methods
        ("DELETE", "/api/items/7", DELETE_OPS),
        ("DELETE", "/api/other", WRITE_ADMINS),
        ("GET", "/elsewhere", ROOT),
    ],
)
def test_methods_fall_through_to_the_next_longest_prefix(
    policy: Policy, method: str, path: str, expected: PolicyRule
) -> None:
    assert policy.rule_for(normalize_path(path), method) is expected


def test_a_method_rule_wins_over_the_rule_without_methods_at_its_path(policy: Policy) -> None:
    assert policy.rule_for("/api", "GET") is READ_PUBLIC
    assert policy.rule_for("/api", "PUT") is WRITE_ADMINS


def test_method_rules_alone_fall_to_the_default() -> None:
    only_get = PolicyRule("/api", "public", methods=frozenset({"GET"}))
    assert Policy([only_get]).rule_for("/api", "POST") is DEFAULT_RULE


def test_a_public_method_rule_is_not_reached_by_case_folding() -> None:
    """Leniency only restricts: `/API` under a public GET rule is judged by the default."""
    rule = PolicyRule("/api", "public", methods=frozenset({"GET"}))
    assert Policy([rule]).rule_for("/API/x", "GET") is DEFAULT_RULE
    assert Policy([rule]).rule_for("/api/x", "GET") is rule


@pytest.mark.parametrize(
    ("rule_claims", "token_claims", "allowed"),
    [
        (claims(tenant=["acme", "globex"]), {"tenant": "globex"}, True),  # any of the values
        (claims(tenant=["acme"]), {"tenant": "initech"}, False),
        (claims(tenant=["acme"]), {}, False),  # a missing claim never holds
        (claims(tenant=["acme"], tier=["gold"]), {"tenant": "acme", "tier": "gold"}, True),
        (claims(tenant=["acme"], tier=["gold"]), {"tenant": "acme", "tier": "tin"}, False),
        (claims(roles=["writer"]), {"roles": ["reader", "writer"]}, True),  # a list contains one
        (claims(roles=["writer"]), {"roles": ["reader"]}, False),
        (claims(groups=["admins"]), {"groups": ["devs", "admins"]}, True),
        (claims(tenant=["acme"]), {"tenant": ["acme"], "other": 1}, True),
        (claims(level=["3"]), {"level": 3}, True),  # whole numbers compare in decimal
        (claims(level=["3"]), {"level": 3.0}, False),  # floats never do
        (claims(admin=["true"]), {"admin": True}, True),  # booleans as JSON writes them
        (claims(admin=["true"]), {"admin": "True"}, False),
        (claims(org=["acme"]), {"org": {"name": "acme"}}, False),  # objects never match
    ],
)
def test_claims_rules(rule_claims: Any, token_claims: dict[str, Any], allowed: bool) -> None:
    assert Policy.permits(restricted(claims=rule_claims), identity(**token_claims)) is allowed


def test_an_email_claim_rule_reads_only_a_verified_email() -> None:
    rule = restricted(claims=claims(email=["boss@corp.io"]))
    assert Policy.permits(rule, identity(email="boss@corp.io", email_verified=True))
    assert not Policy.permits(rule, identity(email="boss@corp.io", email_verified=False))
    assert not Policy.permits(rule, identity(email="boss@corp.io"))


def test_claims_and_groups_are_both_required() -> None:
    rule = restricted(groups=frozenset({"admins"}), claims=claims(tenant=["acme"]))
    assert Policy.permits(rule, identity(groups=["admins"], tenant="acme"))
    assert not Policy.permits(rule, identity(groups=["admins"], tenant="globex"))
    assert not Policy.permits(rule, identity(groups=["devs"], tenant="acme"))


def test_actors_rule_needs_the_request_to_come_through_a_listed_service() -> None:
    rule = restricted(actors=frozenset({SERVICE_A}))
    user = identity(groups=["admins"])
    assert not Policy.permits(rule, user)  # straight from the user: no actor
    assert Policy.permits(rule, replace(user, actor=SERVICE_A))
    assert not Policy.permits(rule, replace(user, actor=SERVICE_B))
    assert not Policy.permits(rule, None)


def test_actors_and_claims_are_both_required() -> None:
    rule = restricted(actors=frozenset({SERVICE_A}), claims=claims(tenant=["acme"]))
    assert Policy.permits(rule, replace(identity(tenant="acme"), actor=SERVICE_A))
    assert not Policy.permits(rule, replace(identity(tenant="globex"), actor=SERVICE_A))


def test_the_claims_of_an_identity_are_never_in_its_repr() -> None:
    assert "secret-tenant" not in repr(identity(tenant="secret-tenant"))
