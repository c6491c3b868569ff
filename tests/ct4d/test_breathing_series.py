"""The breathing-length series cycled through the phases of a 4DCT."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.ct4d import SeriesParams, draw_series_params, make_breathing_series
from motionpredict.ct4d.points import sample_field
from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.sequences import DisplacementFieldSeries


def _phase_fields(n=10, shape=(6, 7, 8), spacing=(2.0, 1.0, 1.0)):
    f = np.zeros((n, *shape, 3), np.float32)
    for i in range(n):
        f[i, ..., 0] = 4.0 * np.sin(np.pi * i / n) ** 2  # SI excursion per phase, mm
        f[i, ..., 1] = -0.5 * i
    return DisplacementFieldSeries(f, spacing, np.arange(n) * 0.4)


def test_same_seed_same_series_and_record_replays():
    a = draw_series_params(seed=7, duration_s=60.0)
    b = draw_series_params(seed=7, duration_s=60.0)
    c = draw_series_params(seed=8, duration_s=60.0)
    assert a == b and a != c
    again = SeriesParams.from_dict(a.to_dict())
    assert again == a
    ref = np.zeros((6, 7, 8), np.float32)
    s1 = make_breathing_series(ref, _phase_fields(), params=a)
    s2 = make_breathing_series(ref, _phase_fields(), params=again)
    np.testing.assert_array_equal(s1.phase, s2.phase)
    np.testing.assert_array_equal(s1.field(33), s2.field(33))


def test_regular_series_cycles_phases_at_the_rate():
    """No variability: a 4 s period at 2.5 Hz visits phases 0, 1, ..., 9, 0, ... exactly."""
    params = draw_series_params(seed=0, rate_hz=2.5, duration_s=20.0, mean_period_s=4.0,
                                period_cv=0.0, amplitude_cv=0.0, drift_sd_mm_per_min=0.0,
                                wander_mm=0.0)
    fields = _phase_fields()
    s = make_breathing_series(np.zeros((6, 7, 8)), fields, params=params)
    assert s.n_samples == 50 and s.frame_period_s == pytest.approx(0.4)
    np.testing.assert_allclose(s.phase, np.arange(50) % 10, atol=1e-9)
    np.testing.assert_allclose(s.amplitude, 1.0)
    np.testing.assert_allclose(s.drift_mm, 0.0)
    for k in (0, 3, 17, 49):
        np.testing.assert_allclose(s.field(k), fields.fields[k % 10], atol=1e-6)


def test_interpolation_amplitude_and_drift_follow_the_model():
    params = draw_series_params(seed=4, duration_s=120.0, period_cv=0.2, amplitude_cv=0.2,
                                drift_sd_mm_per_min=2.0, wander_mm=1.0)
    fields = _phase_fields()
    s = make_breathing_series(np.zeros((6, 7, 8)), fields, params=params)
    assert np.all((s.phase >= 0) & (s.phase < 10))
    assert s.amplitude.std() > 0.01 and np.abs(s.drift_mm).max() > 0.0
    assert s.drift_mm[0] == 0.0
    periods = np.asarray(params.cycle_periods_s)
    assert np.all((periods >= 2.0) & (periods <= 8.0))
    for k in (5, 77, 250):
        i, f = int(np.floor(s.phase[k])), s.phase[k] % 1.0
        want = s.amplitude[k] * ((1 - f) * fields.fields[i] + f * fields.fields[(i + 1) % 10])
        want[..., 0] += s.drift_mm[k]
        np.testing.assert_allclose(s.field(k), want, atol=1e-5)


def test_track_equals_field_sampling_and_signal_is_interpolated():
    params = draw_series_params(seed=2, duration_s=30.0, drift_sd_mm_per_min=3.0)
    fields = _phase_fields()
    s = make_breathing_series(np.zeros((6, 7, 8)), fields, params=params)
    pts = np.array([[4.0, 2.5, 3.0], [8.0, 5.0, 6.5]])
    traj = s.track(pts)
    assert traj.positions.shape == (s.n_samples, 2, 3)
    idx = pts / np.asarray(fields.spacing)
    for k in (0, 11, 60):
        np.testing.assert_allclose(traj.positions[k], pts + sample_field(s.field(k), idx),
                                   atol=1e-5)
    sig = s.signal(np.arange(10.0))
    k = 11
    i, f = int(np.floor(s.phase[k])), s.phase[k] % 1.0
    assert sig[k, 0] == pytest.approx(s.amplitude[k] * ((1 - f) * i + f * ((i + 1) % 10)))


def test_volume_is_reference_warped_and_phase_zero_gives_reference(tiny_ct):
    params = draw_series_params(seed=0, duration_s=4.0, period_cv=0.0, amplitude_cv=0.0,
                                drift_sd_mm_per_min=0.0, wander_mm=0.0)
    ref = tiny_ct.sequence.frames[0]
    s = make_breathing_series(ref, tiny_ct.true_fields, params=params)
    v0 = s.volume(0)
    inner = (slice(2, -2),) * 3
    assert np.corrcoef(v0[inner].ravel(), ref[inner].ravel())[0, 1] > 0.98
    # sample 4 is exactly phase 4: its volume resembles the phantom's phase-4 volume
    v4 = s.volume(4)
    true4 = tiny_ct.sequence.frames[4]
    assert np.corrcoef(v4[inner].ravel(), true4[inner].ravel())[0, 1] > 0.97
    assert np.abs(v4 - true4)[inner].mean() < np.abs(ref - true4)[inner].mean()


def test_bad_options():
    with pytest.raises(ConfigurationError, match="rate_hz"):
        draw_series_params(rate_hz=0.0)
    with pytest.raises(ConfigurationError, match="period_cv"):
        draw_series_params(period_cv=-1.0)
    with pytest.raises(ValidationError, match="share"):
        make_breathing_series(np.zeros((3, 3, 3)), _phase_fields())
    s = make_breathing_series(np.zeros((6, 7, 8)), _phase_fields(), duration_s=4.0)
    with pytest.raises(ValidationError, match="outside"):
        s.field(s.n_samples)
