"""One session, several replicas, real Redis (standalone, Sentinel, Cluster): a session ends
everywhere at once (CONTRACT), memory copies included, and every websocket relayed under it
closes with 1008. The replicas are separate apps with their own Redis clients, subscriptions,
caches and websocket registries, sharing only Redis and the session secret.

Times are measured and printed (docs/reliability.md quotes them), never asserted tightly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.auth.test_login_flow import ADMIN, browser, call, login
from tests.fixtures.redis_process import RedisServer
from tests.fixtures.sidecar import new_secret
from tests.sessions.signout import RelayedSocket, logout_token, post_logout_token, session_claims

TOPOLOGIES = ["standalone", "sentinel", "cluster"]
CACHE_S = 30  # far longer than any test: only the signal can drop a copy in time
GIVE_UP_S = 5.0


def redis_settings(request: pytest.FixtureRequest, topology: str) -> dict[str, Any]:
    if topology == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        return {"redis_url": cluster.url, "redis_cluster": True}
    if topology == "sentinel":
        return {"redis_url": request.getfixturevalue("redis_sentinel").url}
    return {"redis_url": request.getfixturevalue("redis_standalone").url}


@pytest.fixture
def replicas(request: pytest.FixtureRequest, sidecar_factory: Callable[..., Any]) -> Any:
    """`await replicas(n, topology, **session_overrides)`: n sidecars of one deployment."""

    async def start(n: int, topology: str, **overrides: Any) -> list[Any]:
        session = {"secret": new_secret(), "cache_s": CACHE_S, **redis_settings(request, topology)}
        session.update(overrides.pop("session", {}))
        config = {"session": session, "headers": {"forward_token": True}, **overrides}
        started = [await sidecar_factory(config) for _ in range(n)]
        await wait_subscribed(started)
        return started

    return start


async def wait_subscribed(running: list[Any]) -> None:
    from sidecar.keys import EVENTS

    async with asyncio.timeout(GIVE_UP_S):
        while not all(r.app[EVENTS].healthy for r in running):
            await asyncio.sleep(0.02)


async def first_refusal(base: str, cookie: str, since: float) -> tuple[float, list[int]]:
    """Poll `base` with the cookie until it refuses: (seconds since `since`, statuses seen)."""
    statuses: list[int] = []
    deadline = time.monotonic() + GIVE_UP_S
    while time.monotonic() < deadline:
        status = (await call(base, "/x", cookie))[0]
        statuses.append(status)
        if status == 401:
            return time.monotonic() - since, statuses
    raise AssertionError(f"still served after {GIVE_UP_S} s: {statuses[-5:]}")


async def logout(base: str, cookie: str) -> None:
    async with (
        browser() as http,
        http.post(
            base + "/.auth/logout",
            headers={"Cookie": f"sidecar_session={cookie}", "Origin": base},
            allow_redirects=False,
        ) as r,
    ):
        assert r.status == 302


@pytest.mark.parametrize("topology", TOPOLOGIES)
async def test_logout_on_one_replica_is_refused_on_the_others(fresh_provider, replicas, topology):
    a, b, c = await replicas(3, topology)
    async with browser() as http:
        done = await login(http, a.url, fresh_provider)
    for replica in (a, b, c):  # each now holds the session in memory for CACHE_S
        assert (await call(replica.url, "/x", done.cookie))[0] == 200
    started = time.monotonic()
    await logout(a.url, done.cookie)
    after_b, seen_b = await first_refusal(b.url, done.cookie, started)
    after_c, seen_c = await first_refusal(c.url, done.cookie, started)
    print(f"\n[{topology}] logout on A -> refused on B after {after_b * 1000:.1f} ms "
          f"{seen_b}, on C after {after_c * 1000:.1f} ms {seen_c}")  # fmt: skip
    assert seen_b[-1] == seen_c[-1] == 401
    for replica in (a, b, c):
        assert (await call(replica.url, "/x", done.cookie))[0] == 401  # and stays refused


async def test_memory_copies_serve_until_the_signal_drops_them(
    fresh_provider, replicas, own_redis_standalone: RedisServer
):
    """The cache really serves from memory (the session deleted behind its back still
    answers), and the "ended" signal, not the cache's lifetime, is what drops it. The
    sessions are deleted on a server of the test's own."""
    a, b = await replicas(2, "standalone", session={"redis_url": own_redis_standalone.url})
    async with browser() as http:
        done = await login(http, a.url, fresh_provider)
    assert (await call(b.url, "/x", done.cookie))[0] == 200
    deleted = own_redis_standalone.command("EVAL", DELETE_SESSIONS_LUA, 0)
    assert deleted >= 2
    assert (await call(b.url, "/x", done.cookie))[0] == 200  # from memory
    await logout(a.url, done.cookie)  # publishes "ended" though the store had nothing left
    assert (await first_refusal(b.url, done.cookie, time.monotonic()))[1][-1] == 401


