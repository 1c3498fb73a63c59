"""The session ticket: what the browser holds, and how it maps to sealed Redis entries.

- The ticket is 256 random bits (`secrets.token_bytes(32)`), new at every login (no fixation,
  OWASP Session Management: renew the id on any privilege change).
- Store keys are derived from the ticket by SHA-256, so the store never holds the ticket
  itself; the hash tag `{...}` keeps one session's keys in one Redis Cluster slot.
- Values are sealed with AES-256-GCM under a key derived by HKDF-SHA256 (RFC 5869) from the
  session secret *and* the ticket: someone who reads Redis has neither, someone who steals the
  secret still needs the cookie. The store key is the AEAD's associated data, so a value cannot
  be moved to another key.
- Secret rotation: the first secret seals; every configured secret is tried to open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TICKET_BYTES = 32
_COOKIE_PREFIX = "v1."
_NONCE_BYTES = 12
_TAG_BYTES = 16  # AES-GCM tag
_KEY_PREFIX = "sidecar"
_LISTED_PURPOSE = "session list"
_HANDLE_PURPOSE = "session handle"


class Ticket:
    """A session or login-state ticket. Its `value` never leaves this process except in the
    cookie (or the `state` parameter)."""

    __slots__ = ("_digest", "_tag", "value")

    def __init__(self, value: bytes) -> None:
        if len(value) != TICKET_BYTES:
            raise ValueError("bad ticket length")
        self.value = value
        self._digest = hashlib.sha256(b"auth-sidecar ticket id\x00" + value).digest()
        self._tag = base64.urlsafe_b64encode(self._digest[:18]).decode()

    @classmethod
    def new(cls) -> Ticket:
        return cls(secrets.token_bytes(TICKET_BYTES))

    @classmethod
    def from_cookie(cls, cookie: str) -> Ticket | None:
        """The ticket in a cookie value, or None for anything malformed (forged, truncated)."""
        if not cookie.startswith(_COOKIE_PREFIX) or len(cookie) > 64:
            return None
        encoded = cookie[len(_COOKIE_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != TICKET_BYTES:
            return None
        ticket = cls(raw)
        # One spelling per ticket: the lenient decoder also takes '+', '/', '=' and skips
        # stray characters, which would make many cookie strings name one session.
        return ticket if ticket.cookie_value() == cookie else None

    def cookie_value(self) -> str:
        return _COOKIE_PREFIX + base64.urlsafe_b64encode(self.value).rstrip(b"=").decode()

    @property
    def tag(self) -> str:
        """The hash of the ticket that names its store keys (already public in the keyspace)."""
        return self._tag

    def store_key(self, kind: str) -> str:
        """`sidecar:{<hash of the ticket>}:<kind>`: one slot per session in a Cluster."""
        return store_key_for_tag(self.tag, kind)


def session_id_for_tag(tag: str) -> str:
    """The name the "session changed or ended" signal, the memory cache and the websocket
    registry use: SHA-256 of the session's store tag under a fixed label.

    Unkeyed on purpose: during a rolling secret rotation replicas hold the secrets in different
    orders, and every replica that can open a session must name it alike, or its events are
    ignored by the others (a cached copy served on, a websocket left open). It reveals nothing
    new: the tag already names the session's keys in the keyspace, and it is itself a hash of
    the ticket, so neither the tag nor this id opens or forges a session."""
    return hashlib.sha256(b"auth-sidecar session id\x00" + tag.encode()).hexdigest()[:32]


def store_key_for_tag(tag: str, kind: str) -> str:
    """The store key of kind `kind` for the session whose keys carry `tag`."""
    return f"{_KEY_PREFIX}:{{{tag}}}:{kind}"


class Sealer:
    """AEAD sealing of store values under keys derived from the secrets and the ticket."""

    def __init__(self, secrets_: Sequence[bytes]) -> None:
        if not secrets_:
            raise ValueError("at least one session secret")
        self._secrets = tuple(secrets_)
        self._handle_keys = [_derive_plain(secret, _HANDLE_PURPOSE) for secret in self._secrets]

    def index_tags(self, kind: str, issuer: str, value: str) -> list[str]:
        """Hash tags for the index entry of a `sid` or `sub` (CONTRACT: keyed hashes, HMAC with
        the session secret), one per configured secret: the first names new entries, all are
        searched, so a secret rotation does not orphan the sessions indexed before it."""
        message = b"\x00".join(
            (b"auth-sidecar index", kind.encode(), issuer.encode(), value.encode())
        )
        return [
            base64.urlsafe_b64encode(hmac.new(secret, message, "sha256").digest()[:18]).decode()
            for secret in self._secrets
        ]

    def seal_state(self, purpose: str, plaintext: bytes) -> str:
        """A url-safe sealed token bound to `purpose` (no ticket: e.g. the `state` of the
        provider's logout, which carries `rd` and comes back through the browser)."""
        key = _derive_plain(self._secrets[0], purpose)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = nonce + AESGCM(key).encrypt(nonce, plaintext, purpose.encode())
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def unseal_state(self, purpose: str, token: str) -> bytes | None:
        """The plaintext of `seal_state`, or None for anything forged, truncated or foreign."""
        try:
            sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(sealed) < _NONCE_BYTES + _TAG_BYTES or len(token) > 4096:
            return None
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        for secret in self._secrets:
            try:
                key = _derive_plain(secret, purpose)
                return AESGCM(key).decrypt(nonce, ciphertext, purpose.encode())
            except InvalidTag:
                continue
        return None

    def seal_listed(self, aad: bytes, plaintext: bytes) -> bytes:
        """Sealed under a key of the first secret alone (no ticket): what the user's other
        sessions and an operator read (the session list). `aad` binds it to its key and
        owner, so it cannot be moved to another session or user."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        key = _derive_plain(self._secrets[0], _LISTED_PURPOSE)
        return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)

    def unseal_listed(self, aad: bytes, sealed: bytes) -> bytes | None:
        if len(sealed) < _NONCE_BYTES + _TAG_BYTES:
            return None
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        for secret in self._secrets:
            try:
                return AESGCM(_derive_plain(secret, _LISTED_PURPOSE)).decrypt(
                    nonce, ciphertext, aad
                )
            except InvalidTag:
                continue
        return None

    def handles(self, tag: str) -> list[str]:
        """The session list's names for the session with store tag `tag`, one per secret
        (the first is shown, all are accepted): an HMAC of the tag under a key derived for
        this purpose alone. Not a ticket: nothing turns a handle back into a cookie."""
        return [
            base64.urlsafe_b64encode(hmac.new(key, tag.encode(), "sha256").digest()[:18]).decode()
            for key in self._handle_keys
        ]

    def seal(self, ticket: Ticket, kind: str, plaintext: bytes) -> bytes:
        key = _derive(self._secrets[0], ticket, kind)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        aad = ticket.store_key(kind).encode()
        return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)

    def unseal(self, ticket: Ticket, kind: str, sealed: bytes) -> bytes | None:
        """The plaintext, or None when no configured secret opens it (tampered, foreign
        secret, or a secret rotated out)."""
        if len(sealed) < _NONCE_BYTES + _TAG_BYTES:
            return None  # truncated or foreign: AESGCM would raise ValueError (a 500), not fail
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        aad = ticket.store_key(kind).encode()
        for secret in self._secrets:
            try:
                return AESGCM(_derive(secret, ticket, kind)).decrypt(nonce, ciphertext, aad)
            except InvalidTag:
                continue
        return None


def _derive(secret: bytes, ticket: Ticket, kind: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ticket.value,
        info=b"auth-sidecar seal v1\x00" + kind.encode(),
    )
    return hkdf.derive(secret)


def _derive_plain(secret: bytes, purpose: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"auth-sidecar state v1\x00" + purpose.encode(),
    )
    return hkdf.derive(secret)
