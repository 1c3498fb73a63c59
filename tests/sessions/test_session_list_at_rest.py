"""What the session list adds to Redis (CONTRACT "Sessions people can see"): one sealed entry
per session, expiring with it, that names neither the user nor the device in plain text, and
that opens only for its own session and user. The scan is `test_at_rest.py`'s."""

from __future__ import annotations

import aiohttp
import redis.asyncio as aioredis

from sidecar.sessions.directory import SessionDirectory
from sidecar.sessions.ticket import Sealer, Ticket, store_key_for_tag
from sidecar.sessions.vault import META
from tests.auth.test_login_flow import ADMIN, login
from tests.sessions.signout import session_claims
from tests.sessions.test_at_rest import DB, assert_absent, dump
from tests.sessions.test_session_list import AGENTS, listed


async def test_the_list_entries_are_sealed_and_name_nobody(
    fresh_provider, sidecar_factory, redis_standalone
):
    url = redis_standalone.url.removesuffix("/0") + f"/{DB}"
    await dump(url, flush=True)
    running = await sidecar_factory(
        {"session": {"redis_url": url}, "headers": {"forward_token": True}}
    )
    cookies = []
    for agent in AGENTS[:2]:
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"User-Agent": agent}
        ) as http:
            cookies.append((await login(http, running.url, fresh_provider)).cookie)
    sessions = await listed(running.url, cookies[0])
    claims = await session_claims(running.url, cookies[0])
    everything = await dump(url)

    tickets = [Ticket.from_cookie(cookie) for cookie in cookies]
    meta_keys = [store_key_for_tag(t.tag, META).encode() for t in tickets if t is not None]
    assert len(meta_keys) == 2
    assert all(key in everything for key in meta_keys)
    needles = [
        claims["sub"], claims["sid"], ADMIN, "admin-dex", "Firefox", "Windows", "Chrome",
        "started_at", "client_ip", "device", *(entry["handle"] for entry in sessions),
    ]  # fmt: skip
    assert_absent(everything, [needle.encode() for needle in needles])

    # Sealed for its own session and user only: another sub, or another session's key, fails.
    sealer = Sealer(running.settings.session.secrets)
    directory = SessionDirectory(None, sealer, running.settings.oidc.issuer)  # type: ignore[arg-type]
    first, second = (t.tag for t in tickets if t is not None)
    sealed = everything[meta_keys[0]]
    assert sealer.unseal_listed(directory._aad(first, claims["sub"]), sealed) is not None
    assert sealer.unseal_listed(directory._aad(first, "someone-else"), sealed) is None
    assert sealer.unseal_listed(directory._aad(second, claims["sub"]), sealed) is None
    assert (
        Sealer([b"\x01" * 32]).unseal_listed(directory._aad(first, claims["sub"]), sealed) is None
    )

    client = aioredis.from_url(url)
    try:
        absolute_ms = running.settings.session.absolute_ttl_s * 1000
        for key in meta_keys:
            assert 0 < await client.pttl(key) <= absolute_ms  # ends with its session
    finally:
        await client.aclose()
