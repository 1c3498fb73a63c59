"""Redis clients for the session store: standalone, TLS, Sentinel and Cluster, from one URL.

Connection policy, shared by every topology: socket timeouts at the store timeout, and a short
retry with jittered exponential backoff on connection errors, so that a Sentinel failover (the
old master answers READONLY, redis-py reconnects to the master Sentinel now names) or a Cluster
master change (the client reloads the slot map) recovers without a restart. The store bounds
each command as a whole; these settings only make the retries fit inside that bound.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import RedisError

RedisClient = Redis | RedisCluster

SENTINEL_SCHEME = "redis+sentinel"
PLAIN_SCHEMES = ("redis", "rediss")
DEFAULT_SENTINEL_PORT = 26379

# Connection errors are retried this many times, each after a random pause of up to 100 ms,
# 200 ms, 400 ms (full jitter): enough to ride over a master switch, short enough to stay
# inside the store timeout.
RETRIES = 3
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 0.4

# How often the Sentinel client re-asks which node is the master (see `SentinelMasterCheck`),
# and how long that question may take before the command goes on with the connections it has.
MASTER_CHECK_INTERVAL_S = 1.0
MASTER_CHECK_BUDGET_S = 0.25


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """`redis+sentinel://[user:password@]host:port[,host:port]/service_name[/db]`.
    Credentials are the master's; the sentinels themselves are reached without them."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None


@dataclass(slots=True)
class RedisConnection:
    """A client, what must run before each command (`prepare`) and before each write
    (`prepare_write`), whatever else must be closed with it (the Sentinel manager's
    clients), and how to reach the session signal: `new_subscriber` gives a single-node client
    to subscribe on (the master on Sentinel, the next node on a Cluster), `master_moved` tells
    whether a Sentinel subscription must move to a new master."""

    client: RedisClient
    new_subscriber: Callable[[], Awaitable[Redis]]
    closers: tuple[Callable[[], Awaitable[None]], ...] = ()
    prepare: Callable[[], Awaitable[object]] | None = None
    prepare_write: Callable[[], Awaitable[object]] | None = None
    master_moved: Callable[[PubSub], Awaitable[bool]] | None = None

    async def close(self) -> None:
        await self.client.aclose()
        for close in self.closers:
            await close()


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Parse the Sentinel URL form of the contract; `ValueError` names what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinels = tuple(_parse_host_port(item) for item in hosts.split(",") if item)
    if not sentinels:
        raise ValueError("a Sentinel URL needs at least one host:port")
    path = [segment for segment in parts.path.split("/") if segment]
    if not 1 <= len(path) <= 2:
        raise ValueError("a Sentinel URL path is /service_name[/db]")
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError("the db in a Sentinel URL must be a number")
    return SentinelTarget(
        sentinels=sentinels,
        service_name=unquote(path[0]),
        db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
    )


def _parse_host_port(item: str) -> tuple[str, int]:
    host, sep, port = item.rpartition(":")
    if not sep:
        return item, DEFAULT_SENTINEL_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("a Sentinel address needs a port between 1 and 65535")
    return host.strip("[]"), int(port)


def connect(url: str, *, cluster: bool, timeout_s: float, max_connections: int) -> RedisConnection:
    """Build the client for `url` (no I/O happens here: connections open on first use)."""
    options = _connection_options(timeout_s)
    scheme = urlsplit(url).scheme
    if scheme == SENTINEL_SCHEME:
        if cluster:
            raise ValueError("redis_cluster cannot be combined with a Sentinel URL")
        return _connect_sentinel(parse_sentinel_url(url), options, max_connections)
    if scheme not in PLAIN_SCHEMES:
        raise ValueError("the Redis URL scheme must be redis, rediss or redis+sentinel")
    if cluster:
        return _connect_cluster(url, options, max_connections)
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout_s, **options
    )

    async def new_subscriber() -> Redis:
        return Redis.from_pool(ConnectionPool.from_url(url, **_no_retry(options)))

    return RedisConnection(Redis.from_pool(pool), new_subscriber)


