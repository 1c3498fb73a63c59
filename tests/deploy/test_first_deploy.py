"""The first `helmfile apply` on an empty cluster, and helmfile.yaml being complete on its own.

helmfile `apply` diffs every release before it syncs any, and helm-diff validates the rendered
objects against the cluster: a release rendering a custom-resource kind whose CRD another
release installs fails there on a fresh cluster ("ensure CRDs are installed first") unless it
has `disableValidationOnInstall: true`. Which releases render such kinds is derived here from
the renders of the local charts (a kind is custom when Kubernetes' own schema does not know
it) and, for the upstream charts (not available offline), from their values: none may switch
on a template that renders a custom resource.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import helmfile_render as hf
from tests.deploy.charts import KUBE_VERSION, REPO

helm_python = pytest.importorskip("helm_python", reason="PyPI helm-python-sdk (dev extras)")
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="dev extras")

ENVIRONMENTS = ["default", "production"]
PLUGIN_DIR = REPO / "kong" / "plugins" / "auth-sidecar"
# The release whose chart ships the CRDs of an API group (the kong chart's crds/, checked in
# its source at the pinned tag 2.51.0: KongPlugin, KongClusterPlugin, KongConsumer, ...).
CRD_INSTALLERS = {"configuration.konghq.com": "kong/kong"}
# Upstream chart values that switch on templates rendering custom resources (ServiceMonitor,
# PodMonitor, PrometheusRule, cert-manager Certificate): keys of the kong, dex and Bitnami charts.
CUSTOM_RESOURCE_SWITCHES = ("servicemonitor", "podmonitor", "prometheusrule", "certificates")


def is_local(rel: dict[str, Any]) -> bool:
    return str(rel["chart"]).startswith(("./", "../", "/"))


def key(rel: dict[str, Any]) -> str:
    return f"{rel.get('namespace', '')}/{rel['name']}"


def render_release(rel: dict[str, Any], environment: str) -> list[dict[str, Any]]:
    values = hf.release_values(rel["name"], environment)
    chart = helm_python.Chart.load(REPO / rel["chart"])
    out = chart.render(values, name=rel["name"], namespace=rel.get("namespace", "default"))
    docs: list[dict[str, Any]] = []
    for path, text in sorted(out.items()):
        if not path.endswith("NOTES.txt"):
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def is_custom_kind(doc: dict[str, Any]) -> bool:
    """Not a kind of Kubernetes itself: its schema is not in Kubernetes' OpenAPI."""
    try:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=False)
    except kubernetes_validate.utils.SchemaNotFoundError:
        return True
    except kubernetes_validate.ValidationError:
        return False
    return False


def switched_on(values: object, path: str = "") -> list[str]:
    """Paths of `enabled: true` under a key naming a custom-resource template."""
    found: list[str] = []
    if isinstance(values, dict):
        for name, value in values.items():
            here = f"{path}.{name}" if path else str(name)
            if (
                name == "enabled"
                and value is True
                and any(s in path.lower() for s in CUSTOM_RESOURCE_SWITCHES)
            ):
                found.append(here)
            found.extend(switched_on(value, here))
    return found


def custom_groups(rel: dict[str, Any], environment: str) -> set[str]:
    if not is_local(rel):
        on = switched_on(hf.release_values(rel["name"], environment))
        assert not on, f"{rel['name']}: {on} render custom resources; add them to this test"
        return set()
    docs = render_release(rel, environment)
    return {d["apiVersion"].split("/")[0] for d in docs if is_custom_kind(d)}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_releases_rendering_custom_kinds_are_safe_on_a_first_install(environment: str) -> None:
    rendering = {}
    for rel in hf.releases():
        groups = custom_groups(rel, environment)
        if groups:
            rendering[rel["name"]] = groups
        for group in groups:
            installer = CRD_INSTALLERS.get(group)
            assert installer, f"{rel['name']} renders {group}: which release installs its CRDs?"
            if installer == key(rel):
                continue
            assert rel.get("disableValidationOnInstall") is True, (
                f"{rel['name']} renders {group} kinds, whose CRDs {installer} installs: "
                "helm-diff fails on the first apply without disableValidationOnInstall"
            )
            assert installer in rel.get("needs", []), f"{rel['name']} must need {installer}"
    # The derivation found what it should: the sidecar chart renders KongPlugin objects.
    assert rendering.get("auth-sidecar") == {"configuration.konghq.com"}


def test_later_applies_still_validate() -> None:
    """Only the first install skips validation: nothing turns it off for good."""
    defaults = hf.helmfile_docs()[1].get("helmDefaults", {})
    assert "disableValidation" not in defaults
    assert "disableOpenAPIValidation" not in defaults
    for rel in hf.releases():
        assert not rel.get("disableValidation"), rel["name"]
        assert not rel.get("disableOpenAPIValidation"), rel["name"]


def test_the_switch_scan_sees_a_service_monitor() -> None:
    assert switched_on({"metrics": {"serviceMonitor": {"enabled": True}}}) == [
        "metrics.serviceMonitor.enabled"
    ]
    assert switched_on({"metrics": {"enabled": True}, "serviceMonitor": {"enabled": False}}) == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_kong_plugin_configmap_comes_from_a_release(environment: str) -> None:
    """`helmfile apply` run directly (production) must be complete: Kong's pods mount the
    plugin ConfigMap, so a release in helmfile.yaml renders it, from the repository's files,
    and Kong needs that release."""
    kong_values = hf.release_values("kong", environment)
    (mount,) = kong_values["plugins"]["configMaps"]
    assert mount["pluginName"] == "auth-sidecar"
    makers = []
    for rel in hf.releases():
        if rel.get("namespace") != "kong" or not is_local(rel):
            continue
        for doc in render_release(rel, environment):
            if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == mount["name"]:
                makers.append(rel)
                assert doc["metadata"]["namespace"] == "kong"
                expected = {p.name: p.read_text() for p in sorted(PLUGIN_DIR.glob("*.lua"))}
                assert doc["data"] == expected, "the ConfigMap holds the plugin's Lua files"
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    (maker,) = makers
    assert key(maker) in hf.release("kong").get("needs", []), "Kong's pods mount it"


def test_make_deploy_adds_nothing_helmfile_lacks() -> None:
    makefile = (REPO / "mk/deploy.mk").read_text()
    assert "create configmap" not in makefile, "the ConfigMap belongs to helmfile.yaml"


def test_plugin_chart_reads_the_repository_files() -> None:
    link = REPO / "deploy/charts/kong-plugin-auth-sidecar/plugin"
    assert link.is_symlink()
    assert link.resolve() == PLUGIN_DIR.resolve()
    assert Path(link.readlink()).is_absolute() is False, "relative: works in every checkout"
