"""The layer check (`python -m scripts.layers`) runs in `make test`, and it can fail."""

from __future__ import annotations

from pathlib import Path

from scripts.layers import LAYERS, layer_of, upward_imports


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    assert upward_imports() == []


def test_every_layer_is_named_once() -> None:
    names = [name for layer in LAYERS for name in layer]
    assert len(names) == len(set(names))


def test_an_upward_import_is_reported(tmp_path: Path) -> None:
    package = tmp_path / "sidecar"
    (package / "config").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "config" / "__init__.py").write_text("")
    (package / "config" / "model.py").write_text(
        "import sidecar.errors\ndef late():\n    from sidecar.app import create_app\n"
    )
    problems = upward_imports(package)
    assert len(problems) == 1
    assert "sidecar.config.model imports sidecar.app from above" in problems[0]


def test_a_module_in_no_layer_is_reported(tmp_path: Path) -> None:
    package = tmp_path / "sidecar"
    package.mkdir()
    (package / "stray.py").write_text("")
    assert "in no layer" in upward_imports(package)[0]


def test_the_package_root_is_not_a_prefix_of_every_module() -> None:
    assert layer_of("sidecar") == 0
    assert layer_of("sidecar.app") > layer_of("sidecar.pipeline.entry")  # type: ignore[operator]
    assert layer_of("sidecar.unlisted") is None
