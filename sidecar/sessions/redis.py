"""The Redis session store: standalone, TLS, Sentinel or Cluster behind one small class.

Keys arrive hash-tagged (`sidecar:{tag}:session`), so every command, the Lua scripts included,
touches one Cluster slot. Values are opaque sealed bytes. Every call is bounded by the store
timeout, and every redis-py or socket failure becomes `StoreUnavailable` (the caller answers
503); nothing else is caught.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar, cast

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from sidecar.errors import StoreUnavailable
from sidecar.sessions.redis_connect import RedisConnection

T = TypeVar("T")

# Compare-and-extend: only the owner may extend its lease (the refresh lock must not be
# stretched by a replica that already lost it).
RENEW_LOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# Compare-and-delete: releasing a lock whose lease expired and was taken by another owner
# must leave the new owner's lock alone.
RELEASE_LOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# An index is a sorted set scored by each member's expiry (server time, ms): adding prunes the
# expired members and sets the key to expire with its longest-lived member, so an index never
# outlives the sessions it names. TIME is allowed in scripts since Redis 5 (effects replication).
INDEX_ADD_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local expires = now + tonumber(ARGV[2])
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not current) or tonumber(current) < expires then
  redis.call('ZADD', KEYS[1], expires, ARGV[1])
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
"""

INDEX_MEMBERS_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGE', KEYS[1], '(' .. now, '+inf', 'BYSCORE')
"""

# redis-py's own outages: RedisClusterException (e.g. "cannot be connected", slot not covered)
# is not a RedisError; OSError covers socket errors and the builtin TimeoutError.
OUTAGES: tuple[type[BaseException], ...] = (RedisError, RedisClusterException, OSError)
# redis-py's Cluster client answers CLUSTERDOWN (a master just died) by disconnecting every
# connection of every node (`RedisCluster._execute_command` -> `aclose()`), including those that
# concurrent commands are using. Those commands then fail on a connection torn down under them:
# RuntimeError under uvloop ("unable to perform operation on <TCPTransport closed=True>; the
# handler is closed"), AttributeError mid-handshake ("'NoneType' object has no attribute
# 'writelines'"). Both are that same outage; seen killing a Cluster master under load.
CLUSTER_RESET_RACES: tuple[type[BaseException], ...] = (RuntimeError, AttributeError)


def _ms(seconds: float) -> int:
    """Redis PX/PEXPIRE take whole milliseconds, at least 1."""
    return max(1, round(seconds * 1000))


class RedisStore:
    """A `SessionStore` over one redis-py asyncio client (see `redis_connect.connect`)."""

    def __init__(self, connection: RedisConnection, timeout_s: float, max_in_flight: int) -> None:
        self._connection = connection
        self._client = connection.client
        self._prepare = connection.prepare
        self._prepare_write = connection.prepare_write or connection.prepare
        self._outages = OUTAGES
        if isinstance(self._client, RedisCluster):
            self._outages = OUTAGES + CLUSTER_RESET_RACES
        self._timeout_s = timeout_s
        # The Sentinel and Cluster pools refuse a connection beyond their size instead of
        # waiting for one; so callers wait here (within the timeout), for every topology.
        self._in_flight = asyncio.Semaphore(max_in_flight)
        # Registered once: EVALSHA, with a SCRIPT LOAD fallback on a node that lacks it
        # (a freshly promoted replica, a restarted server).
        self._renew_script = self._client.register_script(RENEW_LOCK_LUA)
        self._release_script = self._client.register_script(RELEASE_LOCK_LUA)
        self._index_add_script = self._client.register_script(INDEX_ADD_LUA)
        self._index_members_script = self._client.register_script(INDEX_MEMBERS_LUA)

    @property
    def connection(self) -> RedisConnection:
        return self._connection

    async def save(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._bounded(lambda: self._client.set(key, value, px=_ms(ttl_s)), write=True)

    async def save_replicated(
        self, key: str, value: bytes, ttl_s: float, replicas: int, timeout_ms: int
    ) -> int:
        # WAIT counts the writes of the connection it runs on: SET and WAIT go down one
        # connection as a (non-transactional) pipeline. The wait fits inside the store timeout.
        wait_ms = max(1, min(timeout_ms, round(self._timeout_s * 1000 * 0.8)))

        async def set_and_wait() -> list[int]:
            pipe = self._client.pipeline(transaction=False)
            pipe.set(key, value, px=_ms(ttl_s))
            if isinstance(self._client, RedisCluster):  # the slot map is loaded by now
                node = self._client.get_node_from_key(key)
                pipe.execute_command("WAIT", replicas, wait_ms, target_nodes=node)
            else:
                pipe.execute_command("WAIT", replicas, wait_ms)
            return cast(list[int], await pipe.execute())

        results = await self._bounded(set_and_wait, write=True)
        return int(results[-1])

    async def save_if_absent(self, key: str, value: bytes, ttl_s: float) -> bool:
        stored = await self._bounded(
            lambda: self._client.set(key, value, nx=True, px=_ms(ttl_s)), write=True
        )
        return bool(stored)

    async def index_add(self, key: str, member: str, ttl_s: float) -> None:
        await self._bounded(
            lambda: self._index_add_script(keys=[key], args=[member, _ms(ttl_s)]), write=True
        )

    async def index_members(self, key: str) -> list[str]:
        members = await self._bounded(lambda: self._index_members_script(keys=[key]))
        return [m.decode() if isinstance(m, bytes) else str(m) for m in members]

    async def index_remove(self, key: str, member: str) -> None:
        await self._bounded(lambda: self._client.zrem(key, member), write=True)

    async def load(self, key: str) -> bytes | None:
        return _as_bytes(await self._bounded(lambda: self._client.get(key)))

    async def load_many(self, keys: Sequence[str]) -> list[bytes | None]:
        # MGET: one round trip instead of one per key (the keys share a Cluster slot).
        values = await self._bounded(lambda: self._client.mget(list(keys)))
        return [_as_bytes(value) for value in values]

    async def take(self, key: str) -> bytes | None:
        # GETDEL (Redis >= 6.2) is atomic: of concurrent takes, exactly one sees the value.
        return _as_bytes(await self._bounded(lambda: self._client.getdel(key), write=True))

    async def clear(self, key: str) -> None:
        await self._bounded(lambda: self._client.delete(key), write=True)

    async def acquire_lock(self, key: str, owner: str, lease_s: float) -> bool:
        acquired = await self._bounded(
            lambda: self._client.set(key, owner, nx=True, px=_ms(lease_s)), write=True
        )
        return bool(acquired)

    async def renew_lock(self, key: str, owner: str, lease_s: float) -> bool:
        renewed = await self._bounded(
            lambda: self._renew_script(keys=[key], args=[owner, _ms(lease_s)]), write=True
        )
        return bool(renewed)

    async def release_lock(self, key: str, owner: str) -> None:
        await self._bounded(lambda: self._release_script(keys=[key], args=[owner]), write=True)

    async def ping(self) -> None:
        await self._bounded(self._client.ping)

    async def close(self) -> None:
        await self._connection.close()

    async def _bounded(self, command: Callable[[], Awaitable[T]], *, write: bool = False) -> T:
        """Run one command within the store timeout (waiting for a free slot included); any
        outage becomes `StoreUnavailable`."""
        try:
            async with asyncio.timeout(self._timeout_s), self._in_flight:
                prepare = self._prepare_write if write else self._prepare
                if prepare is not None:
                    await prepare()
                return await command()
        except self._outages as exc:
            raise StoreUnavailable("session store unavailable") from exc


def _as_bytes(value: object) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    raise TypeError("the Redis client must not decode responses")
