"""One list of stripped headers (issue 16, item 18): the Kong plugin strips exactly what the
sidecar strips in proxy mode.

The plugin's tables are read by running the shipped handler.lua (kong/tools/
stripped_headers.lua), not by parsing its text, and its own predicate is asked about every
name the Python lists know, in several spellings, next to sidecar/pipeline/headers.py's.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sidecar.pipeline.headers import (
    FORWARDING_HEADERS,
    SPOOFABLE_HEADERS,
    SPOOFABLE_PREFIXES,
    _is_spoofable,
)

REPO = Path(__file__).resolve().parents[2]
LUA = ("lua5.1", "luajit", "lua")
# Names that must be kept: near misses of the stripped ones.
KEPT = [
    "accept",
    "cookie",
    "x-authorization",
    "x-auth",
    "x-consumer",
    "x-forwarded-for",
    "x-request-id",
    "remote-addr",
    "x-forwarded-users",
    "x-auths-subject",
]


def lua_binary() -> str:
    for name in LUA:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Lua interpreter (Debian lua5.1; `make deps` installs it)")


def spellings(name: str) -> list[str]:
    """The ways a client may send `name`: cases, and `_` in place of `-`."""
    forms = [name, name.upper(), name.title()]
    return forms + [form.replace("-", "_") for form in forms]


def names_to_ask() -> list[str]:
    stems = [*SPOOFABLE_HEADERS, *FORWARDING_HEADERS, "x-request-id", *KEPT]
    stems += [prefix + "request-email" for prefix in SPOOFABLE_PREFIXES]
    return sorted({form for stem in stems for form in spellings(stem)})


def run_plugin(names: list[str]) -> dict[str, set[str]]:
    run = subprocess.run(
        [lua_binary(), "kong/tools/stripped_headers.lua"],
        input="\n".join(names) + "\n",
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found: dict[str, set[str]] = {}
    for line in run.stdout.splitlines():
        kind, name = line.split(" ", 1)
        found.setdefault(kind, set()).add(name)
    return found


@pytest.fixture(scope="module")
def plugin() -> dict[str, set[str]]:
    return run_plugin(names_to_ask())


def test_the_plugin_tables_are_the_python_lists(plugin: dict[str, set[str]]) -> None:
    assert plugin.get("exact") == set(SPOOFABLE_HEADERS)
    assert plugin.get("prefix") == set(SPOOFABLE_PREFIXES)
    assert plugin.get("twin") == set(FORWARDING_HEADERS) | {"x-request-id"}


def test_the_plugin_strips_what_the_sidecar_strips(plugin: dict[str, set[str]]) -> None:
    asked = names_to_ask()
    python = {name for name in asked if _is_spoofable(name)}
    assert plugin.get("strip", set()) == python
    assert plugin.get("keep", set()) == set(asked) - python
    assert "X_Forwarded_For" in python
    assert "x-forwarded-for" not in python
