"""The provider as one object: discovery, then keys, kept fresh by one background task.

The sidecar starts (and answers `/healthz`) even while Dex is down; it reports ready only once
the metadata and the keys are loaded, and requests that need them get 503 until then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import structlog

from sidecar.errors import ProviderUnavailable
from sidecar.oidc.jwks import JwksCache, SigningKey
from sidecar.oidc.metadata import ProviderMetadata, ProviderMetadataError, fetch_metadata

DISCOVERY_RETRY_S = (0.5, 1.0, 2.0, 5.0, 10.0)
USERINFO_MISSING = (
    "oidc.userinfo (SIDECAR_OIDC_USERINFO): is true, but the provider's discovery document "
    "lists no userinfo_endpoint"
)

log = structlog.get_logger(__name__)


class OidcProvider:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        issuer: str,
        *,
        on_jwks_fetch: Callable[[str], None] = lambda result: None,
        require_userinfo: bool = False,
    ) -> None:
        self._session = session
        self._issuer = issuer
        self._on_jwks_fetch = on_jwks_fetch
        self._metadata: ProviderMetadata | None = None
        self._jwks: JwksCache | None = None
        self._require_userinfo = require_userinfo
        # A discovery document the configuration cannot work with (named key and why): the
        # start-up refuses to serve on it; later, readiness stays false and the log says why.
        self.problem: str | None = None
        self._settled = asyncio.Event()  # loaded, or refused for `problem`

    @property
    def metadata(self) -> ProviderMetadata:
        if self._metadata is None:
            raise ProviderUnavailable("provider metadata not loaded")
        return self._metadata

    @property
    def has_metadata(self) -> bool:
        return self._metadata is not None

    def readiness(self) -> dict[str, bool]:
        return {
            "provider_metadata": self._metadata is not None,
            "jwks": self._jwks is not None and self._jwks.ready,
        }

    async def signing_key(self, kid: str | None, algorithm: str) -> SigningKey | None:
        """The provider's key for a token's `kid` (None: the token has none) and `alg`."""
        if self._jwks is None:
            raise ProviderUnavailable("provider keys not loaded")
        return await self._jwks.get_or_refetch(kid, algorithm)

    async def wait_settled(self, timeout_s: float) -> bool:
        """Wait until loaded or refused for a configuration `problem`; False on timeout."""
        try:
            await asyncio.wait_for(self._settled.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        """Discover (retrying with backoff), load the keys, then keep them fresh forever."""
        attempt = 0
        while self._jwks is None or not self._jwks.ready:
            try:
                await self._load()
            except ProviderUnavailable as exc:
                if self.problem is not None:
                    log.error("provider_refused", problem=self.problem)
                    self._settled.set()
                delay = DISCOVERY_RETRY_S[min(attempt, len(DISCOVERY_RETRY_S) - 1)]
                log.warning("provider_not_loaded", reason=exc.error, retry_in_s=delay)
                attempt += 1
                await asyncio.sleep(delay)
        self._settled.set()
        log.info("provider_loaded", issuer=self._issuer, kids=list(self._jwks.kids))
        await self._jwks.run_refresher()

    async def _load(self) -> None:
        if self._metadata is None:
            metadata = await fetch_metadata(self._session, self._issuer)
            if self._require_userinfo and metadata.userinfo_endpoint is None:
                self.problem = USERINFO_MISSING
                raise ProviderMetadataError(USERINFO_MISSING)
            self.problem = None
            self._metadata = metadata
        if self._jwks is None:
            self._jwks = JwksCache(
                self._session, self._metadata.jwks_uri, on_fetch=self._on_jwks_fetch
            )
        await self._jwks.refresh()
