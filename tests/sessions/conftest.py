"""Fixtures of the session tests: a provider with RP-initiated logout (Dex has none in a
release, so the shared provider has none either) and sidecars configured for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.provider import OidcProvider


class LogoutProvider(OidcProvider):
    """The test provider with `end_session_endpoint` in its discovery."""

    def _config(self) -> dict[str, Any]:
        return {**super()._config(), "end_session_endpoint": True}


@pytest.fixture(scope="module")
def logout_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogoutProvider]:
    provider = LogoutProvider(tmp_path_factory.mktemp("logout-provider"))
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


def oidc_of(provider: OidcProvider) -> dict[str, Any]:
    """Sidecar settings overrides pointing at `provider`."""
    return {
        "oidc": {
            "issuer": provider.issuer,
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
        }
    }
