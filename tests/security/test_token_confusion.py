"""Issue 16 item 5: token confusion (RFC 8725 section 3.11, explicit typing).

The provider signs two kinds of JWT with one key: id tokens and back-channel logout tokens
(Back-Channel Logout 1.0 section 2.4). The lying provider holds that key, so every token here
is genuinely signed, and only the typing rules can refuse it: a logout token (`typ:
logout+jwt`, or untyped but carrying `events`) is never a bearer credential or a login's id
token, and the logout endpoint takes nothing but a logout token. (The sidecar's own kinds,
assertions and exchanged tokens, are covered in tests/tokens/test_jws.py and
tests/app/test_exchange_refusals.py.)
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.security.bearer import assert_refused, present
from tests.security.flows import browser, lying_login
from tests.security.jose import Signer
from tests.sessions.signout import BACKCHANNEL_EVENT, post_logout_token


def logout_token(signer: Signer, typ: str | None = "logout+jwt", **claims: Any) -> str:
    """A Logout Token as the provider signs it (no nonce; `events`; a fresh `jti`)."""
    body = {"jti": secrets.token_urlsafe(8), "sid": "sid-1", "events": {BACKCHANNEL_EVENT: {}}}
    return signer.token(header={"typ": typ}, **{**body, **claims})


@pytest.mark.parametrize("typ", ["logout+jwt", "application/logout+jwt", None])
async def test_a_provider_signed_logout_token_is_not_a_bearer_credential(
    lying_sidecar, lying_provider, typ
):
    """It has the provider's `iss`, the client as `aud`, `iat`, `exp` and a `sub`: every id
    token rule held for it, and main let it in as the user (a 200)."""
    token = logout_token(lying_provider.signer, typ)
    assert_refused(await present(lying_sidecar.url, token))
    # Control: it is a genuine logout token, which the logout endpoint takes.
    status, _, _ = await post_logout_token(lying_sidecar.url, token)
    assert status == 200


async def test_an_id_token_with_events_is_refused_at_login(lying_sidecar, lying_provider):
    """The token endpoint answers with a token that is both: signed, the login's nonce, and
    `events`. A security event token is never an id token (RFC 8417 section 4.3)."""
    lying_provider.login_claims = lambda params: {"events": {BACKCHANNEL_EVENT: {}}}
    async with browser() as http:
        answer = await lying_login(http, lying_sidecar.url)
    assert answer.status == 400, answer


@pytest.mark.parametrize("typ", ["logout+jwt", "token-exchange+jwt"])
async def test_an_id_token_typed_as_another_kind_is_refused_at_login(
    lying_sidecar, lying_provider, typ
):
    signer = lying_provider.signer
    lying_provider.login_token = lambda params: signer.token(
        header={"typ": typ}, nonce=params["nonce"]
    )
    async with browser() as http:
        answer = await lying_login(http, lying_sidecar.url)
    assert answer.status == 400, answer


@pytest.mark.parametrize(
    "kind", ["typed token-exchange+jwt", "typed JWT", "id token", "bearer with nonce"]
)
async def test_the_logout_endpoint_takes_only_logout_tokens(lying_sidecar, lying_provider, kind):
    """Back-Channel Logout 1.0 section 2.6: each of these is signed by the provider's key."""
    signer = lying_provider.signer
    tokens = {
        "typed token-exchange+jwt": logout_token(signer, "token-exchange+jwt"),
        "typed JWT": logout_token(signer, "JWT"),
        "id token": signer.token(sid="sid-1"),
        "bearer with nonce": logout_token(signer, None, nonce="n-1"),
    }
    status, body, _ = await post_logout_token(lying_sidecar.url, tokens[kind])
    assert (status, body["error"]) == (400, "invalid_request")


async def test_an_id_token_still_opens_the_door(lying_sidecar, lying_provider):
    """The control for all of the above: an id token with a `sid` and no `events`."""
    token = lying_provider.signer.token(sid="sid-1", nonce="n-1")
    assert (await present(lying_sidecar.url, token)).status == 200
