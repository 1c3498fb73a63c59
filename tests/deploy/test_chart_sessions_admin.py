"""The chart exposes `admin.token` (the admin listener's session administration) only through
a Secret, as a file named by `SIDECAR_ADMIN_TOKEN_FILE`, and passes `oidc.userinfo` through its
schema; the sidecar's own loader accepts what it renders."""

from __future__ import annotations

import base64
import copy
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar.config.settings import load_settings
from tests.deploy.charts import load_values, render, runtime_secrets
from tests.deploy.test_chart import ci

helm_python = pytest.importorskip("helm_python", reason="PyPI helm-python-sdk (dev extras)")

MOUNT = "/etc/auth-sidecar/secrets"


def env_of(rendered: Any) -> dict[str, Any]:
    return {e["name"]: e for e in rendered.container()["env"]}


def test_admin_token_comes_from_the_charts_secret_as_a_file() -> None:
    token = "admin-" + secrets.token_urlsafe(24)
    values = {"secrets": {**runtime_secrets(), "adminToken": token}}
    rendered = render(values)
    data = rendered.one("Secret")["data"]
    assert base64.b64decode(data["admin-token"]).decode() == token
    env = env_of(rendered)
    assert env["SIDECAR_ADMIN_TOKEN_FILE"] == {
        "name": "SIDECAR_ADMIN_TOKEN_FILE",
        "value": f"{MOUNT}/admin-token",
    }
    assert "SIDECAR_ADMIN_TOKEN" not in env
    volume = next(v for v in rendered.pod_spec()["volumes"] if v["name"] == "secrets")
    assert {"key": "admin-token", "path": "admin-token"} in volume["secret"]["items"]
    for doc in rendered.docs:
        if doc["kind"] != "Secret":
            assert token not in yaml.safe_dump(doc), doc["kind"]


def test_without_a_token_session_administration_stays_off() -> None:
    rendered = render({"secrets": runtime_secrets()})
    assert "admin-token" not in rendered.one("Secret")["data"]
    assert "SIDECAR_ADMIN_TOKEN_FILE" not in env_of(rendered)


def test_an_existing_secret_names_its_admin_token_key() -> None:
    values = copy.deepcopy(load_values(ci("existing-secret")))
    values["secretKeys"]["adminToken"] = "ops-admin-token"
    rendered = render(values)
    assert rendered.of_kind("Secret") == []
    volume = next(v for v in rendered.pod_spec()["volumes"] if v["name"] == "secrets")
    items = {i["path"]: i["key"] for i in volume["secret"]["items"]}
    assert items["admin-token"] == "ops-admin-token"
    assert env_of(rendered)["SIDECAR_ADMIN_TOKEN_FILE"]["value"] == f"{MOUNT}/admin-token"
    without = render(load_values(ci("existing-secret")))
    assert "SIDECAR_ADMIN_TOKEN_FILE" not in env_of(without)


def test_userinfo_and_the_token_render_and_load(tmp_path: Path) -> None:
    values = copy.deepcopy(load_values(ci("standalone")))
    values.setdefault("config", {}).setdefault("oidc", {})["userinfo"] = True
    token = "admin-" + secrets.token_urlsafe(24)
    values["secrets"] = {**runtime_secrets(), "adminToken": token}
    rendered = render(values)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(rendered.sidecar_config()))
    token_file = tmp_path / "admin-token"
    token_file.write_text(token)
    env = {
        "SIDECAR_OIDC_CLIENT_SECRET": "x",
        "SIDECAR_SESSION_SECRET": "k" * 43,
        "SIDECAR_ADMIN_TOKEN_FILE": str(token_file),
    }
    settings = load_settings(str(config), env)
    assert settings.oidc.userinfo is True
    assert settings.admin_token == token


def test_schema_refuses_a_non_boolean_userinfo() -> None:
    values = copy.deepcopy(load_values(ci("standalone")))
    values.setdefault("config", {}).setdefault("oidc", {})["userinfo"] = "yes"
    with pytest.raises(helm_python.HelmValuesError, match="userinfo"):
        render(values)