# Every session entry of this server (tests only): what a lost write or an expiry looks like.
DELETE_SESSIONS_LUA = """
local n = 0
for _, pattern in ipairs({'sidecar:*:session', 'sidecar:*:seen'}) do
  for _, key in ipairs(redis.call('KEYS', pattern)) do n = n + redis.call('DEL', key) end
end
return n
"""


async def test_nothing_is_served_from_memory_while_the_subscription_is_down(
    fresh_provider, replicas, own_redis_standalone: RedisServer
):
    server = own_redis_standalone  # paused: a server of the test's own
    session = {"store_timeout_s": 0.5, "redis_url": server.url}
    (a,) = await replicas(1, "standalone", session=session)
    async with browser() as http:
        done = await login(http, a.url, fresh_provider)
    assert (await call(a.url, "/x", done.cookie))[0] == 200  # cached
    server.pause()
    try:
        await asyncio.sleep(1.2)  # the subscription's ping goes unanswered: it is down
        status = (await call(a.url, "/x", done.cookie))[0]
    finally:
        server.resume()
    assert status == 503  # went to the (stopped) store instead of serving the memory copy
    await wait_subscribed([a])
    assert (await call(a.url, "/x", done.cookie))[0] == 200


# --- websockets ------------------------------------------------------------------------------


async def closes_after(socket: RelayedSocket, action: Any) -> tuple[int | None, float]:
    """Run `action` and wait for the socket's close: (code, seconds from action to close)."""
    waiting = asyncio.create_task(socket.wait_closed())
    await asyncio.sleep(0)
    started = time.monotonic()
    await action()
    code, closed_at = await waiting
    return code, closed_at - started


@pytest.mark.parametrize("topology", TOPOLOGIES)
async def test_websocket_closes_on_another_replicas_logout(fresh_provider, replicas, topology):
    a, b = await replicas(2, topology)
    async with browser() as http:
        done = await login(http, a.url, fresh_provider)
    socket = await RelayedSocket.open(b.url, done.cookie)
    try:
        code, took = await closes_after(socket, lambda: logout(a.url, done.cookie))
    finally:
        await socket.close()
    print(f"\n[{topology}] logout on A -> websocket on B closed {code} after {took * 1000:.1f} ms")
    assert code == 1008


@pytest.mark.parametrize("topology", ["standalone", "cluster"])
async def test_websocket_closes_on_a_backchannel_logout(fresh_provider, replicas, topology):
    a, b = await replicas(2, topology)
    async with browser() as http:
        done = await login(http, a.url, fresh_provider)
    sid = (await session_claims(a.url, done.cookie))["sid"]
    socket = await RelayedSocket.open(b.url, done.cookie)

    async def backchannel() -> None:
        token = logout_token(fresh_provider, sid=sid)
        assert (await post_logout_token(a.url, token))[0] == 200

    try:
        code, took = await closes_after(socket, backchannel)
    finally:
        await socket.close()
    print(f"\n[{topology}] back-channel logout on A -> websocket on B closed {code} "
          f"after {took * 1000:.1f} ms")  # fmt: skip
    assert code == 1008


async def test_websocket_closes_on_invalid_grant_seen_by_another_replica(fresh_provider, replicas):
    # Every request refreshes (the margin exceeds the id token's lifetime).
    a, b = await replicas(2, "standalone", session={"refresh_margin_s": 100_000, "cache_s": 0})
    async with browser() as http:
        done = await login(http, a.url, fresh_provider)
    socket = await RelayedSocket.open(b.url, done.cookie)  # B refreshed once: fine
    fresh_provider.revoke_user(ADMIN)

    async def refresh_refused() -> None:
        assert (await call(a.url, "/x", done.cookie))[0] == 401  # invalid_grant on A

    try:
        code, took = await closes_after(socket, refresh_refused)
    finally:
        await socket.close()
    print(f"\n[standalone] invalid_grant on A -> websocket on B closed {code} "
          f"after {took * 1000:.1f} ms")  # fmt: skip
    assert code == 1008


