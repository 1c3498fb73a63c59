"""Property-based fuzzing of the running sidecar (hypothesis).

One real sidecar process per module (`fuzz_target`): header values, cookies (the session
cookie's name included), Authorization values, three-segment tokens with random JSON
headers and claims, `rd` values and raw request targets. The properties:
- only the contract's status codes come back, never a 500;
- the process stays up (`/healthz` answers after every test) and logs no 500 or traceback;
- an anonymous request that reaches the upstream reached it under `/public`;
- every redirect after logout stays on the sidecar's origin, as a browser would resolve it.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.fuzz_target import (
    FuzzTarget,
    run_upstream,
    spawn_fuzz_target,
    stop_fuzz_target,
)
from tests.security.rawhttp import RawResponse

CONTRACT_STATUSES = {200, 302, 400, 401, 403, 404, 431, 502, 503, 504}
# SECURITY_FUZZ_EXAMPLES raises the budget for a longer hunt; the default keeps the module fast.
EXAMPLES = int(os.environ.get("SECURITY_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COOKIE = "sidecar_session"
PATHS = [
    "/public/x",
    "/x",
    "/admin/x",
    "/reports",
    "/.auth/verify",
    "/.auth/me",
    "/.auth/login",
    "/.auth/callback?state=x&code=y",
    "/.auth/logout",
    "/.auth/jwks",
    "/.auth/nope",
]


@pytest.fixture(scope="module")
def fuzz_target(
    oidc_provider: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzTarget]:
    upstreams = run_upstream()
    upstream = next(upstreams)
    target = spawn_fuzz_target(oidc_provider, tmp_path_factory.mktemp("fuzz"), upstream)
    try:
        yield target
    finally:
        stop_fuzz_target(target)
        upstreams.close()


@pytest.fixture(autouse=True)
def _alive_after(fuzz_target: FuzzTarget) -> Iterator[None]:
    offset = fuzz_target.log_offset()
    yield
    fuzz_target.assert_alive()
    assert fuzz_target.crashes_logged(since=offset) == []


def _request(
    method: str, target: str, headers: list[tuple[str, str]] | list[tuple[bytes, bytes]]
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode("latin-1"), b"Host: 127.0.0.1"]
    for name, value in headers:
        name_b = name if isinstance(name, bytes) else name.encode("latin-1")
        value_b = value if isinstance(value, bytes) else value.encode("latin-1")
        lines.append(name_b + b": " + value_b)
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _one(fuzz_target: FuzzTarget, payload: bytes) -> RawResponse:
    responses = fuzz_target.roundtrip(payload)
    assert len(responses) == 1, (payload[:300], responses)
    response = responses[0]
    assert response.status in CONTRACT_STATUSES, (payload[:300], response)
    return response


# Header values a parser accepts as one field: visible latin-1, spaces and tabs inside.
field_value = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=200,
).map(str.strip)
token_name = st.from_regex(r"\A[!#$%&'*+.^_`|~0-9A-Za-z-]{1,40}\Z")
known_names = st.sampled_from(
    [
        "Authorization",
        "Cookie",
        "X-Auth-Subject",
        "X_Auth_Groups",
        "X-Forwarded-Uri",
        "X-Original-URI",
        "X-Forwarded-Method",
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "Forwarded",
        "X-Request-ID",
        "Accept",
        "Content-Type",
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "Range",
        "If-None-Match",
        "Origin",
        "Accept-Encoding",
        "Te",
        "Trailer",
        "Via",
        "Max-Forwards",
        "X-Real-IP",
    ]
)
header_name = st.one_of(known_names, token_name).filter(
    lambda name: name.lower() not in ("host", "content-length", "transfer-encoding", "expect")
)


@FUZZ
@given(
    path=st.sampled_from(PATHS),
    method=st.sampled_from(["GET", "HEAD", "POST", "OPTIONS", "DELETE", "PROPFIND"]),
    headers=st.lists(st.tuples(header_name, field_value), max_size=12),
)
def test_fuzz_header_values(fuzz_target, path, method, headers):
    _one(fuzz_target, _request(method, path, headers))


cookie_value = st.one_of(
    field_value.map(lambda v: v.replace(";", "")),
    st.binary(min_size=0, max_size=40).map(
        lambda b: "v1." + base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    ),
    st.binary(min_size=32, max_size=32).map(
        lambda b: "v1." + base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    ),
)
cookie_name = st.one_of(
    st.sampled_from([COOKIE, COOKIE + "_login", COOKIE + "_login_0123456789ab", "_session"]),
    token_name,
)


@FUZZ
@given(
    path=st.sampled_from(PATHS),
    pairs=st.lists(st.tuples(cookie_name, cookie_value), min_size=1, max_size=6),
    separator=st.sampled_from(["; ", ";", " ; ", ",", ";;"]),
    split=st.booleans(),
)
def test_fuzz_cookies(fuzz_target, path, pairs, separator, split):
    cookies = [f"{name}={value}" for name, value in pairs]
    headers = [("Cookie", c) for c in cookies] if split else [("Cookie", separator.join(cookies))]
    response = _one(fuzz_target, _request("GET", path, [*headers, ("Accept", "*/*")]))
    if path in ("/x", "/admin/x", "/reports"):
        assert response.status in (400, 401), response


json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
json_value = st.recursive(
    json_scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def _b64url_json(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@st.composite
def tokens(draw: Any, issuer: str, client_id: str, kids: list[str]) -> str:
    header = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "alg": st.one_of(
                    st.sampled_from(["RS256", "ES256", "PS256", "RS384", "HS256", "none", "EdDSA"]),
                    json_value,
                ),
                "kid": st.one_of(st.sampled_from(kids), json_value),
                "typ": json_value,
                "cty": json_value,
                "jku": json_value,
                "x5u": json_value,
                "crit": json_value,
                "b64": json_value,
                "enc": json_value,
            },
        )
    )
    claims = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "iss": st.one_of(st.just(issuer), json_value),
                "aud": st.one_of(st.just(client_id), st.just([client_id, "x"]), json_value),
                "azp": st.one_of(st.just(client_id), json_value),
                "sub": json_value,
                "exp": st.one_of(st.integers(min_value=0, max_value=2**40), json_value),
                "iat": json_value,
                "nbf": json_value,
                "groups": json_value,
                "email": json_value,
                "email_verified": json_value,
                "name": json_value,
            },
        )
    )
    signature = draw(st.binary(max_size=300))
    encoded = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    return f"{_b64url_json(header)}.{_b64url_json(claims)}.{encoded}"


@settings(FUZZ, max_examples=EXAMPLES * 5 // 3)
@given(data=st.data())
def test_fuzz_bearer_tokens(fuzz_target, oidc_provider, data):
    """Random three-segment tokens (random JSON headers and claims, real kids among them, a
    random signature): refused as 401 (or 400 when too large), never a 500."""
    token = data.draw(tokens(oidc_provider.issuer, oidc_provider.client_id, oidc_provider.kids()))
    path = data.draw(st.sampled_from(["/x", "/admin/x", "/.auth/verify", "/.auth/me"]))
    response = _one(fuzz_target, _request("GET", path, [("Authorization", f"Bearer {token}")]))
    assert response.status in (400, 401), response


@FUZZ
@given(
    scheme=st.sampled_from(["Bearer ", "bearer ", "BEARER\t", "Bearer  ", "Basic ", "", "Bearer"]),
    value=field_value,
    path=st.sampled_from(["/x", "/public/x", "/.auth/verify", "/.auth/me"]),
)
def test_fuzz_authorization_values(fuzz_target, scheme, value, path):
    _one(fuzz_target, _request("GET", path, [("Authorization", scheme + value)]))


raw_header_value = st.binary(max_size=60).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"").strip(b" \t")
)


@FUZZ
@given(
    uri=st.one_of(raw_header_value, st.text(max_size=40).map(str.encode)),
    name=st.sampled_from([b"X-Forwarded-Uri", b"X-Original-URI", b"X_Forwarded_Uri"]),
    method=st.one_of(st.sampled_from([b"GET", b"POST"]), raw_header_value),
)
def test_fuzz_forward_auth_from_a_trusted_proxy(fuzz_target, uri, name, method):
    """`/.auth/verify` as a trusted proxy (loopback is trusted here) with arbitrary bytes in
    the original URI and method: a decision or a 400, never a 500."""
    headers = [(name, uri), (b"X-Forwarded-Method", method)]
    response = _one(fuzz_target, _request("GET", "/.auth/verify", headers))
    assert response.status in (200, 400, 401, 403), response


@FUZZ
@given(
    path=st.sampled_from(PATHS),
    headers=st.lists(st.tuples(header_name.map(str.encode), raw_header_value), max_size=6),
)
def test_fuzz_raw_header_bytes(fuzz_target, path, headers):
    """Header values as arbitrary bytes (non-UTF-8, NUL, controls): the parser's 400 or a
    contract answer."""
    _one(fuzz_target, _request("GET", path, headers))


def _same_origin_for_a_browser(location: str) -> bool:
    """Resolve `location` as a browser would (tabs/newlines stripped, `\\` read as `/`),
    at every level of percent-decoding, against the sidecar's origin."""
    base = "http://sidecar.example/"
    form = location
    for _ in range(4):
        cleaned = "".join(c for c in form if c not in "\t\n\r").replace("\\", "/")
        resolved = urlsplit(urljoin(base, cleaned))
        if (resolved.scheme, resolved.netloc) != ("http", "sidecar.example"):
            return False
        if not cleaned.startswith("/"):
            return False
        form = unquote(form)
    return True


