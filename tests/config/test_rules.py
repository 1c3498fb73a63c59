"""Policy rule keys `methods`, `claims`, `actors` as loaded, and their errors named by place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sidecar.config.settings import PolicyRule, load_settings
from tests.config.test_settings import problems_of, write_config


def test_methods_claims_and_actors_load(tmp_path: Path) -> None:
    policy = [
        {"path": "/api", "methods": ["get", "HEAD"], "allow": "public"},
        {"path": "/api", "claims": {"tenant": ["acme", 7, True]}},
        {"path": "/calls", "actors": ["https://orders.example.com/"], "groups": ["svc"]},
        {"path": "/docs", "methods": ["GET"], "groups": ["readers"]},
    ]
    settings = load_settings(write_config(tmp_path, {"policy": policy}), {})
    assert settings.policy == (
        PolicyRule("/api", "public", methods=frozenset({"GET", "HEAD"})),
        PolicyRule("/api", "restricted", claims=(("tenant", frozenset({"acme", "7", "true"})),)),
        PolicyRule(
            "/calls",
            "restricted",
            groups=frozenset({"svc"}),
            actors=frozenset({"https://orders.example.com"}),
        ),
        # A rule that lists GET also covers HEAD (RFC 9110 section 9.3.2).
        PolicyRule(
            "/docs", "restricted", groups=frozenset({"readers"}), methods=frozenset({"GET", "HEAD"})
        ),
    )


RULE_ERRORS: list[tuple[str, list[Any], str]] = [
    ("methods-not-list", [{"path": "/", "allow": "public", "methods": "GET"}], "policy[0].methods"),
    ("methods-empty", [{"path": "/", "allow": "public", "methods": []}], "policy[0].methods"),
    (
        "methods-not-token",
        [{"path": "/", "allow": "public", "methods": ["GE T"]}],
        "policy[0].methods",
    ),
    ("claims-not-mapping", [{"path": "/", "claims": ["tenant"]}], "policy[0].claims"),
    ("claims-empty-values", [{"path": "/", "claims": {"tenant": []}}], "policy[0].claims.tenant"),
    ("claims-object-value", [{"path": "/", "claims": {"t": [{"a": 1}]}}], "policy[0].claims.t"),
    ("claims-float-value", [{"path": "/", "claims": {"t": [1.5]}}], "policy[0].claims.t"),
    ("actors-not-url", [{"path": "/", "actors": ["orders"]}], "policy[0].actors"),
    ("actors-empty", [{"path": "/", "actors": []}], "policy[0].actors"),
    (
        "allow-with-claims",
        [{"path": "/", "allow": "authenticated", "claims": {"t": ["a"]}}],
        "policy[0] (YAML only): allow excludes",
    ),
    (
        "allow-with-actors",
        [{"path": "/", "allow": "public", "actors": ["https://a.example.com"]}],
        "policy[0] (YAML only): allow excludes",
    ),
    (
        "duplicate-methods",
        [
            {"path": "/a", "allow": "public", "methods": ["GET", "HEAD"]},
            {"path": "/a", "groups": ["x"], "methods": ["HEAD"]},
        ],
        "policy[1].path (YAML only): duplicate of policy[0]",
    ),
    (
        "duplicate-head-under-get",  # RFC 9110 section 9.3.2: a GET rule covers HEAD
        [
            {"path": "/a", "groups": ["x"], "methods": ["GET"]},
            {"path": "/a", "allow": "public", "methods": ["HEAD"]},
        ],
        "policy[1].path (YAML only): duplicate of policy[0]",
    ),
    ("unknown-field", [{"path": "/", "allow": "public", "method": ["GET"]}], "policy[0].method"),
    ("path-control-escape", [{"path": "/a%00", "allow": "public"}], "policy[0].path"),
    ("path-double-encoded", [{"path": "/a/%252e%252e", "allow": "public"}], "policy[0].path"),
    (
        "path-double-encoded-percent",
        [{"path": "/a%2f%2525", "groups": ["x"]}],
        "policy[0].path (YAML only): no request can match it",
    ),
]


@pytest.mark.parametrize(
    ("policy", "start"), [c[1:] for c in RULE_ERRORS], ids=[c[0] for c in RULE_ERRORS]
)
def test_each_rule_error_is_named(tmp_path: Path, policy: list[Any], start: str) -> None:
    problems = problems_of(write_config(tmp_path, {"policy": policy}), {})
    assert len(problems) == 1, problems
    assert problems[0].startswith(start), problems
    assert "(YAML only)" in problems[0]


def test_disjoint_methods_on_one_path_are_not_duplicates(tmp_path: Path) -> None:
    policy = [
        {"path": "/a", "allow": "public", "methods": ["GET"]},
        {"path": "/a", "groups": ["w"], "methods": ["POST"]},
        {"path": "/a", "allow": "authenticated"},
    ]
    assert len(load_settings(write_config(tmp_path, {"policy": policy}), {}).policy) == 3
