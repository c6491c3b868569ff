"""The 4DCT view: three orthogonal slices with the predicted tumour over the actual one."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from motionpredict.ct4d.views import orthogonal_views, warp_mask
from motionpredict.phantom import make_ct4d
from motionpredict.viewer_model import ViewerModel, apply_window, warp_mask_cropped

pytestmark = pytest.mark.gui

SHAPE = (16, 24, 24)
TRAIN = 10


@pytest.fixture(scope="module")
def ct():
    """A small CT phantom as a volume series (24 volumes, 0.5 s apart), exact fields."""
    return make_ct4d(seed=0, n_phases=24, shape=SHAPE, spacing_mm=(2.5, 2.0, 2.0),
                     frame_period_s=0.5)


def test_cropped_mask_warp_equals_the_full_warp(ct):
    for k in (3, 7, 12):
        f = ct.true_fields.fields[k]
        full = warp_mask(ct.tumour_mask, f, ct.sequence.spacing)
        crop = warp_mask_cropped(ct.tumour_mask, f, ct.sequence.spacing)
        assert full.max() > 0.5
        np.testing.assert_allclose(crop, full, atol=1e-5)


def test_model_ortho_views_without_results_show_the_reference_tumour(ct):
    m = ViewerModel()
    assert m.ortho_views(0) is None
    m.set_sequence(ct.sequence, source="ct", tumour_mask=ct.tumour_mask)
    assert m.has_ortho
    st = m.ortho_views(2)
    assert st.issued is None and st.target == 2 and set(st.masks) == {"reference"}
    cz, cy, cx = (round(float(v)) for v in np.argwhere(ct.tumour_mask).mean(axis=0))
    assert [v.index for v in st.views] == [cz, cy, cx]
    np.testing.assert_array_equal(st.views[1].image, ct.sequence.frames[2][:, cy, :])


def test_window_shows_three_slices_with_both_contours(window, qtbot, ct):
    window._show_loaded(ct, "ct4d phantom")
    m = window.model
    m.update_settings(methods=("linear",), horizon_ms=1000.0, train_frames=TRAIN)
    window._sync_controls()
    assert window.view_tabs.currentWidget() is window.ortho  # 3D with a tumour: slices first
    assert window.view_tabs.isTabEnabled(1)
    last = TRAIN + 8
    window.run_synchronously(last)
    m.set_position(last)
    h = m.horizon_steps
    assert h == 2
    st = m.ortho_views(last)
    # live: the volume acquired at `last` against the prediction issued h frames earlier
    assert (st.issued, st.target) == (last - h, last)
    assert set(st.masks) == {"actual", "predicted"}
    pred_field = m.results["linear"][last - h].predicted_field_mm
    np.testing.assert_allclose(
        st.masks["predicted"], warp_mask(ct.tumour_mask, pred_field, ct.sequence.spacing),
        atol=1e-5)
    lk = m.results["linear"][last].field_mm
    np.testing.assert_allclose(
        st.masks["actual"], warp_mask(ct.tumour_mask, lk, ct.sequence.spacing), atol=1e-5)
    # the registration finds the tumour where it really is: overlap with the exact motion
    truth = warp_mask(ct.tumour_mask, ct.true_fields.fields[last], ct.sequence.spacing) > 0.5
    actual = st.masks["actual"] > 0.5
    assert (actual & truth).sum() / (actual | truth).sum() > 0.6
    expected = orthogonal_views(ct.sequence.frames[last], ct.sequence.spacing, masks=st.masks)
    d = m.display
    for view, ov, exp, plane in zip(window.ortho.views(), st.views, expected,
                                    ("axial", "coronal", "sagittal"), strict=True):
        assert ov.plane == exp.plane == plane and ov.index == exp.index
        np.testing.assert_array_equal(view.source, exp.image)
        np.testing.assert_array_equal(view.pixels, apply_window(exp.image, d.window, d.level))
        assert view.spacing == exp.pixel_mm
        assert plane.capitalize() in view.title and f"predicted at {last - h}" in view.title
        drawn = [o.points for o in view.overlays]
        want = exp.contours["actual"] + exp.contours["predicted"]
        assert len(drawn) == len(want) >= 2
        for a, b in zip(drawn, want, strict=True):
            np.testing.assert_array_equal(a, b)
        dashed = [o.dashed for o in view.overlays]
        assert dashed == [False] * len(exp.contours["actual"]) + [True] * len(
            exp.contours["predicted"])
    assert window.ortho.axial.spacing == (2.0, 2.0)
    assert window.ortho.coronal.spacing == (2.5, 2.0)
    # browsing back: the prediction issued at t is checked against frame t + h
    m.set_position(last - 4)
    st2 = m.ortho_views(last - 4)
    assert (st2.issued, st2.target) == (last - 4, last - 4 + h)
    np.testing.assert_array_equal(window.ortho.axial.source,
                                  ct.sequence.frames[last - 4 + h][st2.views[0].index])
    # the frame views are still there
    window.view_tabs.setCurrentWidget(window.views)
    np.testing.assert_array_equal(window.views.acquired.source,
                                  ct.sequence.frames[last - 4][m.display.slice_index])
