"""The image: the Dockerfile's shape, and its command line run from the installed package
against the configuration the chart renders (no Docker daemon here: the same console script
that the image's ENTRYPOINT names is run from .venv)."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.charts import CI_VALUES, REPO, load_values, render

DOCKERFILE = REPO / "Dockerfile"
SECRET_DIR_IN_POD = "/etc/auth-sidecar/secrets"


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages of (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            found.append([])
        if found:
            found[-1].append((instruction.upper(), args.strip()))
    return found


def final(instruction: str) -> list[str]:
    return [args for ins, args in stages()[-1] if ins == instruction]


def exec_form(instruction: str) -> list[str]:
    (args,) = final(instruction)[-1:]
    parsed = json.loads(args)
    assert isinstance(parsed, list), f"{instruction} must use the exec (JSON) form"
    return [str(a) for a in parsed]


def installed_command(argv: list[str]) -> list[str]:
    """The image runs the console script from its venv; here, the same script from .venv."""
    script = Path(sys.executable).parent / argv[0]
    if not script.exists():
        pytest.fail(f"{argv[0]} is not installed in {script.parent} (pip install -e .)")
    return [str(script), *argv[1:]]


def test_multi_stage_pinned_slim_base() -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", text)
    assert base, "the base image is one ARG, used by both stages"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base[1])
    froms = [args for stage in stages() for ins, args in stage if ins == "FROM"]
    assert len(froms) >= 2
    assert all(f.split()[0] == "${PYTHON_IMAGE}" for f in froms)


def test_final_stage_runtime_only() -> None:
    final_text = " ".join(args for _, args in stages()[-1])
    for compiler in ("build-essential", "gcc", "apt-get install"):
        assert compiler not in final_text
    assert final("COPY") == ["--from=builder /opt/venv /opt/venv"]
    builder_text = " ".join(args for _, args in stages()[0])
    assert "requirements.lock" in builder_text
    assert "--constraint requirements.lock" in builder_text


def test_user_ports_entrypoint() -> None:
    (user,) = final("USER")
    uid = user.split(":")[0]
    assert uid.isdigit()
    assert int(uid) >= 10000
    assert sorted(" ".join(final("EXPOSE")).split()) == ["8080", "9090"]
    assert exec_form("ENTRYPOINT") == ["auth-sidecar"]


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in lines, "deny by default"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "requirements.lock", "README.md", "sidecar"}


def write_runtime_secrets(directory: Path) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    values = {
        "client-secret": "cs-" + secrets.token_urlsafe(16),
        "session-secret": secrets.token_urlsafe(32),
        "assertion-signing-key": key.decode(),
    }
    for name, value in values.items():
        (directory / name).write_text(value)
    return values


def pod_environment(rendered_env: list[dict[str, Any]], secret_dir: Path) -> dict[str, str]:
    """The container's env as the kubelet would set it, with the Secret mount at secret_dir."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(secret_dir),
        "SIDECAR_ASSERTION_SIGNING_KEY_FILE": str(secret_dir / "assertion-signing-key"),
    }
    for item in rendered_env:
        if "value" in item:
            env[item["name"]] = item["value"].replace(SECRET_DIR_IN_POD, str(secret_dir))
        else:  # a secretKeyRef: the only one the chart makes is the Redis URL
            assert item["name"] == "SIDECAR_SESSION_REDIS_URL"
            env[item["name"]] = f"redis://:{secrets.token_hex(8)}@redis.auth.svc:6379/0"
    return env


@pytest.mark.parametrize(
    "values_file",
    [None, *CI_VALUES],
    ids=["default", *(p.name.removesuffix("-values.yaml") for p in CI_VALUES)],
)
def test_image_command_checks_the_chart_config(tmp_path: Path, values_file: Path | None) -> None:
    rendered = render(load_values(values_file))
    config = tmp_path / "config.yaml"
    config.write_text(rendered.one("ConfigMap")["data"]["config.yaml"])
    secret_values = write_runtime_secrets(tmp_path)
    container = rendered.container()
    argv = [*exec_form("ENTRYPOINT"), *exec_form("CMD"), *container["args"], "check-config"]
    argv = [a.replace("/etc/auth-sidecar/config.yaml", str(config)) for a in argv]
    run = subprocess.run(
        installed_command(argv),
        env=pod_environment(container["env"], tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    effective = yaml.safe_load(run.stdout)
    expected = yaml.safe_load(config.read_text())
    assert effective["oidc"]["issuer"] == expected["oidc"]["issuer"]
    assert effective.get("upstream") == expected.get("upstream")
    for value in secret_values.values():
        assert value.strip() not in run.stdout, "check-config must redact secrets"
