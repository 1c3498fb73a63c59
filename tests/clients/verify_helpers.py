"""One way to run a verifier through either API and read the outcome as the vectors spell it."""

from __future__ import annotations

from typing import Any

from auth_sidecar_verifier import Claims, VerificationError, Verifier

from tests.clients.conftest import FakeClock, JwksServer, Vectors

APIS = ["sync", "async"]


def verifier_for(vectors: Vectors, server: JwksServer, clock: FakeClock, **kw: Any) -> Verifier:
    return Verifier(
        issuer=vectors.issuer,
        audience=vectors.audience,
        jwks_url=server.url,
        leeway_s=vectors.leeway_s,
        max_lifetime_s=vectors.max_lifetime_s,
        clock=clock,
        **kw,
    )


async def verify(verifier: Verifier, api: str, token: str) -> Claims:
    if api == "sync":
        return verifier.verify(token)  # blocks the loop; the JWKS server has its own thread
    return await verifier.verify_async(token)


async def outcome(verifier: Verifier, api: str, token: str) -> str:
    try:
        await verify(verifier, api, token)
    except VerificationError as exc:
        return exc.reason
    return "valid"
