"""The mapped folders import through the one ``motionpredict`` namespace from an installed copy."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAPPED = {"registration": "motionpredict.registration", "kernels": "motionpredict.kernels",
          "gui": "motionpredict.gui"}


def _declared_packages() -> list[str]:
    with open(REPO / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["setuptools"]["packages"]


def test_every_python_folder_is_declared() -> None:
    """Each folder holding an ``__init__.py`` is listed in pyproject's ``packages``."""
    declared = set(_declared_packages())
    found = set()
    for init in REPO.glob("motionpredict/**/__init__.py"):
        rel = init.parent.relative_to(REPO).parts
        found.add(".".join(rel))
    for folder, name in MAPPED.items():
        for init in (REPO / folder).glob("**/__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((name, *rel)))
    missing = found - declared
    assert missing == set(), f"sub-packages missing from pyproject packages: {missing}"


@pytest.mark.slow
def test_installed_wheel_imports_every_mapped_folder(tmp_path: Path) -> None:
    """Build a wheel, install it into a private folder and import each mapped package from it."""
    wheel_dir = tmp_path / "wheel"
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(wheel_dir), str(REPO)],
        check=True, capture_output=True,
    )
    wheel = next(wheel_dir.glob("motionpredict-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
         str(wheel)],
        check=True, capture_output=True,
    )
    code = (
        "import importlib, sys\n"
        f"names = {sorted(_declared_packages())!r}\n"
        "for n in names:\n"
        "    m = importlib.import_module(n)\n"
        f"    assert m.__file__.startswith({str(site)!r}), (n, m.__file__)\n"
        "print('ok', len(names))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site),
        "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")
