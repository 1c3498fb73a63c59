"""The provider's HTTP calls as CLIENT spans: under the request that made them, and none for a
background load or refresh (JWKS, discovery), which is no one's trace."""

from __future__ import annotations

import jwt

from tests.app.forge import rsa_key
from tests.tracing.spans import get, one, server_trace


async def test_a_background_load_exports_no_root_span_a_request_time_refetch_does(
    oidc_provider, otlp_receiver, traced_sidecar
):
    sidecar = traced_sidecar()  # loaded discovery and JWKS in the background before serving
    # An unknown kid makes the request itself refetch the JWKS.
    token = jwt.encode({"sub": "x"}, rsa_key(), algorithm="RS256", headers={"kid": "unknown"})
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "req-unknown-kid"}
    status, _, _ = await get(sidecar.url + "/api/items", headers)
    assert status == 401
    spans = await server_trace(otlp_receiver, "req-unknown-kid")
    server = one(spans, "SERVER")
    refetch = one(spans, "CLIENT", "oidc jwks")
    assert refetch.parent_span_id == server.span_id
    # One export queue: the background spans, had there been any, were sent before these.
    provider_calls = [s for s in otlp_receiver.spans if s.name.startswith("oidc ")]
    assert provider_calls == [refetch]
    assert [s for s in otlp_receiver.spans if not s.parent_span_id] == [server]
