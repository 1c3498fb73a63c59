"""Kong in the trace: one environment value turns on Kong's bundled opentelemetry plugin (on
the sidecar's Ingress), Kong's span instrumentation, and the sidecar's own traces, all sent to
the same collector; off by default."""

from __future__ import annotations

from typing import Any

import helm_python
import kubernetes_validate
import pytest

from tests.deploy import helmfile_render as hf
from tests.deploy.charts import CHART_DIR, KUBE_VERSION, REPO, Rendered, is_crd, render

# Kong 3.9's kong/plugins/opentelemetry/schema.lua config fields: a misspelt key is refused by
# Kong at sync time, so refuse it here first.
KONG_OTEL_FIELDS = {
    "traces_endpoint",
    "logs_endpoint",
    "headers",
    "resource_attributes",
    "queue",
    "connect_timeout",
    "send_timeout",
    "read_timeout",
    "http_response_header_for_traceid",
    "header_type",
    "sampling_rate",
    "propagation",
}
PROPAGATION_FIELDS = {"extract", "clear", "inject", "default_format"}


def release_values(release: str, environment: str, tracing: bool) -> dict[str, Any]:
    env_values = hf.environment_values(environment)
    env_values["tracing"] = {**env_values["tracing"], "enabled": tracing}
    merged: dict[str, Any] = {}
    for rel in hf.release(release).get("values", []):
        merged.update(hf.load_values_file(REPO / rel, env_values))
    return merged


def otel_plugins(rendered: Rendered) -> list[dict[str, Any]]:
    return [p for p in rendered.of_kind("KongPlugin") if p["plugin"] == "opentelemetry"]


@pytest.mark.parametrize("environment", ["default", "production"])
def test_off_by_default(environment):
    env_values = hf.environment_values(environment)
    assert env_values["tracing"]["enabled"] is False
    kong = hf.release_values("kong", environment)
    assert "tracing_instrumentations" not in kong["env"]
    rendered = render(hf.release_values("auth-sidecar", environment))
    assert otel_plugins(rendered) == []
    assert "tracing" not in rendered.sidecar_config()
    env = {e["name"] for e in rendered.container().get("env", [])}
    assert not any(name.startswith("OTEL_") for name in env)


@pytest.mark.parametrize("environment", ["default", "production"])
def test_one_environment_value_puts_kong_and_the_sidecar_in_the_trace(environment):
    endpoint = hf.environment_values(environment)["tracing"]["otlpEndpoint"]
    kong = release_values("kong", environment, tracing=True)
    assert kong["env"]["tracing_instrumentations"] == "all"
    assert 0 < float(kong["env"]["tracing_sampling_rate"]) <= 1

    values = release_values("auth-sidecar", environment, tracing=True)
    report = helm_python.lint(CHART_DIR, values, strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == []
    rendered = render(values)
    for doc in rendered.docs:
        if not is_crd(doc):
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    [plugin] = otel_plugins(rendered)
    config = plugin["config"]
    assert set(config) <= KONG_OTEL_FIELDS
    assert set(config["propagation"]) <= PROPAGATION_FIELDS
    assert config["traces_endpoint"] == f"{endpoint}/v1/traces"
    assert config["propagation"]["inject"] == ["w3c"]  # what the sidecar continues
    assert config["resource_attributes"]["service.name"] == "kong"
    annotations = rendered.one("Ingress")["metadata"]["annotations"]
    assert plugin["metadata"]["name"] in annotations["konghq.com/plugins"].split(", ")

    sidecar = rendered.sidecar_config()
    assert sidecar["tracing"] == {"enabled": True}
    assert sidecar["trusted_proxies"] == hf.environment_values(environment)["podCidr"]
    env = {e["name"]: e.get("value") for e in rendered.container()["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint
    assert env["OTEL_SERVICE_NAME"] == "auth-sidecar"
