"""Metrics against hand-computed values and scikit-image's SSIM."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict import metrics as M
from motionpredict.errors import ValidationError


def test_dvf_error_constant_offset_and_roi() -> None:
    ref = np.zeros((3, 8, 10, 2))
    pred = ref.copy()
    pred[..., 0] = 3.0
    pred[..., 1] = 4.0  # |(3, 4)| = 5 mm everywhere
    pred[1, 2, 3] = (0.0, 12.0)  # one outlier of 12 mm in frame 1
    mean, mx = M.dvf_error_mm(pred, ref)
    assert mean[0] == pytest.approx(5.0)
    assert mean[1] == pytest.approx((5.0 * 79 + 12.0) / 80)
    assert mx.tolist() == pytest.approx([5.0, 12.0, 5.0])
    roi = np.zeros((8, 10), bool)
    roi[:2, :] = True
    rmean, rmx = M.dvf_error_mm(pred, ref, roi)
    assert rmean[1] == pytest.approx(5.0) and rmx[1] == pytest.approx(5.0)
    fm = M.field_metrics(pred, ref, roi=roi)
    assert fm["dvf_max_mm"] == pytest.approx(12.0)
    assert fm["dvf_roi_max_mm"] == pytest.approx(5.0)


def test_dvf_error_rejects_mismatch_and_empty_roi() -> None:
    with pytest.raises(ValidationError, match="shapes differ"):
        M.dvf_error_mm(np.zeros((2, 4, 4, 2)), np.zeros((2, 4, 5, 2)))
    with pytest.raises(ValidationError, match="empty"):
        M.dvf_error_mm(np.zeros((2, 4, 4, 2)), np.zeros((2, 4, 4, 2)), np.zeros((4, 4), bool))


def test_nrmse_and_pearson_reference_values() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=(5, 16, 16))
    assert M.nrmse(y, y) == 0.0
    assert M.nrmse(np.full_like(y, y.mean()), y) == pytest.approx(1.0)
    assert M.pearson(3.0 * y[0] + 7.0, y[0]) == pytest.approx(1.0)
    assert M.pearson(-y[0], y[0]) == pytest.approx(-1.0)
    with pytest.raises(ValidationError, match="constant"):
        M.nrmse(y, np.ones_like(y))


@pytest.mark.parametrize("data_range", [255.0, 1.0])
def test_ssim_matches_scikit_image(data_range: float) -> None:
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(1)
    a = rng.uniform(0, data_range, size=(40, 36))
    b = np.clip(a + rng.normal(0, 0.1 * data_range, size=a.shape), 0, data_range)
    ours = M.ssim(b, a, data_range=data_range)
    ref = structural_similarity(b, a, data_range=data_range, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    assert ours == pytest.approx(ref, abs=1e-6)
    assert M.ssim(a, a, data_range=data_range) == pytest.approx(1.0)


def test_image_metrics_ssim_ranges_differ_for_small_intensities() -> None:
    rng = np.random.default_rng(2)
    a = rng.uniform(0, 1, size=(2, 32, 32))
    b = a + rng.normal(0, 0.05, size=a.shape)
    m = M.image_metrics(b, a, true_range=1.0)
    # With L = 255 the stabilising constants swamp unit-range data: SSIM is inflated.
    assert m["ssim_255"] > 0.999 > m["ssim_true_range"]
    roi = np.zeros((32, 32), bool)
    roi[4:20, 6:30] = True
    mr = M.image_metrics(b, a, true_range=1.0, mask=roi)
    assert mr["nrmse"] == pytest.approx(M.nrmse(b[:, roi], a[:, roi]))


def test_marker_metrics_known_errors() -> None:
    t = np.arange(20) * 0.1
    true = np.zeros((20, 3, 3))
    true[:, :, 2] = 10 * np.sin(2 * np.pi * t / 4)[:, None]
    pred = true.copy()
    pred[:, :, 0] += 3.0  # 3 mm error everywhere
    m = M.marker_metrics(pred, true)
    assert m["mae_mm"] == pytest.approx(3.0)
    assert m["rmse_mm"] == pytest.approx(3.0)
    assert m["max_mm"] == pytest.approx(3.0)
    den = np.sum((true - true.mean(axis=0)) ** 2)
    assert m["nrmse"] == pytest.approx(np.sqrt(20 * 3 * 9 / den))
    steps = np.abs(np.diff(true[:, 0, 2]))
    assert m["jitter_mm"] == pytest.approx(steps.mean())
    flat = M.marker_metrics(pred.reshape(20, 9), true.reshape(20, 9))
    assert flat == pytest.approx(m)


def test_stage_summary_adds_total() -> None:
    s = M.stage_summary({"a": np.array([1.0, 2.0, 3.0]), "b": np.array([10.0, 10.0, 10.0])})
    assert s["a_median_ms"] == 2.0
    assert s["total_median_ms"] == 12.0
    assert s["total_p99_ms"] == pytest.approx(12.98)
