"""Fixtures of the session tests: a provider with RP-initiated logout (Dex has none in a
release, so the shared provider has none either); `oidc_of` (tests/fixtures/sidecar.py) points
a sidecar at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.provider import OidcProvider, serve


@pytest.fixture(scope="module")
def logout_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """The test provider with `end_session_endpoint` in its discovery."""
    workdir = tmp_path_factory.mktemp("logout-provider")
    yield from serve(OidcProvider(workdir, options={"end_session_endpoint": True}))
