"""The JS package's own suite (`node --test` in clients/js), run on vectors generated here,
so that `make test` fails when node's tests fail."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.clients.conftest import REPO, Vectors

JS_DIR = REPO / "clients" / "js"


def test_node_suite_passes_on_fresh_vectors(vectors: Vectors) -> None:
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules" / "jose").is_dir():
        pytest.fail("node and clients/js/node_modules are needed: `make deps` runs npm ci there")
    files = sorted(str(path) for path in (JS_DIR / "test").glob("*.test.js"))
    assert len(files) >= 4
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", *files],
        cwd=JS_DIR,
        env={**os.environ, "VECTORS_DIR": str(vectors.dir)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    counts = dict(re.findall(r"^# (pass|fail|skipped|todo|cancelled) (\d+)$", result.stdout, re.M))
    assert counts["fail"] == counts["cancelled"] == counts["skipped"] == counts["todo"] == "0"
    assert int(counts["pass"]) >= 15, report
