"""What a session holds (sealed before it reaches the store)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

_CLAIMS_KEPT = (
    "sub",
    "exp",
    "email",
    "email_verified",
    "name",
    "preferred_username",
    "groups",
    "sid",  # the provider's session (Back-Channel Logout 1.0 section 2.4): for the index
)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    created_at: int
    id_token: str
    access_token: str
    refresh_token: str | None
    claims: dict[str, Any]  # the identity claims of the current id token

    @property
    def id_token_exp(self) -> int:
        return int(self.claims["exp"])

    @property
    def sid(self) -> str | None:
        sid = self.claims.get("sid")
        return sid if isinstance(sid, str) and sid else None

    @classmethod
    def new(
        cls,
        created_at: int,
        id_token: str,
        access_token: str,
        refresh_token: str | None,
        claims: dict[str, Any],
    ) -> SessionRecord:
        kept = {name: claims[name] for name in _CLAIMS_KEPT if name in claims}
        return cls(created_at, id_token, access_token, refresh_token, kept)

    def refreshed(
        self, id_token: str, access_token: str, refresh_token: str | None, claims: dict[str, Any]
    ) -> SessionRecord:
        """The same session with new tokens. RFC 6749 section 6: a provider may keep the old
        refresh token by not returning one."""
        kept = {name: claims[name] for name in _CLAIMS_KEPT if name in claims}
        if "sid" in self.claims and "sid" not in kept:
            kept["sid"] = self.claims["sid"]  # the provider's session goes on
        return replace(
            self,
            id_token=id_token,
            access_token=access_token,
            refresh_token=refresh_token or self.refresh_token,
            claims=kept,
        )

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> SessionRecord | None:
        try:
            data = json.loads(raw)
            return cls(**data)
        except (ValueError, TypeError):
            return None
