"""The chart's `routes`: rendered into the config as the route table (never mixed with the
shorthand), accepted by the sidecar's own loader, and checked by the values schema."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar.config.settings import load_settings
from tests.deploy.charts import CHART_DIR, load_values, render

helm_python = pytest.importorskip("helm_python", reason="PyPI helm-python-sdk (dev extras)")

ROUTES_VALUES = CHART_DIR / "ci" / "routes-values.yaml"


def values() -> dict[str, Any]:
    return copy.deepcopy(load_values(ROUTES_VALUES))


def test_routes_replace_upstream_and_policy_in_the_config() -> None:
    config = render(values()).sidecar_config()
    assert "upstream" not in config  # the in-pod app is a route's upstream, not the shorthand
    assert "policy" not in config
    assert config["routes"] == values()["routes"]


def test_the_rendered_config_loads_as_the_route_table(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(render(values()).sidecar_config()))
    env = {"SIDECAR_OIDC_CLIENT_SECRET": "x", "SIDECAR_SESSION_SECRET": "k" * 43}
    settings = load_settings(str(path), env)
    api, app = settings.routes
    assert (api.name, api.strip_prefix, api.assertion.claims) == (
        "api.example.com/v1",
        True,
        ("sub", "groups"),
    )
    assert (app.name, app.upstream) == ("/", "http://127.0.0.1:3000")


def test_without_routes_the_shorthand_stays() -> None:
    plain = values()
    del plain["routes"]
    config = render(plain).sidecar_config()
    assert config["upstream"] == "http://127.0.0.1:3000"
    assert "routes" not in config


def test_routes_with_upstream_url_is_refused() -> None:
    mixed = values()
    mixed["app"]["enabled"] = False
    mixed["upstreamUrl"] = "http://web.apps.svc:8080"
    with pytest.raises(helm_python.HelmError, match="not both"):
        render(mixed)


def test_routes_with_a_global_assertion_audience_is_refused() -> None:
    mixed = values()
    mixed["config"]["assertion"] = {"audience": "https://app.example.com"}
    with pytest.raises(helm_python.HelmError, match=r"assertion\.audience"):
        render(mixed)


@pytest.mark.parametrize(
    "route",
    [
        {"match": {"path": "/"}, "upstream": "http://a", "name": "x"},  # unknown route key
        {"match": {"path": "/", "method": "GET"}},  # unknown match key
        {"match": {"host": "https://api.example.com"}},  # a URL, not a host
        {"match": {"path": "v1"}},
        {"upstream": "127.0.0.1:3000"},
        {"assertion": {"claims": ["password"]}},
        {"policy": [{"path": "/", "allow": "public", "method": ["GET"]}]},
        {"policy": [{"path": "/", "claims": {"tenant": []}}]},
        {"policy": [{"path": "/", "actors": ["orders"]}]},
    ],
)
def test_schema_refuses_a_bad_route(route: dict[str, Any]) -> None:
    chart = helm_python.Chart.load(CHART_DIR)
    with pytest.raises(helm_python.HelmValuesError):
        chart.validate_schema({"routes": [route]})


def test_schema_accepts_the_example_routes() -> None:
    helm_python.Chart.load(CHART_DIR).validate_schema({"routes": values()["routes"]})


def test_routes_without_an_app_are_the_gateway_mode_and_serve_every_path() -> None:
    gateway = values()
    gateway["app"] = {"enabled": False}
    rendered = render(gateway)
    labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert labels["auth-sidecar/mode"] == "gateway"
    paths = rendered.one("Ingress")["spec"]["rules"][0]["http"]["paths"]
    assert [p["path"] for p in paths] == ["/"]  # not only /.auth, as forward-auth would be
    assert "routes" in rendered.sidecar_config()