def _connect_cluster(url: str, options: dict[str, Any], max_connections: int) -> RedisConnection:
    """Works around two redis-py 8.1 asyncio Cluster races, seen here with 16 concurrent
    commands on a fresh client: a command issued before the slot map is loaded is routed to
    a random node (MOVED); and after `reinitialize_steps` MOVED replies the client closes every
    connection, in-flight ones included (AttributeError in other commands). So the slot map is
    loaded before each command (`initialize()` returns at once once loaded), and a MOVED reply
    patches that slot instead of closing everything (connection errors still reload the map).
    """
    client = RedisCluster.from_url(
        url, max_connections=max_connections, reinitialize_steps=0, **options
    )  # max_connections is per node here
    turn = itertools.count()

    async def new_subscriber() -> Redis:
        """The next node of the slot map in turn: a plain PUBLISH reaches every node."""
        await client.initialize()
        nodes = client.get_nodes()
        node = nodes[next(turn) % len(nodes)]
        kwargs = _no_retry(node.connection_kwargs)
        return Redis.from_pool(ConnectionPool(connection_class=node.connection_class, **kwargs))

    return RedisConnection(client, new_subscriber, prepare=client.initialize)


def _connect_sentinel(
    target: SentinelTarget, options: dict[str, Any], max_connections: int
) -> RedisConnection:
    sentinel_options = {key: options[key] for key in ("socket_timeout", "socket_connect_timeout")}
    # One quick retry per sentinel: discovery already walks the whole list, and redis-py's
    # default (3 retries, backing off up to 10 s) turned one refused sentinel into 17 s.
    sentinel_options["retry"] = Retry(ExponentialWithJitterBackoff(cap=0.1, base=0.02), 1)
    # redis-py leaves Sentinel.__init__ unannotated.
    manager = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels), sentinel_kwargs=sentinel_options
    )
    client = manager.master_for(
        target.service_name,
        db=target.db,
        username=target.username,
        password=target.password,
        max_connections=max_connections,
        **options,
    )
    pool = cast(SentinelConnectionPool, client.connection_pool)
    check = SentinelMasterCheck(pool)

    async def new_subscriber() -> Redis:
        return manager.master_for(  # type: ignore[no-any-return]
            target.service_name,
            db=target.db,
            username=target.username,
            password=target.password,
            **_no_retry(options),
        )

    async def master_moved(pubsub: PubSub) -> bool:
        connection = pubsub.connection
        try:
            async with asyncio.timeout(MASTER_CHECK_BUDGET_S):
                master = await manager.discover_master(target.service_name)
        except (RedisError, OSError, TimeoutError):
            return False  # Sentinel away: the ping decides whether the subscription lives
        return connection is None or (connection.host, connection.port) != tuple(master)

    return RedisConnection(
        client,
        new_subscriber,
        closers=(manager.aclose,),
        prepare=check,
        prepare_write=functools.partial(check, force=True),
        master_moved=master_moved,
    )


class SentinelMasterCheck:
    """Re-ask Sentinel for the master at most once per `MASTER_CHECK_INTERVAL_S`, and before
    every write (`force`): writes are rare (logins, refreshes, a touch a minute per session).

    redis-py asks Sentinel only when it opens a connection. After a planned failover
    (`SENTINEL FAILOVER`) the old master goes on accepting writes until Sentinel reconfigures it
    on its next poll, up to ~10 s later, and then discards them as it resyncs from the new
    master: sessions saved meanwhile would silently vanish. When the answer changes, redis-py
    closes the idle connections and the busy ones are reconnected after their command, so at
    most about one interval of reads can still reach the old master, and no write made after
    Sentinel names the new one.
    """

    def __init__(self, pool: SentinelConnectionPool) -> None:
        self._pool = pool
        self._next_check = 0.0

    async def __call__(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if now < self._next_check and not force:
            return
        self._next_check = now + MASTER_CHECK_INTERVAL_S
        known = self._pool.master_address
        try:
            async with asyncio.timeout(MASTER_CHECK_BUDGET_S):
                current = await self._pool.get_master_address()  # type: ignore[no-untyped-call]
        except (RedisError, OSError):
            return  # Sentinel slow or away: the command goes on with the connections it has
        if known is not None and current != known:
            await self._pool.update_active_connections_for_reconnect()  # type: ignore[no-untyped-call]


def _connection_options(timeout_s: float) -> dict[str, Any]:
    return {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "socket_keepalive": True,
        "retry": Retry(
            ExponentialWithJitterBackoff(cap=BACKOFF_CAP_S, base=BACKOFF_BASE_S), RETRIES
        ),
    }


def _no_retry(options: dict[str, Any]) -> dict[str, Any]:
    """The subscription's options: no silent reconnect. redis-py's PubSub reconnects and
    resubscribes by itself on a connection error; messages published meanwhile would be lost
    without anyone knowing. The session signal must see every break (and re-check)."""
    return {**options, "retry": Retry(NoBackoff(), 0)}
