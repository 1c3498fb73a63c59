"""Request smuggling (RFC 9112 sections 6.1-6.3, 11.2; the CL.TE / TE.CL family, PortSwigger
2019), oversized requests, and CRLF injection, as raw bytes.

Each smuggling payload carries a hidden second request for `/admin/smuggled` and is followed
by a marker request that closes the connection. Whatever the sidecar does with the first
request (refuse it with 400, or frame it one unambiguous way), the upstream must never
receive `/admin/smuggled`: either the sidecar parsed it as its own request (and refused it,
no credential) or it travelled as body bytes. No answer is ever a 500.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.security.rawhttp import exchange, send

SMUGGLED = b"GET /admin/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Ignore: x"
END = b"GET /public/end HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def _post(headers: bytes, body: bytes) -> bytes:
    return b"POST /public/a HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n" + body


def _chunked_smuggle() -> bytes:
    return b"0\r\n\r\n" + SMUGGLED + b"\r\n\r\n"


def _len(body: bytes) -> bytes:
    return str(len(body)).encode()


BODY = _chunked_smuggle()
PAYLOADS: dict[str, bytes] = {
    "cl-te": _post(b"Content-Length: " + _len(BODY) + b"\r\nTransfer-Encoding: chunked\r\n", BODY),
    "te-cl": _post(
        b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
        hex(len(SMUGGLED) + 4)[2:].encode() + b"\r\n" + SMUGGLED + b"\r\n\r\n\r\n0\r\n\r\n",
    ),
    "two-content-lengths": _post(
        b"Content-Length: 0\r\nContent-Length: " + _len(BODY) + b"\r\n", BODY
    ),
    "content-length-list": _post(b"Content-Length: 0, " + _len(BODY) + b"\r\n", BODY),
    "te-chunked-identity": _post(b"Transfer-Encoding: chunked, identity\r\n", BODY),
    "te-identity-then-chunked-headers": _post(
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", BODY
    ),
    "te-xchunked": _post(
        b"Transfer-Encoding: xchunked\r\nContent-Length: " + _len(BODY) + b"\r\n", BODY
    ),
    "te-space-before-colon": _post(b"Transfer-Encoding : chunked\r\nContent-Length: 4\r\n", BODY),
    "te-tab-value": _post(b"Transfer-Encoding:\tchunked\r\nContent-Length: 4\r\n", BODY),
    "te-obs-fold": _post(b"Content-Length: 4\r\nTransfer-Encoding:\r\n chunked\r\n", BODY),
    "cl-obs-fold": _post(b"Content-Length: 0\r\n " + _len(BODY) + b"\r\n", BODY),
    "header-obs-fold": _post(b"X-Note: a\r\n X-Auth-Subject: admin\r\nContent-Length: 0\r\n", b""),
    "cl-plus-sign": _post(b"Content-Length: +" + _len(BODY) + b"\r\n", BODY),
    "cl-hex": _post(b"Content-Length: 0x" + hex(len(BODY))[2:].encode() + b"\r\n", BODY),
    "cl-negative": _post(b"Content-Length: -1\r\n", BODY),
    "cl-huge": _post(b"Content-Length: 99999999999999999999999\r\n", BODY),
    "chunk-size-overflow": _post(
        b"Transfer-Encoding: chunked\r\n", b"ffffffffffffffffff1\r\nx\r\n" + BODY
    ),
    "chunk-ext-bare-lf": _post(b"Transfer-Encoding: chunked\r\n", b"0;x\n\r\n" + SMUGGLED),
    "chunk-size-bare-lf": _post(b"Transfer-Encoding: chunked\r\n", b"0\n\n" + SMUGGLED),
    "bare-lf-lines": b"POST /public/a HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 0\n\n"
    + SMUGGLED
    + b"\r\n\r\n",
    "bare-cr": _post(b"Content-Length: 0\rTransfer-Encoding: chunked\r\n", BODY),
    "nul-in-header": _post(b"Content-Length: 0\r\nX-Note: a\x00b\r\n", b""),
    "http10-te": b"POST /public/a HTTP/1.0\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: " + _len(BODY) + b"\r\n\r\n" + BODY,
    "get-with-body": b"GET /public/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
    + _len(SMUGGLED + b"\r\n\r\n")
    + b"\r\n\r\n"
    + SMUGGLED
    + b"\r\n\r\n",
}
# Ambiguous framing the sidecar must refuse outright (RFC 9112 section 6.3 items 3-5, 5.2).
MUST_REFUSE = {
    "cl-te",
    "te-cl",
    "two-content-lengths",
    "content-length-list",
    "te-chunked-identity",
    "te-identity-then-chunked-headers",
    "te-xchunked",
    "te-space-before-colon",
    "te-tab-value",
    "te-obs-fold",
    "cl-obs-fold",
    "header-obs-fold",
    "cl-plus-sign",
    "cl-hex",
    "cl-negative",
    "cl-huge",
    "chunk-size-overflow",
    "bare-cr",
    "nul-in-header",
    "http10-te",
}


async def _still_serving(running: Any) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(running.admin_url + "/healthz") as health,
    ):
        assert health.status == 200
    assert (await send(running.url, "GET", "/public/alive")).status == 200


@pytest.mark.parametrize("name", list(PAYLOADS))
async def test_rfc9112_request_smuggling_never_reaches_the_upstream(
    lying_sidecar, echo_upstream, name
):
    responses = await exchange(lying_sidecar.url, PAYLOADS[name] + END)
    assert responses, "no answer at all"
    statuses = [response.status for response in responses]
    assert 500 not in statuses, statuses
    assert set(statuses) <= {200, 400, 401}, statuses
    if name in MUST_REFUSE:
        assert statuses[0] == 400, statuses
    paths = [request["raw_path"] for request in echo_upstream.requests]
    assert not any("smuggled" in path for path in paths), paths
    assert not any("admin" in path for path in paths), paths
    await _still_serving(lying_sidecar)


@pytest.mark.parametrize(
    ("name", "request_bytes"),
    [
        ("header-value-20k", b"X-Big: " + b"a" * 20_000 + b"\r\n"),
        ("header-value-200k", b"X-Big: " + b"a" * 200_000 + b"\r\n"),
        ("header-name-20k", b"X-" + b"a" * 20_000 + b": 1\r\n"),
        ("cookie-20k", b"Cookie: sidecar_session=" + b"a" * 20_000 + b"\r\n"),
        ("many-headers", b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(20_000))),
        ("bearer-9k", b"Authorization: Bearer " + b"a.b." + b"c" * 9_000 + b"\r\n"),
        ("bearer-20k", b"Authorization: Bearer " + b"a" * 20_000 + b"\r\n"),
        ("two-authorizations", b"Authorization: Bearer a.b.c\r\nAuthorization: Bearer d\r\n"),
    ],
)
async def test_oversized_headers_and_tokens_are_4xx_and_the_process_stays_up(
    lying_sidecar, echo_upstream, name, request_bytes
):
    """CONTRACT "Status codes": oversized request parts (a token over 8 KiB, headers over
    the limits) are 400 or 431, never a 500 or a dropped process."""
    payload = b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n" + request_bytes
    responses = await exchange(lying_sidecar.url, payload + b"Connection: close\r\n\r\n")
    assert [r.status for r in responses] in ([400], [431]), (name, responses)
    assert echo_upstream.requests == []
    await _still_serving(lying_sidecar)


@pytest.mark.parametrize("length", [9_000, 70_000])
async def test_oversized_request_line_is_4xx(lying_sidecar, length):
    target = "/public/" + "a" * length
    responses = await exchange(
        lying_sidecar.url, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    )
    assert [r.status for r in responses] in ([400], [414], [431]), responses
    await _still_serving(lying_sidecar)


@pytest.mark.parametrize(
    "rd",
    [
        "/%0d%0aSet-Cookie:%20pwned=1",
        "/%0D%0A%20Set-Cookie:%20pwned=1",
        "/%0aSet-Cookie:%20pwned=1",
        "/%0dSet-Cookie:%20pwned=1",
        "/%250d%250aSet-Cookie:%20pwned=1",
        "/%E5%98%8D%E5%98%8ASet-Cookie:%20pwned=1",  # U+560D U+560A: CRLF when truncated
        "/%c4%8d%c4%8aSet-Cookie:%20pwned=1",
    ],
)
@pytest.mark.parametrize("endpoint", ["/.auth/logout", "/.auth/login"])
async def test_crlf_injection_into_location_via_rd(lying_sidecar, rd, endpoint):
    """CWE-113 (response splitting): no `rd` can add a header line to the redirect. Raw
    bytes, so that the percent-encoding is exactly the attacker's."""
    method = "POST" if endpoint == "/.auth/logout" else "GET"  # GET logout: only a page
    response = await send(lying_sidecar.url, method, f"{endpoint}?rd={rd}")
    assert response.status == 302, response
    names = [name.lower() for name, _ in response.headers]
    assert not any("pwned" in value for _, value in response.headers), response.headers
    assert names.count("location") == 1
    assert all("\r" not in v and "\n" not in v for _, v in response.headers)
    if endpoint == "/.auth/logout":
        assert response.header("Location") == "/"


