"""`X-Forwarded-For/-Proto/-Host` and `X-Request-ID` per peer: believed from a trusted proxy
(the base config trusts 127.0.0.0/8, where the test client is), replaced from anyone else (a
sidecar with `trusted_proxies` empty)."""

from __future__ import annotations

import re

import pytest

from tests.app.calls import upstream_headers
from tests.app.conftest import USER
from tests.app.raw_http import raw_request

KONG_SAYS = [
    ("X-Forwarded-For", "203.0.113.7, 198.51.100.2"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "app.example.com"),
    ("X-Request-ID", "kong-req-0001"),
]
NEVER_BELIEVED = [
    ("X_Forwarded_For", "6.6.6.6"),
    ("X_Request_ID", "underscore-id"),
    ("X_Forwarded_Host", "evil.example"),
]
OTHER_FORWARDING = [
    ("Forwarded", "for=6.6.6.7;proto=https"),
    ("X-Real-IP", "6.6.6.8"),
    ("X-Forwarded-Uri", "/admin"),
    ("X-Forwarded-Port", "443"),
]


@pytest.fixture
async def untrusting_sidecar(sidecar_factory):
    return await sidecar_factory({"trusted_proxies": ""})


async def send(sidecar, id_tokens, echo_upstream, headers):
    credential = [("Authorization", f"Bearer {id_tokens[USER]}")]
    answer = await raw_request(sidecar.url + "/x", credential + headers)
    assert answer.status == 200
    return upstream_headers(echo_upstream.last())


async def test_trusted_proxy_chain_is_extended(sidecar, id_tokens, echo_upstream):
    seen = await send(sidecar, id_tokens, echo_upstream, KONG_SAYS)
    assert seen.getall("X-Forwarded-For") == ["203.0.113.7, 198.51.100.2, 127.0.0.1"]
    assert seen.getall("X-Forwarded-Proto") == ["https"]
    assert seen.getall("X-Forwarded-Host") == ["app.example.com"]
    assert seen.getall("X-Request-ID") == ["kong-req-0001"]


async def test_trusted_proxy_underscore_twins_are_dropped(sidecar, id_tokens, echo_upstream):
    seen = await send(sidecar, id_tokens, echo_upstream, KONG_SAYS + NEVER_BELIEVED)
    values = [value for _, value in echo_upstream.last()["headers"]]
    assert not {"6.6.6.6", "underscore-id", "evil.example"} & set(values)
    assert seen.getall("X-Request-ID") == ["kong-req-0001"]


@pytest.mark.parametrize("request_id", ["", "has space", "x" * 201, "tab\tinside"])
async def test_trusted_but_insane_request_id_is_replaced(
    sidecar, id_tokens, echo_upstream, request_id
):
    seen = await send(sidecar, id_tokens, echo_upstream, [("X-Request-ID", request_id)])
    assert re.fullmatch(r"[0-9a-f]{32}", seen["X-Request-ID"])


async def test_without_forwarding_headers_the_connection_speaks(sidecar, id_tokens, echo_upstream):
    seen = await send(sidecar, id_tokens, echo_upstream, [])
    host = sidecar.url.removeprefix("http://")
    assert seen.getall("X-Forwarded-For") == ["127.0.0.1"]
    assert seen.getall("X-Forwarded-Proto") == ["http"]
    assert seen.getall("X-Forwarded-Host") == [host]
    assert re.fullmatch(r"[0-9a-f]{32}", seen["X-Request-ID"])


async def test_untrusted_peer_headers_are_replaced(untrusting_sidecar, id_tokens, echo_upstream):
    headers = KONG_SAYS + NEVER_BELIEVED + OTHER_FORWARDING
    seen = await send(untrusting_sidecar, id_tokens, echo_upstream, headers)
    assert seen.getall("X-Forwarded-For") == ["127.0.0.1"]
    assert seen.getall("X-Forwarded-Proto") == ["http"]
    assert seen.getall("X-Forwarded-Host") == [untrusting_sidecar.url.removeprefix("http://")]
    request_id = seen["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    for name, _ in NEVER_BELIEVED + OTHER_FORWARDING:
        assert name not in seen, name
    values = {value for _, value in echo_upstream.last()["headers"]}
    assert not {"203.0.113.7, 198.51.100.2", "app.example.com", "kong-req-0001"} & values


async def test_every_request_gets_its_own_id(untrusting_sidecar, id_tokens, echo_upstream):
    first = await send(untrusting_sidecar, id_tokens, echo_upstream, KONG_SAYS)
    second = await send(untrusting_sidecar, id_tokens, echo_upstream, KONG_SAYS)
    assert first["X-Request-ID"] != second["X-Request-ID"]
