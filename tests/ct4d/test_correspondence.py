"""Linear and Nadaraya-Watson correspondence models (surrogate -> 3D field)."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.ct4d import (
    LinearCorrespondence,
    NadarayaWatsonCorrespondence,
    make_correspondence,
)
from motionpredict.errors import ConfigurationError, ValidationError

SHAPE = (4, 5, 6)


def _linear_data(rng, n=12, p=2):
    basis = rng.standard_normal((p, *SHAPE, 3)).astype(np.float32)
    offset = rng.standard_normal((*SHAPE, 3)).astype(np.float32)
    s = rng.uniform(-3, 3, size=(n, p))
    fields = np.tensordot(s, basis, axes=(1, 0)) + offset
    return s, fields.astype(np.float32), basis, offset


def test_linear_model_recovers_an_exact_linear_map_and_extrapolates(rng):
    s, fields, basis, offset = _linear_data(rng)
    model = LinearCorrespondence().fit(s, fields)
    assert model.chosen_ == min(model.grid)  # no noise: the smallest penalty wins
    assert model.cv_error_mm_ < 1e-3
    query = np.array([5.0, -6.0])  # outside the training range
    want = np.tensordot(query, basis, axes=(0, 0)) + offset
    np.testing.assert_allclose(model.predict(query), want, atol=1e-3)
    assert model.predict(s[:3]).shape == (3, *SHAPE, 3)
    np.testing.assert_allclose(model.coefficients(s[:4]).sum(axis=1), 1.0, atol=1e-9)


def test_linear_model_picks_a_penalty_under_noise(rng):
    s, fields, _, _ = _linear_data(rng, n=10, p=6)
    noisy = fields + 2.0 * rng.standard_normal(fields.shape).astype(np.float32)
    model = LinearCorrespondence().fit(s, noisy)
    errors = list(model.cv_table_.values())
    assert model.cv_error_mm_ == min(errors)
    assert model.chosen_ > min(model.grid)


def test_cv_error_equals_brute_force_leave_one_out(rng):
    s = rng.uniform(size=(7, 3))
    fields = rng.standard_normal((7, *SHAPE, 3)).astype(np.float32)
    mask = np.zeros(SHAPE, bool)
    mask[1:3, 2:4, :] = True
    for model in (NadarayaWatsonCorrespondence(widths=(0.4,)),
                  LinearCorrespondence(ridges=(0.05,))):
        model.fit(s, fields, mask=mask)
        sq = []
        for i in range(7):
            keep = np.arange(7) != i
            # explicit fit-without-i prediction, built as a field (standardisation: all pairs)
            z = model.standardizer_.transform(s)
            c = model._coefficients(z[i:i + 1], z[keep], model.grid[0])[0]
            pred = np.tensordot(c, fields[keep], axes=(0, 0))
            sq.append(np.sum((pred - fields[i])[mask] ** 2))
        brute = np.sqrt(np.sum(sq) / (7 * mask.sum()))
        assert model.cv_error_mm_ == pytest.approx(brute, rel=1e-5)


def test_nadaraya_watson_interpolates_and_stays_in_the_hull(rng):
    t = np.linspace(0.0, 1.0, 11)
    amp = np.sin(np.pi * t)  # a non-linear (rising then falling) relation
    pattern = rng.standard_normal((*SHAPE, 3)).astype(np.float32)
    fields = (amp[:, None, None, None, None] * pattern).astype(np.float32)
    nw = NadarayaWatsonCorrespondence().fit(t, fields)
    lin = LinearCorrespondence().fit(t, fields)
    assert nw.cv_error_mm_ < lin.cv_error_mm_  # the linear model cannot bend
    assert nw.chosen_ < max(nw.grid)
    mid = nw.predict(np.array([0.55]))
    np.testing.assert_allclose(mid, np.sin(np.pi * 0.55) * pattern,
                               atol=0.1 * np.abs(pattern).max())
    far = nw.predict(np.array([10.0]))  # far outside: the nearest training field (t = 1)
    np.testing.assert_allclose(far, fields[-1], atol=1e-4)
    c = nw.coefficients(np.array([[0.3], [0.9]]))
    assert np.all(c >= 0) and np.allclose(c.sum(axis=1), 1.0)


def test_linear_model_on_the_phantom_is_exact_for_points(tiny_ct):
    """The phantom's field is e(t) B(x): tracked points are an exact linear surrogate."""
    from motionpredict.ct4d import track_points

    c0 = tiny_ct.tumour.positions[0]
    s = track_points(tiny_ct.true_fields, c0).as_series()
    model = LinearCorrespondence().fit(s, tiny_ct.true_fields, mask=tiny_ct.tumour_mask)
    assert model.cv_error_mm_ < 0.01
    pred = model.predict(s[4])
    err = np.linalg.norm(pred - tiny_ct.true_fields.fields[4], axis=-1)[tiny_ct.tumour_mask]
    assert err.max() < 0.01


def test_errors():
    with pytest.raises(ConfigurationError, match="fit"):
        LinearCorrespondence().predict(np.zeros(2))
    with pytest.raises(ConfigurationError, match="at least 3"):
        LinearCorrespondence().fit(np.zeros((2, 1)), np.zeros((2, *SHAPE, 3)))
    with pytest.raises(ValidationError, match="surrogate samples"):
        LinearCorrespondence().fit(np.zeros((4, 1)), np.zeros((5, *SHAPE, 3)))
    with pytest.raises(ValidationError, match="fields must be"):
        LinearCorrespondence().fit(np.zeros((4, 1)), np.zeros((4, 3, 3)))
    with pytest.raises(ConfigurationError, match="positive"):
        NadarayaWatsonCorrespondence(widths=(0.0,))
    with pytest.raises(ConfigurationError, match="unknown correspondence"):
        make_correspondence("spline")
    model = NadarayaWatsonCorrespondence().fit(np.arange(4.0), np.ones((4, *SHAPE, 3)))
    with pytest.raises(ValidationError, match="1 values"):
        model.predict(np.zeros((2, 3)))
