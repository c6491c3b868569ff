"""Orthogonal slices and tumour contours for the GUI."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.ct4d import orthogonal_views, warp_mask
from motionpredict.errors import ValidationError


def _ball(shape=(12, 14, 16), centre=(6, 7, 8), r=3.0):
    g = np.indices(shape)
    return np.sum((g - np.array(centre)[:, None, None, None]) ** 2, axis=0) <= r**2


def test_views_slices_and_contours():
    vol = np.arange(12 * 14 * 16, dtype=float).reshape(12, 14, 16)
    ball = _ball()
    views = orthogonal_views(vol, (2.5, 1.0, 0.5), masks={"actual": ball})
    assert [v.plane for v in views] == ["axial", "coronal", "sagittal"]
    assert [v.index for v in views] == [6, 7, 8]  # the ball's centroid
    assert views[0].image.shape == (14, 16) and views[1].image.shape == (12, 16)
    assert views[2].image.shape == (12, 14)
    np.testing.assert_array_equal(views[1].image, vol[:, 7, :])
    assert views[0].pixel_mm == (1.0, 0.5) and views[2].pixel_mm == (2.5, 1.0)
    for v in views:
        (contour,) = v.contours["actual"]
        centre = np.array([c for a, c in enumerate((6, 7, 8)) if a != PLANE_AXIS[v.plane]])
        radius = np.linalg.norm(contour - centre, axis=1)
        assert 2.5 < radius.mean() < 3.5


PLANE_AXIS = {"axial": 0, "coronal": 1, "sagittal": 2}


def test_warp_mask_moves_the_contour():
    ball = _ball()
    field = np.zeros((*ball.shape, 3), np.float32)
    field[..., 2] = 2.0  # 2 mm along columns of 0.5 mm: 4 voxels
    moved = warp_mask(ball, field, (2.5, 1.0, 0.5))
    assert moved.min() >= 0 and moved.max() <= 1
    com = np.array([np.sum(g * moved) for g in np.indices(ball.shape)]) / moved.sum()
    np.testing.assert_allclose(com, [6, 7, 12], atol=0.1)
    views = orthogonal_views(np.zeros(ball.shape), (2.5, 1.0, 0.5), centre=(6, 7, 10),
                             masks={"predicted": moved, "actual": ball})
    axial = views[0]
    pred_cols = np.concatenate(axial.contours["predicted"])[:, 1].mean()
    act_cols = np.concatenate(axial.contours["actual"])[:, 1].mean()
    assert pred_cols - act_cols == pytest.approx(4.0, abs=0.3)


def test_views_errors():
    with pytest.raises(ValidationError, match="3D"):
        orthogonal_views(np.zeros((4, 4)), (1.0, 1.0))
    with pytest.raises(ValidationError, match="shape"):
        orthogonal_views(np.zeros((4, 4, 4)), (1.0,) * 3, masks={"m": np.zeros((3, 3, 3))})
    with pytest.raises(ValidationError, match="outside"):
        orthogonal_views(np.zeros((4, 4, 4)), (1.0,) * 3, centre=(9, 0, 0))
    views = orthogonal_views(np.zeros((4, 4, 4)), (1.0,) * 3)
    assert [v.index for v in views] == [2, 2, 2]
