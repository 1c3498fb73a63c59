"""The Grafana dashboard shipped with the chart: valid JSON whose every query names only series
a running sidecar really exports (read from its live /metrics), with the data source as a
variable; and the ConfigMap the Grafana sidecar picks up, off by default."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import helm_python
import kubernetes_validate
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.charts import CHART_DIR, KUBE_VERSION, load_values, render

DASHBOARD = CHART_DIR / "dashboards" / "auth-sidecar.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
METRIC = re.compile(r"\b(sidecar_[a-z0-9_]+)")
GROUPING = re.compile(r"\bby \(([^)]*)\)")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# CONTRACT "Logs and metrics": every metric it names has a panel.
CONTRACT_METRICS = (
    "sidecar_requests_total",
    "sidecar_request_duration_seconds",
    "sidecar_jwks_fetch_total",
    "sidecar_token_refresh_total",
    "sidecar_session_store_errors_total",
    "sidecar_session_unreplicated_writes_total",
    "sidecar_logout_total",
    "sidecar_token_exchange_total",
)
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def targets(board: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(panel["title"], t) for panel in board["panels"] for t in panel["targets"]]


def queried_metrics(board: dict[str, Any]) -> set[str]:
    exprs = [t["expr"] for _, t in targets(board)]
    exprs += [v["definition"] for v in board["templating"]["list"] if "definition" in v]
    return {name for expr in exprs for name in METRIC.findall(expr)}


def test_the_dashboard_is_grafana_json_with_a_templated_datasource():
    board = dashboard()
    assert board["uid"] == "auth-sidecar"
    assert board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    for title, target in targets(board):
        assert target["datasource"] == DATASOURCE, title
        assert target["expr"].count("(") == target["expr"].count(")"), title
        assert target["expr"].count("{") == target["expr"].count("}"), title
        assert 'job=~"$job"' in target["expr"], title
    assert "sidecar_request_duration_seconds_bucket" in queried_metrics(board)


def test_every_contract_metric_has_a_panel():
    queried = queried_metrics(dashboard())
    for metric in CONTRACT_METRICS:
        assert any(name.startswith(metric) for name in queried), metric


async def live_series(sidecar_factory, oidc_provider) -> dict[str, set[str]]:
    """Series name -> label names, from the /metrics of a running sidecar that has served a
    bearer request, an anonymous one and a public one (so labelled series have samples)."""
    running = await sidecar_factory()
    tokens = await oidc_provider.login("user@example.com", "password")
    async with aiohttp.ClientSession() as http:
        for path, headers in (
            ("/api/x", {"Authorization": f"Bearer {tokens.id_token}"}),
            ("/api/x", {}),
            ("/public/x", {}),
        ):
            async with http.get(running.url + path, headers=headers) as response:
                await response.read()
        async with http.get(running.admin_url + "/metrics") as response:
            text = await response.text()
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in SUFFIXES.get(family.type, ("",)):
            series.setdefault(family.name + suffix, set())
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


def exported_metric_params() -> list[Any]:
    return [pytest.param(name, id=name) for name in sorted(queried_metrics(dashboard()))]


@pytest.mark.parametrize("metric", exported_metric_params())
async def test_every_queried_series_is_exported_by_a_running_sidecar(
    metric, sidecar_factory, oidc_provider
):
    series = await live_series(sidecar_factory, oidc_provider)
    assert metric in series, sorted(series)


async def test_grouping_and_legend_labels_exist_on_the_series(sidecar_factory, oidc_provider):
    series = await live_series(sidecar_factory, oidc_provider)
    checked = 0
    for title, target in targets(dashboard()):
        labels = {x.strip() for group in GROUPING.findall(target["expr"]) for x in group.split(",")}
        labels |= set(LEGEND_LABEL.findall(target["legendFormat"]))
        labels -= {"le"}  # the histogram's own
        for metric in METRIC.findall(target["expr"]):
            if series.get(metric):  # labelled series present with samples
                assert labels <= series[metric] | {"job", "instance"}, (title, labels)
                checked += 1
    assert checked >= 3  # requests by decision, the percentiles, the refused share at least


def test_the_configmap_is_off_by_default():
    rendered = render(load_values(None))
    names = [d["metadata"]["name"] for d in rendered.of_kind("ConfigMap")]
    assert not any(name.endswith("-dashboard") for name in names)


def test_the_configmap_carries_the_dashboard_and_the_configured_label():
    values = {
        "grafanaDashboard": {
            "enabled": True,
            "label": "grafana.example.com/dashboard",
            "labelValue": "auth",
            "namespace": "monitoring",
            "folder": "Auth",
        }
    }
    report = helm_python.lint(CHART_DIR, values, strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == []
    [configmap] = [
        d
        for d in render(values).of_kind("ConfigMap")
        if d["metadata"]["name"].endswith("-dashboard")
    ]
    kubernetes_validate.validate(configmap, KUBE_VERSION, strict=True)
    metadata = configmap["metadata"]
    assert metadata["labels"]["grafana.example.com/dashboard"] == "auth"
    assert metadata["namespace"] == "monitoring"
    assert metadata["annotations"] == {"grafana_folder": "Auth"}
    assert json.loads(configmap["data"]["auth-sidecar.json"]) == dashboard()


def test_the_default_label_is_the_grafana_sidecars():
    values = {"grafanaDashboard": {"enabled": True}}
    [configmap] = [
        d
        for d in render(values).of_kind("ConfigMap")
        if d["metadata"]["name"].endswith("-dashboard")
    ]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert "annotations" not in configmap["metadata"]
