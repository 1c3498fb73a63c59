"""Kong: the Lua plugin's busted suite (stubbed PDK) and the DB-less declarative files."""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.contract_headers import INJECTED

REPO = Path(__file__).resolve().parents[2]
KONG = REPO / "kong"
PLUGIN = KONG / "plugins" / "auth-sidecar"
# The contract's identity headers that the sidecar answers /.auth/verify with.
IDENTITY_HEADERS = set(INJECTED)


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((KONG / name).read_text())
    return doc


def plugins_of(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p.get("config", {}) for p in service.get("plugins", [])}


def test_busted_suite_passes() -> None:
    busted = shutil.which("busted")
    if busted is None:
        pytest.skip("busted is not installed (Debian lua-busted; `make deps` installs it)")
    run = subprocess.run(
        [busted, "--output=plainTerminal", "kong/spec"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = re.search(r"(\d+) successes / (\d+) failures / (\d+) errors", run.stdout)
    assert summary, run.stdout
    successes, failures, errors = map(int, summary.groups())
    assert successes >= 10
    assert (failures, errors) == (0, 0)


def test_plugin_layout_and_priority() -> None:
    handler = (PLUGIN / "handler.lua").read_text()
    assert (PLUGIN / "schema.lua").is_file()
    assert re.search(r"PRIORITY\s*=\s*1010\b", handler)
    assert "kong.client.authenticate(nil, { id = subject })" in handler
    for header in IDENTITY_HEADERS:
        assert f'"{header}"' in handler, header


@pytest.mark.parametrize("name", ["kong.yaml", "kong-forward-auth.yaml"])
def test_declarative_files_are_db_less_3_0(name: str) -> None:
    doc = load(name)
    assert doc["_format_version"] == "3.0"
    for service in doc["services"]:
        assert service["url"].startswith("http")
        for route in service["routes"]:
            assert route["paths"]
            assert route["preserve_host"] is True


def test_proxy_mode_routes_everything_to_the_sidecar() -> None:
    (service,) = load("kong.yaml")["services"]
    assert service["url"] == "http://auth-sidecar:8080"
    assert service["routes"][0]["strip_path"] is False
    assert "auth-sidecar" not in plugins_of(service)


def test_forward_auth_mode_guards_the_app_only() -> None:
    services = {s["name"]: s for s in load("kong-forward-auth.yaml")["services"]}
    assert "auth-sidecar" not in plugins_of(services["auth-sidecar"]), "it would call itself"
    app_plugins = plugins_of(services["app"])
    assert app_plugins["auth-sidecar"]["verify_url"].endswith("/.auth/verify")
    assert app_plugins["rate-limiting"]["limit_by"] == "credential"


def docker_runs(text: str) -> list[list[str]]:
    """The `docker run` commands in a file's comments or a Markdown code block, as argv."""
    lines = [re.sub(r"^\s*#?\s*", "", line) for line in text.splitlines()]
    commands, current = [], ""
    for line in lines:
        if current or line.startswith("docker run"):
            current += " " + line.rstrip("\\").strip()
            if not line.endswith("\\"):
                commands.append(shlex.split(current.replace("$PWD", str(REPO))))
                current = ""
    return commands


def run_options(argv: list[str]) -> tuple[dict[str, str], dict[str, Path]]:
    """The `-e NAME=VALUE` environment and the `-v HOST:CONTAINER[:ro]` mounts of a docker run."""
    env: dict[str, str] = {}
    mounts: dict[str, Path] = {}
    for flag, value in itertools.pairwise(argv):
        if flag == "-e":
            name, _, val = value.partition("=")
            env[name] = val
        elif flag == "-v":
            host, container, *_ = value.split(":")
            mounts[container] = Path(host)
    return env, mounts


def in_container(path: str, mounts: dict[str, Path]) -> Path | None:
    """The host file a container path is, through the mounts (None: not mounted)."""
    for container, host in mounts.items():
        if path == container or path.startswith(container.rstrip("/") + "/"):
            return host / path[len(container) :].lstrip("/")
    return None


def lua_search(module: str, package_path: str, mounts: dict[str, Path]) -> Path | None:
    """Lua's package.searchpath: each `;` template with `?` as the module's dotted name."""
    for template in package_path.split(";"):
        if not template:
            continue  # ";;" is Lua's default path: Kong's own modules, not ours
        found = in_container(template.replace("?", module.replace(".", "/")), mounts)
        if found is not None and found.is_file():
            return found
    return None


DOCUMENTED_RUNS = [KONG / "kong.yaml", KONG / "kong-forward-auth.yaml", REPO / "docs/deploy.md"]


@pytest.mark.parametrize("path", DOCUMENTED_RUNS, ids=lambda p: p.name)
def test_documented_docker_runs_find_their_files(path: Path) -> None:
    runs = docker_runs(path.read_text())
    assert runs, f"no docker run in {path.name}"
    for argv in runs:
        env, mounts = run_options(argv)
        declarative = in_container(env["KONG_DECLARATIVE_CONFIG"], mounts)
        assert declarative is not None, argv
        assert declarative.is_file(), argv
        if "auth-sidecar" not in env.get("KONG_PLUGINS", ""):
            continue
        for part in ("handler", "schema"):
            module = f"kong.plugins.auth-sidecar.{part}"
            found = lua_search(module, env["KONG_LUA_PACKAGE_PATH"], mounts)
            assert found == PLUGIN / f"{part}.lua", f"{module} not found by {argv}"
