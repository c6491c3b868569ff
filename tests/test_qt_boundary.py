"""Qt stays out of the mapped core folders that import-linter cannot see (registration, kernels)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QT_ROOTS = {"PySide6", "shiboken6", "PyQt5", "PyQt6", "pytestqt"}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
            if node.module.startswith("motionpredict.gui"):
                roots.add("motionpredict.gui")
    return roots


@pytest.mark.parametrize("folder", ["registration", "kernels"])
def test_folder_never_imports_qt(folder: str) -> None:
    files = sorted((REPO / folder).rglob("*.py"))
    assert files, f"{folder}/ has no Python files"
    for f in files:
        bad = _imported_roots(f) & (QT_ROOTS | {"motionpredict.gui"})
        assert not bad, f"{f.relative_to(REPO)} imports {bad}"


def test_import_linter_contract_covers_every_core_module() -> None:
    """Each module and sub-package of the core (all but the CLI) is a source of the Qt contract."""
    import tomllib

    with open(REPO / "pyproject.toml", "rb") as fh:
        contracts = tomllib.load(fh)["tool"]["importlinter"]["contracts"]
    sources = {m for c in contracts for m in c.get("source_modules", [])}
    core = set()
    for path in (REPO / "motionpredict").iterdir():
        name = path.stem if path.suffix == ".py" else path.name
        if name.startswith("_") or name == "cli":
            continue
        if path.suffix == ".py" or (path / "__init__.py").exists():
            core.add(f"motionpredict.{name}")
    assert core - sources == set(), f"add to the import-linter contract: {core - sources}"
