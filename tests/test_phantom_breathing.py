"""Breathing signal of the phantom: determinism, Lujan shape, statistics in their stated ranges."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.signal import find_peaks

from motionpredict.errors import ConfigurationError
from motionpredict.phantom import BreathingParams, breathing_signal, draw_breathing_params


def test_same_seed_is_bit_identical_and_other_seed_differs() -> None:
    a = breathing_signal(duration_s=60.0, period_s=0.1, seed=7)
    b = breathing_signal(duration_s=60.0, period_s=0.1, seed=7)
    c = breathing_signal(duration_s=60.0, period_s=0.1, seed=8)
    assert a.signal.tobytes() == b.signal.tobytes()
    assert a.params == b.params
    assert np.max(np.abs(a.signal - c.signal)) > 0.1


def test_sampling_times_and_start_at_end_exhale() -> None:
    s = breathing_signal(duration_s=30.0, period_s=0.25, seed=1)
    assert s.times.shape == (120,)
    np.testing.assert_allclose(s.times, 0.25 * np.arange(120), rtol=0, atol=1e-12)
    assert s.signal[0] == 0.0
    np.testing.assert_allclose(s.excursion_mm, s.signal * s.amplitude_mm)


def test_regular_signal_follows_lujan_cos2n_model() -> None:
    p = draw_breathing_params(
        duration_s=20.0,
        seed=3,
        amplitude_mm=10.0,
        mean_period_s=4.0,
        irregularity=0.0,
        deep_breath_probability=0.0,
        pause_probability=0.0,
    )
    assert set(p.periods_s) == {4.0}
    assert set(p.peaks_mm) == {10.0}
    assert p.baseline_rate_mm_s == 0.0 and p.wander_mm == 0.0
    rise = p.inhale_fraction * 4.0
    t = np.linspace(0.0, rise, 50)
    expected = 10.0 * np.sin(0.5 * np.pi * t / rise) ** (2 * p.exponent_n)
    np.testing.assert_allclose(p.excursion_mm(t), expected, atol=1e-12)
    fall = 4.0 - rise
    t2 = rise + np.linspace(0.0, fall, 50)
    expected2 = 10.0 * np.cos(0.5 * np.pi * (t2 - rise) / fall) ** (2 * p.exponent_n)
    np.testing.assert_allclose(p.excursion_mm(t2), expected2, atol=1e-12)
    # Peaks exactly every 4 s.
    np.testing.assert_allclose(np.diff(p.peak_times_s), 4.0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_cycle_statistics_inside_stated_ranges(seed: int) -> None:
    s = breathing_signal(duration_s=300.0, period_s=0.02, seed=seed)
    p = s.params
    assert all(3.0 <= t <= 6.0 for t in p.periods_s)
    assert all(5.0 <= a <= 30.0 for a in p.peaks_mm)
    # Measured on the sampled signal: peak-to-peak intervals and peak-to-trough amplitudes.
    z = s.excursion_mm
    peaks, _ = find_peaks(z, prominence=2.0)
    assert len(peaks) >= 300.0 / 6.0 - 2
    intervals = np.diff(s.times[peaks])
    assert intervals.min() >= 3.0 - 0.03
    assert intervals.max() <= 6.0 + 0.03
    troughs = [z[a:b].min() for a, b in itertools.pairwise(peaks)]
    amplitudes = z[peaks[1:]] - np.asarray(troughs)
    assert amplitudes.min() >= 5.0 - 0.5
    assert amplitudes.max() <= 30.0 + 0.5
    # Normalised: an ordinary cycle's amplitude is about 1 in units of amplitude_mm.
    assert 0.7 <= np.median(amplitudes) / s.amplitude_mm <= 1.3


def test_irregularity_deep_breaths_and_pauses_present() -> None:
    p = draw_breathing_params(duration_s=600.0, seed=11)
    assert sum(p.deep) >= 2
    assert sum(1 for x in p.pauses_s if x > 0) >= 10
    assert np.std(np.log(p.periods_s)) > 0.03
    deep_peaks = np.asarray(p.peaks_mm)[np.asarray(p.deep)]
    assert np.median(deep_peaks) > 1.2 * np.median(p.peaks_mm)


def test_params_json_round_trip_replays_exactly() -> None:
    s = breathing_signal(duration_s=40.0, period_s=0.1, seed=5)
    text = json.dumps(s.params.to_dict())
    p2 = BreathingParams.from_dict(json.loads(text))
    assert p2 == s.params
    again = breathing_signal(duration_s=40.0, period_s=0.1, params=p2)
    assert again.signal.tobytes() == s.signal.tobytes()


def test_bad_inputs_raise_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="amplitude_mm"):
        breathing_signal(duration_s=10.0, period_s=0.1, amplitude_mm=40.0)
    with pytest.raises(ConfigurationError, match="mean_period_s"):
        breathing_signal(duration_s=10.0, period_s=0.1, mean_period_s=2.0)
    with pytest.raises(ConfigurationError, match="period_s"):
        breathing_signal(duration_s=10.0, period_s=0.0)
    with pytest.raises(ConfigurationError, match="seed"):
        breathing_signal(duration_s=10.0, period_s=0.1, seed=-3)
    p = draw_breathing_params(duration_s=10.0, seed=0)
    with pytest.raises(ConfigurationError, match="outside the drawn span"):
        p.excursion_mm(np.array([1000.0]))
    with pytest.raises(ConfigurationError, match="missing keys"):
        BreathingParams.from_dict({"duration_s": 1.0})
