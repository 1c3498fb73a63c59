"""The provider rotates its signing key under a steady mixed load (Dex rotates every 6 h).

Old tokens keep verifying (the old key stays published); tokens signed with the new key carry
a `kid` the sidecar has not seen, which makes it refetch the JWKS, once per 10 s at most
(CONTRACT: "an unknown kid triggers at most one refetch per 10 s").

Only unknown-kid refetches count against that limit (the start-up fetch and the background
refresh do not), so two cases:
- the usual one: no unknown kid in the 10 s before the rotation (here the rotation comes a
  second after start-up). Nothing that should pass may be refused: not an old token, not a new
  bearer token, not a login whose id token is signed with the new key, not a session made by it.
- a token with an unknown kid (a forgery, or a stray token) came just before the rotation and
  spent the refetch. The limit then refuses new-key tokens (401, and 400 at the login callback)
  until its 10 s have passed. The test measures that window and checks that it closes by
  itself, that nothing else fails and that nothing answers 5xx (docs/reliability.md).
"""

from __future__ import annotations

import secrets
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.faults.load import MixedLoad, bearer, count, session
from tests.faults.logins import login_sessions, try_login
from tests.faults.scenario import hold, metric, session_statuses, wait_recovered

SESSIONS = 6
OLD_KINDS = ("old_bearer", "old_session")
NEW_KINDS = ("new_bearer", "new_session")


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def start_with_old_key(start_sidecar, provider, rate_per_s):
    sidecar = start_sidecar()
    started = time.monotonic()  # the start-up JWKS fetch happened before this
    tickets, _ = await login_sessions(sidecar.url, provider, SESSIONS)
    token = (await provider.login("user@example.com", "password")).id_token
    actors = [
        a
        for t in tickets
        for a in (
            session(sidecar.cookie_name, t, kind="old_session"),
            bearer(token, kind="old_bearer"),
        )
    ]
    return sidecar, started, tickets, token, MixedLoad(sidecar.url, actors, rate_per_s)


async def test_signing_key_rotated_during_load(start_sidecar, fresh_provider, profile, fault_table):
    sidecar, started, old_tickets, old_token, load = await start_with_old_key(
        start_sidecar, fresh_provider, profile.rate_per_s
    )
    async with load.running():
        await hold(1.0)
        new_kid = fresh_provider.rotate_keys()
        rotated_at = time.monotonic()
        new_token = (await fresh_provider.login("admin-dex@example.com", "password")).id_token
        load.set_actors([*load.actors, bearer(new_token, kind="new_bearer")])
        # Logins through the sidecar now verify id tokens signed with the new key.
        new_tickets, _ = await login_sessions(sidecar.url, fresh_provider, SESSIONS)
        load.set_actors(
            [
                *load.actors,
                *(session(sidecar.cookie_name, t, kind="new_session") for t in new_tickets),
            ]
        )
        await hold(profile.fault_hold_s)
    after = await session_statuses(sidecar.url, sidecar.cookie_name, [*old_tickets, *new_tickets])

    fault_table(
        fault="Signing key rotated at the provider",
        since_start_s=round(rotated_at - started, 2),
        requests=len(load.outcomes),
        **{kind: load.by_status(kind) for kind in OLD_KINDS + NEW_KINDS},
        new_logins=len(new_tickets),
        first_new_bearer_ok_s=round(load.first_ok_after("new_bearer", rotated_at) or -1, 2),
        sessions_before=len(old_tickets),
        sessions_after=after.get(200, 0),
    )
    assert kid_of(new_token) == new_kid != kid_of(old_token)
    for kind in OLD_KINDS + NEW_KINDS:
        assert load.by_status(kind), f"no {kind} request was sent"
        assert not load.failures(kind), f"{kind}: {load.by_status(kind)}"
    assert after == {200: 2 * SESSIONS}, after


def forged_token(issuer: str, audience: str) -> str:
    """Well-formed, signed by a key of our own (made now) under a kid the provider never had."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": "forged", "iat": now, "exp": now + 600}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": secrets.token_hex(20)})


async def test_signing_key_rotated_right_after_an_unknown_kid(
    start_sidecar, fresh_provider, profile, fault_table
):
    sidecar, _, _, _, load = await start_with_old_key(
        start_sidecar, fresh_provider, profile.rate_per_s
    )
    forged = bearer(forged_token(fresh_provider.issuer, fresh_provider.client_id), kind="forged")
    async with load.running():
        await hold(0.5)
        fetches_before = await metric(sidecar.admin_url, "sidecar_jwks_fetch_total")
        forged_outcome = await load.send_once(forged)  # spends the unknown-kid refetch
        forged_at = time.monotonic()
        new_kid = fresh_provider.rotate_keys()
        rotated_at = time.monotonic()
        new_token = (await fresh_provider.login("admin-dex@example.com", "password")).id_token
        load.set_actors([*load.actors, bearer(new_token, kind="new_bearer")])
        login_in_window, _ = await try_login(sidecar.url, fresh_provider, "user@example.com")
        recovery = await wait_recovered(load, ["new_bearer", *OLD_KINDS], rotated_at)
        login_after, ticket = await try_login(sidecar.url, fresh_provider, "user@example.com")
        await hold(1.0)
    fetches_after = await metric(sidecar.admin_url, "sidecar_jwks_fetch_total")

    refused = [o for o in load.outcomes if o.kind == "new_bearer" and not o.ok]
    fault_table(
        fault="Signing key rotated just after an unknown-kid token",
        requests=len(load.outcomes),
        **{kind: load.by_status(kind) for kind in (*OLD_KINDS, "new_bearer")},
        new_kid_refused_for_s=round(
            max((o.done for o in refused), default=rotated_at) - rotated_at, 2
        ),
        forged_status=forged_outcome.status,
        rotated_after_forged_s=round(rotated_at - forged_at, 2),
        jwks_fetches_before_rotation=fetches_before,
        jwks_fetches_after=fetches_after,
        login_callback_in_window=login_in_window,
        login_callback_after_window=login_after,
        recovery_s=round(recovery, 2),
    )
    assert kid_of(new_token) == new_kid
    assert forged_outcome.status == 401
    for kind in OLD_KINDS:
        assert not load.failures(kind), f"{kind}: {load.by_status(kind)}"
    # Refused, not broken: 401 invalid_token (never a 5xx), then accepted by itself.
    assert set(count(refused)) <= {401}, count(refused)
    assert login_in_window in (302, 400), login_in_window
    assert login_after == 302
    assert ticket
