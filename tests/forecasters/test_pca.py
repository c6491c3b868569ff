"""PCA motion model: exact low-rank recovery, round trips, truncation error in mm, n_cp choice."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.motion_model import PCAMotionModel, choose_n_components
from motionpredict.sequences import DisplacementFieldSeries


def low_rank_fields(t: int = 40, shape=(12, 10), rank: int = 2, seed: int = 0):
    """Fields ``mean + sum_c a_c(t) phi_c`` with orthogonal modes of known amplitude (mm)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape)) * len(shape)
    q, _ = np.linalg.qr(rng.standard_normal((n, rank + 1)))
    modes = q.T  # orthonormal rows
    amps = rng.standard_normal((t, rank + 1)) * np.array([5.0, 2.0, 0.5][: rank + 1])
    amps[:, rank] = 0.0  # the extra mode is absent from the training fields
    mean = rng.standard_normal(n) * 0.3
    fields = (mean + amps @ modes).reshape(t, *shape, len(shape))
    return fields, modes, mean


def test_exact_recovery_of_a_rank_two_motion() -> None:
    fields, modes, _ = low_rank_fields()
    model = PCAMotionModel(2).fit(fields)
    np.testing.assert_allclose(model.truncation_error_mm(fields), 0.0, atol=1e-9)
    # the fitted modes span the true ones
    proj = model.components_ @ modes[:2].T
    np.testing.assert_allclose(np.abs(np.linalg.det(proj)), 1.0, atol=1e-9)
    w = model.project(fields)
    assert w.shape == (40, 2)
    np.testing.assert_allclose(model.reconstruct(w), fields, atol=1e-9)
    np.testing.assert_allclose(w.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(model.explained_variance_, w.var(axis=0, ddof=1), rtol=1e-9)


def test_truncation_error_in_mm_equals_the_dropped_mode_norm() -> None:
    fields, modes, mean = low_rank_fields()
    model = PCAMotionModel(2).fit(fields)
    # a later frame holding 3 mm along the unseen third mode
    extra = (mean + 3.0 * modes[2]).reshape(1, 12, 10, 2)
    err = model.truncation_error_mm(extra)
    residual = (3.0 * modes[2]).reshape(12, 10, 2)
    expected = np.linalg.norm(residual, axis=-1).mean()
    np.testing.assert_allclose(err, [expected], rtol=1e-9)
    # ROI: mean over the selected pixels only
    mask = np.zeros((12, 10), bool)
    mask[2:5, 3:8] = True
    expected_roi = np.linalg.norm(residual, axis=-1)[mask].mean()
    np.testing.assert_allclose(model.truncation_error_mm(extra, mask), [expected_roi], rtol=1e-9)


def test_one_component_error_matches_the_second_mode() -> None:
    fields, _, _ = low_rank_fields()
    model = PCAMotionModel(1).fit(fields)
    rebuilt = model.reconstruct(model.project(fields))
    np.testing.assert_allclose(
        model.truncation_error_mm(fields),
        np.linalg.norm(fields - rebuilt, axis=-1).reshape(40, -1).mean(axis=1),
    )
    assert model.truncation_error_mm(fields).mean() > 0.05


def test_fit_uses_training_frames_only_and_accepts_series() -> None:
    fields, _, _ = low_rank_fields(t=60)
    series = DisplacementFieldSeries(fields[:30], spacing=(1.5, 2.0), times=np.arange(30) * 0.3)
    a = PCAMotionModel(2).fit(series)
    b = PCAMotionModel(2).fit(fields[:30])
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-6)
    c = PCAMotionModel(2).fit(fields)
    assert not np.allclose(a.mean_, c.mean_)


def test_three_dimensional_fields_and_single_weight_vector() -> None:
    fields, _, _ = low_rank_fields(t=20, shape=(4, 5, 6), rank=1)
    model = PCAMotionModel(1).fit(fields)
    w = model.project(fields)
    assert w.shape == (20, 1)
    assert model.reconstruct(w[3]).shape == (4, 5, 6, 3)
    np.testing.assert_allclose(model.reconstruct(w[3]), fields[3], atol=1e-9)


def test_choose_n_components_on_validation() -> None:
    fields, _, _ = low_rank_fields(t=60, rank=2)
    choice = choose_n_components(fields[:30], fields[30:], max_components=4)
    assert choice.n_components == 2
    assert choice.errors_mm[1] > 0.1
    assert choice.errors_mm[2] < 1e-8
    loose = choose_n_components(fields[:30], fields[30:], tolerance_mm=10.0)
    assert loose.n_components == 1


def test_invalid_inputs() -> None:
    fields, _, _ = low_rank_fields()
    with pytest.raises(ConfigurationError):
        PCAMotionModel(0)
    with pytest.raises(ConfigurationError, match="training frames"):
        PCAMotionModel(50).fit(fields)
    with pytest.raises(ConfigurationError, match="fit"):
        PCAMotionModel(2).project(fields)
    model = PCAMotionModel(2).fit(fields)
    with pytest.raises(ValidationError, match="grid"):
        model.project(fields[:, :6])
    with pytest.raises(ValidationError):
        model.reconstruct(np.zeros((3, 5)))
    bad = fields.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        model.project(bad)
    with pytest.raises(ValidationError, match="mask"):
        model.truncation_error_mm(fields, np.ones((3, 3), bool))
    with pytest.raises(ValidationError):
        PCAMotionModel(1).fit(np.zeros((5, 4, 4)))
