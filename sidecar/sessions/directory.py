"""The sessions a user can see and end: "signed in on these devices" (CONTRACT "Sessions
people can see").

- What a list shows of a session is written once, at login, in its own entry (`meta`, beside
  the sealed record under the session's hash tag): when it began, a short device description,
  the client address. It is sealed (AES-GCM) under a key derived from the session secret for
  this purpose alone, because the list is read without the session's ticket (from the user's
  other sessions, or by an operator); its associated data is its store key, the issuer and the
  `sub`, so an entry moved to another session or slipped into another user's index opens for
  nobody. "Last used" is the session's own `seen` time (written when the minute changes).
- A user's sessions are found through the keyed `sub` index (`SessionVault.tags_of`).
- A handle (`Sealer.handles`) is an HMAC of the session's store tag: stable for the session's
  life, never a ticket, so it cannot be turned into a cookie, and it names nothing outside the
  list.
- Ending goes through `SessionVault.end_tag`: the entries, the index, then the one signal
  (memory copies dropped and websockets closed on every replica), as a logout does.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sidecar.sessions.devices import UNKNOWN_DEVICE
from sidecar.sessions.record import SessionRecord
from sidecar.sessions.ticket import Sealer, Ticket, store_key_for_tag
from sidecar.sessions.vault import META, SessionVault

MAX_LISTED = 50  # CONTRACT: the 50 newest


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Where a login came from, as the list shows it."""

    device: str
    client_ip: str


@dataclass(frozen=True, slots=True)
class ListedSession:
    handle: str
    started_at: int | None
    last_used_at: int | None
    device: str
    client_ip: str
    current: bool
    order: float = 0.0  # when it began, finer than the second shown: newest first

    def to_json(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "started_at": rfc3339(self.started_at),
            "last_used_at": rfc3339(self.last_used_at, minute=True),
            "device": self.device,
            "client_ip": self.client_ip,
            "current": self.current,
        }


def rfc3339(seconds: int | None, *, minute: bool = False) -> str | None:
    if seconds is None:
        return None
    if minute:
        seconds -= seconds % 60
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SessionDirectory:
    def __init__(self, vault: SessionVault, sealer: Sealer, issuer: str) -> None:
        self._vault = vault
        self._sealer = sealer
        self._issuer = issuer

    async def record(self, ticket: Ticket, record: SessionRecord, client: ClientInfo) -> None:
        """Write what the list shows of a new session."""
        entry = {"started_at": record.created_at, "order": time.time(), **asdict(client)}
        aad = self._aad(ticket.tag, str(record.claims["sub"]))
        sealed = self._sealer.seal_listed(aad, json.dumps(entry).encode())
        await self._vault.save_listed(ticket, record, sealed)

    async def list(self, sub: str, current_tag: str | None = None) -> list[ListedSession]:
        """`sub`'s live sessions, the `MAX_LISTED` newest, newest first."""
        tags = await self._vault.tags_of(sub, newest=MAX_LISTED)
        found = await asyncio.gather(*(self._entry(sub, tag, current_tag) for tag in tags))
        listed = [entry for entry in found if entry is not None]
        listed.sort(key=lambda entry: entry.order, reverse=True)
        return listed[:MAX_LISTED]

    async def find(self, sub: str, handle: str) -> str | None:
        """The store tag of `sub`'s live session named by `handle`, or None."""
        if not handle.isascii():  # no handle (base64url) is; `compare_digest` would raise
            return None
        for tag in await self._vault.tags_of(sub):
            if any(hmac.compare_digest(handle, known) for known in self._sealer.handles(tag)):
                return tag if await self._entry(sub, tag, None) is not None else None
        return None

    async def end(self, sub: str, tag: str) -> None:
        await self._vault.end_tag(tag, sub)

    async def end_all(self, sub: str, keep_tag: str | None = None) -> int:
        """End every session of `sub` (all of them, not only the listed ones) but `keep_tag`;
        how many live ones were ended (`{"ended": N}`, the logout metric). The index keeps a
        session that idled out until its absolute lifetime: cleared too, but not counted."""
        tags = [tag for tag in await self._vault.tags_of(sub) if tag != keep_tag]
        live = await asyncio.gather(*(self._vault.exists(tag) for tag in tags))
        for tag in tags:
            await self._vault.end_tag(tag, sub)
        return sum(live)

    async def _entry(self, sub: str, tag: str, current_tag: str | None) -> ListedSession | None:
        sealed, seen = await self._vault.load_listed(tag)
        if seen is None:  # ended, or idle-expired: nothing left to show or end
            return None
        about: dict[str, Any] = {}  # a session from before the list: shown, details unknown
        if sealed is not None:
            plaintext = self._sealer.unseal_listed(self._aad(tag, sub), sealed)
            if plaintext is None:
                return None  # not this user's, or moved here: never shown
            about = _parse(plaintext)
        return ListedSession(
            handle=self._sealer.handles(tag)[0],
            started_at=_int_or_none(about.get("started_at")),
            last_used_at=_int_or_none(seen),
            device=str(about.get("device") or UNKNOWN_DEVICE),
            client_ip=str(about.get("client_ip") or ""),
            current=tag == current_tag,
            order=_float(about.get("order"), default=float(about.get("started_at") or 0)),
        )

    def _aad(self, tag: str, sub: str) -> bytes:
        return b"\x00".join(
            (store_key_for_tag(tag, META).encode(), self._issuer.encode(), sub.encode())
        )


def _parse(plaintext: bytes) -> dict[str, Any]:
    try:
        value = json.loads(plaintext)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _float(value: object, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return int(float(value))
    except ValueError:
        return None
