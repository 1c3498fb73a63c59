"""A failed PUBLISH of the session signal is tried once more after asking for the master
again; a second failure is counted (`sidecar_session_signal_publish_failures_total`) and
logged at error level. Real Redis on both sides; the one fake is the passing fault (a
connection dropped under one PUBLISH), which cannot be provoked on cue."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis
import redis.exceptions
from structlog.testing import capture_logs

from sidecar.metrics import Metrics
from sidecar.sessions.events import CHANNEL, RedisEvents, SessionEvent
from tests.fixtures.ports import LOOPBACK, refused_port
from tests.fixtures.redis_process import RedisServer

EVENT = SessionEvent("ended", "tag-hash")


class DropsFirstPublish:
    """The real client, whose first PUBLISH fails as a connection dropped by a failover."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.calls = 0

    async def publish(self, channel: str, message: bytes) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise redis.exceptions.ConnectionError("connection reset by the old master")
        return await self.client.publish(channel, message)


def events_on(publisher: Any, metrics: Metrics, masters_asked: list[int]) -> RedisEvents:
    async def find_master() -> None:
        masters_asked.append(1)

    return RedisEvents(
        publisher,
        lambda: None,  # type: ignore[arg-type,return-value]  # no subscription in these tests
        timeout_s=1.0,
        find_master=find_master,
        on_publish_error=metrics.signal_publish_failed,
    )


def failures(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("sidecar_session_signal_publish_failures_total")
    return value or 0.0


async def test_a_failed_publish_is_retried_once_and_reaches_the_subscribers(
    redis_standalone: RedisServer,
) -> None:
    client = aioredis.Redis(host=LOOPBACK, port=redis_standalone.port)
    listener = client.pubsub()
    await listener.subscribe(CHANNEL)
    await listener.get_message(timeout=1.0)  # the subscribe confirmation
    metrics, masters_asked = Metrics(), []
    publisher = DropsFirstPublish(client)
    try:
        await events_on(publisher, metrics, masters_asked).publish(EVENT)
        message = await listener.get_message(ignore_subscribe_messages=True, timeout=2.0)
    finally:
        await listener.aclose()
        await client.aclose()
    assert message is not None
    assert SessionEvent.decode(message["data"]) == EVENT
    assert publisher.calls == 2
    assert len(masters_asked) == 2  # asked again before the retry
    assert failures(metrics) == 0


async def test_a_second_failure_is_counted_and_logged_as_an_error() -> None:
    metrics, masters_asked = Metrics(), []
    with refused_port() as port:
        client = aioredis.Redis(host=LOOPBACK, port=port, socket_connect_timeout=0.5)
        try:
            with capture_logs() as logs:
                await events_on(client, metrics, masters_asked).publish(EVENT)
        finally:
            await client.aclose()
    assert failures(metrics) == 1
    assert metrics.registry.get_sample_value("sidecar_session_store_errors_total") == 1
    assert len(masters_asked) == 2
    errors = [line for line in logs if line["log_level"] == "error"]
    assert [line["event"] for line in errors] == ["session_signal_publish_failed"]


@pytest.mark.parametrize("kind", ["ended", "changed"])
async def test_local_delivery_happens_even_when_publishing_fails(kind: str) -> None:
    heard: list[SessionEvent] = []

    class Listener:
        def session_event(self, event: SessionEvent) -> None:
            heard.append(event)

        def signal_state(self, up: bool) -> None:
            return None

    event = SessionEvent(kind, "tag")  # type: ignore[arg-type]
    with refused_port() as port:
        client = aioredis.Redis(host=LOOPBACK, port=port, socket_connect_timeout=0.5)
        events = events_on(client, Metrics(), [])
        events.listen(Listener())
        try:
            await asyncio.wait_for(events.publish(event), 10)
        finally:
            await client.aclose()
    assert heard == [event]
