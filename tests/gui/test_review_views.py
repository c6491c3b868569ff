"""Issue #19: the pyqtgraph review views (linked zoom in mm, colour maps, colour bar, scale bar,
cursor read-out, error in mm), window/level presets, seeking from the plots, marker layout."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QPoint, Qt

from motionpredict.viewer_model import WINDOW_PRESETS, auto_window, window_presets

pytestmark = pytest.mark.gui

TRAIN = 14


@pytest.fixture
def replayed(window, qtbot):
    """A phantom of 2 x 1.5 mm pixels replayed to frame TRAIN + 9, review tab shown."""
    window.open_phantom(seed=5, n_frames=30, shape=(40, 48), frame_period_s=0.25,
                        spacing_mm=(2.0, 1.5))
    qtbot.waitUntil(lambda: window.model.sequence is not None and not window.busy, timeout=30_000)
    window.model.update_settings(methods=("no-prediction",), horizon_ms=500.0,
                                 train_frames=TRAIN)
    window.jump_to(TRAIN + 9)
    qtbot.waitUntil(lambda: window.model.newest >= TRAIN + 9 and not window.busy,
                    timeout=60_000)
    assert window.view_tabs.currentWidget() is window.review
    return window, window.model, window.review


def test_views_are_in_mm_and_zoom_together(replayed):
    window, m, rv = replayed
    rect = rv.images[0].mapRectToParent(rv.images[0].boundingRect())
    assert rect.width() == pytest.approx(48 * 1.5) and rect.height() == pytest.approx(40 * 2.0)
    assert rect.left() == pytest.approx(-0.75) and rect.top() == pytest.approx(-1.0)
    np.testing.assert_array_equal(rv.images[0].image, m.acquired(m.position))
    np.testing.assert_array_equal(rv.images[1].image, m.predicted(m.position))
    rv.plots[1].getViewBox().setRange(xRange=(10.0, 30.0), yRange=(5.0, 25.0), padding=0)
    ranges = [p.getViewBox().viewRange() for p in rv.plots]
    scales = []
    for p, ((x0, x1), (y0, y1)) in zip(rv.plots, ranges, strict=True):
        # zoom in one view: the three follow, same centre, same rows, same mm per screen pixel
        assert (y0, y1) == pytest.approx((5.0, 25.0), abs=1e-6)
        assert (x0 + x1) / 2 == pytest.approx(20.0, abs=1e-6)
        scales.append((x1 - x0) / p.getViewBox().width())
        assert (x1 - x0) / p.getViewBox().width() == pytest.approx(
            (y1 - y0) / p.getViewBox().height(), rel=1e-3)  # a mm is a mm across and down
    assert scales == pytest.approx([scales[0]] * 3, rel=1e-3)
    m.step(-1)  # a new frame keeps the zoom
    np.testing.assert_allclose(rv.plots[2].getViewBox().viewRange(), ranges[2])
    window.reset_zoom_button.click()
    (x0, x1), _ = rv.plots[2].getViewBox().viewRange()
    assert x0 <= -0.75 and x1 >= 48 * 1.5 - 0.75
    # scale bar: the listed length nearest a fifth of the 72 mm width (14.4 mm)
    assert rv.scale_bar_mm == 10.0 and rv.scale_bar.text.textItem.toPlainText() == "10 mm"


def test_window_level_presets_and_colour_maps(replayed):
    window, m, rv = replayed
    frames = m.sequence.frames
    presets = window_presets(frames)
    assert tuple(presets) == WINDOW_PRESETS
    assert presets["full range"] == pytest.approx(
        (frames.max() - frames.min(), (frames.max() + frames.min()) / 2), rel=1e-6)
    assert presets["auto (1-99 %)"] == pytest.approx(auto_window(frames))
    w10, _l10 = presets["high contrast (10-90 %)"]
    assert w10 < presets["auto (1-99 %)"][0]
    window.apply_preset("full range")
    assert (m.display.window, m.display.level) == pytest.approx(presets["full range"])
    lo, hi = rv.images[0].levels
    assert (lo, hi) == pytest.approx((float(frames.min()), float(frames.max())), rel=1e-5)
    grey_lut = np.array(rv.images[0].lut)
    window.cmap_combo.setCurrentText("viridis")
    lut = np.array(rv.images[0].lut)
    assert not np.array_equal(lut, grey_lut)
    assert np.all(grey_lut[:, 0] == grey_lut[:, 1])  # grey: r = g
    assert lut[-1, 1] > lut[-1, 2]  # viridis ends yellow (more green than blue)
    with pytest.raises(ValueError, match="colour map"):
        rv.set_colour_map("rainbow")


def test_difference_colour_bar_and_error_in_mm(replayed):
    window, m, rv = replayed
    t = m.position
    assert m.display.compare == "difference" and rv.colorbar.isVisible()
    half = m.display.window / 2
    assert tuple(rv.colorbar.levels()) == pytest.approx((-half, half))
    issued, target, err = m.checked_error_mm(t)
    assert (issued, target) == m.comparison_indices(t)
    times, errs = m.field_error_series()
    k = int(np.argmin(np.abs(times - m.sequence.times[target])))
    assert err == pytest.approx(errs[k])  # the error plotted for that target
    assert f"error {err:.2f} mm" in rv.error_text.toPlainText()
    np.testing.assert_allclose(
        rv.images[2].image,
        m.sequence.frames[target].astype(np.float32)
        - m.results["no-prediction"][issued].predicted_frame.astype(np.float32), atol=1e-5)
    window.compare_combo.setCurrentText("blend")
    assert not rv.colorbar.isVisible()


def test_cursor_read_out(replayed):
    _window, m, rv = replayed
    t = m.position
    r, c = 17, 30
    ro = rv.show_cursor(c * 1.5 + 0.3, r * 2.0 - 0.4)  # anywhere within the pixel
    assert ro["intensity"] == pytest.approx(float(m.sequence.frames[t][r, c]))
    assert ro["position_mm"] == pytest.approx((r * 2.0, c * 1.5))
    field = m.results["no-prediction"][t].field_mm
    assert ro["measured_mm"] == pytest.approx(tuple(field[r, c]))
    pf = m.results["no-prediction"][t].predicted_field_mm
    assert ro["predicted_mm"] == pytest.approx(tuple(pf[r, c]))
    assert f"intensity {ro['intensity']:.4g}" in rv.readout.text()
    assert all(v.isVisible() and v.value() == pytest.approx(c * 1.5 + 0.3)
               for v, _h in rv.crosshairs)
    assert rv.show_cursor(-10.0, 5.0) is None  # outside the frame
    assert not rv.crosshairs[0][0].isVisible()


def test_click_on_the_plots_seeks(replayed, qtbot):
    window, m, _rv = replayed
    window.plots.render_now()
    target = TRAIN + 3
    x0, x1, t0, t1 = window.plots.time_axis
    ts = m.sequence.times[target]
    x = round((x0 + (ts - t0) / (t1 - t0) * (x1 - x0)) * window.plots.width())
    qtbot.mouseClick(window.plots, Qt.MouseButton.LeftButton,
                     pos=QPoint(x, window.plots.height() // 2))
    assert m.position == target
    assert window.plots.time_at(1) is None  # left of the axis: no seek


def test_marker_mode_hides_the_image_panes(window, qtbot, tmp_path):
    from motionpredict import io
    from motionpredict.phantom import make_markers

    traj = make_markers(seed=3, duration_s=3.0, rate_hz=10.0).sequence
    window.open_path(io.write_points_csv(traj, tmp_path / "markers.csv"))
    qtbot.waitUntil(lambda: window.model.sequence is not None and not window.busy, timeout=30_000)
    assert not window.view_tabs.isVisible()
    assert not window.compare_combo.isEnabled() and not window.cmap_combo.isEnabled()
    window.open_phantom(seed=1, n_frames=20, shape=(24, 24), frame_period_s=0.25,
                        spacing_mm=(2.0, 2.0))
    qtbot.waitUntil(lambda: not window.model.is_markers and not window.busy, timeout=30_000)
    assert window.view_tabs.isVisible() and window.compare_combo.isEnabled()


def test_target_displacement_in_mm_replaces_the_weights(replayed):
    window, m, _rv = replayed
    region, mask = m.target_region()
    assert region == "tumour" and mask is m.tumour_mask  # the phantom has a tumour mask
    ds = m.displacement_series()
    res = m.results["no-prediction"]
    t = TRAIN + 4
    k = list(ds["times"]).index(m.sequence.times[t])
    f64 = np.float64
    np.testing.assert_allclose(ds["measured"][k], res[t].field_mm[mask].astype(f64).mean(0))
    np.testing.assert_allclose(ds["predicted"][k],
                               res[t].predicted_field_mm[mask].astype(f64).mean(0))
    assert ds["pred_times"][k] == pytest.approx(m.target_time(res[t].target_t))
    assert ds["labels"] == ("dy (rows)", "dx (columns)") and ds["measured"].shape == (10, 2)
    # without a tumour: the ROI box
    m.tumour_mask = None
    m.roi = (5, 6, 20, 30)
    m._region_means.clear()
    region, mask = m.target_region()
    assert region == "ROI" and mask.sum() == 15 * 24
    np.testing.assert_allclose(m.displacement_series()["measured"][k],
                               res[t].field_mm[5:20, 6:30].reshape(-1, 2).astype(f64).mean(0))
    # the top plot draws it (default), or the PCA weights
    window.plots.render_now()
    assert window.plots.data.top_plot == "displacement"
    np.testing.assert_allclose(window.plots.data.disp_measured, m.displacement_series()["measured"])
    window.top_plot_combo.setCurrentText("weights")
    assert m.display.top_plot == "weights"
    window.plots.render_now()
    assert window.plots.data.top_plot == "weights"


def test_overlay_curves_are_reused_not_recreated(replayed):
    _window, m, rv = replayed
    visible = [sum(it.isVisible() for it in items) for items in rv._overlays]
    assert visible[0] >= 1 and visible[1] >= 1  # tumour contours, measured and predicted
    created = [list(items) for items in rv._overlays]
    for _ in range(4):
        m.step(-1)
    assert [list(items) for items in rv._overlays] == created  # the same curve objects
    m.set_display(show_contours=False)
    assert not any(it.isVisible() for items in rv._overlays for it in items)
