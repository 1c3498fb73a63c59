"""Read helmfile.yaml and render its .gotmpl values files without the helmfile binary.

helmfile renders values files with Go templates (sprig plus requiredEnv/env). Helm's engine is
the same Go template engine with sprig, minus the environment functions, so a scratch chart
renders them once `requiredEnv "X"` is replaced by a marker value `env-X` (and `env "X"` by
""). The markers show in the output exactly where a value came from the environment.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.charts import REPO

HELMFILE = REPO / "helmfile.yaml"
REQUIRED_ENV = re.compile(r'requiredEnv\s+"(\w+)"')
OPTIONAL_ENV = re.compile(r'\benv\s+"(\w+)"')


def env_marker(name: str) -> str:
    return f"env-{name}"


def helmfile_docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(HELMFILE.read_text()) if d]


def releases() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for doc in helmfile_docs():
        found.extend(doc.get("releases", []))
    return found


def release(name: str) -> dict[str, Any]:
    return next(r for r in releases() if r["name"] == name)


def environments() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for doc in helmfile_docs():
        merged.update(doc.get("environments", {}))
    return merged


def render_gotmpl(path: Path, values: dict[str, Any], env: dict[str, str] | None = None) -> str:
    """`env` gives values to `env "X"` (optional variables); the others render as ""."""
    import helm_python

    given = env or {}
    source = REQUIRED_ENV.sub(lambda m: f'"{env_marker(m[1])}"', path.read_text())
    source = OPTIONAL_ENV.sub(lambda m: json.dumps(given.get(m[1], "")), source)
    with tempfile.TemporaryDirectory() as tmp:
        chart = Path(tmp) / "scratch"
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text("apiVersion: v2\nname: scratch\nversion: 0.0.1\n")
        (chart / "templates" / "values.yaml").write_text(source)
        out = helm_python.Chart.load(chart).render(values, name="scratch", namespace="scratch")
    return next(iter(out.values()))


def load_values_file(
    path: Path, env_values: dict[str, Any], env: dict[str, str] | None = None
) -> dict[str, Any]:
    gotmpl = path.suffix == ".gotmpl"
    text = render_gotmpl(path, env_values, env) if gotmpl else path.read_text()
    loaded: dict[str, Any] = yaml.safe_load(text) or {}
    return loaded


def environment_values(name: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for rel in environments()[name]["values"]:
        merged.update(load_values_file(REPO / rel, {}, env))
    return merged


def release_values(
    name: str, environment: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    env_values = environment_values(environment, env)
    merged: dict[str, Any] = {}
    for rel in release(name).get("values", []):
        merged.update(load_values_file(REPO / rel, env_values, env))
    return merged