rd_alphabet = st.sampled_from([*list("/\\%.:@?#&=abcxyz09AFf-_~ "), "%2F", "%5C", "%09", "%0a"])
rd_values = st.one_of(
    st.text(max_size=60),
    st.lists(rd_alphabet, max_size=30).map("".join),
    st.builds(
        lambda a, b: a + b,
        st.sampled_from(["/", "//", "/\\", "http:", "/%2F", ""]),
        st.text(max_size=20),
    ),
)


@FUZZ
@given(rd=rd_values, encode=st.booleans(), method=st.sampled_from(["POST"]))  # GET: a page
def test_fuzz_rd_on_logout_stays_on_origin(fuzz_target, rd, encode, method):
    """Any `rd`: logout answers 302 to a location that a browser resolves on our origin."""
    query = quote(rd, safe="") if encode else quote(rd, safe="/\\%:@?&=~")
    response = _one(fuzz_target, _request(method, f"/.auth/logout?rd={query}", []))
    assert response.status in (302, 400), response
    if response.status == 302:
        location = response.header("Location")
        assert location is not None
        assert _same_origin_for_a_browser(location), location


@FUZZ
@given(rd=rd_values)
def test_fuzz_rd_on_login(fuzz_target, oidc_provider, rd):
    """Any `rd`: login still answers 302 to the provider (the value is judged on return)."""
    response = _one(fuzz_target, _request("GET", f"/.auth/login?rd={quote(rd, safe='')}", []))
    assert response.status == 302, response
    assert (response.header("Location") or "").startswith(oidc_provider.issuer + "/auth?")


