"""helmfile.yaml: structure, charts, values files, needs, and what the values say."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy import helmfile_render as hf
from tests.deploy.charts import CHART_DIR, KUBE_VERSION, REPO, is_crd, render

helm_python = pytest.importorskip("helm_python", reason="PyPI helm-python-sdk (dev extras)")
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="dev extras")

ENVIRONMENTS = ["default", "production"]
PRODUCTION_ENV = {"AUTH_APP_HOST", "AUTH_DEX_HOST", "AUTH_SIDECAR_IMAGE", "AUTH_SIDECAR_TAG"}


def test_plain_yaml_with_environments_then_releases() -> None:
    docs = hf.helmfile_docs()
    assert len(docs) == 2, "environments and releases are separate documents (---)"
    assert set(docs[0]) == {"environments"}
    assert "releases" in docs[1]
    assert set(hf.environments()) == set(ENVIRONMENTS)
    assert "{{" not in hf.HELMFILE.read_text(), "templating belongs in helmfile.yaml.gotmpl"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_values_exist_and_agree(environment: str) -> None:
    for rel in hf.environments()[environment]["values"]:
        assert (REPO / rel).is_file(), rel
    keys = set(hf.environment_values(environment))
    assert keys == set(hf.environment_values("default")), "environments define the same keys"


def test_every_release_chart_is_local_or_from_a_declared_repository() -> None:
    repos = {r["name"] for doc in hf.helmfile_docs() for r in doc.get("repositories", [])}
    for rel in hf.releases():
        chart = rel["chart"]
        if chart.startswith(("./", "../", "/")):
            assert (REPO / chart / "Chart.yaml").is_file(), chart
        elif chart.startswith("oci://"):
            assert rel.get("version"), f"{rel['name']}: pin the OCI chart version"
        else:
            repo, _, name = chart.partition("/")
            assert repo in repos, f"{rel['name']}: repository {repo} is not declared"
            assert name
            assert rel.get("version"), f"{rel['name']}: pin the chart version"


def test_every_values_file_exists() -> None:
    for rel in hf.releases():
        local = rel["chart"].startswith("./")
        assert local or rel.get("values"), f"{rel['name']}: an upstream chart needs our values"
        for path in rel.get("values", []):
            assert (REPO / path).is_file(), f"{rel['name']}: {path}"


def test_needs_resolve_to_declared_releases() -> None:
    declared = {(r.get("namespace", ""), r["name"]) for r in hf.releases()}
    for rel in hf.releases():
        for need in rel.get("needs", []):
            namespace, _, name = need.rpartition("/")
            key = (namespace or rel.get("namespace", ""), name)
            assert key in declared, f"{rel['name']} needs {need}: not declared"


def test_install_order() -> None:
    needs = {r["name"]: set(r.get("needs", [])) for r in hf.releases()}
    assert {"auth/postgresql", "kong/kong"} <= needs["dex"]
    assert {"auth/dex", "auth/redis", "kong/kong"} <= needs["auth-sidecar"]
    assert release_chart("auth-sidecar") == "./charts/auth-sidecar"
    assert release_chart("dex") == "dex/dex"
    assert release_chart("kong") == "kong/kong"


def release_chart(name: str) -> str:
    chart: str = hf.release(name)["chart"]
    return chart


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_sidecar_values_render_with_the_chart(environment: str) -> None:
    values = hf.release_values("auth-sidecar", environment)
    report = helm_python.lint(CHART_DIR, values, strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == []
    rendered = render(values)
    for doc in rendered.docs:
        if not is_crd(doc):
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    assert [c["name"] for c in rendered.pod_spec()["containers"]] == ["auth-sidecar", "app"]
    assert rendered.sidecar_config()["upstream"] == "http://127.0.0.1:3000"
    secrets = values["secrets"]
    assert secrets["clientSecret"] == hf.env_marker("DEX_CLIENT_SECRET")
    assert secrets["sessionSecret"] == hf.env_marker("SIDECAR_SESSION_SECRET")
    assert secrets["assertionSigningKey"] == hf.env_marker("SIDECAR_ASSERTION_SIGNING_KEY")
    assert hf.env_marker("REDIS_PASSWORD") in secrets["redisUrl"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_dex_and_sidecar_agree(environment: str) -> None:
    dex = hf.release_values("dex", environment)["config"]
    sidecar = hf.release_values("auth-sidecar", environment)["config"]
    assert dex["issuer"] == sidecar["oidc"]["issuer"]
    (client,) = dex["staticClients"]
    assert client["id"] == sidecar["oidc"]["client_id"]
    assert client["secret"] == hf.env_marker("DEX_CLIENT_SECRET")
    assert client["redirectURIs"] == [sidecar["public_url"] + "/.auth/callback"]
    assert dex["storage"]["type"] == "postgres"
    assert dex["storage"]["config"]["password"] == hf.env_marker("POSTGRES_PASSWORD")
    assert dex["expiry"]["idTokens"] == "10m"
    assert dex["expiry"]["refreshTokens"]["reuseInterval"]
    (user,) = dex["staticPasswords"]
    assert user["email"] == "admin-dex@example.com"
    assert user["hash"] == hf.env_marker("DEX_ADMIN_PASSWORD_HASH")


def test_production_hosts_come_from_the_environment() -> None:
    text = (REPO / "deploy/environments/production.yaml.gotmpl").read_text()
    assert set(hf.REQUIRED_ENV.findall(text)) == PRODUCTION_ENV
    values = hf.environment_values("production")
    assert values["scheme"] == "https"
    assert values["appHost"] == hf.env_marker("AUTH_APP_HOST")


@pytest.mark.parametrize("name", ["postgresql", "redis"])
def test_bitnami_images_use_bitnamilegacy(name: str) -> None:
    values = hf.release_values(name, "default")
    assert values["global"]["security"]["allowInsecureImages"] is True
    images = list(_image_repositories(values))
    assert images, "no image set"
    for repository in images:
        assert repository.startswith("bitnamilegacy/"), repository


def _image_repositories(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        image = node.get("image")
        if isinstance(image, dict) and "repository" in image:
            found.append(image["repository"])
        for value in node.values():
            found.extend(_image_repositories(value))
    return found


def test_kong_nodeports_match_kind_and_load_the_plugin() -> None:
    kong = hf.release_values("kong", "default")
    assert kong["env"]["database"] == "off"
    assert kong["ingressController"]["enabled"] is True
    kind = yaml.safe_load((REPO / "deploy/kind.yaml").read_text())
    mappings = {m["hostPort"]: m["containerPort"] for m in kind["nodes"][0]["extraPortMappings"]}
    assert mappings == {
        80: kong["proxy"]["http"]["nodePort"],
        443: kong["proxy"]["tls"]["nodePort"],
    }
    (plugin,) = kong["plugins"]["configMaps"]
    # Its ConfigMap: tests/deploy/test_first_deploy.py.
    assert plugin["pluginName"] == "auth-sidecar"
    assert kind["networking"]["podSubnet"] == hf.environment_values("default")["podCidr"]


def test_make_targets_exist() -> None:
    makefile = (REPO / "mk/deploy.mk").read_text()
    for target in ("kind-up:", "deploy:", "kind-down:"):
        assert f"\n{target}" in makefile
    assert "deploy/kind.yaml" in makefile


def test_dev_secrets_script_generates_everything_the_default_environment_needs() -> None:
    needed: set[str] = set()
    for path in Path(REPO / "deploy").rglob("*.gotmpl"):
        if "production" not in path.name:
            needed |= set(hf.REQUIRED_ENV.findall(path.read_text()))
    script = (REPO / "deploy/dev-secrets.sh").read_text()
    for name in needed:
        assert f'echo "{name}=' in script, name
