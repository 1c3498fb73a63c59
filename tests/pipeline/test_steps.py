"""The header-writing steps with `headers.forward_token`: only a verified id token passes."""

from __future__ import annotations

import time

import pytest
from aiohttp.test_utils import make_mocked_request
from cryptography.hazmat.primitives.asymmetric import ec

from sidecar.pipeline.context import RequestContext
from sidecar.pipeline.steps import InjectIdentity, RewriteHeaders
from sidecar.tokens.assertion import AssertionSigner
from sidecar.tokens.identity import Identity

COOKIE = "sidecar_session"


def _signer() -> AssertionSigner:
    key = ec.generate_private_key(ec.SECP256R1())
    return AssertionSigner([key], issuer="https://me.example", audience="app", ttl_s=60)


def _context(id_token: str) -> RequestContext:
    request = make_mocked_request("GET", "/x", headers={"Authorization": "Bearer client-own"})
    identity = Identity(
        sub="u1", expires_at=int(time.time()) + 60, source="session", id_token=id_token
    )
    return RequestContext(request=request, request_id="r1", trusted_peer=False, identity=identity)


@pytest.mark.parametrize(
    ("id_token", "expected"), [("tok.en.sig", "Bearer tok.en.sig"), ("", None)]
)
async def test_proxy_forwards_only_a_nonempty_verified_token(id_token, expected):
    ctx = _context(id_token)
    await RewriteHeaders(_signer(), COOKIE, forward_token=True)(ctx)
    assert ctx.upstream_headers.get("Authorization") == expected  # never "Bearer "
    assert ctx.upstream_headers["X-Auth-Subject"] == "u1"


@pytest.mark.parametrize(
    ("id_token", "expected"), [("tok.en.sig", "Bearer tok.en.sig"), ("", None)]
)
async def test_forward_auth_answers_only_a_nonempty_verified_token(id_token, expected):
    ctx = _context(id_token)
    await InjectIdentity(_signer(), forward_token=True)(ctx)
    assert dict(ctx.identity_headers).get("Authorization") == expected