path_alphabet = st.sampled_from(
    list("/..//.")
    + list("%2e%2E%2f%2F%5c%5C%25%00%0a%3f%23")
    + ["%c0%ae", "%ff", "%e2%80%ae"]
    + list("\\;?#=&~@:!$'()*+,")
    + ["admin", "public", "ADMIN", "Public", "x", ".auth", "%61"]
)
raw_paths = st.one_of(
    st.lists(path_alphabet, max_size=16).map(lambda parts: "/" + "".join(parts)),
    st.binary(max_size=40).map(lambda b: "/" + b.decode("latin-1")),
)


@settings(FUZZ, max_examples=EXAMPLES * 2)
@given(path=raw_paths, method=st.sampled_from(["GET", "POST", "HEAD"]))
def test_fuzz_raw_paths_anonymous_reach_only_public(fuzz_target, path, method):
    """Raw request targets (the bytes aiohttp's client would normalize away): contract codes
    only, and whatever an anonymous caller gets through to the upstream is under `/public`."""
    if any(c in path for c in " \r\n"):
        path = path.replace(" ", "%20").replace("\r", "%0d").replace("\n", "%0a")
    seen = len(fuzz_target.upstream.requests)
    responses = fuzz_target.roundtrip(_request(method, path, []))
    assert len(responses) == 1, (path, responses)
    assert responses[0].status in CONTRACT_STATUSES, (path, responses[0])
    for forwarded in fuzz_target.upstream.requests[seen:]:
        received = unquote(forwarded["raw_path"].split("?", 1)[0])
        assert received == "/public" or received.startswith("/public/"), (path, forwarded)
