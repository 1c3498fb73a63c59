"""`Verifier`: the one object an upstream creates, with the issuer and audience pinned.

    verifier = Verifier(issuer="https://app.example.com", audience="http://orders:8080",
                        jwks_url="http://sidecar:8080/.auth/jwks")
    claims = verifier.verify(token)              # threads (WSGI, scripts)
    claims = await verifier.verify_async(token)  # asyncio (aiohttp, ASGI)

Both share one key cache (`keyset.KeyCache`). Refetches are single-flight: threads share a
lock, coroutines share one task per event loop, and all of them share the refetch interval.
A known `kid` never waits on the network: past the cache's TTL it verifies at once while one
caller refreshes (the sync path inline, by whichever thread wins the lock without waiting;
the async path in a background task).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable

import jwt

from auth_sidecar_verifier import checks
from auth_sidecar_verifier.claims import Claims
from auth_sidecar_verifier.errors import KeySetUnavailable, VerificationError
from auth_sidecar_verifier.fetch import Fetched, FetchError, check_jwks_url, fetch_async, fetch_sync
from auth_sidecar_verifier.keyset import KeyCache


class Verifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        leeway_s: float = 30.0,
        max_lifetime_s: float = 300.0,
        required_claims: Iterable[str] = ("sub",),
        timeout_s: float = 5.0,
        refetch_interval_s: float = 10.0,
        min_ttl_s: float = 60.0,
        max_ttl_s: float = 3600.0,
        stale_limit_s: float = 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`issuer` is the sidecar's `public_url`, `audience` its `assertion.audience` (by
        default the upstream URL). `jwks_url` defaults to `{issuer}/.auth/jwks`; set it when
        the upstream reaches the sidecar by another address than the public one."""
        if not issuer or not audience:
            raise ValueError("issuer and audience are required: pin them, never read the token")
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = check_jwks_url(jwks_url or issuer.rstrip("/") + "/.auth/jwks")
        self._leeway_s = leeway_s
        self._max_lifetime_s = max_lifetime_s
        self._required = tuple(required_claims)
        self._timeout_s = timeout_s
        self._clock = clock
        self._cache = KeyCache(
            clock=clock,
            refetch_interval_s=refetch_interval_s,
            stale_limit_s=stale_limit_s,
            default_ttl_s=min(max(300.0, min_ttl_s), max_ttl_s),
            min_ttl_s=min_ttl_s,
            max_ttl_s=max_ttl_s,
        )
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    # -- the two entry points -------------------------------------------------------------

    def verify(self, token: object) -> Claims:
        """The claims of a valid assertion; `VerificationError` (401) or `KeySetUnavailable`
        (503) otherwise. May block for up to `timeout_s` on a JWKS fetch."""
        kid = checks.read_header(token)
        key = self._cache.lookup(kid)
        if key is None:
            self._refresh_sync(self._cache.generation)
            key = self._wanted(kid)
        elif not self._cache.is_fresh():
            self._refresh_sync_if_idle()
        return self._claims(str(token), key)

    async def verify_async(self, token: object) -> Claims:
        """As `verify`, for asyncio; key fetches use aiohttp."""
        kid = checks.read_header(token)
        key = self._cache.lookup(kid)
        if key is None:
            await self._refresh_async(self._cache.generation)
            key = self._wanted(kid)
        elif not self._cache.is_fresh():
            self._refresh_in_background()
        return self._claims(str(token), key)

    def load(self) -> None:
        """Fetch the keys now (at start-up), raising `KeySetUnavailable` on failure."""
        self._refresh_sync(self._cache.generation, force=True)
        if self._cache.last_attempt_failed:
            raise KeySetUnavailable(f"cannot fetch {self.jwks_url}")

    async def load_async(self) -> None:
        await self._refresh_async(self._cache.generation, force=True)
        if self._cache.last_attempt_failed:
            raise KeySetUnavailable(f"cannot fetch {self.jwks_url}")

    # -- claims ---------------------------------------------------------------------------

    def _claims(self, token: str, key: jwt.PyJWK) -> Claims:
        payload = checks.decode(token, key, issuer=self.issuer, audience=self.audience)
        checks.check_times(
            payload,
            now=self._clock(),
            leeway_s=self._leeway_s,
            max_lifetime_s=self._max_lifetime_s,
        )
        return Claims.from_payload(payload, self._required)

    def _wanted(self, kid: str) -> jwt.PyJWK:
        key = self._cache.lookup(kid)
        if key is not None:
            return key
        if self._cache.last_attempt_failed or not self._cache.has_keys():
            raise KeySetUnavailable(f"cannot fetch {self.jwks_url}")
        raise VerificationError("unknown_kid", "no key with this kid in the JWKS")

    # -- fetching: threads ----------------------------------------------------------------

    def _refresh_sync(self, seen_generation: int, *, force: bool = False) -> None:
        with self._lock:
            self._fetch_locked(seen_generation, force=force)

    def _refresh_sync_if_idle(self) -> None:
        """A known kid past the TTL: refresh unless another thread already is."""
        seen_generation = self._cache.generation
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._fetch_locked(seen_generation, force=False)
        finally:
            self._lock.release()

    def _fetch_locked(self, seen_generation: int, *, force: bool) -> None:
        """One fetch for all threads that wanted one: a thread that waited on the lock while
        another fetched (the generation moved) does not fetch again."""
        if self._cache.generation != seen_generation:
            return
        if not force and not self._cache.may_fetch():
            return
        self._cache.begin_fetch()
        try:
            self._install(fetch_sync(self.jwks_url, self._timeout_s))
        except FetchError:
            self._cache.record_failure()

    # -- fetching: asyncio ----------------------------------------------------------------

    async def _refresh_async(self, seen_generation: int, *, force: bool = False) -> None:
        """Coroutines of one event loop share one fetch task."""
        task = self._task
        loop = asyncio.get_running_loop()
        if task is None or task.done() or task.get_loop() is not loop:
            if self._cache.generation != seen_generation:
                return
            if not force and not self._cache.may_fetch():
                return
            self._cache.begin_fetch()
            task = self._task = loop.create_task(self._fetch_async())
        await asyncio.shield(task)

    def _refresh_in_background(self) -> None:
        task = self._task
        if (task is None or task.done()) and self._cache.may_fetch():
            self._cache.begin_fetch()
            self._task = asyncio.get_running_loop().create_task(self._fetch_async())

    async def _fetch_async(self) -> None:
        try:
            self._install(await fetch_async(self.jwks_url, self._timeout_s))
        except FetchError:
            self._cache.record_failure()

    def _install(self, fetched: Fetched) -> None:
        try:
            self._cache.install(fetched.document, fetched.cache_control)
        except ValueError:
            self._cache.record_failure()
