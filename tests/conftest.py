"""Shared fixtures. Real components live in tests/fixtures/ and are registered here."""

pytest_plugins = [
    "tests.fixtures.provider",
    "tests.fixtures.upstream",
    "tests.fixtures.redis_servers",
    "tests.fixtures.sidecar",
]
