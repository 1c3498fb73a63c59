"""nginx as the gateway in front of the sidecar (Kong cannot run here; nginx stands in).

`start_nginx(mode, ...)` writes tests/deploy/nginx/<mode>.conf into its own prefix under a tmp
dir and runs `nginx -p PREFIX -c CONF` in the foreground (daemon off), on a free loopback port.
`spawn_sidecar_cli(config)` runs the console script `auth-sidecar --config FILE`, as the image does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.fixtures.ports import free_port
from tests.fixtures.procs import start_process

CONF_DIR = Path(__file__).resolve().parent / "nginx"
NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx")


def nginx_binary() -> str | None:
    for candidate in NGINX_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def render_conf(mode: str, prefix: Path, substitutions: dict[str, str]) -> Path:
    # Workers of a root master run as `nobody` and could not enter the 0700 tmp dir.
    user = "user root root;" if os.geteuid() == 0 else ""
    prefix.mkdir(parents=True, exist_ok=True)
    values = {"@PREFIX@": str(prefix), "@USER@": user, **substitutions}
    for name in ("common.conf", f"{mode}.conf"):
        text = (CONF_DIR / name).read_text()
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        (prefix / name).write_text(text)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    (prefix / "logs").mkdir(exist_ok=True)  # nginx opens logs/error.log before reading the conf
    return prefix / f"{mode}.conf"


def start_nginx(binary: str, mode: str, prefix: Path, port: int, **ports: int) -> Gateway:
    substitutions = {"@PORT@": str(port)}
    substitutions |= {f"@{name.upper()}@": str(value) for name, value in ports.items()}
    conf = render_conf(mode, prefix, substitutions)
    check = subprocess.run(
        [binary, "-t", "-p", str(prefix), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    log_path = prefix / "nginx.log"
    process, _ = start_process(
        [binary, "-p", str(prefix), "-c", str(conf)],
        log_path=log_path,
        ready=lambda line: "start worker process" in line,
        timeout_s=20,
    )
    return Gateway(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)


@dataclass
class CliSidecar:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def spawn_sidecar_cli(config: dict[str, Any], workdir: Path) -> CliSidecar:
    config_path = workdir / "sidecar.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log_path = workdir / "sidecar.log"
    script = Path(sys.executable).parent / "auth-sidecar"
    process, _ = start_process(
        [str(script), "--config", str(config_path)],
        log_path=log_path,
        ready=lambda line: '"serving"' in line,
        timeout_s=30,
        env={k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")},
    )
    return CliSidecar(url="http://" + config["listen"], process=process, log_path=log_path)


def reserve_port() -> int:
    return free_port()
