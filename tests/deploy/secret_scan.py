"""A scanner for secret literals in deployment files: PEM private keys, bcrypt hashes, long
random-looking tokens, passwords in URLs, and secret-named keys holding a literal value.

Values that come from the environment (`requiredEnv`, `env`) or from references (Secret key
names under `secretKeys`) are fine; anything else under a secret-named key is a finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
BCRYPT = re.compile(r"\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}")
TOKEN = re.compile(r"[A-Za-z0-9+/_=-]{32,}")
URL_PASSWORD = re.compile(r"://[^/\s:@]*:([^@\s/]+)@")
SECRET_KEY = re.compile(r"(?i)^(.*password|.*secret|.*token|hash|.*signing_?key|redisurl)$")
SECRET_LINE = re.compile(
    r"(?i)^\s*-?\s*([A-Za-z_]*(?:password|secret|token|hash|signingkey|redisurl))\s*:\s*(.*)$"
)
FROM_ENV = re.compile(r"\{\{.*\b(requiredEnv|env)\b.*\}\}")
# Keys whose value names a Secret or a key in one, never a secret value.
REFERENCE_PARENTS = {"secretKeys"}
REFERENCE_KEYS = {"existingSecret", "secretName", "imagePullSecrets"}


def looks_random(token: str) -> bool:
    """Mixed case and digits: what random base64 looks like (names and paths do not)."""
    return (
        any(c.islower() for c in token)
        and any(c.isupper() for c in token)
        and any(c.isdigit() for c in token)
    )


def text_findings(text: str) -> Iterator[str]:
    if PEM_PRIVATE.search(text):
        yield "PEM private key block"
    if BCRYPT.search(text):
        yield "bcrypt hash"
    for token in TOKEN.findall(text):
        if looks_random(token):
            yield f"random-looking token {token[:6]}..."
    for password in URL_PASSWORD.findall(text):
        if not password.startswith(("{{", "<", "$")):  # templates and placeholders
            yield "password in a URL"


def yaml_findings(node: Any, parent: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            key = str(key)
            is_secret = SECRET_KEY.match(key) and key not in REFERENCE_KEYS
            if is_secret and parent not in REFERENCE_PARENTS and _is_literal(value):
                yield f"literal value under {key!r}"
            yield from yaml_findings(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from yaml_findings(item, parent)


def _is_literal(value: Any) -> bool:
    if isinstance(value, bool):
        return False  # switches such as forward_token: true
    return isinstance(value, str | int) and str(value) != ""


def template_findings(text: str) -> Iterator[str]:
    for line in text.splitlines():
        match = SECRET_LINE.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        value = match[2].strip().strip("\"'")
        if value and not value.startswith("{{") and not FROM_ENV.search(value):
            if match[1] in REFERENCE_KEYS or value.endswith(":"):
                continue
            yield f"literal value under {match[1]!r}"
        elif value.startswith("{{") and not FROM_ENV.search(value) and ".Values." not in value:
            yield f"templated {match[1]!r} not from the environment"


def scan_file(path: Path) -> list[str]:
    text = path.read_text(errors="replace")
    findings = list(text_findings(text))
    if path.suffix == ".gotmpl" or "{{" in text:  # helmfile values and chart templates
        findings.extend(template_findings(text))
    elif path.suffix in {".yaml", ".yml"} and path.name != "kind.yaml":
        for doc in yaml.safe_load_all(text):
            findings.extend(yaml_findings(doc))
    return [f"{path}: {f}" for f in findings]
