"""Session-cookie attacks: fixation (OWASP Session Management, CWE-384), forged and truncated
tickets, and a ticket sealed under another deployment's session secret."""

from __future__ import annotations

import base64
import secrets

import aiohttp
import pytest
from yarl import URL

from sidecar.sessions.memory import MemoryStore
from tests.fixtures.sidecar import new_secret
from tests.security.flows import COOKIE, browser, lying_login, me_status, session_cookie


def _plausible_ticket() -> str:
    """A cookie in the sidecar's exact format that names no session."""
    return "v1." + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


async def test_cwe_384_session_fixation_preset_cookie_is_replaced(lying_sidecar):
    """An attacker-chosen, well-formed ticket planted before login (e.g. via a sibling
    subdomain) is never adopted: login issues a new ticket, and the planted one stays dead."""
    planted = _plausible_ticket()
    async with browser() as http:
        http.cookie_jar.update_cookies({COOKIE: planted}, URL(lying_sidecar.url))
        assert (await lying_login(http, lying_sidecar.url)).status == 302
        issued = session_cookie(http)
    assert issued is not None
    assert issued != planted
    assert await me_status(lying_sidecar.url, issued) == 200
    assert await me_status(lying_sidecar.url, planted) == 401


async def test_cwe_384_attackers_own_session_is_not_inherited(lying_sidecar, lying_provider):
    """The stronger fixation: the attacker logs in, plants *their live* ticket in the
    victim's browser, and the victim logs in. The victim gets a new ticket; the planted
    ticket is ended (login ends the session the browser came with), so the attacker cannot
    ride the victim's login, and never sees the victim's identity through it."""
    lying_provider.login_claims = lambda params: {"sub": "attacker"}
    async with browser() as attacker:
        await lying_login(attacker, lying_sidecar.url)
        planted = session_cookie(attacker)
    assert planted is not None
    assert await me_status(lying_sidecar.url, planted) == 200
    lying_provider.login_claims = lambda params: {"sub": "victim"}
    async with browser() as victim:
        victim.cookie_jar.update_cookies({COOKIE: planted}, URL(lying_sidecar.url))
        await lying_login(victim, lying_sidecar.url)
        issued = session_cookie(victim)
    assert issued not in (None, planted)
    assert await me_status(lying_sidecar.url, planted) == 401
    async with (
        aiohttp.ClientSession() as http,
        http.get(lying_sidecar.url + "/.auth/me", headers={"Cookie": f"{COOKIE}={issued}"}) as me,
    ):
        assert (await me.json())["sub"] == "victim"


def _forgeries(real: str) -> list[str]:
    body = real.removeprefix("v1.")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[0] ^= 0x80
    return [
        real[:-1],  # truncated by one character
        real[: len(real) // 2],
        real + "A",  # extended
        "v1." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode(),  # one bit flipped
        "v2." + body,  # another version prefix
        body,  # no prefix
        "v1." + body.upper(),
        "v1." + base64.b64encode(base64.urlsafe_b64decode(body + "=")).decode(),
        "v1." + body + "==",
        "v1." + "A" * 43,
        "v1.",
        "",
        "v1." + "A" * 5000,
        "v1.%00%00",
        _plausible_ticket(),
    ]


async def test_forged_or_truncated_ticket_refused(lying_sidecar):
    """Every damaged or guessed variant of a live ticket is 401 on a protected path (never a
    500, never someone's session), anonymous on a public one, and the real ticket survives
    the attempts (bad input never loses a session)."""
    async with browser() as http:
        await lying_login(http, lying_sidecar.url)
        real = session_cookie(http)
    assert real is not None
    async with aiohttp.ClientSession() as http:
        for forged in _forgeries(real):
            if forged == real:
                continue
            cookie = {"Cookie": f"{COOKIE}={forged}", "Accept": "application/json"}
            async with http.get(lying_sidecar.url + "/x", headers=cookie) as protected:
                assert protected.status == 401, (forged, protected.status)
            async with http.get(lying_sidecar.url + "/public/x", headers=cookie) as public:
                assert public.status == 200, (forged, public.status)
    assert await me_status(lying_sidecar.url, real) == 200


@pytest.mark.parametrize("rotation", [False, True])
async def test_ticket_sealed_under_another_session_secret(lying_sidecar_factory, rotation):
    """Two deployments sharing a store but not a secret: a ticket from one opens nothing on
    the other (the sealing key needs both the cookie and the secret). With the first
    deployment's secret in the second's rotation list, it opens, which shows that the secret
    is what decided."""
    store = MemoryStore()
    secret_a, secret_b = new_secret(), new_secret()
    deployment_a = await lying_sidecar_factory(
        {"session": {"secret": secret_a}}, app_kwargs={"store": store}
    )
    other_secrets = f"{secret_b},{secret_a}" if rotation else secret_b
    deployment_b = await lying_sidecar_factory(
        {"session": {"secret": other_secrets}}, app_kwargs={"store": store}
    )
    async with browser() as http:
        await lying_login(http, deployment_a.url)
        ticket = session_cookie(http)
    assert ticket is not None
    assert await me_status(deployment_a.url, ticket) == 200
    assert await me_status(deployment_b.url, ticket) == (200 if rotation else 401)
