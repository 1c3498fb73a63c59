"""Every refusal of CONTRACT "Service to service", each with its status and never a 500.

At the exchanging sidecar (`POST /.auth/token`): a peer outside `allowed_peers` (403), a
foreign audience (`invalid_target`), subject tokens that are not this sidecar's own valid
assertions (`invalid_request`). At the receiving sidecar: a token replayed at another
service, an issuer it does not trust, a token without `act`, an algorithm other than ES256
(401 `invalid_token`). Each forgery differs from an accepted token in one rule only: the
`accepted` control proves the rest of it passes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from sidecar.tokens.exchange import JWT_TOKEN_TYPE
from tests.app.calls import INVALID_TOKEN_CHALLENGE, assert_refused, call, upstream_headers
from tests.app.conftest import ADMIN, bearer
from tests.app.forge import hmac_signed, relabelled, rsa_key, unsigned
from tests.app.raw_http import raw_request
from tests.tokens.exchange_stack import (
    Service,
    exchange,
    exchange_form,
    kid_for,
    new_key,
    new_service,
    post_token,
    start,
    unverified,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Mesh:
    a: Service  # calls B
    b: Service  # trusts A
    c: Service  # trusts A and B: where a token for B is replayed
    d: Service  # calls B too, but B does not trust it


@pytest.fixture
async def mesh(sidecar_factory, aiohttp_server) -> Mesh:
    a, b, c, d = [await new_service(name, aiohttp_server) for name in "abcd"]
    await start(sidecar_factory, b, trusts=[a])
    await start(sidecar_factory, c, trusts=[a, b])
    await start(sidecar_factory, a, audiences=[b])
    await start(sidecar_factory, d, audiences=[b])
    return Mesh(a, b, c, d)


async def assertion_at(service: Service, id_token: str) -> str:
    """The `X-Auth-Assertion` the service's app receives for a user's request."""
    answer = await call(service.url + "/x", bearer(id_token))
    assert answer.status == 200, answer.text
    return upstream_headers(service.echo.last())["X-Auth-Assertion"]


def assert_exchange_refused(answer: Any, status: int, error: str) -> None:
    assert_refused(answer, status, error, None)
    assert answer.headers["Cache-Control"] == "no-store"


# --- at the exchanging sidecar -------------------------------------------------------------


async def test_exchange_off_is_an_unknown_auth_path(sidecar):
    answer = await call(sidecar.url + "/.auth/token", method="POST")
    assert_refused(answer, 404, "not_found", None)


async def test_peer_outside_allowed_peers_is_403_whatever_x_forwarded_for_says(
    sidecar_factory, aiohttp_server, id_tokens
):
    a, b = await new_service("a", aiohttp_server), await new_service("b", aiohttp_server)
    # Loopback is a trusted proxy in these sidecars: its X-Forwarded-For is believed for
    # logging, and still never for the exchange.
    await start(sidecar_factory, a, audiences=[b], token_exchange={"allowed_peers": "10.0.0.0/8"})
    subject = await assertion_at(a, id_tokens[ADMIN])
    for headers in ({}, {"X-Forwarded-For": "10.1.2.3"}, {"X-Real-IP": "10.1.2.3"}):
        answer = await post_token(a, exchange_form(subject, b.url), headers=headers)
        assert_exchange_refused(answer, 403, "unauthorized_client")
    metrics = (await call(a.sidecar.admin_url + "/metrics")).text  # type: ignore[union-attr]
    assert 'sidecar_token_exchange_total{result="unauthorized_client"} 3.0' in metrics


async def test_foreign_audience_is_invalid_target(mesh, id_tokens):
    subject = await assertion_at(mesh.a, id_tokens[ADMIN])
    for audience in (mesh.c.url, mesh.a.url, "https://evil.example"):
        answer = await post_token(mesh.a, exchange_form(subject, audience))
        assert_exchange_refused(answer, 400, "invalid_target")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"grant_type": None}, "invalid_request"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"subject_token": None}, "invalid_request"),
        ({"subject_token_type": None}, "invalid_request"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
        ({"audience": None}, "invalid_request"),
        ({"actor_token": "x", "actor_token_type": JWT_TOKEN_TYPE}, "invalid_request"),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:saml2"}, "invalid_request"),
        ({"resource": "https://elsewhere.example"}, "invalid_target"),
    ],
)
async def test_malformed_requests(mesh, id_tokens, change, error):
    form = exchange_form(await assertion_at(mesh.a, id_tokens[ADMIN]), mesh.b.url)
    form.update(change)
    answer = await post_token(mesh.a, {k: v for k, v in form.items() if v is not None})
    assert_exchange_refused(answer, 400, error)


async def test_repeated_parameters_and_bad_bodies(mesh, id_tokens):
    form = exchange_form(await assertion_at(mesh.a, id_tokens[ADMIN]), mesh.b.url)
    pairs = list(form.items())
    bodies = [
        (urlencode([*pairs, ("subject_token", "x")]), FORM, "invalid_request"),
        (urlencode([*pairs, ("audience", mesh.c.url)]), FORM, "invalid_target"),
        (urlencode(pairs), {"Content-Type": "application/json"}, "invalid_request"),
        (urlencode(pairs) + "&pad=" + "x" * 20_000, FORM, "invalid_request"),
        (b"grant_type=\xff\xfe", FORM, "invalid_request"),
        ("&".join(f"f{i}=1" for i in range(100)), FORM, "invalid_request"),
    ]
    for data, headers, error in bodies:
        answer = await post_token(mesh.a, data=data, headers=headers)
        assert_exchange_refused(answer, 400, error)
    # The same form, sent once: accepted.
    answer = await post_token(mesh.a, data=urlencode(pairs), headers=FORM)
    assert answer.status == 200, answer.text


def _subject_forgeries(a: Service, real: str, dex_token: str) -> dict[str, str]:
    claims = unverified(real)
    public_pem = a.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    header, payload, signature = real.split(".")
    tampered_claims = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"devs"', b'"root"')
    ).decode()
    return {
        "provider-issued": dex_token,
        "another key, same kid": jwt.encode(
            claims, new_key(), algorithm="ES256", headers={"kid": kid_for(a.key)}
        ),
        "expired": a.sign({**claims, "iat": now - 120, "exp": now - 60}, typ=None),
        "expires now": a.sign({**claims, "exp": now}, typ=None),
        "another issuer": a.sign({**claims, "iss": "https://other.example"}, typ=None),
        "no exp": a.sign({k: v for k, v in claims.items() if k != "exp"}, typ=None),
        "alg none": unsigned({"kid": kid_for(a.key)}, claims),
        "HS256 keyed with the public key": hmac_signed({"kid": kid_for(a.key)}, claims, public_pem),
        "RS256": jwt.encode(claims, rsa_key(), algorithm="RS256", headers={"kid": kid_for(a.key)}),
        "tampered payload": f"{header}.{tampered_claims}.{signature}",
        "jku header": relabelled(real, jku="http://127.0.0.1:9/keys"),
        "garbage": "not-a-token",
    }


async def test_subject_tokens_that_are_not_own_valid_assertions(mesh, id_tokens):
    real = await assertion_at(mesh.a, id_tokens[ADMIN])
    for name, token in _subject_forgeries(mesh.a, real, id_tokens[ADMIN]).items():
        answer = await post_token(mesh.a, exchange_form(token, mesh.b.url))
        assert answer.status == 400, f"{name}: {answer.text}"
        assert_exchange_refused(answer, 400, "invalid_request")
    # An exchanged token is signed with the same key, but it is not an assertion.
    exchanged = await exchange(mesh.a, real, mesh.b)
    answer = await post_token(mesh.a, exchange_form(exchanged, mesh.b.url))
    assert_exchange_refused(answer, 400, "invalid_request")
    # Control: the real assertion is accepted.
    assert (await post_token(mesh.a, exchange_form(real, mesh.b.url))).status == 200


async def test_lifetime_is_ttl_s_and_never_past_the_subject(
    sidecar_factory, aiohttp_server, id_tokens
):
    short, long_, b = [await new_service(name, aiohttp_server) for name in ("s", "l", "b")]
    await start(sidecar_factory, short, audiences=[b], token_exchange={"ttl_s": 5})
    await start(sidecar_factory, long_, audiences=[b], token_exchange={"ttl_s": 3600})
    for service, expected_ttl in ((short, 5), (long_, None)):
        subject = await assertion_at(service, id_tokens[ADMIN])
        answer = await post_token(service, exchange_form(subject, b.url))
        claims = unverified(answer.json()["access_token"])
        if expected_ttl is None:  # capped by the assertion's own exp
            assert claims["exp"] == unverified(subject)["exp"]
        else:
            assert claims["exp"] == claims["iat"] + expected_ttl
        assert answer.json()["expires_in"] == claims["exp"] - claims["iat"]


# --- at the receiving sidecar --------------------------------------------------------------


async def assert_invalid_at(service: Service, token: str, what: str = "") -> None:
    answer = await call(service.url + "/x", bearer(token))
    assert answer.status == 401, f"{what}: {answer.status} {answer.text}"
    assert_refused(answer, 401, "invalid_token", INVALID_TOKEN_CHALLENGE)


async def test_token_replayed_at_another_service(mesh, id_tokens):
    for_b = await exchange(mesh.a, await assertion_at(mesh.a, id_tokens[ADMIN]), mesh.b)
    assert (await call(mesh.b.url + "/x", bearer(for_b))).status == 200
    await assert_invalid_at(mesh.c, for_b)  # C trusts A, but the token names B


async def test_issuer_not_trusted(mesh, id_tokens):
    from_d = await exchange(mesh.d, await assertion_at(mesh.d, id_tokens[ADMIN]), mesh.b)
    await assert_invalid_at(mesh.b, from_d)


async def test_forged_exchanged_tokens(mesh):
    a, b = mesh.a, mesh.b
    good = a.exchanged_claims(b.url)
    accepted = a.sign(good)
    answer = await call(b.url + "/x", bearer(accepted))
    assert answer.status == 200, answer.text
    assert upstream_headers(b.echo.last())["X-Auth-Actor"] == a.url
    now = int(time.time())
    public_pem = a.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = {"kid": kid_for(a.key), "typ": "token-exchange+jwt"}
    forgeries = {
        "no act": a.sign(a.exchanged_claims(b.url, act=None)),
        "act not an object": a.sign(a.exchanged_claims(b.url, act=a.url)),
        "act without sub": a.sign(a.exchanged_claims(b.url, act={"iss": a.url})),
        "actor is not the issuer": a.sign(a.exchanged_claims(b.url, act={"sub": mesh.d.url})),
        "nested act without sub": a.sign(
            a.exchanged_claims(b.url, act={"sub": a.url, "act": {"x": 1}})
        ),
        "aud of another service": a.sign(a.exchanged_claims(mesh.c.url)),
        "aud list": a.sign(a.exchanged_claims([b.url, mesh.c.url])),
        "expired": a.sign(a.exchanged_claims(b.url, iat=now - 300, exp=now - 120)),
        "iat in the future": a.sign(a.exchanged_claims(b.url, iat=now + 600)),
        "no iat": a.sign({k: v for k, v in good.items() if k != "iat"}),
        "typed as an assertion": a.sign(good, typ="JWT"),
        "untyped": a.sign(good, typ=None),
        "another key, same kid": jwt.encode(good, new_key(), algorithm="ES256", headers=kid),
        "unknown kid": jwt.encode(good, a.key, algorithm="ES256", headers={**kid, "kid": "zz"}),
        "RS256": jwt.encode(good, rsa_key(), algorithm="RS256", headers=kid),
        "HS256 keyed with the public key": hmac_signed(kid, good, public_pem),
        "alg none": unsigned(kid, good),
        "ES256 signature relabelled ES384": relabelled(accepted, alg="ES384"),
        "jwk header": relabelled(accepted, jwk={"kty": "EC"}),
        "iss says A, signed by D": mesh.d.sign(good),
    }
    for what, token in forgeries.items():
        await assert_invalid_at(b, token, what)


async def test_non_utf8_header_bytes_with_a_trusted_iss_are_invalid_not_500(mesh):
    """A 0xFF byte in the header segment reaches the sidecar as a surrogate; the payload
    names a trusted issuer, so the trusted-issuer validator is asked (and must not hash it
    before the shape check). Sent as raw bytes: a client library would refuse them."""
    header, payload, signature = mesh.a.sign(mesh.a.exchanged_claims(mesh.b.url)).split(".")
    forged = f"\xff{header}.{payload}.{signature}"
    for path in ("/x", "/.auth/verify", "/.auth/me"):
        answer = await raw_request(mesh.b.url + path, [("Authorization", "Bearer " + forged)])
        assert answer.status == 401, path
        assert answer.headers["WWW-Authenticate"] == INVALID_TOKEN_CHALLENGE, path
    # Control: the same token without the byte is accepted.
    accepted = await raw_request(
        mesh.b.url + "/x", list(bearer(f"{header}.{payload}.{signature}").items())
    )
    assert accepted.status == 200


async def test_client_cannot_send_x_auth_actor(mesh, id_tokens):
    headers = {**bearer(id_tokens[ADMIN]), "X-Auth-Actor": mesh.a.url, "X_Auth_Actor": "x"}
    answer = await call(mesh.b.url + "/x", headers)
    assert answer.status == 200, answer.text
    seen = upstream_headers(mesh.b.echo.last())
    assert "X-Auth-Actor" not in seen
    assert "X_Auth_Actor" not in seen
    assert seen["X-Auth-Email"] == ADMIN  # the provider's bearer still works beside the trust


async def test_forward_auth_answers_with_the_actor(mesh, id_tokens):
    for_b = await exchange(mesh.a, await assertion_at(mesh.a, id_tokens[ADMIN]), mesh.b)
    answer = await call(mesh.b.url + "/.auth/verify", bearer(for_b))
    assert answer.status == 200, answer.text
    assert answer.headers["X-Auth-Actor"] == mesh.a.url
    assert answer.headers["X-Auth-Email"] == ADMIN


async def test_a_trusted_issuer_that_is_down(
    sidecar_factory, aiohttp_server, upstream_down, id_tokens
):
    """Its tokens get 503 (never a 500, never a 200); this sidecar stays ready for the rest."""
    b, gone = await new_service("b", aiohttp_server), await new_service("gone", aiohttp_server)
    await start(
        sidecar_factory,
        b,
        trusted_issuers=[{"issuer": gone.url, "jwks_url": upstream_down + "/.auth/jwks"}],
    )
    answer = await call(b.url + "/x", bearer(gone.sign(gone.exchanged_claims(b.url))))
    assert_refused(answer, 503, "trusted_issuer_unavailable", None)
    assert answer.headers["Retry-After"]
    assert (await call(b.url + "/x", bearer(id_tokens[ADMIN]))).status == 200
    ready = await call(b.sidecar.admin_url + "/readyz")  # type: ignore[union-attr]
    assert ready.status == 200
    assert ready.json() == {"status": "ready", "trusted_issuer_keys": {gone.url: False}}
