"""Header hygiene: stripping, cookies, forwarding headers, request id, identity headers."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote

import pytest
from multidict import CIMultiDict

from sidecar.net import is_trusted_peer
from sidecar.pipeline.headers import (
    SPOOFABLE_HEADERS,
    IdentityHeaders,
    forwarded_headers,
    identity_headers,
    request_id,
    strip_untrusted,
)
from sidecar.tokens.identity import Identity
from tests.contract_headers import FAMILY_MEMBERS, FOREIGN, INJECTED

COOKIE = "sidecar_session"

# CONTRACT "Identity headers sent upstream": injected headers and other systems' headers.
CONTRACT_NAMES = INJECTED + FOREIGN
FAMILY_SAMPLES = [*FAMILY_MEMBERS, "X-Auth-Anything"]
KEPT = ["Accept", "X-Custom", "X-Author", "X-Authority", "X-Consumers", "Content-Type"]


def variants(name: str) -> list[str]:
    """Upper, lower, mixed case, with '_' for '-', and half-and-half separators."""
    underscored = name.replace("-", "_")
    mixed_case = "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(name))
    half = underscored.replace("_", "-", 1)
    return sorted(
        {
            name,
            name.upper(),
            name.lower(),
            mixed_case,
            underscored,
            underscored.upper(),
            underscored.lower(),
            half,
            half.swapcase(),
        }
    )


ALL_VARIANTS = [v for name in CONTRACT_NAMES + FAMILY_SAMPLES for v in variants(name)]


def strip(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    strip_untrusted(headers, cookie_name=COOKIE)
    return headers


def test_contract_names_are_all_listed() -> None:
    for name in CONTRACT_NAMES:
        assert name.lower() in SPOOFABLE_HEADERS
    assert all(name == name.lower() for name in SPOOFABLE_HEADERS)


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_every_variant_is_stripped(name: str) -> None:
    headers = CIMultiDict([(name, "spoofed"), ("Accept", "*/*")])
    assert list(strip(headers).items()) == [("Accept", "*/*")]


def test_all_variants_and_duplicates_at_once_leave_only_benign_headers() -> None:
    headers = CIMultiDict([(name, "spoofed") for name in ALL_VARIANTS * 2])
    for name in KEPT:
        headers.add(name, "ok")
    strip(headers)
    assert sorted(headers.keys()) == sorted(KEPT)
    assert "spoofed" not in headers.values()


@pytest.mark.parametrize(
    "name",
    ["X_Forwarded_For", "x_forwarded_proto", "X_Forwarded-Host", "X_Request_ID", "X_Real_IP"],
)
def test_underscore_twins_of_forwarding_headers_are_stripped(name: str) -> None:
    headers = CIMultiDict([(name, "1.2.3.4"), ("X-Forwarded-For", "10.0.0.1")])
    assert list(strip(headers).items()) == [("X-Forwarded-For", "10.0.0.1")]


@pytest.mark.parametrize(
    ("cookies", "expected"),
    [
        ([f"{COOKIE}=ticket"], []),
        ([f"a=1; {COOKIE}=ticket; b=2"], ["a=1; b=2"]),
        ([f"{COOKIE}=ticket; a=1"], ["a=1"]),
        ([f"a=1;{COOKIE}=ticket"], ["a=1"]),
        ([f'a=1; {COOKIE}=t1; {COOKIE}=t2; b="q;x"'], ['a=1; b="q;x"']),
        ([f"a=1;  b=2 ; {COOKIE} = ticket"], ["a=1;  b=2 "]),
        ([f"{COOKIE}=t1", "a=1", f"b=2; {COOKIE}=t2"], ["a=1", "b=2"]),
        ([f"{COOKIE.upper()}=other; {COOKIE}x=y"], [f"{COOKIE.upper()}=other; {COOKIE}x=y"]),
        (["a=1; b=2"], ["a=1; b=2"]),
    ],
)
def test_session_cookie_is_removed_others_kept_byte_exact(
    cookies: list[str], expected: list[str]
) -> None:
    headers = strip(CIMultiDict([("Cookie", c) for c in cookies]))
    assert headers.getall("Cookie", []) == expected
    assert all(f"{COOKIE}=" not in v for v in headers.getall("Cookie", []))


def test_authorization_always_stripped() -> None:
    headers = strip(CIMultiDict([("authorization", "Bearer x"), ("Authorization", "Basic y")]))
    assert "Authorization" not in headers


TRUSTED = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        ("10.1.2.3", True),
        ("::ffff:10.1.2.3", True),
        ("fd00::1", True),
        ("fd00::1%eth0", True),
        ("11.0.0.1", False),
        ("fe80::1", False),
        ("not-an-ip", False),
        ("", False),
        (None, False),
    ],
)
def test_is_trusted_peer(peer: str | None, trusted: bool) -> None:
    assert is_trusted_peer(peer, TRUSTED) is trusted
    assert not is_trusted_peer(peer, [])


def client_headers() -> CIMultiDict[str]:
    return CIMultiDict(
        [
            ("X-Forwarded-For", "1.1.1.1"),
            ("X-Forwarded-For", "2.2.2.2, 3.3.3.3"),
            ("X-Forwarded-Proto", "https, http"),
            ("X-Forwarded-Host", "app.example.com"),
            ("Forwarded", "for=1.1.1.1;proto=https"),
            ("X-Real-IP", "1.1.1.1"),
            ("X-Forwarded-Uri", "/public"),
        ]
    )


def test_forwarded_headers_from_a_trusted_peer_are_extended() -> None:
    headers = client_headers()
    forwarded_headers(headers, peer="10.0.0.5", scheme="http", host="sidecar:8080", trusted=True)
    assert headers.getall("X-Forwarded-For") == ["1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.5"]
    assert headers.getall("X-Forwarded-Proto") == ["https"]
    assert headers.getall("X-Forwarded-Host") == ["app.example.com"]
    assert headers["Forwarded"] == "for=1.1.1.1;proto=https"
    assert headers["X-Forwarded-Uri"] == "/public"


def test_forwarded_headers_from_an_untrusted_peer_are_replaced() -> None:
    headers = client_headers()
    forwarded_headers(headers, peer="8.8.8.8", scheme="http", host="sidecar:8080", trusted=False)
    assert sorted(headers.items()) == [
        ("X-Forwarded-For", "8.8.8.8"),
        ("X-Forwarded-Host", "sidecar:8080"),
        ("X-Forwarded-Proto", "http"),
    ]


def test_trusted_peer_without_forwarding_headers_gets_the_connection_values() -> None:
    headers: CIMultiDict[str] = CIMultiDict([("X-Forwarded-Proto", "gopher")])
    forwarded_headers(headers, peer="10.0.0.5", scheme="https", host=None, trusted=True)
    assert sorted(headers.items()) == [
        ("X-Forwarded-For", "10.0.0.5"),
        ("X-Forwarded-Proto", "https"),
    ]


@pytest.mark.parametrize(
    ("value", "trusted", "kept"),
    [
        ("abc-123", True, True),
        ("a" * 200, True, True),
        ("abc-123", False, False),
        ("a" * 201, True, False),
        ("has space", True, False),
        ("caf\u00e9", True, False),
        ("", True, False),
    ],
)
def test_request_id(value: str, trusted: bool, kept: bool) -> None:
    rid = request_id(CIMultiDict([("x-request-id", value)]), trusted=trusted)
    if kept:
        assert rid == value
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", rid)


def test_request_id_is_new_each_time() -> None:
    assert request_id({}, trusted=True) != request_id({}, trusted=True)


def identity(**claims: object) -> Identity:
    base: dict[str, object] = {"sub": "CiQwOGE4Njg0Yi1kYjg4", "exp": 2_000_000_000}
    return Identity.from_claims(base | claims, "session", "")


def test_identity_headers_full() -> None:
    who = identity(
        email="ann@example.com",
        email_verified=True,
        preferred_username="ann",
        name="Ann Lee",
        groups=["admins", "staff"],
    )
    assert identity_headers(who, "a.b.c") == [
        ("X-Auth-Subject", "CiQwOGE4Njg0Yi1kYjg4"),
        ("X-Auth-Email", "ann@example.com"),
        ("X-Auth-Username", "ann"),
        ("X-Auth-Name", "Ann Lee"),
        ("X-Auth-Groups", "admins,staff"),
        ("X-Credential-Identifier", "CiQwOGE4Njg0Yi1kYjg4"),
        ("X-Auth-Assertion", "a.b.c"),
    ]


def test_email_only_when_verified_and_absent_values_omitted() -> None:
    names = [n for n, _ in identity_headers(identity(email="ann@example.com"), "a.b.c")]
    assert names == ["X-Auth-Subject", "X-Credential-Identifier", "X-Auth-Assertion"]
    names = [n for n, _ in identity_headers(identity(email_verified=False, email="x@y.z"), "")]
    assert names == ["X-Auth-Subject", "X-Credential-Identifier"]


@pytest.mark.parametrize("bad", ["Ann\r\nX-Auth-Groups: admins", "Ann\nLee", "Ann\x00"])
def test_values_with_line_breaks_or_nul_are_dropped(bad: str) -> None:
    headers = dict(
        identity_headers(identity(name=bad, preferred_username=bad, groups=[bad, "ok"]), "")
    )
    assert "X-Auth-Name" not in headers
    assert "X-Auth-Username" not in headers
    assert headers["X-Auth-Groups"] == "ok"


def test_non_ascii_values_are_percent_encoded_and_round_trip() -> None:
    who = identity(
        name="Zoë 100% Ñandú", preferred_username="josé", groups=["équipe", "a,b", "c%d"]
    )
    headers = dict(identity_headers(who, ""))
    for value in headers.values():
        value.encode("ascii")  # latin-1 safe, in fact ASCII
    assert unquote(headers["X-Auth-Name"]) == "Zoë 100% Ñandú"
    assert unquote(headers["X-Auth-Username"]) == "josé"
    assert [unquote(g) for g in headers["X-Auth-Groups"].split(",")] == ["équipe", "a,b", "c%d"]


def test_remembered_identity_headers_are_the_identitys_own() -> None:
    remembered = IdentityHeaders()
    alice = Identity(sub="u1", expires_at=1, source="bearer", email="a@example.com", groups=("g",))
    other_email = Identity(sub="u1", expires_at=1, source="bearer", email="b@example.com")
    for identity in (alice, other_email, alice):
        assert remembered(identity, "sig.na.ture") == identity_headers(identity, "sig.na.ture")
    assert remembered(alice, "sig.na.ture") != remembered(other_email, "sig.na.ture")
    assert remembered(alice, "other.assert.ion") != remembered(alice, "sig.na.ture")
    # each caller gets its own list: a forward-auth answer appends Authorization to it
    remembered(alice, "sig.na.ture").append(("Authorization", "Bearer x"))
    assert ("Authorization", "Bearer x") not in remembered(alice, "sig.na.ture")
