"""Issue #21 in the desktop viewer: the predicted and actual target contours drawn on the views
and the current centroid error in mm, both from the Qt-free model's target_check."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
pytest.importorskip("pyqtgraph")

pytestmark = pytest.mark.gui

TRAIN = 14


def test_target_contours_and_centroid_error_on_the_views(window, qtbot):
    window.open_phantom(seed=5, n_frames=30, shape=(40, 48), frame_period_s=0.25,
                        spacing_mm=(2.0, 1.5))
    qtbot.waitUntil(lambda: window.model.sequence is not None and not window.busy, timeout=30_000)
    m = window.model
    m.update_settings(methods=("no-prediction",), horizon_ms=500.0, train_frames=TRAIN)
    window.jump_to(TRAIN + 9)
    qtbot.waitUntil(lambda: m.newest >= TRAIN + 9 and not window.busy, timeout=60_000)
    rv = window.review
    t = m.position
    chk = m.target_check(t)
    assert chk is not None and chk.region == "tumour"
    text = rv.error_text.toPlainText()
    assert f"tumour centroid error {chk.centroid_error_mm:.2f} mm" in text
    assert f"Dice {chk.dice:.3f}" in text
    # the check view draws exactly the model's contours, in mm (x = columns, y = rows), closed
    drawn = [it for it in rv._overlays[2] if it.isVisible()]
    expected = [*chk.actual_contours, *chk.predicted_contours]
    assert len(drawn) == len(expected) == 2
    for item, c in zip(drawn, expected, strict=True):
        x, y = item.getData()
        np.testing.assert_allclose(x[:-1], c[:, 1] * 1.5)
        np.testing.assert_allclose(y[:-1], c[:, 0] * 2.0)
        assert (x[0], y[0]) == (x[-1], y[-1])
    # the acquired view draws the target moved by the frame's own field
    acq = [it for it in rv._overlays[0] if it.isVisible()]
    np.testing.assert_allclose(acq[0].getData()[1][:-1],
                               m.target_contours("actual", t)[0][:, 0] * 2.0)
    # the Frames tab states the same error; hiding the contours removes them
    window.views.render_model()
    assert f"centroid error {chk.centroid_error_mm:.2f} mm" in window.views.check.info
    assert len(window.views.check.overlays) == 2
    m.set_display(show_contours=False)
    assert not any(it.isVisible() for items in rv._overlays for it in items)
