"""The chart: lint (strict), render every scenario, validate every manifest, check what matters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.charts import (
    CHART_DIR,
    CI_VALUES,
    KUBE_VERSION,
    Rendered,
    is_crd,
    load_values,
    render,
    runtime_secrets,
)

helm_python = pytest.importorskip("helm_python", reason="PyPI helm-python-sdk (dev extras)")
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="dev extras")

SCENARIOS = [None, *CI_VALUES]
IDS = ["default", *(p.name.removesuffix("-values.yaml") for p in CI_VALUES)]
SECRET_ENVS = {
    "SIDECAR_OIDC_CLIENT_SECRET_FILE",
    "SIDECAR_SESSION_SECRET_FILE",
    "SIDECAR_ASSERTION_SIGNING_KEY_FILE",
}


def ci(name: str) -> Path:
    return CHART_DIR / "ci" / f"{name}-values.yaml"


def with_secrets(values: dict[str, Any], secret_values: dict[str, str]) -> dict[str, Any]:
    if values.get("existingSecret"):
        return values
    return {**values, "secrets": secret_values}


def test_every_required_scenario_has_a_values_file() -> None:
    names = {p.name for p in CI_VALUES}
    for scenario in (
        "sidecar-in-pod",
        "standalone",
        "sentinel",
        "cluster",
        "existing-secret",
        "forward-auth",
    ):
        assert f"{scenario}-values.yaml" in names


@pytest.mark.parametrize("values_file", SCENARIOS, ids=IDS)
def test_lint_strict(values_file: Path | None) -> None:
    report = helm_python.lint(
        CHART_DIR, load_values(values_file), strict=True, kube_version=f"v{KUBE_VERSION}"
    )
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("values_file", SCENARIOS, ids=IDS)
def test_renders_valid_kubernetes(values_file: Path | None) -> None:
    rendered = render(with_secrets(load_values(values_file), runtime_secrets()))
    kinds = {d["kind"] for d in rendered.docs}
    assert {"Deployment", "Service", "ConfigMap", "ServiceAccount"} <= kinds
    for doc in rendered.docs:
        if is_crd(doc):
            continue  # no schema offline: shapes checked in test_kong_plugins / test_servicemonitor
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("values_file", SCENARIOS, ids=IDS)
def test_security_context_and_probes(values_file: Path | None) -> None:
    rendered = render(load_values(values_file))
    pod = rendered.pod_spec()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True, container["name"]
        assert sc["readOnlyRootFilesystem"] is True, container["name"]
        assert sc["allowPrivilegeEscalation"] is False, container["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], container["name"]
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, container["name"]
    sidecar = rendered.container()
    ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
    assert ports == {"http": 8080, "admin": 9090}
    assert sidecar["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert sidecar["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert sidecar["resources"]["requests"]
    assert sidecar["resources"]["limits"]
    cfg = rendered.sidecar_config()
    assert cfg["listen"] == "0.0.0.0:8080"
    assert cfg["admin_listen"] == "0.0.0.0:9090"


@pytest.mark.parametrize("values_file", SCENARIOS, ids=IDS)
def test_secrets_only_in_the_secret(values_file: Path | None) -> None:
    secret_values = runtime_secrets()
    values = with_secrets(load_values(values_file), secret_values)
    rendered = render(values)
    for doc in rendered.docs:
        if doc["kind"] == "Secret":
            continue
        text = yaml.safe_dump(doc)
        for name, secret in secret_values.items():
            for fragment in secret.split(","):
                assert fragment not in text, f"{name} inline in {doc['kind']}"
    sidecar = rendered.container()
    env = {e["name"]: e for e in sidecar["env"]}
    assert {"SIDECAR_OIDC_CLIENT_SECRET_FILE", "SIDECAR_SESSION_SECRET_FILE"} <= env.keys()
    mounts = {m["name"]: m["mountPath"] for m in sidecar["volumeMounts"]}
    for name in SECRET_ENVS & env.keys():
        assert env[name]["value"].startswith(mounts["secrets"] + "/")
    for name in ("SIDECAR_OIDC_CLIENT_SECRET", "SIDECAR_SESSION_SECRET"):
        assert name not in env, "a secret must come as a file, not a literal env value"
    if "SIDECAR_SESSION_REDIS_URL" in env:
        assert set(env["SIDECAR_SESSION_REDIS_URL"]) == {"name", "valueFrom"}
    secret_volume = next(v for v in rendered.pod_spec()["volumes"] if v["name"] == "secrets")
    assert secret_volume["secret"]["secretName"] == (
        values.get("existingSecret") or "demo-auth-sidecar"
    )


def test_chart_secret_holds_the_given_values() -> None:
    import base64

    secret_values = runtime_secrets()
    rendered = render({"secrets": secret_values})
    data = {k: base64.b64decode(v).decode() for k, v in rendered.one("Secret")["data"].items()}
    assert data == {
        "client-secret": secret_values["clientSecret"],
        "session-secret": secret_values["sessionSecret"],
        "assertion-signing-key": secret_values["assertionSigningKey"],
        "redis-url": secret_values["redisUrl"],
    }
    env = {e["name"]: e for e in rendered.container()["env"]}
    assert env["SIDECAR_SESSION_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "demo-auth-sidecar",
        "key": "redis-url",
    }


@pytest.mark.parametrize("values_file", SCENARIOS, ids=IDS)
def test_policy_in_configmap_equals_values(values_file: Path | None) -> None:
    values = load_values(values_file)
    merged = helm_python.Chart.load(CHART_DIR).merge_values(values)
    cfg = render(values).sidecar_config()
    if merged["routes"]:  # the route table replaces the shorthand's policy
        assert (cfg["routes"], "policy" in cfg) == (merged["routes"], False)
    else:
        assert cfg["policy"] == merged["config"]["policy"]
    assert cfg["oidc"]["issuer"] == merged["config"]["oidc"]["issuer"]
    assert cfg["public_url"] == merged["config"]["public_url"]
    assert "client_secret" not in cfg["oidc"]
    assert "secret" not in cfg["session"]


def test_sidecar_in_pod_has_two_containers_and_loopback_upstream() -> None:
    rendered = render(load_values(ci("sidecar-in-pod")))
    names = [c["name"] for c in rendered.pod_spec()["containers"]]
    assert names == ["auth-sidecar", "app"]
    assert rendered.sidecar_config()["upstream"] == "http://127.0.0.1:3000"
    app = rendered.container("app")
    assert "ports" not in app, "the app port must not be published: only the sidecar reaches it"
    service_ports = {p["name"] for p in rendered.one("Service")["spec"]["ports"]}
    assert service_ports == {"http", "admin"}


def test_standalone_upstream_is_the_service_url() -> None:
    rendered = render(load_values(ci("standalone")))
    assert [c["name"] for c in rendered.pod_spec()["containers"]] == ["auth-sidecar"]
    assert rendered.sidecar_config()["upstream"] == "http://web.apps.svc.cluster.local:8080"
    hpa = rendered.one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "demo-auth-sidecar"
    assert "replicas" not in rendered.one("Deployment")["spec"], "the HPA owns replicas"
    anti = rendered.pod_spec()["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in anti


def test_both_app_and_upstream_url_is_refused() -> None:
    values = load_values(ci("sidecar-in-pod"))
    values["upstreamUrl"] = "http://web.apps.svc:8080"
    with pytest.raises(helm_python.HelmError, match="not both"):
        render(values)


def test_schema_refuses_unknown_config_keys_and_weak_algorithms() -> None:
    chart = helm_python.Chart.load(CHART_DIR)
    with pytest.raises(helm_python.HelmValuesError):
        chart.validate_schema({"config": {"oidc": {"client_secret": "x"}}})
    with pytest.raises(helm_python.HelmValuesError):
        chart.validate_schema({"config": {"oidc": {"algorithms": "RS256,HS256"}}})
    with pytest.raises(helm_python.HelmValuesError):
        chart.validate_schema({"config": {"session": {"redis_url": "http://redis:6379"}}})


def test_sentinel_and_cluster_urls_reach_the_config() -> None:
    sentinel = render(load_values(ci("sentinel"))).sidecar_config()["session"]
    assert sentinel["redis_url"].startswith("redis+sentinel://")
    assert sentinel["redis_cluster"] is False
    cluster = render(load_values(ci("cluster"))).sidecar_config()["session"]
    assert cluster["redis_cluster"] is True


def test_existing_secret_renders_no_secret() -> None:
    rendered = render(load_values(ci("existing-secret")))
    assert rendered.of_kind("Secret") == []
    volume = next(v for v in rendered.pod_spec()["volumes"] if v["name"] == "secrets")
    assert volume["secret"]["secretName"] == "auth-sidecar-credentials"
    items = {i["path"]: i["key"] for i in volume["secret"]["items"]}
    assert items == {
        "client-secret": "oidc-client-secret",
        "session-secret": "session-secrets",
        "assertion-signing-key": "assertion-keys.pem",
    }
    env = {e["name"]: e for e in rendered.container()["env"]}
    assert env["SIDECAR_ASSERTION_SIGNING_KEY_FILE"]["value"].endswith("/assertion-signing-key")
    assert env["SIDECAR_SESSION_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "auth-sidecar-credentials",
        "key": "redis-url",
    }
    annotations = rendered.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/secret" not in annotations


def test_forward_auth_has_no_upstream_and_a_kong_plugin() -> None:
    rendered = render(load_values(ci("forward-auth")))
    assert "upstream" not in rendered.sidecar_config()
    plugins = {p["metadata"]["name"]: p for p in rendered.of_kind("KongPlugin")}
    forward = plugins["demo-auth-sidecar-forward-auth"]
    assert forward["apiVersion"] == "configuration.konghq.com/v1"
    assert forward["plugin"] == "auth-sidecar"
    assert forward["config"]["verify_url"] == "http://demo-auth-sidecar.apps.svc:80/.auth/verify"
    assert forward["config"]["login_path"] == "/.auth/login"
    assert forward["config"]["timeout_ms"] == 2000
    # The gateway strips what proxy mode strips: the configured cookie, Authorization.
    assert forward["config"]["cookie_name"] == "sidecar_session"
    assert forward["config"]["forward_token"] is False
    assert plugins["demo-auth-sidecar-rate-limiting"]["config"]["limit_by"] == "credential"
    ingress = rendered.one("Ingress")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/.auth"
    annotation = ingress["metadata"]["annotations"]["konghq.com/plugins"]
    assert "forward-auth" not in annotation, "the sidecar's own routes must not call itself"


def test_forward_auth_plugin_follows_the_cookie_name_and_forward_token() -> None:
    values = load_values(ci("forward-auth"))
    config = values.setdefault("config", {})
    config.setdefault("session", {})["cookie_name"] = "app_sess"
    config.setdefault("headers", {})["forward_token"] = True
    plugins = {p["metadata"]["name"]: p for p in render(values).of_kind("KongPlugin")}
    forward = plugins["demo-auth-sidecar-forward-auth"]["config"]
    assert (forward["cookie_name"], forward["forward_token"]) == ("app_sess", True)


@pytest.mark.parametrize("name", ["sidecar-in-pod", "standalone", "forward-auth"])
def test_kong_ingress(name: str) -> None:
    rendered = render(load_values(ci(name)))
    ingress = rendered.one("Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert ingress["spec"]["ingressClassName"] == "kong"
    assert annotations["konghq.com/strip-path"] in {"true", "false"}
    assert annotations["konghq.com/preserve-host"] == "true"
    declared = {p["metadata"]["name"] for p in rendered.of_kind("KongPlugin")}
    referenced = {p.strip() for p in annotations.get("konghq.com/plugins", "").split(",") if p}
    assert referenced <= declared
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "demo-auth-sidecar", "port": {"name": "http"}}


def test_standalone_strips_the_public_url_prefix() -> None:
    rendered = render(load_values(ci("standalone")))
    ingress = rendered.one("Ingress")
    assert ingress["metadata"]["annotations"]["konghq.com/strip-path"] == "true"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/app"
    assert rendered.sidecar_config()["public_url"].endswith("/app")


def test_network_policy_ports() -> None:
    policy = render({}).one("NetworkPolicy")
    rules = policy["spec"]["ingress"]
    by_port = {r["ports"][0]["port"]: r["from"][0] for r in rules}
    assert set(by_port) == {"http", "admin"}, "nothing else (the app port) may be reachable"
    assert by_port["http"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kong"
    }
    assert "prometheus" in str(by_port["admin"]["podSelector"])


def test_pdb_and_servicemonitor() -> None:
    rendered = render(load_values(ci("sidecar-in-pod")))
    pdb = rendered.one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == "demo"
    monitor = rendered.one("ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "admin"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_config_uses_only_contract_keys() -> None:
    rendered: Rendered = render(load_values(ci("standalone")))
    cfg = rendered.sidecar_config()
    top = {"oidc", "public_url", "listen", "admin_listen", "upstream", "trusted_proxies"}
    top |= {"session", "assertion", "headers", "log", "policy", "shutdown_grace_s"}
    top |= {"upstream_max_connections"}
    assert set(cfg) <= top
    assert cfg["upstream_max_connections"] == 1024  # the contract's default, as a value
    assert set(cfg["oidc"]) <= {
        "issuer",
        "client_id",
        "scopes",
        "audiences",
        "algorithms",
        "leeway_s",
    }
    assert set(cfg["session"]) <= {
        "redis_url",
        "redis_cluster",
        "cookie_name",
        "cookie_secure",
        "idle_ttl_s",
        "absolute_ttl_s",
        "refresh_margin_s",
    }
