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
