"""The `auth-sidecar` command, run for real as a subprocess: exit codes, redaction, gen-secret,
and that a bad configuration binds nothing."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar.cli import REDACTED, effective_document, redact_url
from sidecar.config.settings import load_settings
from tests.config.test_settings import (
    CLIENT_SECRET,
    DROP,
    ERROR_CASES,
    ec_key_pem,
    session_secret,
    write_config,
)

BIN = Path(sys.executable).parent
AUTH_SIDECAR = str(BIN / "auth-sidecar")


def run(
    args: list[str], env: dict[str, str] | None = None, *, module: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the command with the test's environment minus any SIDECAR_* variable."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
    command = [sys.executable, "-m", "sidecar", *args] if module else [AUTH_SIDECAR, *args]
    return subprocess.run(
        command, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("patch", "env", "key", "env_var"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_check_config_exits_2_naming_key_and_env(
    tmp_path: Path, patch: dict[str, Any], env: dict[str, str], key: str, env_var: str
) -> None:
    result = run(["check-config", "--config", write_config(tmp_path, patch)], env)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(key)
    assert env_var in lines[0]
    assert CLIENT_SECRET not in result.stderr


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    required = [
        "oidc.issuer",
        "oidc.client_id",
        "oidc.client_secret",
        "public_url",
        "session.secret",
    ]
    config_file = write_config(tmp_path, dict.fromkeys(required, DROP))
    result = run(["check-config", "--config", config_file], {"SIDECAR_OIDC_ALGORITHMS": "none"})
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 6
    for key in [*required, "oidc.algorithms"]:
        env_var = "SIDECAR_" + key.upper().replace(".", "_")
        assert any(line.startswith(f"{key} ({env_var}): ") for line in lines), key


def test_check_config_prints_effective_settings_with_secrets_redacted(tmp_path: Path) -> None:
    first, second = session_secret(), session_secret()
    signing_keys = ec_key_pem() + ec_key_pem()
    (tmp_path / "session-secret").write_text(f"{first},{second}\n")
    (tmp_path / "signing-key").write_text(signing_keys)
    config_file = write_config(
        tmp_path,
        {
            "session.secret": DROP,
            "assertion.signing_key_file": str(tmp_path / "signing-key"),
            "policy": [{"path": "/admin", "groups": ["admins"]}, {"path": "/", "allow": "public"}],
        },
    )
    env = {
        "SIDECAR_SESSION_SECRET_FILE": str(tmp_path / "session-secret"),
        "SIDECAR_SESSION_REDIS_URL": "redis://sidecar:redis-pass-xyz@127.0.0.1:6379/0",
    }
    result = run(["check-config", "--config", config_file], env)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    key_lines = [line for line in signing_keys.splitlines() if "-----" not in line]
    for secret in (CLIENT_SECRET, first, second, "redis-pass-xyz", *key_lines):
        assert secret not in output
    document = yaml.safe_load(result.stdout)
    assert document["oidc"]["client_secret"] == REDACTED
    assert document["session"]["secret"] == [REDACTED, REDACTED]
    assert document["session"]["redis_url"] == f"redis://sidecar:{REDACTED}@127.0.0.1:6379/0"
    assert document["assertion"]["signing_key"] == [REDACTED, REDACTED]
    assert document["oidc"]["client_id"] == "sidecar"
    assert document["upstream_max_connections"] == 1024
    assert document["policy"] == [
        {"path": "/admin", "groups": ["admins"]},
        {"path": "/", "allow": "public"},
    ]


def test_printed_settings_load_back_to_the_same_settings(tmp_path: Path) -> None:
    """The redacted document is a valid config: with the secrets given again, it round-trips."""
    key, secret = ec_key_pem(), session_secret()
    patch = {
        "session.secret": secret,
        "assertion.signing_key": key,
        "session.redis_url": "redis+sentinel://:pw@127.0.0.1:26379/mymaster/1",
        "trusted_proxies": "10.0.0.0/8",
        "listen": "[::1]:8443",
        "policy": [{"path": "/r", "emails": ["a@b.c"], "email_domains": ["d.e"]}],
        "oidc.end_session": "off",
        "session.cache_s": 2,
        "session.min_replicas": 2,
        "session.replica_wait_ms": 40,
        "token_exchange.audiences": "https://b.example.com,https://c.example.com",
        "token_exchange.allowed_peers": "10.1.0.0/16",
        "token_exchange.ttl_s": 20,
        "trusted_issuers": [
            {"issuer": "https://a.example.com", "jwks_url": "https://a.example.com/.auth/jwks"}
        ],
        "tracing.enabled": False,
    }
    original = load_settings(write_config(tmp_path, patch), {})
    printed = tmp_path / "printed.yaml"
    printed.write_text(yaml.safe_dump(effective_document(original)))
    secrets_env = {
        "SIDECAR_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "SIDECAR_SESSION_SECRET": secret,
        "SIDECAR_ASSERTION_SIGNING_KEY": key,
        "SIDECAR_SESSION_REDIS_URL": "redis+sentinel://:pw@127.0.0.1:26379/mymaster/1",
    }
    assert load_settings(str(printed), secrets_env) == original


@pytest.mark.parametrize(
    "args",
    [
        ["--config", "{file}", "check-config"],
        ["check-config", "--config", "{file}"],
        ["check-config"],  # SIDECAR_CONFIG
    ],
    ids=["before", "after", "env"],
)
def test_config_option_before_or_after_the_command(tmp_path: Path, args: list[str]) -> None:
    config_file = write_config(tmp_path, {"oidc.client_id": "from-the-file"})
    result = run([a.format(file=config_file) for a in args], {"SIDECAR_CONFIG": config_file})
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["oidc"]["client_id"] == "from-the-file"


def test_python_dash_m_sidecar_is_the_same_command(tmp_path: Path) -> None:
    result = run(
        ["check-config", "--config", write_config(tmp_path, {"oidc.issuer": DROP})], module=True
    )
    assert result.returncode == 2
    assert result.stderr == "oidc.issuer (SIDECAR_OIDC_ISSUER): required\n"


def test_env_wins_over_the_file_through_the_command(tmp_path: Path) -> None:
    config_file = write_config(tmp_path, {"log.level": "debug"})
    result = run(["check-config", "--config", config_file], {"SIDECAR_LOG_LEVEL": "error"})
    assert yaml.safe_load(result.stdout)["log"]["level"] == "error"


def test_gen_secret_is_32_random_bytes_of_unpadded_base64url() -> None:
    outputs = [run(["gen-secret"]) for _ in range(2)]
    values = []
    for result in outputs:
        assert result.returncode == 0
        text = result.stdout.strip()
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", text), "unpadded url-safe base64"
        values.append(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    assert [len(v) for v in values] == [32, 32]
    assert values[0] != values[1]


def test_gen_secret_output_is_accepted_as_session_secret(tmp_path: Path) -> None:
    secret = run(["gen-secret"]).stdout.strip()
    config_file = write_config(tmp_path, {"session.secret": secret})
    assert run(["check-config", "--config", config_file]).returncode == 0


def test_unknown_command_exits_2() -> None:
    assert run(["frobnicate"]).returncode == 2


# Loaded into the command's own interpreter (via PYTHONPATH) and writes to $BIND_LOG every
# socket bind Python sees (PEP 578 audit hook) and, at exit, which server modules were loaded:
# uvloop binds inside libuv, unseen by the hook, but nothing binds without the server module.
SITECUSTOMIZE = """
import atexit, os, sys
_log = os.environ.get("BIND_LOG")
def _write(line):
    with open(_log, "a") as out:
        out.write(line + "\\n")
