"""`make deploy` and `make kind-up` run for real against stand-ins for docker, kind, kubectl,
helm and helmfile (none of which can run here), in a scratch copy of the files they use.

Checked: a missing tool stops the target before it does anything; the default environment
makes the secrets, builds and loads the image, and runs helmfile with the secrets in its
environment (and nothing but helmfile installs anything).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.charts import REPO

TOOLS = ["docker", "kind", "kubectl", "helm", "helmfile"]
STAND_IN = """#!/bin/sh
# Records the call; helmfile also records whether the generated secrets reached it.
echo "$(basename "$0") $*" >> "$CALLS"
if [ "$(basename "$0")" = helmfile ] && [ -n "${DEX_CLIENT_SECRET:-}" ]; then
  echo "helmfile saw DEX_CLIENT_SECRET" >> "$CALLS"
fi
"""


def scratch(tmp_path: Path, tools: list[str]) -> tuple[Path, dict[str, str]]:
    work = tmp_path / "repo"
    (work / "mk").mkdir(parents=True)
    shutil.copy(REPO / "mk" / "deploy.mk", work / "mk")
    shutil.copytree(REPO / "deploy", work / "deploy", symlinks=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        (bin_dir / tool).write_text(STAND_IN)
        (bin_dir / tool).chmod(0o755)
    # Only what a shell, make and the scripts need, plus the stand-ins: no real kind here.
    base = bin_dir.parent / "sys"
    base.mkdir()
    for needed in (
        "sh",
        "bash",
        "make",
        "openssl",
        "awk",
        "grep",
        "tr",
        "cut",
        "dirname",
        "mkdir",
        "cat",
        "basename",
        "python3",
        "htpasswd",
        "env",
    ):
        found = shutil.which(needed)
        if found:
            (base / needed).symlink_to(found)
    env = {
        "PATH": f"{bin_dir}:{base}",
        "HOME": str(tmp_path),
        "CALLS": str(tmp_path / "calls"),
        "DEPLOY_PYTHON": str(REPO / ".venv" / "bin" / "python"),
    }
    return work, env


def make(work: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    make_bin = shutil.which("make")
    if make_bin is None:
        pytest.skip("make is not installed")
    return subprocess.run(
        [make_bin, "-f", "mk/deploy.mk", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def calls(env: dict[str, str]) -> list[str]:
    path = Path(env["CALLS"])
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("missing", TOOLS)
def test_deploy_checks_every_tool_before_it_starts(tmp_path: Path, missing: str) -> None:
    work, env = scratch(tmp_path, [t for t in TOOLS if t != missing])
    run = make(work, env, "deploy")
    assert run.returncode != 0
    assert f"missing tool: {missing}" in run.stderr
    assert calls(env) == [], "nothing ran"
    assert not (work / ".run").exists(), "no secrets made"


def test_production_deploy_needs_neither_docker_nor_kind(tmp_path: Path) -> None:
    work, env = scratch(tmp_path, ["kubectl", "helm", "helmfile"])
    run = make(work, env, "deploy", "HELMFILE_ENV=production")
    assert run.returncode == 0, run.stderr
    assert calls(env) == ["helmfile -e production apply"]


def test_default_deploy_is_secrets_image_then_helmfile_alone(tmp_path: Path) -> None:
    work, env = scratch(tmp_path, TOOLS)
    run = make(work, env, "deploy")
    assert run.returncode == 0, run.stderr
    assert calls(env) == [
        "docker build -t auth-sidecar:dev .",
        "kind load docker-image auth-sidecar:dev --name auth-sidecar",
        "helmfile -e default apply",
        "helmfile saw DEX_CLIENT_SECRET",
    ]
    assert (work / ".run" / "deploy.env").is_file()
    assert "demo login: admin-dex@example.com / " in run.stderr


def test_kind_up_checks_its_tools(tmp_path: Path) -> None:
    work, env = scratch(tmp_path, ["docker", "kubectl"])
    run = make(work, env, "kind-up")
    assert "missing tool: kind" in run.stderr
    assert calls(env) == []
