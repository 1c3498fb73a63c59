"""No secret literal in any committed deployment file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.deploy.charts import REPO
from tests.deploy.secret_scan import scan_file

SCANNED = ["charts", "deploy", "kong", "helmfile.yaml", "Dockerfile", "mk", "docs/deploy.md"]


def committed_and_pending_files() -> list[Path]:
    """The files git knows or would add under the scanned paths (ignored files excluded)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *SCANNED],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [REPO / line for line in out.splitlines() if (REPO / line).is_file()]


def test_scans_something() -> None:
    files = committed_and_pending_files()
    assert any(p.name == "helmfile.yaml" for p in files)
    assert any(p.suffix == ".gotmpl" for p in files)
    assert any(p.suffix == ".lua" for p in files)


def test_no_secret_literals() -> None:
    findings = [f for path in committed_and_pending_files() for f in scan_file(path)]
    assert findings == []


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("key.yaml", "tls: |\n  -----BEGIN EC PRIVATE KEY-----\n  MHcCAQEE\n"),
        ("v.yaml", "auth:\n  password: hunter2\n"),
        ("v.yaml", "secrets:\n  sessionSecret: c2VjcmV0\n"),
        ("v.yaml", "staticPasswords:\n  - hash: x\n"),
        ("v.yaml.gotmpl", "auth:\n  password: hunter2\n"),
        ("v.yaml.gotmpl", "secret: {{ .Release.Name }}x\n"),
        ("v.yaml", "url: redis://:s3cr3t@redis:6379/0\n"),
        ("x.lua", 'local k = "Zm9vYmFyYmF6cXV4UVdFUlRZMTIzNDU2Nzg5MA"\n'),
        ("x.md", "hash: $2b$10$" + "a" * 53 + "\n"),
    ],
)
def test_scanner_finds_planted_secrets(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert scan_file(path), f"missed: {content!r}"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("v.yaml.gotmpl", 'password: {{ requiredEnv "PW" | quote }}\n'),
        ("v.yaml", "secretKeys:\n  clientSecret: client-secret\nexistingSecret: creds\n"),
        ("v.yaml", 'secrets:\n  clientSecret: ""\n'),
        ("v.yaml.gotmpl", 'url: redis://:{{ requiredEnv "PW" }}@redis:6379/0\n'),
    ],
)
def test_scanner_accepts_references(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert scan_file(path) == []
