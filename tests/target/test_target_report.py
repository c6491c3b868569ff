"""The target report: ``--pdf`` and ``--no-report``, and its contour frame drawn where the masks
are."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from motionpredict.cli.main import main
from motionpredict.report.target import TargetReportData, contour_figure
from motionpredict.target import centroid_mm


def _run(out, *extra: str) -> int:
    return main(["target", "--phantom", "--frames", "60", "--method", "rls", "--horizon",
                 "1steps", "--windows", "3", "--out", str(out), *extra])


def test_pdf_and_no_report(tmp_path, capsys) -> None:
    assert _run(tmp_path / "a", "--pdf") == 0
    pdf = (tmp_path / "a" / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    # cover + 3 answer tables + 2 centroid figures + gating + contours + settings
    assert len(re.findall(rb"/Type /Page(?!s)", pdf)) == 9
    assert _run(tmp_path / "b", "--no-report") == 0
    names = {p.name for p in (tmp_path / "b").iterdir()}
    assert "report.html" not in names and "report.pdf" not in names
    assert "metrics.json" in names
    m = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert m["no_prediction"]["mean_centroid_distance_mm"] > 0
    capsys.readouterr()


def test_contour_figure_draws_the_masks_at_their_place() -> None:
    shape = (64, 48)
    actual = np.zeros(shape, bool)
    actual[20:30, 10:18] = True
    pred = np.roll(actual, 3, axis=0)
    summary = {"settings": {"spacing_mm": [2.0, 1.5]}, "interval": {"nominal": 0.9}}
    d = TargetReportData(name="x", version="0", summary=summary, times_s=np.zeros(1),
                         actual_mm=np.zeros((1, 2)), predicted_mm=np.zeros((1, 2)),
                         radius_mm=np.zeros(1), errors={}, curves={}, windows_mm=[1.0],
                         frame=np.random.default_rng(0).random(shape), frame_index=5,
                         predicted_mask=pred, actual_mask=actual)
    fig = contour_figure(d)
    assert fig is not None
    ax = fig.axes[0]
    paths = [p for c in ax.collections for p in c.get_paths()]
    assert len(paths) == 2  # actual and predicted contours
    # the centroid of each drawn iso-line (mm, x = columns, y = rows) is the mask's centroid
    for path, mask in zip(paths, (actual, pred), strict=True):
        v = path.vertices
        c = centroid_mm(mask, (2.0, 1.5))
        assert (v[:, 1].min() + v[:, 1].max()) / 2 == pytest.approx(c[0], abs=1e-6)
        assert (v[:, 0].min() + v[:, 0].max()) / 2 == pytest.approx(c[1], abs=1e-6)
    assert "Frame 5" in ax.get_title()
    assert contour_figure(TargetReportData(**{**d.__dict__, "frame": None})) is None
