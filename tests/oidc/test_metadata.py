"""Discovery (OpenID Connect Discovery 1.0 section 4): the real provider's document is
accepted; an issuer that differs in any byte, or a document missing what the sidecar needs, is
refused. A lying provider (a small aiohttp server) serves the documents no real one would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sidecar.errors import ProviderUnavailable
from sidecar.oidc.metadata import ProviderMetadata, ProviderMetadataError, fetch_metadata
from tests.fixtures.ports import LOOPBACK

ISSUER = "https://dex.example.com/dex"


def document(issuer: str = ISSUER, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/keys",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256", "plain"],
    }
    doc.update(overrides)
    return {name: value for name, value in doc.items() if value is not None}


class LyingProvider:
    """Answers discovery with whatever the test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.body: Any = None  # JSON-able; a `str` is sent as is
        self.url = ""

    async def discovery(self, request: web.Request) -> web.StreamResponse:
        if self.status in (301, 302):
            raise web.HTTPFound("http://127.0.0.1:9/elsewhere")
        if isinstance(self.body, str):
            return web.Response(status=self.status, text=self.body)
        return web.json_response(self.body, status=self.status)


@pytest.fixture
async def liar(aiohttp_server: Callable[..., Any]) -> LyingProvider:
    provider = LyingProvider()
    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", provider.discovery)
    server = await aiohttp_server(app, host=LOOPBACK)
    provider.url = f"http://{LOOPBACK}:{server.port}"
    provider.body = document(provider.url)
    return provider


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


async def test_the_real_providers_discovery_is_accepted(http, oidc_provider):
    metadata = await fetch_metadata(http, oidc_provider.issuer)
    assert metadata.issuer == oidc_provider.issuer
    assert metadata.jwks_uri == oidc_provider.jwks_url
    assert metadata.token_endpoint == oidc_provider.token_endpoint
    assert metadata.authorization_endpoint == oidc_provider.authorization_endpoint
    assert "S256" in metadata.code_challenge_methods


async def test_configured_issuer_with_a_trailing_slash_is_refused(http, oidc_provider):
    with pytest.raises(ProviderMetadataError):
        await fetch_metadata(http, oidc_provider.issuer + "/")


@pytest.mark.parametrize(
    "served", [ISSUER + "/", ISSUER.upper(), "https://dex.example.com", "", None, 42]
)
def test_issuer_must_be_identical(served):
    served_document = {**document(), "issuer": served}  # endpoints still under ISSUER
    with pytest.raises(ProviderMetadataError):
        ProviderMetadata.from_document(served_document, ISSUER)


@pytest.mark.parametrize(
    "missing",
    [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "id_token_signing_alg_values_supported",
    ],
)
def test_missing_fields_are_refused(missing):
    with pytest.raises(ProviderMetadataError):
        ProviderMetadata.from_document(document(**{missing: None}), ISSUER)


def test_plain_http_endpoints_are_refused_for_an_https_issuer():
    with pytest.raises(ProviderMetadataError):
        ProviderMetadata.from_document(document(jwks_uri="http://dex.example.com/keys"), ISSUER)


def test_a_provider_listing_pkce_methods_without_s256_is_refused():
    with pytest.raises(ProviderMetadataError):
        ProviderMetadata.from_document(document(code_challenge_methods_supported=["plain"]), ISSUER)
    unlisted = ProviderMetadata.from_document(
        document(code_challenge_methods_supported=None), ISSUER
    )
    assert unlisted.code_challenge_methods == ()


def test_dex_without_end_session_endpoint_is_fine():
    metadata = ProviderMetadata.from_document(document(), ISSUER)
    assert metadata.end_session_endpoint is None
    with_logout = document(end_session_endpoint=f"{ISSUER}/logout")
    assert ProviderMetadata.from_document(with_logout, ISSUER).end_session_endpoint


async def test_lying_provider_with_a_foreign_issuer(http, liar):
    liar.body = document("https://evil.example")
    with pytest.raises(ProviderMetadataError):
        await fetch_metadata(http, liar.url)


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, {}), (404, {}), (302, None), (200, "<html>not json</html>")],
)
async def test_unreachable_or_unreadable_discovery_is_unavailable(http, liar, status, body):
    liar.status, liar.body = status, body
    with pytest.raises(ProviderUnavailable) as refused:
        await fetch_metadata(http, liar.url)
    assert refused.value.status == 503


@pytest.mark.parametrize("body", [[], "null", {"keys": []}])
async def test_a_document_that_is_not_metadata_is_refused(http, liar, body):
    liar.body = body
    with pytest.raises(ProviderUnavailable):
        await fetch_metadata(http, liar.url)


async def test_the_lying_providers_honest_document_is_accepted(http, liar):
    """The control: the same server with a correct document passes."""
    metadata = await fetch_metadata(http, liar.url)
    assert metadata.jwks_uri == f"{liar.url}/keys"
