"""The provider's UserInfo endpoint (OIDC Core 5.3), with `oidc.userinfo: true`: called at login
and at every refresh with the access token (RFC 6750 section 2.1), through the provider's
client session (its tracing hooks included).

- 5.3.2: "The sub Claim in the UserInfo Response MUST be verified to exactly match the sub
  Claim in the ID Token; if they do not match, the UserInfo Response values MUST NOT be used."
  A mismatch refuses the login (`UserinfoMismatch`).
- The claims the contract names (`email`, `email_verified`, `name`, `preferred_username`,
  `groups`) from userinfo take precedence over the id token's; a value of the wrong type is
  ignored. A new `email` without `email_verified` is not taken as verified.
- Only a JSON answer is read: a signed or encrypted one (`application/jwt`) is refused (the
  sidecar registers for neither).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp

from sidecar.errors import LoginFailed, ProviderUnavailable
from sidecar.net import read_bounded
from sidecar.oidc.metadata import ProviderMetadata

MERGED_CLAIMS: dict[str, type | tuple[type, ...]] = {
    "email": str,
    "email_verified": bool,
    "name": str,
    "preferred_username": str,
    "groups": list,
}
MAX_BODY_BYTES = 64 * 1024


class UserinfoMismatch(LoginFailed):
    """The userinfo `sub` is not the id token's (OIDC Core 5.3.2)."""

    error = "userinfo_mismatch"


class UserinfoClient:
    def __init__(
        self, session: aiohttp.ClientSession, metadata: Callable[[], ProviderMetadata]
    ) -> None:
        self._session = session
        self._metadata = metadata

    async def merged(self, access_token: str, claims: dict[str, Any]) -> dict[str, Any]:
        """`claims` (the validated id token's) with the userinfo claims merged in."""
        return merge_userinfo(claims, await self.fetch(access_token))

    async def fetch(self, access_token: str) -> dict[str, Any]:
        uri = self._metadata().userinfo_endpoint
        if uri is None:  # refused at start-up; a provider that dropped it since: an outage
            raise ProviderUnavailable("provider lists no userinfo_endpoint")
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        try:
            async with self._session.get(uri, headers=headers, allow_redirects=False) as response:
                status, content_type = response.status, response.content_type
                body = await read_bounded(response.content, MAX_BODY_BYTES)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable("userinfo endpoint unreachable") from exc
        if status >= 500:
            raise ProviderUnavailable(f"userinfo endpoint answered {status}")
        if status != 200 or content_type != "application/json" or body is None:
            raise LoginFailed(f"userinfo endpoint answered {status} {content_type}")
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested past the reader
            raise LoginFailed("userinfo answer is not JSON") from exc
        if not isinstance(document, dict):
            raise LoginFailed("userinfo answer is not an object")
        return document


def merge_userinfo(claims: dict[str, Any], userinfo: dict[str, Any]) -> dict[str, Any]:
    if userinfo.get("sub") != claims.get("sub"):
        raise UserinfoMismatch("userinfo sub differs from the id token's")
    merged = dict(claims)
    for name, kind in MERGED_CLAIMS.items():
        value = userinfo.get(name)
        if isinstance(value, kind) and _well_formed(name, value):
            merged[name] = value
    new_email = merged.get("email") != claims.get("email")
    if new_email and "email_verified" not in userinfo:
        merged["email_verified"] = False  # a new address nobody said was verified
    return merged


def _well_formed(name: str, value: object) -> bool:
    if name == "groups":
        return isinstance(value, list) and all(isinstance(group, str) for group in value)
    return not (name != "email_verified" and isinstance(value, bool))
