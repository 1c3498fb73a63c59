"""Middlewares that verify `X-Auth-Assertion` before the application sees the request:
`aiohttp` (`assertion_middleware`), `asgi` and `wsgi` (`AssertionMiddleware`).

All three answer the same way: no assertion (unless `optional=True`), a duplicated one or a
refused one is 401 `{"error": "invalid_assertion"}`; keys that cannot be fetched are 503
`{"error": "jwks_unavailable"}`. The body never says why (the reason is logged, never the
token). With `optional=True` a request without the header goes through with no claims: for
paths the sidecar serves to anonymous users, which carry no assertion.
"""

from __future__ import annotations

import json
import logging

from auth_sidecar_verifier.errors import KeySetUnavailable, VerificationError

HEADER = "X-Auth-Assertion"
CLAIMS_KEY = "auth_sidecar.claims"  # aiohttp request key and WSGI environ key
STATE_KEY = "auth_claims"  # ASGI: scope["state"]["auth_claims"] (Starlette: request.state)

log = logging.getLogger("auth_sidecar_verifier")


def invalid(reason: str) -> tuple[int, bytes]:
    log.info("assertion refused: %s", reason)
    return 401, json.dumps({"error": "invalid_assertion"}).encode()


def unavailable() -> tuple[int, bytes]:
    log.warning("assertion not checked: the JWKS cannot be fetched")
    return 503, json.dumps({"error": "jwks_unavailable"}).encode()


def refusal(exc: VerificationError | KeySetUnavailable) -> tuple[int, bytes]:
    if isinstance(exc, KeySetUnavailable):
        return unavailable()
    return invalid(exc.reason)


__all__ = ["CLAIMS_KEY", "HEADER", "STATE_KEY", "invalid", "refusal", "unavailable"]
