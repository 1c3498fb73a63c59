"""The verified identity that flows down the request pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

# Where an identity came from: a bearer id token, a browser session, an exchanged token.
IdentitySource = Literal["bearer", "session", "exchanged"]


MAX_ACT_DEPTH = 8  # A calls B calls C ...: a loop between services ends here (RFC 8693 4.1)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the caller is, after verification. Built only from a validated id token."""

    sub: str
    expires_at: int
    source: IdentitySource
    email: str | None = None  # only when the token says email_verified: true
    name: str | None = None
    preferred_username: str | None = None
    groups: tuple[str, ...] = ()
    id_token: str = field(default="", repr=False)  # for headers.forward_token; never logged
    # An exchanged token (CONTRACT "Service to service"): the `sub` of its outermost `act`,
    # i.e. the public_url of the service calling on the user's behalf; None otherwise.
    actor: str | None = None
    # The whole `act` chain as the token carried it (RFC 8693 section 4.1), for nesting.
    act: Mapping[str, Any] | None = field(default=None, repr=False)
    # Every claim of the verified token, for policy `claims` rules; never logged.
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_claims(
        cls,
        claims: Mapping[str, Any],
        source: IdentitySource,
        id_token: str,
    ) -> Identity:
        groups = claims.get("groups") or ()
        if isinstance(groups, str):
            groups = (groups,)
        verified = claims.get("email_verified") is True
        return cls(
            sub=str(claims["sub"]),
            expires_at=int(claims["exp"]),
            source=source,
            email=_str_or_none(claims.get("email")) if verified else None,
            name=_str_or_none(claims.get("name")),
            preferred_username=_str_or_none(claims.get("preferred_username")),
            groups=tuple(g for g in groups if isinstance(g, str)),
            id_token=id_token,
            # A read-only view, not a copy: the verified claims belong to the token cache or
            # the session record, which never change them.
            claims=MappingProxyType(claims) if isinstance(claims, dict) else dict(claims),
        )

    def public_view(self) -> dict[str, Any]:
        """The `/.auth/me` body: never a token."""
        return {
            "sub": self.sub,
            "email": self.email,
            "name": self.name,
            "preferred_username": self.preferred_username,
            "groups": list(self.groups),
            "expires_at": self.expires_at,
        }


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


class IdentityMemo:
    """`Identity.from_claims`, remembered per verified claims object.

    The verified-token cache hands out the same claims dict for a repeated token, and the
    session cache the same record, so the caller behind them gets the same `Identity` object
    instead of a new one per request. An entry keeps its claims object alive, so `id()` cannot
    be reused while it is here; the identity check on a hit makes that explicit. Bounded: the
    oldest entry goes first.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._entries: dict[int, tuple[Mapping[str, Any], str, Identity]] = {}

    def identity(
        self,
        claims: Mapping[str, Any],
        source: IdentitySource,
        id_token: str,
    ) -> Identity:
        entry = self._entries.get(id(claims))
        if entry is not None and entry[0] is claims and entry[1] == id_token:
            identity = entry[2]
            if identity.source == source:
                return identity
        identity = Identity.from_claims(claims, source, id_token)
        if len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]
        self._entries[id(claims)] = (claims, id_token, identity)
        return identity
