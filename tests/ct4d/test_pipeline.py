"""Forecasting points / surrogates and rebuilding predicted volumes."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.ct4d import (
    LinearCorrespondence,
    NadarayaWatsonCorrespondence,
    forecast_series,
    make_breathing_series,
    point_errors,
    predict_volume,
    roi_mask_xyz,
    run_ct4d,
    track_points,
    training_pairs,
    volume_metrics,
)
from motionpredict.errors import ConfigurationError, ValidationError


def _sine(n=300, period_s=0.4, f_hz=0.25):
    t = np.arange(n) * period_s
    x = np.stack([10 * np.sin(2 * np.pi * f_hz * t), 3 * np.cos(2 * np.pi * f_hz * t),
                  np.zeros(n)], axis=1)
    return x


def test_forecast_series_linear_predicts_a_sinusoid_and_aligns_targets():
    y = _sine()
    fc = forecast_series(y, 0.4, method="linear", horizon_s=0.8, train_samples=100,
                         params={"k": 6, "ridge": 1e-6})
    assert fc.horizon_steps == 2 and fc.horizon_s == pytest.approx(0.8)
    assert np.all(np.isnan(fc.predicted[:2]))
    errs = fc.point_errors()
    assert errs["rmse_mm"] < 0.01  # an AR model is exact on a pure sinusoid
    last = forecast_series(y, 0.4, method="no-prediction", horizon_s=0.8, train_samples=100)
    # no prediction: the error is the 2-step change of the signal
    want = np.linalg.norm(y[100:] - y[98:-2], axis=1)
    assert last.point_errors()["rmse_mm"] == pytest.approx(np.sqrt(np.mean(want**2)), rel=1e-9)


def test_forecast_series_options_are_checked():
    y = _sine(50)
    with pytest.raises(ConfigurationError, match="whole"):
        forecast_series(y, 0.4, method="lms", horizon_s=0.5, train_samples=20)
    with pytest.raises(ConfigurationError, match="train_samples"):
        forecast_series(y, 0.4, method="lms", horizon_s=0.4, train_samples=50)
    with pytest.raises(ConfigurationError, match="unknown method"):
        forecast_series(y, 0.4, method="oracle", horizon_s=0.4, train_samples=20)
    with pytest.raises(ValidationError, match="finite"):
        forecast_series(np.full((50, 3), np.nan), 0.4, method="lms", horizon_s=0.4,
                        train_samples=20)
    fc = forecast_series(y, 0.4, method="lms", horizon_s=0.5, train_samples=20,
                         round_horizon=True)
    assert fc.horizon_steps == 1


def test_point_and_volume_metrics_values():
    true = np.zeros((4, 1, 3))
    pred = np.zeros((4, 1, 3))
    pred[:, 0, 0] = [3.0, -3.0, 4.0, 0.0]
    e = point_errors(pred, true)
    assert e["rmse_mm"] == pytest.approx(np.sqrt((9 + 9 + 16) / 4))
    assert e["max_mm"] == pytest.approx(4.0)
    assert e["jitter_mm"] == pytest.approx((6 + 7 + 4) / 3)
    assert e["true_jitter_mm"] == 0.0
    with pytest.raises(ValidationError, match="NaN"):
        point_errors(np.full((4, 1, 3), np.nan), true)
    rng = np.random.default_rng(0)
    v = rng.standard_normal((5, 6, 7))
    mask = np.zeros(v.shape, bool)
    mask[1:4, 2:5, 1:6] = True
    m = volume_metrics(v, v, mask)
    assert m["pearson"] == pytest.approx(1.0) and m["nrmse"] == pytest.approx(0.0)
    w = v.copy()
    w[~mask] = 0.0  # outside the ROI: no effect
    assert volume_metrics(w, v, mask)["nrmse"] == pytest.approx(0.0)
    m2 = volume_metrics(2 * v + 1, v, mask)
    assert m2["pearson"] == pytest.approx(1.0) and m2["nrmse"] > 1.0


def test_roi_mask_xyz_follows_matlab_axes():
    mask = roi_mask_xyz({"x": [2, 3], "y": [1, 4], "z": [5, 5]}, (6, 5, 4))
    assert mask.sum() == 2 * 4 * 1
    assert mask[4, 0, 1] and mask[4, 3, 2] and not mask[3, 0, 1]
    with pytest.raises(ConfigurationError, match="x, y and z"):
        roi_mask_xyz({"x": [1, 2]}, (6, 5, 4))


@pytest.mark.parametrize("bad", [[1, 2, 3], [4], []])
def test_roi_mask_xyz_rejects_a_range_that_is_not_two_numbers(bad):
    """A malformed range is a user error naming the ROI (it was an unpacking ValueError)."""
    with pytest.raises(ConfigurationError, match="x, y and z ranges"):
        roi_mask_xyz({"x": bad, "y": [1, 2], "z": [1, 2]}, (6, 5, 4))


@pytest.fixture(scope="module")
def series_and_points(tiny_ct):
    ref = tiny_ct.sequence.frames[0]
    s = make_breathing_series(ref, tiny_ct.true_fields, seed=5, duration_s=80.0)
    c0 = tiny_ct.tumour.positions[0]
    pts = np.concatenate([c0, c0 + np.array([[5.0, 0.0, 0.0]])])
    return s, pts


def test_run_ct4d_points_to_volumes(tiny_ct, series_and_points):
    s, pts = series_and_points
    traj = s.track(pts)
    phase_pts = track_points(tiny_ct.true_fields, pts).as_series()
    sur, fields = training_pairs(s, traj.as_series(), phase_pts, train_samples=100,
                                 n_from_train=8)
    assert sur.shape == (18, 6) and fields.shape == (18, *tiny_ct.true_fields.shape, 3)
    model = LinearCorrespondence().fit(sur, fields, mask=tiny_ct.tumour_mask)
    run = run_ct4d(s, traj.positions, model, method="linear", horizon_s=0.4, train_samples=100,
                   roi_mask=tiny_ct.tumour_mask, volume_samples=3,
                   params={"k": 8, "ridge": 1e-4})
    row = run.row()
    assert row["method"] == "linear" and row["horizon_steps"] == 1
    assert row["rmse_mm"] < 0.5 * row["true_jitter_mm"]  # better than no prediction
    assert len(run.volumes.indices) == 3 and run.volumes.indices.min() >= 100
    assert row["pearson_mean"] > 0.95 and row["nrmse_mean"] < 0.4
    assert row["field_error_mm"] < 0.5
    assert row["warp_ms"] > 0 and row["correspondence_ms"] > 0 and row["forecast_ms"] > 0


def test_surrogate_driven_variant_with_the_phantom_signal(tiny_ct, series_and_points):
    """External signal (phantom surface signal at the phases) -> NW model -> 3D field."""
    s, _ = series_and_points
    signal = s.signal(tiny_ct.signal.signal)
    sur, fields = training_pairs(s, signal, tiny_ct.signal.signal[:, None], train_samples=100,
                                 n_from_train=0)
    model = NadarayaWatsonCorrespondence().fit(sur, fields, mask=tiny_ct.tumour_mask)
    run = run_ct4d(s, signal, model, method="lms", horizon_s=0.4, train_samples=100,
                   roi_mask=tiny_ct.tumour_mask, volume_samples=2, points=False,
                   params={"k": 6, "eta": 0.01})
    assert run.points is None
    assert run.volumes.pearson.min() > 0.9
    with pytest.raises(ValidationError, match="3D points"):
        run.forecast.point_errors()


def test_predict_volume_with_perfect_surrogate_matches_actual(tiny_ct, series_and_points):
    s, pts = series_and_points
    traj = s.track(pts)
    phase_pts = track_points(tiny_ct.true_fields, pts).as_series()
    sur, fields = training_pairs(s, traj.as_series(), phase_pts, train_samples=100,
                                 n_from_train=8)
    model = LinearCorrespondence().fit(sur, fields)
    k = 150
    vol, u, _, _ = predict_volume(s.reference, model, traj.as_series()[k], s.spacing)
    assert np.linalg.norm(u - s.field(k), axis=-1).max() < 0.05  # exact up to round-off
    m = volume_metrics(vol, s.volume(k), tiny_ct.tumour_mask)
    assert m["pearson"] > 0.999


def test_validation_window_and_test_start():
    y = _sine(120)
    fc = forecast_series(y, 0.4, method="no-prediction", horizon_s=0.4, train_samples=40,
                         test_start=80)
    assert fc.test == slice(80, None)
    val = fc.point_errors(slice(40, 80))
    want = np.linalg.norm(y[40:80] - y[39:79], axis=1)
    assert val["rmse_mm"] == pytest.approx(np.sqrt(np.mean(want**2)))
    test = fc.point_errors()
    want = np.linalg.norm(y[80:] - y[79:-1], axis=1)
    assert test["max_mm"] == pytest.approx(want.max())
