"""Layering (issue #18): no extra-only package at import time, the mapped folders' layers, contours
without scikit-image.

import-linter's layers contract (pyproject.toml) checks the motionpredict/ folder; grimp cannot see
the mapped folders (registration/, kernels/, gui/), so their layers are checked here from the
source.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from motionpredict.ct4d.views import find_contours, orthogonal_views

REPO = Path(__file__).resolve().parents[1]

#: Layers above the models layer (registration/, kernels/, forecasters, motion_model): a mapped
#: model folder never imports them.
ABOVE_MODELS = ("motionpredict.pipeline", "motionpredict.evaluation", "motionpredict.report",
                "motionpredict.cli", "motionpredict.viewer_model", "motionpredict.ct4d",
                "motionpredict.live", "motionpredict.target", "motionpredict.gui")


def _motionpredict_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "motionpredict":  # from motionpredict import gui
                found += [(node.lineno, f"motionpredict.{a.name}") for a in node.names]
    return [(n, m) for n, m in found if m.startswith("motionpredict")]


def _upward(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.name}:{n} imports {m}" for n, m in _motionpredict_imports(path)
            if any(m == f or m.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize("folder", ["registration", "kernels"])
def test_mapped_model_folders_never_import_a_higher_layer(folder: str) -> None:
    files = sorted((REPO / folder).rglob("*.py"))
    assert files
    bad = [b for f in files for b in _upward(f, ABOVE_MODELS)]
    assert bad == []


def test_the_core_never_imports_the_gui() -> None:
    """Only the command line (``motionpredict gui``) may import the Qt application."""
    files = [f for f in sorted((REPO / "motionpredict").rglob("*.py"))
             if "cli" not in f.relative_to(REPO / "motionpredict").parts]
    assert len(files) > 50
    bad = [b for f in files for b in _upward(f, ("motionpredict.gui",))]
    assert bad == []


def test_the_layer_check_finds_an_upward_import(tmp_path: Path) -> None:
    """The source check above is not vacuous: a planted upward import is reported."""
    f = tmp_path / "planted.py"
    f.write_text("import numpy\nfrom motionpredict.errors import ValidationError\n"
                 "def g():\n    from motionpredict.pipeline import run_sequence\n"
                 "    from motionpredict import gui\n")
    assert _upward(f, ABOVE_MODELS) == ["planted.py:4 imports motionpredict.pipeline",
                                        "planted.py:5 imports motionpredict.gui"]


#: Packages only an extra installs (dev, cluster, gpu); a runtime import path never needs them.
EXTRA_ONLY = ("skimage", "hypothesis", "pytest", "pytestqt", "dask", "distributed", "triton",
              "importlinter")
#: Modules whose whole purpose is an extra (imported by their users only when it is there).
EXTRA_MODULES = ("motionpredict.kernels.batched_rnn_triton",)


@pytest.mark.slow
def test_every_module_imports_without_the_extras() -> None:
    """Import every module (core, registration, kernels, gui) with the extras made unimportable:
    what a plain ``pip install motionpredict`` has (.ci/no-extras-smoke runs the CLI that way)."""
    code = textwrap.dedent(f"""
        import importlib, importlib.abc, pkgutil, sys
        BLOCK = {set(EXTRA_ONLY)!r}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCK:
                    raise ImportError("extra-only package imported: " + name)
                return None
        sys.meta_path.insert(0, Block())
        failed, n = [], 0
        for pkg in ("motionpredict", "motionpredict.registration", "motionpredict.kernels",
                    "motionpredict.gui"):
            p = importlib.import_module(pkg)
            for m in pkgutil.walk_packages(p.__path__, pkg + "."):
                if m.name.endswith("__main__") or m.name in {EXTRA_MODULES!r}:
                    continue
                n += 1
                try:
                    importlib.import_module(m.name)
                except ImportError as exc:
                    failed.append(m.name + ": " + str(exc))
        print(n)
        print("\\n".join(failed))
        """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=240, env={**_env(), "QT_QPA_PLATFORM": "offscreen"})
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.strip().splitlines()
    assert int(lines[0]) > 100  # every module was tried
    assert lines[1:] == []


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _ellipse(shape: tuple[int, int], centre: tuple[float, float], radii: tuple[float, float]
             ) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (((yy - centre[0]) / radii[0]) ** 2 + ((xx - centre[1]) / radii[1]) ** 2 < 1).astype(
        np.float64)


def test_find_contours_of_a_disc_is_closed_on_the_half_level() -> None:
    m = _ellipse((41, 51), (20.0, 25.0), (9.0, 9.0))
    (line,) = find_contours(m, 0.5)
    np.testing.assert_array_equal(line[0], line[-1])  # closed
    r = np.linalg.norm(line - [20.0, 25.0], axis=1)
    assert 8.0 < r.min() and r.max() < 10.0  # on the disc's edge, within a pixel
    # every vertex lies on a pixel edge where the mask steps from 0 to 1: half-integer on one axis
    frac = np.abs(line - np.round(line))
    assert np.all(np.isclose(frac, 0.5).any(axis=1) | np.isclose(frac, 0.0).all(axis=1))


def test_find_contours_separate_islands_and_nothing_when_not_crossed() -> None:
    m = _ellipse((40, 50), (20.0, 30.0), (7.0, 9.0))
    m[3:7, 3:7] = 1.0
    lines = find_contours(m, 0.5)
    assert sorted(len(c) for c in lines)[0] == 17  # the 4 x 4 square: 16 edge crossings + closure
    assert len(lines) == 2
    assert find_contours(np.zeros((10, 10)), 0.5) == []
    assert find_contours(np.ones((10, 10)), 0.5) == []
    with pytest.raises(Exception, match="2D"):
        find_contours(np.zeros((3, 3, 3)), 0.5)


def test_find_contours_matches_scikit_image_point_for_point() -> None:
    """Same marching squares as scikit-image's (a dev extra): the same vertices."""
    measure = pytest.importorskip("skimage.measure")
    rng = np.random.default_rng(5)
    for _ in range(4):
        m = _ellipse((40, 50), tuple(rng.uniform(15, 25, 2)), tuple(rng.uniform(5, 12, 2)))
        m[rng.integers(0, 5):rng.integers(6, 10), 40:45] = 1.0
        ours, theirs = find_contours(m, 0.5), measure.find_contours(m, 0.5)
        assert len(ours) == len(theirs)
        a = {tuple(p) for c in ours for p in np.round(c, 9)}
        b = {tuple(p) for c in theirs for p in np.round(c, 9)}
        assert a == b and len(a) > 40
        assert sorted(len(c) for c in ours) == sorted(len(c) for c in theirs)


