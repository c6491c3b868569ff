"""Harmonic-oscillator Kalman forecaster: period and noise estimates, forecasts, adaptation."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters import get, run_online
from motionpredict.forecasters.kalman import (
    KalmanOscillator,
    dominant_period,
    white_noise_variance,
)


def sines(n: int, period: float, noise: float, seed: int = 0, p: int = 3) -> np.ndarray:
    """``p`` phase-shifted sinusoids of ``period`` samples plus white noise of SD ``noise``."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = np.stack([np.sin(2 * np.pi * t / period + 0.3 * j) for j in range(p)], axis=1)
    return y + noise * rng.standard_normal((n, p))


def test_dominant_period_is_the_fundamental_not_a_multiple() -> None:
    """A cusped breathing shape (cos^4, strong harmonics) of period 37.5 samples with noise."""
    rng = np.random.default_rng(1)
    t = np.arange(600)
    y = np.cos(np.pi * t / 37.5)[:, None] ** 4 + 0.05 * rng.standard_normal((600, 2))
    period = dominant_period(y)
    assert period is not None
    assert abs(period - 37.5) < 0.5
    assert dominant_period(rng.standard_normal((5, 1)) * 0 + 1.0) is None  # constant window


def test_white_noise_variance_from_third_differences() -> None:
    y = sines(3000, 40.0, 0.05, seed=2)
    np.testing.assert_allclose(white_noise_variance(y), 0.05**2, rtol=0.15)


def test_forecast_near_noise_level_on_a_noisy_sinusoid() -> None:
    """h = 5 samples (1/8 cycle): last value errs by 0.55, the filter by about the noise."""
    y = sines(1500, 40.0, 0.05)
    h, sl = 5, slice(300, 1500)
    run = run_online(KalmanOscillator(horizon=h, n_features=3, damping=0.999), y)
    f = run.predicted
    err = np.sqrt(np.mean((f[sl] - y[sl]) ** 2))
    last = np.sqrt(np.mean((y[sl.start - h : sl.stop - h] - y[sl]) ** 2))
    assert last > 0.5
    assert err < 0.1
    # before the first estimate (window / 2 = 150 samples) and at it (the filter starts at the
    # newest sample) the forecast is the last value
    np.testing.assert_array_equal(f[h : 150 + h], y[:150])
    assert not np.array_equal(f[150 + h], y[150])


def test_frequency_follows_a_change_of_period() -> None:
    y = np.concatenate([sines(800, 40.0, 0.02), sines(800, 28.0, 0.02, seed=5)])
    f = get("kalman")(horizon=3, n_features=3, window=200)
    for t in range(780):
        f.step(y[t])
    assert abs(2 * np.pi / f.omega - 40.0) < 1.0
    for t in range(780, len(y)):
        f.step(y[t])
    assert abs(2 * np.pi / f.omega - 28.0) < 1.0


def test_modes_agree_and_errors() -> None:
    y = sines(400, 30.0, 0.05)
    runs = [
        run_online(KalmanOscillator(horizon=4, n_features=3, mode=m, window=100), y).predicted
        for m in ("causal", "reference")
    ]
    np.testing.assert_array_equal(runs[0], runs[1])
    for bad in ({"harmonics": 0}, {"window": 10}, {"damping": 1.5}, {"q": 0.0}, {"refresh": 0}):
        with pytest.raises(ConfigurationError):
            KalmanOscillator(horizon=1, n_features=1, **bad)