async def test_a_missed_event_is_caught_up_when_the_subscription_returns(
    fresh_provider, replicas, own_redis_standalone: RedisServer
):
    """The session vanishes without an event (as if its publish was lost); when the
    subscription drops and comes back, the replica re-checks its websockets and closes it.
    Sessions deleted and subscriptions killed on a server of the test's own."""
    redis_standalone = own_redis_standalone
    a, b = await replicas(2, "standalone", session={"redis_url": redis_standalone.url})
    async with browser() as http:
        done = await login(http, a.url, fresh_provider)
    socket = await RelayedSocket.open(b.url, done.cookie)
    try:
        redis_standalone.command("EVAL", DELETE_SESSIONS_LUA, 0)  # no event: B is not told

        async def drop_subscriptions() -> None:
            redis_standalone.command("CLIENT", "KILL", "TYPE", "pubsub")

        code, took = await closes_after(socket, drop_subscriptions)
    finally:
        await socket.close()
    print(f"\n[standalone] subscription lost and back -> websocket closed {code} "
          f"after {took * 1000:.1f} ms")  # fmt: skip
    assert code == 1008


async def test_logout_during_a_secret_rotation_is_refused_at_once_on_both_orders(
    fresh_provider, sidecar_factory, redis_standalone: RedisServer
):
    """A rolling rotation: one replica already seals with the new secret, the other still with
    the old one; both open either. The session must carry one name on both, or the "ended"
    event of one is ignored by the other and its memory copy is served for `cache_s`."""
    new, old = new_secret(), new_secret()

    def config(secrets: str) -> dict[str, Any]:
        session = {"secret": secrets, "cache_s": CACHE_S, "redis_url": redis_standalone.url}
        return {"session": session, "headers": {"forward_token": True}}

    rotated = await sidecar_factory(config(f"{new},{old}"))
    pending = await sidecar_factory(config(f"{old},{new}"))
    await wait_subscribed([rotated, pending])
    for signs_in, logs_out in ((rotated, pending), (pending, rotated)):
        async with browser() as http:
            done = await login(http, signs_in.url, fresh_provider)
        for replica in (rotated, pending):  # each now holds the session in memory
            assert (await call(replica.url, "/x", done.cookie))[0] == 200
        await logout(logs_out.url, done.cookie)
        for replica in (rotated, pending):
            assert (await first_refusal(replica.url, done.cookie, time.monotonic()))[1][-1] == 401


async def test_while_the_subscription_is_down_open_websockets_are_rechecked(
    fresh_provider, replicas, own_redis_standalone: RedisServer
):
    """CONTRACT "A session ends everywhere at once": with B's subscription held down (its
    user may no longer SUBSCRIBE, the store still answers) a session that vanishes without
    any event is noticed by B's periodic re-check alone: the websocket closes (1008) and the
    cookie is refused, while the subscription is still down. On a server of the test's own
    (its ACL changed, its subscriptions killed)."""
    from sidecar.keys import EVENTS

    redis_standalone = own_redis_standalone
    a, b = await replicas(2, "standalone", session={"redis_url": redis_standalone.url})
    async with browser() as http:
        done = await login(http, a.url, fresh_provider)
    socket = await RelayedSocket.open(b.url, done.cookie)
    redis_standalone.command("ACL", "SETUSER", "default", "-subscribe")
    try:
        redis_standalone.command("CLIENT", "KILL", "TYPE", "pubsub")
        async with asyncio.timeout(GIVE_UP_S):
            while b.app[EVENTS].healthy:
                await asyncio.sleep(0.02)

        async def vanish() -> None:
            redis_standalone.command("EVAL", DELETE_SESSIONS_LUA, 0)  # no event at all

        async with asyncio.timeout(10):
            code, took = await closes_after(socket, vanish)
        assert not b.app[EVENTS].healthy, "the close must not come from a resubscription"
        assert (await call(b.url, "/x", done.cookie))[0] == 401
    finally:
        redis_standalone.command("ACL", "SETUSER", "default", "+subscribe")
        await socket.close()
    print(f"\n[standalone] subscription held down -> websocket closed {code} "
          f"after {took * 1000:.1f} ms")  # fmt: skip
    assert code == 1008
