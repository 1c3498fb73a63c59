"""The keys of the session list and userinfo issue: `admin.token` (and `admin.token_file`),
`oidc.userinfo`: defaults, env forms, errors that never show the token, and `check-config`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sidecar.cli import REDACTED, effective_document
from sidecar.config.settings import load_settings
from tests.config.test_settings import problems_of, write_config
from tests.fixtures.sidecar import new_secret
from tests.test_cli import run

TOKEN = "a-long-enough-operator-token-0123"


def test_defaults_are_off(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path), environ={})
    assert settings.admin_token is None
    assert settings.oidc.userinfo is False


def test_yaml_env_and_file_forms(tmp_path: Path) -> None:
    patch = {"admin.token": TOKEN, "oidc.userinfo": True}
    settings = load_settings(write_config(tmp_path, patch), environ={})
    assert (settings.admin_token, settings.oidc.userinfo) == (TOKEN, True)
    env = {"SIDECAR_ADMIN_TOKEN": TOKEN + "-env", "SIDECAR_OIDC_USERINFO": "false"}
    settings = load_settings(write_config(tmp_path, patch), environ=env)
    assert (settings.admin_token, settings.oidc.userinfo) == (TOKEN + "-env", False)
    secret = tmp_path / "admin-token"
    secret.write_text(TOKEN + "-file\n")  # a Secret mount, trailing newline and all
    settings = load_settings(write_config(tmp_path), {"SIDECAR_ADMIN_TOKEN_FILE": str(secret)})
    assert settings.admin_token == TOKEN + "-file"
    config = write_config(tmp_path, {"admin.token_file": str(secret)})
    assert load_settings(config, environ={}).admin_token == TOKEN + "-file"


@pytest.mark.parametrize(
    ("patch", "env", "key"),
    [
        ({"admin.token": "short"}, {}, "admin.token (SIDECAR_ADMIN_TOKEN)"),
        ({"admin.token": "with a space in it ok"}, {}, "admin.token (SIDECAR_ADMIN_TOKEN)"),
        ({}, {"SIDECAR_ADMIN_TOKEN_FILE": "/nonexistent"}, "admin.token_file"),
        ({"admin.token": TOKEN, "admin.token_file": "/x"}, {}, "admin.token"),
        ({"oidc.userinfo": "sometimes"}, {}, "oidc.userinfo (SIDECAR_OIDC_USERINFO)"),
        ({"admin.tokn": TOKEN}, {}, "admin.tokn"),
    ],
    ids=["short", "space", "unreadable-file", "both-forms", "not-a-bool", "unknown-key"],
)
def test_errors_name_the_key_never_the_token(
    tmp_path: Path, patch: dict[str, object], env: dict[str, str], key: str
) -> None:
    problems = problems_of(write_config(tmp_path, patch), env)
    assert len(problems) == 1, problems
    assert problems[0].startswith(key)
    assert "operator-token" not in problems[0]
    assert "short" not in problems[0].split(":", 1)[1]


def test_check_config_redacts_the_admin_token(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"oidc.userinfo": True})
    result = run(["check-config", "--config", config], {"SIDECAR_ADMIN_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    document = yaml.safe_load(result.stdout)
    assert document["admin"] == {"token": REDACTED}
    assert document["oidc"]["userinfo"] is True


def test_printed_settings_load_back(tmp_path: Path) -> None:
    secret = new_secret()
    patch = {"oidc.userinfo": True, "admin.token": TOKEN, "session.secret": secret}
    original = load_settings(write_config(tmp_path, patch), {})
    printed = tmp_path / "printed.yaml"
    printed.write_text(yaml.safe_dump(effective_document(original)))
    secrets_env = {
        "SIDECAR_OIDC_CLIENT_SECRET": original.oidc.client_secret,
        "SIDECAR_SESSION_SECRET": secret,
        "SIDECAR_ADMIN_TOKEN": TOKEN,
    }
    assert load_settings(str(printed), secrets_env) == original
