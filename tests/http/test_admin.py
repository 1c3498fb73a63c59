"""The admin listener: liveness, readiness naming what is missing, Prometheus metrics; and none
of it reachable through the main listener."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.app.calls import Answer, call
from tests.app.conftest import ADMIN, USER, bearer
from tests.fixtures.ports import refused_port

ADMIN_PATHS = ("/healthz", "/readyz", "/metrics")


async def wait_ready(admin_url: str, timeout_s: float = 40.0) -> Answer:
    """Poll /readyz until 200 (bounded): the sidecar must recover by itself."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = await call(admin_url + "/readyz")
        if answer.status == 200 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.25)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_healthz(sidecar):
    answer = await call(sidecar.admin_url + "/healthz")
    assert answer.status == 200
    assert answer.json() == {"status": "ok"}


async def test_readyz_when_loaded(sidecar):
    answer = await call(sidecar.admin_url + "/readyz")
    assert answer.status == 200
    assert answer.json() == {"status": "ready"}


async def test_provider_down_at_start_then_recovers(fresh_provider, sidecar_factory, id_tokens):
    token = id_tokens[USER]
    fresh_provider.stop()
    try:
        sidecar = await sidecar_factory()
        answer = await call(sidecar.admin_url + "/readyz")
        assert answer.status == 503
        assert answer.json() == {"status": "not_ready", "missing": ["jwks", "provider_metadata"]}
        assert (await call(sidecar.admin_url + "/healthz")).status == 200
        # A bearer token cannot be checked without keys: 503 with Retry-After, never 401/500.
        refused = await call(sidecar.url + "/x", bearer(token))
        assert refused.status == 503
        assert refused.headers["Retry-After"].isdigit()
        assert refused.json()["error"] == "provider_unavailable"
    finally:
        fresh_provider.start()
    recovered = await wait_ready(sidecar.admin_url)
    assert recovered.status == 200, recovered.text
    assert (await call(sidecar.url + "/x", bearer(token))).status == 200


async def test_unreachable_redis_is_named_and_bearer_still_works(sidecar_factory, id_tokens):
    with refused_port() as port:
        sidecar = await sidecar_factory({"session": {"redis_url": f"redis://127.0.0.1:{port}/0"}})
        answer = await call(sidecar.admin_url + "/readyz")
        assert answer.status == 503
        assert answer.json() == {"status": "not_ready", "missing": ["session_store"]}
        # CONTRACT: a bearer token needs no session store.
        assert (await call(sidecar.url + "/x", bearer(id_tokens[USER]))).status == 200
        metrics = samples((await call(sidecar.admin_url + "/metrics")).text)
        assert metrics[("sidecar_session_store_errors_total", ())] >= 1


async def test_metrics_count_decisions_fetches_and_durations(sidecar, id_tokens):
    for url, headers in [
        ("/x", bearer(id_tokens[USER])),
        ("/x", {}),
        ("/x", bearer("garbage")),
        ("/admin", bearer(id_tokens[USER])),
        ("/admin", bearer(id_tokens[ADMIN])),
        ("/public/x", {}),
    ]:
        await call(sidecar.url + url, headers)
    answer = await call(sidecar.admin_url + "/metrics")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    metrics = samples(answer.text)
    decisions = {
        labels[0][1]: value
        for (name, labels), value in metrics.items()
        if name == "sidecar_requests_total"
    }
    assert decisions == {
        "allow": 2,
        "unauthenticated": 1,
        "invalid_token": 1,
        "forbidden": 1,
        "public": 1,
    }
    assert metrics[("sidecar_request_duration_seconds_count", ())] == 6
    assert metrics[("sidecar_jwks_fetch_total", (("result", "ok"),))] == 1
    assert metrics[("sidecar_session_store_errors_total", ())] == 0
    assert "# TYPE sidecar_token_refresh_total counter" in answer.text


@pytest.mark.parametrize("path", ADMIN_PATHS)
async def test_admin_paths_are_not_served_on_the_main_port(sidecar, id_tokens, echo_upstream, path):
    answer = await call(sidecar.url + path, bearer(id_tokens[USER]))
    assert answer.status == 200
    assert answer.json()["path"] == path  # the echo upstream answered, not the admin app
    assert echo_upstream.last()["path"] == path
    refused = await call(sidecar.url + path)
    assert refused.status == 401


@pytest.mark.parametrize("path", ["/x", "/.auth/verify", "/.auth/jwks"])
async def test_admin_port_serves_nothing_else(sidecar, path):
    assert (await call(sidecar.admin_url + path)).status == 404
