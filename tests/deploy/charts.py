"""Render the auth-sidecar chart offline with Helm's Go SDK (PyPI helm-python-sdk).

There is no helm binary here: `helm_python` binds libhelm (the same Go code `helm template` and
`helm lint` run), so what renders here is what a cluster would be sent.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "charts" / "auth-sidecar"
CI_VALUES = sorted((CHART_DIR / "ci").glob("*-values.yaml"))
KUBE_VERSION = "1.30.0"
RELEASE = "demo"
NAMESPACE = "apps"
# Custom resources: their schemas are not part of Kubernetes' OpenAPI, so kubernetes-validate
# cannot check them; the tests check their shape by hand instead.
CRD_GROUPS = ("configuration.konghq.com/", "monitoring.coreos.com/")


@dataclass(frozen=True)
class Rendered:
    """The manifests of one render, indexed by kind."""

    docs: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, got {len(found)}"
        return found[0]

    def pod_spec(self) -> dict[str, Any]:
        return self.one("Deployment")["spec"]["template"]["spec"]

    def container(self, name: str = "auth-sidecar") -> dict[str, Any]:
        return next(c for c in self.pod_spec()["containers"] if c["name"] == name)

    def sidecar_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = yaml.safe_load(self.one("ConfigMap")["data"]["config.yaml"])
        return cfg


def load_values(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    values: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    return values


def runtime_secrets() -> dict[str, str]:
    """Secret values made at run time (never committed), recognisable in the output."""
    return {
        "clientSecret": "client-" + secrets.token_urlsafe(24),
        "sessionSecret": secrets.token_urlsafe(32) + "," + secrets.token_urlsafe(32),
        "assertionSigningKey": "-----BEGIN EC PRIVATE KEY-----\n"
        + secrets.token_urlsafe(48)
        + "\n-----END EC PRIVATE KEY-----\n",
        "redisUrl": f"redis://:{secrets.token_urlsafe(16)}@redis.auth.svc:6379/0",
    }


def render(values: dict[str, Any]) -> Rendered:
    import helm_python

    helm_python.validate_release_name(RELEASE)
    chart = helm_python.Chart.load(CHART_DIR)
    out = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return Rendered(docs)


def is_crd(doc: dict[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith(CRD_GROUPS)
