"""The layer check: no module of `sidecar/` imports from a layer above its own.

    python -m scripts.layers        # exit 1 and one line per upward import

The order is written once, here, lowest first; a module may import from its own layer and
any layer below. Every import counts, at module level or inside a function (a lazy import is
still a dependency), so the check reads the source, not what happens to be imported.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sidecar"

# Lowest first. A name is a module or a package (every module below it).
LAYERS: tuple[tuple[str, ...], ...] = (
    # `sidecar` alone is the package's `__init__` (its version), not everything under it.
    ("sidecar", "sidecar.errors", "sidecar.paths", "sidecar.metrics", "sidecar.logging"),
    ("sidecar.aiohttp_internals",),  # aiohttp's undocumented API, for upstream/ and http/
    ("sidecar.config",),
    ("sidecar.net",),
    ("sidecar.oidc",),
    ("sidecar.tokens",),
    ("sidecar.sessions",),
    ("sidecar.keys",),
    ("sidecar.upstream",),
    ("sidecar.pipeline",),
    ("sidecar.http",),
    ("sidecar.auth",),
    ("sidecar.tracing",),
    ("sidecar.resources", "sidecar.app"),
    ("sidecar.serve", "sidecar.cli", "sidecar.__main__"),
)


def layer_of(module: str) -> int | None:
    """The index of the most specific layer entry naming `module` (or a package above it)."""
    best: tuple[int, int] | None = None  # (length of the matched name, layer)
    for index, names in enumerate(LAYERS):
        for name in names:
            below = name != "sidecar" and module.startswith(name + ".")
            if (module == name or below) and (best is None or len(name) > best[0]):
                best = (len(name), index)
    return None if best is None else best[1]


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.Call) and _is_import_module(node):
            argument = node.args[0]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                yield node.lineno, argument.value


def _is_import_module(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "import_module" and bool(node.args)


def upward_imports(package: Path = PACKAGE) -> list[str]:
    """One line per import of a higher layer, or of a sidecar module no layer names."""
    problems: list[str] = []
    for path in sorted(package.rglob("*.py")):
        importer = module_name(path, package)
        own = layer_of(importer)
        if own is None:
            problems.append(f"{path}: module {importer} is in no layer (scripts/layers.py)")
            continue
        for line, imported in imports_of(path):
            if imported != "sidecar" and not imported.startswith("sidecar."):
                continue
            target = layer_of(imported)
            if target is None or target > own:
                problems.append(f"{path}:{line}: {importer} imports {imported} from above")
    return problems


def main() -> int:
    problems = upward_imports()
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
