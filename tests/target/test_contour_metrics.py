"""Target masks moved by fields and their per-frame metrics, checked against SimpleITK / scipy."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.distance import cdist

from motionpredict.errors import MotionPredictError
from motionpredict.phantom.cine import make_cine
from motionpredict.target import (
    centroid_mm,
    move_mask,
    overlap_metrics,
    track_fields,
)
from motionpredict.target.metrics import surface


def _ellipse(
    shape: tuple[int, ...], centre: tuple[float, ...], radii: tuple[float, ...]
) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii, strict=True)) <= 1.0


def _sitk(mask: np.ndarray, spacing: tuple[float, ...]) -> sitk.Image:
    img = sitk.GetImageFromArray(mask.astype(np.uint8))
    img.SetSpacing(tuple(float(s) for s in reversed(spacing)))  # SimpleITK: x (column) first
    return img


def _brute_surface_distances(
    a: np.ndarray, b: np.ndarray, spacing: tuple[float, ...]
) -> np.ndarray:
    pa = np.argwhere(surface(a)) * np.asarray(spacing)
    pb = np.argwhere(surface(b)) * np.asarray(spacing)
    return cdist(pa, pb).min(axis=1)


CASES = [
    ((64, 72), (1.5, 0.8), (30.0, 33.0), (12.0, 9.0), (35.3, 31.1), (10.0, 11.0)),
    ((64, 72), (1.818, 1.818), (30.0, 40.0), (8.0, 8.0), (31.0, 44.0), (11.0, 6.0)),
    (
        (20, 40, 36),
        (2.5, 1.0, 1.2),
        (10.0, 20.0, 18.0),
        (5.0, 9.0, 7.0),
        (11.0, 23.0, 16.5),
        (4.0, 8.0, 8.0),
    ),
]


@pytest.mark.parametrize(("shape", "spacing", "c1", "r1", "c2", "r2"), CASES)
def test_metrics_match_simpleitk_and_bruteforce(shape, spacing, c1, r1, c2, r2) -> None:
    a = _ellipse(shape, c1, r1)
    b = _ellipse(shape, c2, r2)
    m = overlap_metrics(a, b, spacing)

    overlap = sitk.LabelOverlapMeasuresImageFilter()
    overlap.Execute(_sitk(b, spacing), _sitk(a, spacing))
    assert m["dice"] == pytest.approx(overlap.GetDiceCoefficient(), abs=1e-12)

    hd = sitk.HausdorffDistanceImageFilter()
    hd.Execute(_sitk(a, spacing), _sitk(b, spacing))
    assert m["hd_mm"] == pytest.approx(hd.GetHausdorffDistance(), rel=1e-9)

    d_ab = _brute_surface_distances(a, b, spacing)
    d_ba = _brute_surface_distances(b, a, spacing)
    assert m["hd95_mm"] == pytest.approx(
        max(np.percentile(d_ab, 95), np.percentile(d_ba, 95)), rel=1e-9
    )
    assert m["masd_mm"] == pytest.approx(np.concatenate([d_ab, d_ba]).mean(), rel=1e-9)

    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(_sitk(a, spacing))
    ca = np.array(stats.GetCentroid(1))[::-1]  # back to array-axis order
    stats.Execute(_sitk(b, spacing))
    cb = np.array(stats.GetCentroid(1))[::-1]
    np.testing.assert_allclose(centroid_mm(a, spacing), ca, rtol=1e-9)
    assert m["centroid_distance_mm"] == pytest.approx(float(np.linalg.norm(ca - cb)), rel=1e-9)


def test_identical_and_empty_masks() -> None:
    a = _ellipse((30, 30), (15.0, 15.0), (6.0, 4.0))
    m = overlap_metrics(a, a, (1.0, 2.0))
    assert m == {
        "dice": 1.0,
        "hd95_mm": 0.0,
        "hd_mm": 0.0,
        "masd_mm": 0.0,
        "centroid_distance_mm": 0.0,
    }
    none = np.zeros_like(a)
    assert overlap_metrics(none, none, (1.0, 1.0))["dice"] == 1.0
    one_empty = overlap_metrics(a, none, (1.0, 1.0))
    assert one_empty["dice"] == 0.0 and np.isinf(one_empty["hd95_mm"])
    with pytest.raises(MotionPredictError):
        overlap_metrics(a, a[:-1], (1.0, 1.0))
    with pytest.raises(MotionPredictError):
        overlap_metrics(a, a, (1.0, -1.0))


@pytest.mark.parametrize(
    ("shape", "spacing", "shift_px"),
    [((60, 50), (1.5, 0.8), (4, -3)), ((24, 30, 28), (2.5, 1.0, 1.2), (2, 3, -4))],
)
def test_translation_moves_mask_and_centroid_exactly(shape, spacing, shift_px) -> None:
    centre = tuple(n / 2 for n in shape)
    mask = _ellipse(shape, centre, tuple(n / 6 for n in shape))
    shift_mm = np.asarray(shift_px) * np.asarray(spacing)
    field = np.broadcast_to(shift_mm, (*shape, len(shape))).copy()
    moved = move_mask(mask, field, spacing)
    expected = np.roll(mask, shift_px, axis=tuple(range(len(shape))))
    np.testing.assert_array_equal(moved, expected)
    np.testing.assert_allclose(
        centroid_mm(moved, spacing) - centroid_mm(mask, spacing), shift_mm, atol=1e-9
    )
    # channel-first field works too
    np.testing.assert_array_equal(move_mask(mask, np.moveaxis(field, -1, 0), spacing), expected)

    # a prediction off by one voxel along axis 0: centroid error is one spacing, Dice computable
    off = field.copy()
    off[..., 0] += spacing[0]
    track = track_fields(mask, off[None], field[None], spacing)
    assert track.metrics["centroid_distance_mm"][0] == pytest.approx(spacing[0], abs=1e-9)
    n = mask.sum()
    inter = np.logical_and(expected, np.roll(expected, 1, axis=0)).sum()
    assert track.metrics["dice"][0] == pytest.approx(2 * inter / (2 * n))
    np.testing.assert_allclose(
        track.actual_centroid_mm[0] - track.reference_centroid_mm, shift_mm, atol=1e-9
    )


def test_phantom_tumour_follows_true_fields() -> None:
    ph = make_cine(seed=3, n_frames=24, shape=(96, 96), spacing_mm=(2.0, 2.0), noise_sigma=0.0)
    fields = ph.true_fields.fields
    sp = ph.sequence.spacing
    track = track_fields(ph.tumour_mask, fields, fields, sp)
    assert np.all(track.metrics["dice"] == 1.0)
    # the centroid of the moved mask follows the phantom's exact tumour centroid within a pixel
    err = np.linalg.norm(track.actual_centroid_mm - ph.tumour.positions[:, 0, :2], axis=1)
    motion = np.linalg.norm(ph.tumour.positions[:, 0, :2] - ph.tumour.positions[0, 0, :2], axis=1)
    assert motion.max() > 3.0  # the tumour does move by more than a pixel
    assert err.max() < 0.5 * max(sp)


def test_malformed_inputs_raise() -> None:
    mask = _ellipse((20, 20), (10.0, 10.0), (4.0, 4.0))
    with pytest.raises(MotionPredictError):
        move_mask(mask, np.zeros((20, 21, 2)), (1.0, 1.0))
    bad = np.zeros((20, 20, 2))
    bad[3, 3, 0] = np.nan
    with pytest.raises(MotionPredictError):
        move_mask(mask, bad, (1.0, 1.0))
    with pytest.raises(MotionPredictError):
        track_fields(mask, np.zeros((2, 20, 20, 2)), np.zeros((3, 20, 20, 2)), (1.0, 1.0))


def test_track_pipeline_on_phantom(tmp_path) -> None:
    from motionpredict.pipeline import OnlineFramePipeline
    from motionpredict.target import mask_from_label, mask_from_sidecar, track_pipeline

    ph = make_cine(seed=3, n_frames=32, shape=(48, 48))
    pipe = OnlineFramePipeline(
        ph.sequence, method="lms", horizon_s=0.5, n_components=2, train_frames=16
    )
    track = track_pipeline(pipe, ph.tumour_mask, keep_masks=True)
    h = pipe.horizon_steps
    np.testing.assert_array_equal(track.targets, np.arange(16 + h, 32))
    assert track.predicted_masks is not None and track.predicted_masks.shape == (
        32 - 16 - h,
        48,
        48,
    )
    for k in ("dice", "hd95_mm", "centroid_distance_mm"):
        assert np.all(np.isfinite(track.metrics[k]))
    assert np.all((track.metrics["dice"] > 0.3) & (track.metrics["dice"] <= 1.0))
    s = track.summary()
    assert s["n_frames"] == len(track.targets)

    # target masks from a label image and from a sidecar ROI box
    label = np.zeros((48, 48), np.uint8)
    label[10:20, 5:9] = 2
    sitk.WriteImage(sitk.GetImageFromArray(label), str(tmp_path / "label.mha"))
    np.testing.assert_array_equal(mask_from_label(tmp_path / "label.mha", (48, 48)), label == 2)
    with pytest.raises(MotionPredictError):
        mask_from_label(tmp_path / "label.mha", (48, 40))
    with pytest.raises(MotionPredictError):
        mask_from_label(tmp_path / "missing.mha", (48, 48))
    (tmp_path / "sequence.json").write_text('{"roi": {"x": [6, 9], "y": [11, 20]}}')
    np.testing.assert_array_equal(mask_from_sidecar(tmp_path, (48, 48)), label == 2)
    (tmp_path / "sequence.json").write_text("{}")
    with pytest.raises(MotionPredictError):
        mask_from_sidecar(tmp_path, (48, 48))
