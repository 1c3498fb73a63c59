"""Shared fixtures, and the suite's tiers.

Real components live in tests/fixtures/ and are registered here.

Tiers (markers, registered in pyproject.toml) are given here, from where a test lives and the
fixtures it uses, so a new test file needs none: every test is `unit` or `integration` (it
starts a real component: a provider, Redis, a server, a sidecar process), and may also be in
`topology`, `deploy`, `faults`, `browser`, `dex`, `gateways` or `kong_nginx`. A directory of
that name puts its tests in the tier (tests/faults/, tests/dex/, ...); so does a fixture of a
tier (the table below, or a name starting with `dex`, `gateway` or `kong`). A test may still
mark itself. Tier tests get a longer per-test timeout than the default (pyproject `timeout`).
Under pytest-xdist (scripts/run-pytest.sh) the fault tests share one worker (`xdist_group`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.provider",
    "tests.fixtures.upstream",
    "tests.fixtures.redis_servers",
    "tests.fixtures.sidecar",
    "tests.faults.table",
]

TESTS = Path(__file__).parent
# Tiers beyond unit/integration, and the directories (any level under tests/) that imply them.
TIERS = ("topology", "deploy", "faults", "browser", "dex", "gateways", "kong_nginx")
# Fixtures that start a real component (those built on them pull them in).
REAL_COMPONENTS = {
    "oidc_provider",
    "logout_provider",
    "redis_processes",
    "own_redis_standalone",
    "own_redis_tls",
    "own_redis_cluster",
    "own_redis_sentinel",
    "fault_redis",
    "aiohttp_server",
    "aiohttp_client",
    "aiohttp_raw_server",
    "spawn_sidecar",
    "demo",
}
# Fixtures that put a test in a tier.
TIER_FIXTURES = {
    "redis_cluster": "topology",
    "redis_sentinel": "topology",
    "own_redis_cluster": "topology",
    "own_redis_sentinel": "topology",
}
TIER_FIXTURE_PREFIXES = {"dex": "dex", "gateway": "gateways", "kong": "kong_nginx"}
# A test parametrized over these Redis kinds (`store_case`, `topology`...) starts that kind.
REDIS_PARAMS = {"standalone": None, "tls": None, "cluster": "topology", "sentinel": "topology"}
# Seconds per test (setup and teardown included) for tests in these tiers; others get the
# pyproject default. A test's own `@pytest.mark.timeout(...)` wins.
TIER_TIMEOUT_S = {
    "faults": 600,
    "topology": 300,
    "dex": 600,  # a first run builds Dex (minutes) in the setup of the first test
    "gateways": 300,
    "kong_nginx": 300,
    "browser": 300,
    "deploy": 300,
}


def tiers_of(item: pytest.Item) -> set[str]:
    """The tiers a test is in, from its directory, its fixtures and its parameters."""
    found = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
    parts = Path(str(item.path)).relative_to(TESTS).parts[:-1]
    found |= {part for part in parts if part in TIERS}
    names = set(getattr(item, "fixturenames", ()))
    found |= {TIER_FIXTURES[name] for name in names if name in TIER_FIXTURES}
    for name in names:
        found |= {t for p, t in TIER_FIXTURE_PREFIXES.items() if name.startswith(p)}
    params = getattr(getattr(item, "callspec", None), "params", {})
    redis_kinds = {v for v in params.values() if isinstance(v, str) and v in REDIS_PARAMS}
    found |= {tier for kind in redis_kinds if (tier := REDIS_PARAMS[kind])}
    real = names & REAL_COMPONENTS or redis_kinds or found & {"topology", "faults", "browser"}
    found.add("integration" if real else "unit")
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tiers = tiers_of(item)
        for tier in sorted(tiers - {m.name for m in item.iter_markers()}):
            item.add_marker(tier)
        if "faults" in tiers:
            item.add_marker("slow")
            item.add_marker(pytest.mark.xdist_group("faults"))
        timeouts = [TIER_TIMEOUT_S[t] for t in tiers if t in TIER_TIMEOUT_S]
        if timeouts and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(max(timeouts)))
    # The fault tests first, on one worker, one after another: each drives a load and times the
    # answers (two at once would load the box twice), and their ~2.5 min start at once.
    items.sort(key=lambda item: "faults" not in item.keywords)