@pytest.mark.parametrize(
    "target",
    ["/public/x%0d%0aX-Auth-Subject:%20admin", "/public/%0aX-Injected:%201", "/x%0d%0a%0d%0aGET"],
)
async def test_crlf_injection_into_the_upstream_request_line(lying_sidecar, echo_upstream, target):
    """A decoded CR/LF in the path could split the request the sidecar writes upstream."""
    response = await send(lying_sidecar.url, "GET", target)
    assert response.status == 400, response
    assert echo_upstream.requests == []


async def test_crlf_in_claims_cannot_forge_identity_headers(
    lying_sidecar, lying_provider, echo_upstream
):
    """A `name` (or group, or username) holding CR/LF cannot add a header upstream: such a
    value is dropped (CONTRACT: values are percent-encoded, line breaks never pass), the
    other identity headers are intact, and the request is served, not a 500."""
    token = lying_provider.signer.token(
        name="Eve\r\nX-Auth-Groups: admins",
        preferred_username="eve\nX-Auth-Subject: root",
        groups=["devs", "x\r\nX-Auth-Groups: admins"],
    )
    response = await send(lying_sidecar.url, "GET", "/x", [("Authorization", f"Bearer {token}")])
    assert response.status == 200, response
    upstream = [(n.lower(), v) for n, v in echo_upstream.last()["headers"]]
    values = dict(upstream)
    assert [v for n, v in upstream if n == "x-auth-groups"] == ["devs"]
    assert [v for n, v in upstream if n == "x-auth-subject"] == [
        lying_provider.signer.claims()["sub"]
    ]
    assert "x-auth-name" not in values
    assert "x-auth-username" not in values
    assert not any("admins" in v or "root" in v for n, v in upstream if n != "x-auth-assertion")


@pytest.mark.parametrize(
    ("target", "header"),
    [
        ("/x", b"Authorization: Bearer \x80"),
        ("/x", b"Authorization: Bearer a\xff.b.c"),
        ("/.auth/verify", b"X-Forwarded-Uri: /\xff"),
        ("/.auth/verify", b"X-Original-URI: /public/\xc3"),
        ("/x", b"Cookie: sidecar_session=\xff\xfe"),
        ("/public/x", b"X-Forwarded-Host: \xff"),
        ("/public/x", b"X-Request-ID: \xff"),
    ],
)
async def test_non_utf8_header_bytes_are_4xx_not_500(lying_sidecar, target, header):
    """Header values are bytes; aiohttp hands non-UTF-8 ones over as surrogate escapes,
    which blow up any later `.encode()`. Each such header is answered within the contract
    (a bearer 401, a forwarded URI 400, a cookie 401; harmless ones served)."""
    payload = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + header
    responses = await exchange(lying_sidecar.url, payload + b"\r\nConnection: close\r\n\r\n")
    assert [r.status for r in responses] in ([200], [400], [401]), (header, responses)
    assert responses[0].status != 200 or target == "/public/x"
