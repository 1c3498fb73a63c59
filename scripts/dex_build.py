"""Dex, built here from the Go module proxy, once; the tests and `make demo` share the binary.

`go install github.com/dexidp/dex/cmd/dex@...` refuses (Dex's go.mod replaces its api/v2
module with a local path), so `tests/dex/build/<variant>/go.mod`, a wrapper module of our own,
requires Dex and its api/v2 at published versions and `go build`s Dex's `cmd/dex` package from
there. Nothing of Dex is in this repository: the go.mod and go.sum pin it (go.sum holds every
module's hash, so no checksum database is needed).

The binary goes to `~/.cache/auth-sidecar/dex-<version>/dex` (`AUTH_SIDECAR_CACHE` moves the
root), with Go's module and build caches beside it; a stamp of the wrapper's go.mod and go.sum
tells a stale build from a good one. Concurrent first runs wait on a file lock.
Run `python -m scripts.dex_build [release|main]` to build ahead of time; it prints the path.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BUILD_ROOT = Path(__file__).resolve().parent.parent / "tests" / "dex" / "build"
GO_FALLBACKS = ("/usr/local/go/bin/go", "/usr/lib/go/bin/go")
BUILD_TIMEOUT_S = 1800


@dataclass(frozen=True)
class DexBuild:
    variant: str  # the wrapper module's directory under tests/dex/build
    version: str  # what the banner and the cache directory say

    @property
    def module_dir(self) -> Path:
        return BUILD_ROOT / self.variant


# `release`: what deploy/values/dex.yaml.gotmpl runs. `main`: Dex's main branch after PR #4945
# (sessions, `sid`, RP-initiated and back-channel logout; DEX_SESSIONS_ENABLED=true), for the
# logout tests only, until a release has it.
BUILDS = {
    "release": DexBuild("release", "v2.45.1"),
    "main": DexBuild("main", "main-ab64ed778070"),
}


class GoMissing(RuntimeError):
    """No Go toolchain here: Dex cannot be built."""


def cache_root() -> Path:
    return Path(os.environ.get("AUTH_SIDECAR_CACHE", Path.home() / ".cache" / "auth-sidecar"))


def find_go() -> str | None:
    found = shutil.which("go")
    if found:
        return found
    return next((path for path in GO_FALLBACKS if os.access(path, os.X_OK)), None)


def _ldflags(build: DexBuild) -> str:
    """`dex version` names what was built (Dex's own builds set it the same way)."""
    return f"-X main.version={build.version}"


def _stamp(build: DexBuild) -> str:
    digest = hashlib.sha256(_ldflags(build).encode())
    for name in ("go.mod", "go.sum"):
        digest.update((build.module_dir / name).read_bytes())
    return digest.hexdigest()


def _go_env(go: str) -> dict[str, str]:
    root = cache_root() / "go"
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(root / "mod"),
        GOCACHE=str(root / "build"),
        CGO_ENABLED="1",  # sqlite3 storage
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=readonly -modcacherw",
        PATH=f"{Path(go).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    env.setdefault("GOSUMDB", "off")  # go.sum pins every hash already
    return env


def dex_binary(variant: str = "release", log: Callable[[str], None] | None = None) -> Path:
    """The path of a built Dex, building it first when the cache lacks it (or is stale)."""
    build = BUILDS[variant]
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    target = cache_root() / f"dex-{build.version}"
    binary, stamp = target / "dex", target / "stamp"
    if binary.exists() and stamp.exists() and stamp.read_text() == _stamp(build):
        return binary
    go = find_go()
    if go is None:
        raise GoMissing("no Go toolchain (go) on PATH or in /usr/local/go/bin")
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it right now
        if binary.exists() and stamp.exists() and stamp.read_text() == _stamp(build):
            return binary
        say(f"building Dex {build.version} from the Go module proxy, first run only")
        seconds = _go_build(go, build, binary)
        stamp.write_text(_stamp(build))
        say(f"built Dex {build.version} in {seconds:.0f} s: {binary}")
    return binary


def _go_build(go: str, build: DexBuild, binary: Path) -> float:
    partial = binary.with_name("dex.partial")
    argv = [go, "build", "-trimpath", "-ldflags", _ldflags(build), "-o", str(partial)]
    argv.append("github.com/dexidp/dex/cmd/dex")
    started = time.monotonic()
    result = subprocess.run(
        argv,
        cwd=build.module_dir,
        env=_go_env(go),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    if result.returncode != 0:
        raise RuntimeError(f"building Dex {build.version} failed:\n{result.stderr[-4000:]}")
    partial.replace(binary)
    return time.monotonic() - started


def main(argv: list[str]) -> int:
    variants = argv or ["release"]
    for variant in variants:
        if variant not in BUILDS:
            print(f"unknown variant {variant!r}: one of {', '.join(BUILDS)}", file=sys.stderr)
            return 2
        print(dex_binary(variant))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
