"""OpenID Provider discovery (OpenID Connect Discovery 1.0, section 4).

Section 4.3: "The issuer value returned MUST be identical to the Issuer URL that was used as the
prefix to /.well-known/openid-configuration". A mismatch is a misconfiguration or a mix-up
attack (RFC 9700 section 4.4), so it is refused, never corrected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from authlib.oidc.discovery import OpenIDProviderMetadata

from sidecar.errors import ProviderUnavailable

# The fields the sidecar relies on, validated with authlib's own rules.
_VALIDATED_FIELDS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "id_token_signing_alg_values_supported",
)


class ProviderMetadataError(ProviderUnavailable):
    """Discovery answered, but with a document the sidecar must not trust."""

    error = "provider_misconfigured"


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    code_challenge_methods: tuple[str, ...]
    userinfo_endpoint: str | None = None

    @classmethod
    def from_document(cls, document: dict[str, Any], expected_issuer: str) -> ProviderMetadata:
        if document.get("issuer") != expected_issuer:
            raise ProviderMetadataError("discovery issuer differs from the configured issuer")
        _validate(OpenIDProviderMetadata(document), insecure_ok=_is_http(expected_issuer))
        methods = tuple(document.get("code_challenge_methods_supported") or ())
        if methods and "S256" not in methods:
            # RFC 9700 section 2.1.1: PKCE with S256. A provider that lists its methods without
            # S256 would ignore the challenge, leaving the code unbound to this login.
            raise ProviderMetadataError("provider does not support PKCE S256")
        end_session = document.get("end_session_endpoint")
        userinfo = document.get("userinfo_endpoint")
        return cls(
            issuer=expected_issuer,
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            end_session_endpoint=end_session if isinstance(end_session, str) else None,
            code_challenge_methods=methods,
            userinfo_endpoint=userinfo if isinstance(userinfo, str) and userinfo else None,
        )


async def fetch_metadata(session: aiohttp.ClientSession, issuer: str) -> ProviderMetadata:
    """GET `{issuer}/.well-known/openid-configuration` and validate it."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        async with session.get(url, allow_redirects=False) as response:
            if response.status != 200:
                raise ProviderUnavailable(f"discovery answered {response.status}")
            document = await response.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        raise ProviderUnavailable("discovery failed") from exc
    if not isinstance(document, dict):
        raise ProviderMetadataError("discovery document is not an object")
    return ProviderMetadata.from_document(document, issuer)


def _validate(metadata: OpenIDProviderMetadata, *, insecure_ok: bool) -> None:
    for name in _VALIDATED_FIELDS:
        try:
            getattr(metadata, f"validate_{name}")()
        except ValueError as exc:
            # An operator who configured an http issuer (in-cluster Dex) chose plain transport.
            if insecure_ok and "https" in str(exc):
                continue
            raise ProviderMetadataError(f"discovery field {name} is invalid") from exc


def _is_http(url: str) -> bool:
    return urlsplit(url).scheme == "http"
