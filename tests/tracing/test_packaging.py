"""The image includes what tracing needs: the `tracing` extra is declared, pinned by the lock,
installed by the Dockerfile, and importable where the tests run."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

from sidecar.tracing.extra import EXTRA_MODULES

REPO = Path(__file__).resolve().parents[2]
INSTALL = re.compile(r'pip install --constraint requirements\.lock "[^"]+\[([\w,]+)\]"')


def test_the_tracing_extra_is_declared_and_pinned():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["tracing"]
    names = {re.split(r"[<>=\[ ]", requirement)[0].lower() for requirement in extra}
    assert names == {"opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"}
    pinned = {
        line.split("==")[0].lower() for line in (REPO / "requirements.lock").read_text().split()
    }
    assert names <= pinned
    assert not any(name.startswith("opentelemetry") for name in project["dependencies"])


def test_the_image_installs_the_extra_and_imports_it():
    dockerfile = (REPO / "Dockerfile").read_text()
    install = INSTALL.search(dockerfile)
    assert install is not None
    assert "tracing" in install.group(1).split(",")
    for module in EXTRA_MODULES:
        assert module in dockerfile  # the build fails unless it imports
        importlib.import_module(module)
