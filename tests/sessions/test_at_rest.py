"""What Redis holds: never the ticket, never a plaintext token (CONTRACT "Sessions, tokens and
keys"). The real tokens are learned by unsealing the session with the app's own secret and the
cookie, exactly what an attacker who only reads Redis has neither of."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis

from sidecar.sessions.record import SessionRecord
from sidecar.sessions.ticket import Sealer, Ticket
from sidecar.sessions.vault import SEEN, SESSION
from tests.auth.test_login_flow import ADMIN, begin_login, browser, call, callback

# A database of its own: other suites share this server, and every key here is the sidecar's.
DB = 11


async def dump(url: str, flush: bool = False) -> dict[bytes, bytes]:
    """Every key and value in the database: strings as they are, the back-channel indexes
    (sorted sets) as their members, one per line (the store writes nothing else)."""
    client = aioredis.from_url(url)
    try:
        if flush:
            await client.flushdb()
        keys = [key async for key in client.scan_iter(count=1000)]
        everything = {}
        for key in keys:
            if await client.type(key) == b"zset":
                everything[key] = b"\n".join(await client.zrange(key, 0, -1))
            else:
                everything[key] = await client.get(key) or b""
        return everything
    finally:
        await client.aclose()


def forms(secret: str) -> list[bytes]:
    """The ways a secret could sit in Redis: as is, its bytes re-encoded, or hex."""
    raw = secret.encode()
    return [raw, base64.b64encode(raw), raw.hex().encode()]


def ticket_forms(ticket: Ticket) -> list[bytes]:
    payload = ticket.cookie_value().removeprefix("v1.")
    return [
        ticket.cookie_value().encode(),
        payload.encode(),
        ticket.value,
        ticket.value.hex().encode(),
        base64.b64encode(ticket.value),
        base64.b64encode(ticket.value).rstrip(b"="),
    ]


def assert_absent(everything: dict[bytes, bytes], needles: list[bytes]) -> None:
    for key, value in everything.items():
        for needle in needles:
            assert needle not in key, f"found in key {key!r}"
            assert needle not in value, f"found in the value of {key!r}"


async def test_redis_holds_neither_ticket_nor_tokens(
    fresh_provider, sidecar_factory, redis_standalone
):
    url = redis_standalone.url.removesuffix("/0") + f"/{DB}"
    await dump(url, flush=True)
    running = await sidecar_factory({"session": {"redis_url": url}})
    sealer = Sealer(running.settings.session.secrets)
    async with browser() as http:
        authorize_url = await begin_login(http, running.url)
        query = parse_qs(urlsplit(authorize_url).query)
        state, nonce = query["state"][0], query["nonce"][0]
        # While the login is in flight its state is in Redis: sealed, under a derived key.
        in_flight = await dump(url)
        state_ticket = Ticket.from_cookie(state)
        assert state_ticket is not None
        assert state_ticket.store_key("login").encode() in in_flight
        assert_absent(in_flight, [*ticket_forms(state_ticket), *forms(nonce)])
        callback_url = await fresh_provider.complete_login(http, authorize_url, ADMIN, "password")
        response = await callback(http, callback_url)
        cookie = response.cookies["sidecar_session"].value
    assert (await call(running.url, "/x", cookie))[0] == 200

    ticket = Ticket.from_cookie(cookie)
    assert ticket is not None
    everything = await dump(url)
    session_key, seen_key = ticket.store_key(SESSION).encode(), ticket.store_key(SEEN).encode()
    assert session_key in everything
    assert seen_key in everything
    assert state_ticket.store_key("login").encode() not in everything  # used once, gone
    plaintext = sealer.unseal(ticket, SESSION, everything[session_key])
    assert plaintext is not None
    record = SessionRecord.from_bytes(plaintext)
    assert record is not None
    assert record.refresh_token  # offline_access: there is a refresh token to protect
    tokens = [record.id_token, record.access_token, record.refresh_token]
    assert all(len(token) >= 20 for token in tokens)
    # No token, no ticket, in any key or value; not even the JWT's recognisable parts.
    assert_absent(everything, [*ticket_forms(ticket), *(f for t in tokens for f in forms(t))])
    for part in record.id_token.split("."):
        assert_absent(everything, [part.encode()])
    assert_absent(everything, [ADMIN.encode(), b"eyJ"])
    # CONTRACT: no sid, sub or email in any key (nor in a value: the index holds hashes).
    identity = [str(record.claims["sub"]), str(record.claims.get("sid") or ""), ADMIN]
    assert record.claims.get("sid"), "the provider issues sid: the index is exercised"
    assert_absent(everything, [needle.encode() for needle in identity if needle])
    indexes = [key for key in everything if key.endswith((b":by-sid", b":by-sub"))]
    assert len(indexes) == 2  # one by sid, one by sub: keyed hashes naming the session
    assert all(everything[key] == ticket.tag.encode() for key in indexes)
    # No orphans: each index expires with the session it names (the absolute lifetime).
    absolute_ms = running.settings.session.absolute_ttl_s * 1000
    client = aioredis.from_url(url)
    try:
        for key in [*indexes, session_key]:
            assert 0 < await client.pttl(key) <= absolute_ms
    finally:
        await client.aclose()
    # The ciphertext is useless without the cookie or the secret.
    assert sealer.unseal(Ticket.new(), SESSION, everything[session_key]) is None
    other = Sealer([b"\x00" * 32])
    assert other.unseal(ticket, SESSION, everything[session_key]) is None
