"""Identity headers end to end: what a client says about itself never reaches the upstream;
what the sidecar says is exact, and the assertion verifies with `/.auth/jwks`.

Spoofed headers are sent as raw bytes (tests/app/raw_http.py): underscores and duplicates are
exactly what an attacker sends, and a client library might merge or refuse them.
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from tests.app.calls import call, upstream_headers
from tests.app.conftest import ADMIN, UNVERIFIED, USER
from tests.app.raw_http import raw_request
from tests.contract_headers import FAMILY_MEMBERS, FOREIGN, INJECTED

# CONTRACT "Identity headers sent upstream": every header it injects, and other systems'.
SPOOFABLE = INJECTED + FOREIGN + FAMILY_MEMBERS


def mixed_case(name: str) -> str:
    return "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(name))


VARIANTS = {
    "as-named": lambda name: name,
    "upper": str.upper,
    "lower": str.lower,
    "mixed": mixed_case,
    "underscore": lambda name: name.replace("-", "_"),
    "underscore-lower": lambda name: name.replace("-", "_").lower(),
    "half-underscore": lambda name: name.replace("-", "_", 1),
}


def spoofed(variant: str) -> list[tuple[str, str]]:
    """Every spoofable header in one spelling; values carry a marker the test looks for."""
    spell = VARIANTS[variant]
    headers = [(spell(name), f"spoof-{index}@evil.example") for index, name in enumerate(SPOOFABLE)]
    return [*headers, (spell("X-Auth-Groups"), "spoof-admins")]  # and a duplicate


def assert_no_spoof_reached(echo: dict[str, Any]) -> None:
    leaked = [(name, value) for name, value in echo["headers"] if "spoof" in value]
    assert leaked == []


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


@pytest.mark.parametrize("variant", list(VARIANTS))
async def test_spoofed_headers_never_reach_upstream(sidecar, id_tokens, echo_upstream, variant):
    token = id_tokens[ADMIN]
    headers = [("Authorization", f"Bearer {token}"), *spoofed(variant)]
    answer = await raw_request(sidecar.url + "/x", headers)
    assert answer.status == 200
    echo = echo_upstream.last()
    assert_no_spoof_reached(echo)
    seen = upstream_headers(echo)
    sub = claims_of(token)["sub"]
    expected = {
        "X-Auth-Subject": sub,
        "X-Auth-Email": ADMIN,
        "X-Auth-Username": "admin",
        "X-Auth-Name": "Admin Dex",
        "X-Auth-Groups": "admins,devs",
        "X-Credential-Identifier": sub,
    }
    for name, value in expected.items():
        assert seen.getall(name) == [value], name
    assert len(seen.getall("X-Auth-Assertion")) == 1


async def test_unverified_email_is_not_injected_and_spoofs_stay_out(
    sidecar, id_tokens, echo_upstream
):
    headers = [("Authorization", f"Bearer {id_tokens[UNVERIFIED]}"), *spoofed("as-named")]
    assert (await raw_request(sidecar.url + "/x", headers)).status == 200
    echo = echo_upstream.last()
    assert_no_spoof_reached(echo)
    seen = upstream_headers(echo)
    assert "X-Auth-Email" not in seen
    assert "X-Auth-Groups" not in seen  # no groups at all: no header, not a spoofed one
    assert seen["X-Auth-Username"] == "unverified"


@pytest.mark.parametrize("variant", ["as-named", "underscore"])
async def test_anonymous_on_a_public_path_gets_no_identity_headers(sidecar, echo_upstream, variant):
    assert (await raw_request(sidecar.url + "/public/x", spoofed(variant))).status == 200
    echo = echo_upstream.last()
    assert_no_spoof_reached(echo)
    names = {name.lower() for name, _ in echo["headers"]}
    assert not {"x-auth-subject", "x-auth-assertion", "x-credential-identifier"} & names


async def test_assertion_verifies_with_the_sidecars_jwks(sidecar, id_tokens, echo_upstream):
    token = id_tokens[USER]
    assert (await call(sidecar.url + "/x", {"Authorization": f"Bearer {token}"})).status == 200
    assertion = upstream_headers(echo_upstream.last())["X-Auth-Assertion"]
    keys = jwt.PyJWKSet.from_dict((await call(sidecar.url + "/.auth/jwks")).json())
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == "ES256"
    claims = jwt.decode(
        assertion,
        keys[header["kid"]].key,
        algorithms=["ES256"],
        audience=echo_upstream.url,
        issuer=sidecar.settings.public_url,
        options={"require": ["iss", "aud", "sub", "iat", "exp"]},
    )
    assert claims["sub"] == claims_of(token)["sub"]
    assert claims["email"] == USER
    assert claims["groups"] == ["devs"]
    assert claims["name"] == "Plain User"
    assert 0 < claims["exp"] - claims["iat"] <= 60


async def test_assertion_audience_is_configurable(sidecar_factory, id_tokens, echo_upstream):
    sidecar = await sidecar_factory({"assertion": {"audience": "urn:reports-service"}})
    answer = await call(sidecar.url + "/x", {"Authorization": f"Bearer {id_tokens[USER]}"})
    assert answer.status == 200
    assertion = upstream_headers(echo_upstream.last())["X-Auth-Assertion"]
    keys = jwt.PyJWKSet.from_dict((await call(sidecar.url + "/.auth/jwks")).json())
    kid = jwt.get_unverified_header(assertion)["kid"]
    claims = jwt.decode(
        assertion, keys[kid].key, algorithms=["ES256"], audience="urn:reports-service"
    )
    assert claims["iss"] == sidecar.settings.public_url


@pytest.mark.parametrize(
    ("cookies", "kept"),
    [
        (["a=1; sidecar_session=opaque-ticket; b=2"], ["a=1; b=2"]),
        (["sidecar_session=opaque-ticket"], []),
        (["sidecar_session=opaque-ticket; z=9"], ["z=9"]),
        (
            ["sidecar_session_x=1; x_sidecar_session=2"],
            ["sidecar_session_x=1; x_sidecar_session=2"],
        ),
        (["sidecar_session=opaque-ticket", "c=3"], ["c=3"]),
    ],
)
async def test_own_cookie_is_removed_others_stay(sidecar, id_tokens, echo_upstream, cookies, kept):
    headers = [("Authorization", f"Bearer {id_tokens[USER]}")]
    headers += [("Cookie", value) for value in cookies]
    assert (await raw_request(sidecar.url + "/x", headers)).status == 200
    assert upstream_headers(echo_upstream.last()).getall("Cookie", []) == kept


async def test_authorization_is_removed_by_default(sidecar, id_tokens, echo_upstream):
    headers = {"Authorization": f"Bearer {id_tokens[USER]}"}
    assert (await call(sidecar.url + "/x", headers)).status == 200
    assert "Authorization" not in upstream_headers(echo_upstream.last())


async def test_forward_token_sends_the_verified_token(sidecar_factory, id_tokens, echo_upstream):
    sidecar = await sidecar_factory({"headers": {"forward_token": True}})
    token = id_tokens[USER]
    assert (await call(sidecar.url + "/x", {"Authorization": f"bearer {token}"})).status == 200
    assert upstream_headers(echo_upstream.last()).getall("Authorization") == [f"Bearer {token}"]


@pytest.mark.parametrize("value", ["Bearer garbage", "Basic dXNlcjpwYXNz"])
async def test_forward_token_never_forwards_an_unverified_credential(
    sidecar_factory, echo_upstream, value
):
    """On a public path the request passes anonymous: the upstream must not mistake the
    client's own Authorization for one the sidecar verified."""
    sidecar = await sidecar_factory({"headers": {"forward_token": True}})
    assert (await call(sidecar.url + "/public/x", {"Authorization": value})).status == 200
    assert "Authorization" not in upstream_headers(echo_upstream.last())
