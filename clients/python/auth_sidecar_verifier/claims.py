"""The verified claims of an assertion, typed (CONTRACT "Identity headers sent upstream")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from auth_sidecar_verifier.errors import VerificationError


@dataclass(frozen=True, slots=True)
class Claims:
    """What the sidecar vouches for. `sub` may be absent when a route's `assertion.claims`
    leaves it out (and `required_claims` allows that); `email` is only ever a verified one."""

    sub: str | None
    email: str | None
    name: str | None
    groups: tuple[str, ...]
    issued_at: int
    expires_at: int
    # For a token-exchange call: the `sub` of the outermost `act` (RFC 8693 section 4.1),
    # i.e. the service that called on the user's behalf.
    actor: str | None
    raw: Mapping[str, Any]

    @classmethod
    def from_payload(cls, payload: dict[str, Any], required: Iterable[str]) -> Claims:
        for name in required:
            if name not in payload:
                raise VerificationError("claims", f"required claim {name!r} is missing")
        return cls(
            sub=_optional_str(payload, "sub"),
            email=_optional_str(payload, "email"),
            name=_optional_str(payload, "name"),
            groups=_groups(payload),
            issued_at=payload["iat"],
            expires_at=payload["exp"],
            actor=_actor(payload),
            raw=MappingProxyType(dict(payload)),
        )


def _optional_str(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise VerificationError("claims", f"claim {name!r} must be a non-empty string")
    return value


def _groups(payload: Mapping[str, Any]) -> tuple[str, ...]:
    value = payload.get("groups", [])
    if not isinstance(value, list) or not all(isinstance(group, str) for group in value):
        raise VerificationError("claims", "claim 'groups' must be a list of strings")
    return tuple(value)


def _actor(payload: Mapping[str, Any]) -> str | None:
    act = payload.get("act")
    if act is None:
        return None
    if not isinstance(act, dict):
        raise VerificationError("claims", "claim 'act' must be an object")
    return _optional_str(act, "sub")
