"""The provider's token endpoint: the code exchange and the refresh (RFC 6749 sections 4.1.3, 6).

authlib builds the request bodies and the `client_secret_basic` header; aiohttp sends them
through the app's shared client session.

RFC 6749 section 2.3.1: the client id and secret are form-urlencoded (Appendix B) before they
become the Basic credentials, and Dex decodes them (`url.QueryUnescape`), so a secret holding
`+`, `%`, `/`, `:`, `=` or a space fails unless encoded. authlib sends them raw (its fix was
reverted, authlib PR #594, the maintainer's advice being to quote them first): they are quoted
here and authlib still builds the header.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from sidecar.errors import LoginFailed, ProviderUnavailable, SidecarError
from sidecar.oidc.metadata import ProviderMetadata

# RFC 6749 section 5.2 names `invalid_grant`; Dex answers an unknown, expired or "claimed twice"
# refresh token (and a spent code) with 400 `invalid_request` instead (server/refreshhandlers.go).
# Either way the grant will never work again: the session ends, the user logs in anew.
_GRANT_REFUSED = frozenset({"invalid_grant", "invalid_request"})
_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


class InvalidGrant(SidecarError):
    """RFC 6749 section 5.2 `invalid_grant`: the refresh token is spent or revoked."""

    status = 401
    error = "invalid_grant"


@dataclass(frozen=True, slots=True)
class TokenSet:
    id_token: str
    access_token: str
    refresh_token: str | None

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> TokenSet:
        id_token, access_token = body.get("id_token"), body.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise ProviderUnavailable("token response without tokens")
        refresh = body.get("refresh_token")
        # `expires_in` is not read: the id token's own `exp` decides when to refresh.
        return cls(
            id_token=id_token,
            access_token=access_token,
            refresh_token=refresh if isinstance(refresh, str) else None,
        )


class TokenClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        metadata: Callable[[], ProviderMetadata],
        client_id: str,
        client_secret: str,
    ) -> None:
        self._session = session
        self._metadata = metadata
        self._auth = ClientAuth(
            form_encode(client_id), form_encode(client_secret), "client_secret_basic"
        )

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> TokenSet:
        body = prepare_token_request(
            "authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        try:
            return await self._post(body)
        except InvalidGrant as exc:
            raise LoginFailed("code refused") from exc

    async def refresh(self, refresh_token: str) -> TokenSet:
        return await self._post(prepare_token_request("refresh_token", refresh_token=refresh_token))

    async def _post(self, body: str) -> TokenSet:
        uri = self._metadata().token_endpoint
        _, headers, body = self._auth.prepare("POST", uri, dict(_FORM), body)
        try:
            async with self._session.post(uri, data=body, headers=headers) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable("token endpoint unreachable") from exc
        if status >= 500:
            raise ProviderUnavailable(f"token endpoint answered {status}")
        payload = _json_object(text)
        if status != 200:
            if status == 400 and payload.get("error") in _GRANT_REFUSED:
                raise InvalidGrant("grant refused")
            raise LoginFailed(f"token endpoint answered {status}")
        return TokenSet.from_response(payload)


def form_encode(value: str) -> str:
    """application/x-www-form-urlencoded, as RFC 6749 Appendix B: UTF-8, then `+` for space."""
    return quote_plus(value, safe="")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested past the reader
        return {}
    return value if isinstance(value, dict) else {}