def test_orthogonal_views_contour_follows_the_mask() -> None:
    vol = np.zeros((12, 20, 30))
    mask = np.zeros(vol.shape)
    mask[4:9, 6:15, 10:22] = 1.0
    views = orthogonal_views(vol, (2.0, 1.0, 1.0), masks={"actual": mask}, centre=(6, 10, 15))
    axial = views[0]
    (c,) = axial.contours["actual"]
    assert c[:, 0].min() == pytest.approx(5.5) and c[:, 0].max() == pytest.approx(14.5)
    assert c[:, 1].min() == pytest.approx(9.5) and c[:, 1].max() == pytest.approx(21.5)


def test_batched_kernel_constants_have_one_home_that_the_forecasters_agree_with() -> None:
    """The grid search asks the kernels which values they hold fixed; the single forecasters'
    defaults are those values, so a default grid point is batchable."""
    from motionpredict.evaluation import protocol as P
    from motionpredict.forecasters import get
    from motionpredict.kernels.batched_rnn_state import DNI_LR, INIT_STD, UORO_EPS

    fixed = P._kernel_fixed()
    assert (fixed["init_std"], fixed["eps"], fixed["lr_A"]) == (INIT_STD, UORO_EPS, DNI_LR)
    for method in P.BATCHED_RNN_METHODS:
        defaults = {hp.name: hp.default for hp in get(method).hyperparameters}
        assert all(defaults[k] == v for k, v in fixed.items() if k in defaults), method
        assert P.batchable(method, {})
        if "init_std" in defaults:
            assert not P.batchable(method, {"init_std": 2 * INIT_STD})
