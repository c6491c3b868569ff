"""Issue #21 in the Qt-free viewer model: the predicted and actual target of the checked
prediction (contours, centroids in mm, centroid error, Dice) computed with motionpredict.target."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.target import centroid_mm, move_mask, track_fields
from motionpredict.viewer_model import ViewerModel


def _replay(ph, **kw) -> ViewerModel:
    m = ViewerModel()
    m.set_sequence(ph.sequence, source="phantom", **kw)
    m.update_settings(methods=("lms",), horizon_ms=500.0, train_frames=16)
    proc = m.create_processor()
    m.begin(proc.prepare())
    for _ in range(8):
        m.add_frame(proc.process_next())
    return m


@pytest.fixture(scope="module")
def phantom():
    from motionpredict.phantom import make_cine

    return make_cine(seed=3, n_frames=30, shape=(48, 48), frame_period_s=0.25,
                     spacing_mm=(2.0, 1.5))


def _polygon_centroid(c: np.ndarray) -> np.ndarray:
    """Area centroid ``(row, col)`` of a closed polygon (shoelace)."""
    y, x = c[:, 0], c[:, 1]
    y1, x1 = np.roll(y, -1), np.roll(x, -1)
    cross = x * y1 - x1 * y
    a = cross.sum() / 2
    return np.array([((y + y1) * cross).sum(), ((x + x1) * cross).sum()]) / (6 * a)


def test_target_check_on_the_phantom_tumour(phantom) -> None:
    m = _replay(phantom, tumour_mask=phantom.tumour_mask)
    t = m.newest
    chk = m.target_check(t)
    assert chk is not None and chk.region == "tumour"
    assert (chk.issued, chk.target) == m.comparison_indices(t) == (t - 2, t)
    sp = m.sequence.spacing
    pf = m.result(chk.issued).predicted_field_mm
    af = m.result(chk.target).field_mm
    # the same numbers as motionpredict.target's own tracking of those two fields
    track = track_fields(phantom.tumour_mask, pf[None], af[None], sp)
    np.testing.assert_allclose(chk.predicted_centroid_mm, track.predicted_centroid_mm[0])
    np.testing.assert_allclose(chk.actual_centroid_mm, track.actual_centroid_mm[0])
    assert chk.centroid_error_mm == pytest.approx(track.metrics["centroid_distance_mm"][0])
    assert chk.dice == pytest.approx(track.metrics["dice"][0])
    # the drawn contour encloses the mask whose centroid is reported (within a third of a pixel)
    for contours, c_mm in ((chk.actual_contours, chk.actual_centroid_mm),
                           (chk.predicted_contours, chk.predicted_centroid_mm)):
        assert len(contours) == 1
        np.testing.assert_allclose(_polygon_centroid(contours[0]) * sp, c_mm,
                                   atol=min(sp) / 3)
    # and the actual target is close to the phantom's exact tumour of that frame (mm)
    exact = move_mask(phantom.tumour_mask, phantom.true_fields.fields[t], sp)
    assert np.linalg.norm(chk.actual_centroid_mm - centroid_mm(exact, sp)) < 1.0
    assert m.target_contours("actual", chk.target)[0].shape == chk.actual_contours[0].shape


def test_target_check_of_the_sidecar_roi_and_without_a_target(phantom) -> None:
    roi = (10, 12, 22, 30)
    m = _replay(phantom, roi=roi)
    chk = m.target_check(m.newest)
    assert chk is not None and chk.region == "ROI"
    box = np.zeros(m.sequence.shape, bool)
    box[10:22, 12:30] = True
    moved = move_mask(box, m.result(chk.target).field_mm, m.sequence.spacing)
    np.testing.assert_allclose(chk.actual_centroid_mm, centroid_mm(moved, m.sequence.spacing))
    assert 0.0 < chk.dice <= 1.0
    # before the first checkable prediction, and without any target region: nothing
    assert m.target_check(m.first_frame - 1) is None  # a training frame
    bare = _replay(phantom)
    assert bare.target_check(bare.newest) is None
    assert bare.target_contours("actual", bare.newest) == []
    with pytest.raises(Exception, match="target kind"):
        m.target_mask("planned", m.newest)
