"""Point tracking and automatic point picking."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.ct4d import pick_points, track_points
from motionpredict.ct4d.points import corner_score
from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.sequences import DisplacementFieldSeries


def _fields(shape=(8, 10, 12), spacing=(2.0, 1.5, 1.0)):
    """Fields: frame 0 zero, frame 1 a translation, frame 2 a linear (affine) field."""
    f = np.zeros((3, *shape, 3), np.float32)
    f[1] = np.array([1.0, -2.0, 0.5], np.float32)
    z = np.arange(shape[0])[:, None, None] * spacing[0]
    f[2, ..., 0] = 0.1 * z  # SI displacement grows with depth, 0.1 mm per mm
    return DisplacementFieldSeries(f, spacing, np.arange(3) * 0.5)


def test_track_points_translation_and_linear_field_exact():
    fields = _fields()
    pts = np.array([[3.0, 4.5, 5.0], [7.3, 2.0, 9.9]])  # mm, off-grid
    traj = track_points(fields, pts)
    assert traj.positions.shape == (3, 2, 3)
    np.testing.assert_allclose(traj.positions[0], pts, atol=1e-6)
    np.testing.assert_allclose(traj.positions[1], pts + np.array([1.0, -2.0, 0.5]), atol=1e-6)
    expected = pts.copy()
    expected[:, 0] += 0.1 * pts[:, 0]  # trilinear interpolation is exact on a linear field
    np.testing.assert_allclose(traj.positions[2], expected, atol=1e-5)
    np.testing.assert_allclose(traj.times, fields.times)


def test_track_points_rejects_outside_and_bad_shapes():
    fields = _fields()
    with pytest.raises(ValidationError, match="outside"):
        track_points(fields, np.array([[100.0, 0.0, 0.0]]))
    with pytest.raises(ValidationError, match=r"\(N, 3\)"):
        track_points(fields, np.zeros((2, 2)))


def test_track_points_on_phantom_grid_point_follows_field(tiny_ct):
    """A point on a voxel centre moves by exactly that voxel's field vector, and the tracked
    tumour centre moves like the phantom's tumour centroid (same direction, similar size)."""
    fields = tiny_ct.true_fields
    sp = np.asarray(fields.spacing)
    c0 = tiny_ct.tumour.positions[0, 0]
    voxel = np.round(c0 / sp).astype(int)
    traj = track_points(fields, voxel * sp)
    np.testing.assert_allclose(traj.positions[:, 0], voxel * sp + fields.fields[:, *voxel],
                               atol=1e-5)
    moved = track_points(fields, c0).positions[:, 0] - c0
    truth = tiny_ct.tumour.positions[:, 0] - c0
    k = int(np.argmax(np.linalg.norm(truth, axis=1)))
    assert np.linalg.norm(truth[k]) > 1.0
    cos = moved[k] @ truth[k] / (np.linalg.norm(moved[k]) * np.linalg.norm(truth[k]))
    assert cos > 0.95
    assert 0.7 < np.linalg.norm(moved[k]) / np.linalg.norm(truth[k]) < 1.3


def _blocks():
    vol = np.zeros((20, 20, 20))
    corners = [(5, 5, 5), (5, 14, 14), (14, 5, 14)]
    for c in corners:
        vol[c[0]:c[0] + 3, c[1]:c[1] + 3, c[2]:c[2] + 3] = 100.0
    return vol, corners


def test_pick_points_finds_high_contrast_blocks_near_roi():
    vol, corners = _blocks()
    roi = np.zeros_like(vol, bool)
    roi[8:12, 8:12, 8:12] = True
    pts = pick_points(vol, (1.0, 1.0, 1.0), roi, n_points=3, margin_mm=12.0,
                      min_distance_mm=4.0, sigma_mm=0.7, rho_mm=1.5)
    assert pts.shape == (3, 3)
    centres = np.array(corners) + 1.0
    # every picked point sits on a different block (within its corner region)
    nearest = [int(np.argmin(np.linalg.norm(centres - p, axis=1))) for p in pts]
    assert sorted(nearest) == [0, 1, 2]
    assert all(np.min(np.linalg.norm(centres - p, axis=1)) < 3.0 for p in pts)
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2)[np.triu_indices(3, 1)]
    assert d.min() >= 4.0


def test_pick_points_respects_margin_and_reports_too_few():
    vol, _ = _blocks()
    roi = np.zeros_like(vol, bool)
    roi[5:8, 5:8, 5:8] = True  # exactly on block 0; the others are > 8 mm away
    with pytest.raises(ConfigurationError, match="only 1"):
        pick_points(vol, (1.0, 1.0, 1.0), roi, n_points=2, margin_mm=2.0,
                    min_distance_mm=4.0, sigma_mm=0.7, rho_mm=1.5)
    with pytest.raises(ConfigurationError, match="empty"):
        pick_points(vol, (1.0, 1.0, 1.0), np.zeros_like(roi), n_points=1)


def test_corner_score_zero_on_edges_positive_on_corners():
    vol = np.zeros((16, 16, 16))
    vol[:, :, 8:] = 1.0  # a plane: contrast along one axis only
    s_plane = corner_score(vol, (1.0, 1.0, 1.0), sigma_mm=1.0, rho_mm=2.0)
    vol2 = np.zeros((16, 16, 16))
    vol2[8:, 8:, 8:] = 1.0  # a corner: contrast along all three
    s_corner = corner_score(vol2, (1.0, 1.0, 1.0), sigma_mm=1.0, rho_mm=2.0)
    assert s_plane[8, 8, 8] < 1e-6 * s_corner[8, 8, 8]
    assert s_corner[8, 8, 8] > 0


def test_pick_points_on_phantom(tiny_ct):
    vol = tiny_ct.sequence.frames[0]
    pts = pick_points(vol, tiny_ct.sequence.spacing, tiny_ct.tumour_mask, n_points=3,
                      margin_mm=10.0, min_distance_mm=5.0)
    sp = np.asarray(tiny_ct.sequence.spacing)
    from scipy import ndimage

    dist = ndimage.distance_transform_edt(~tiny_ct.tumour_mask, sampling=sp)
    idx = np.round(pts / sp).astype(int)
    assert np.all(dist[tuple(idx.T)] <= 10.0 + 1e-9)
