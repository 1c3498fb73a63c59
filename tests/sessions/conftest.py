"""Fixtures of the session tests: a provider with RP-initiated logout (Dex has none in a
release, so the shared provider has none either) and sidecars configured for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.provider import OidcProvider, serve


@pytest.fixture(scope="module")
def logout_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """The test provider with `end_session_endpoint` in its discovery."""
    workdir = tmp_path_factory.mktemp("logout-provider")
    yield from serve(OidcProvider(workdir, options={"end_session_endpoint": True}))


def oidc_of(provider: OidcProvider) -> dict[str, Any]:
    """Sidecar settings overrides pointing at `provider`."""
    return {
        "oidc": {
            "issuer": provider.issuer,
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
        }
    }