def _audit(event, args):
    if event == "socket.bind":
        _write(f"bind {args[1]!r}")
def _at_exit():
    for name in ("sidecar.serve", "aiohttp.web", "uvloop"):
        if name in sys.modules:
            _write(f"loaded {name}")
if _log:
    sys.addaudithook(_audit)
    atexit.register(_at_exit)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_bad_config_exits_2_without_binding(tmp_path: Path) -> None:
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "binds.log"
    port, admin_port = _free_port(), _free_port()
    env = {
        "PYTHONPATH": str(hook_dir),
        "BIND_LOG": str(log),
        "SIDECAR_LISTEN": f"127.0.0.1:{port}",
        "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{admin_port}",
    }
    # The hook works: a process that loads the server and binds is seen doing both.
    script = f"import socket, sidecar.serve; socket.socket().bind(('127.0.0.1', {port}))"
    subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, **env}, timeout=60, check=True
    )
    seen = log.read_text().splitlines()
    assert f"bind ('127.0.0.1', {port})" in seen
    assert "loaded sidecar.serve" in seen
    log.unlink()

    config_file = write_config(tmp_path, {"session.secret": DROP})
    result = run(["--config", config_file], env)  # serve, the default command
    assert result.returncode == 2
    assert result.stderr.startswith("session.secret (SIDECAR_SESSION_SECRET): required")
    assert not log.exists() or log.read_text() == ""
    with socket.socket() as again:  # and the port is still ours to take
        again.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:pw@h:6379", f"redis://:{REDACTED}@h:6379"),
        ("rediss://user:pw@h:6380/1", f"rediss://user:{REDACTED}@h:6380/1"),
        ("redis://user@h", "redis://user@h"),
        ("redis+sentinel://:p@ss@s1:1,s2:2/svc", f"redis+sentinel://:{REDACTED}@s1:1,s2:2/svc"),
        ("redis://h/0?password=pw&db=1", f"redis://h/0?password={REDACTED}&db=1"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted
