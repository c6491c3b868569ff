"""Analog (nearest-neighbour) forecaster: periodic signals, drift invariance, library causality."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters import get, run_online
from motionpredict.forecasters.analog import Analog


def test_predicts_a_periodic_signal_from_its_past_cycles() -> None:
    t = np.arange(600)
    y = np.stack([np.sin(2 * np.pi * t / 30), np.cos(2 * np.pi * t / 30) ** 3], axis=1)
    h = 10
    run = run_online(Analog(horizon=h, n_features=2, m=8, stride=2, neighbours=3), y)
    err = np.abs(run.predicted[300:] - y[300:])
    last = np.abs(y[300 - h : -h] - y[300:])
    assert err.max() < 1e-6  # exact repeats of the pattern are in the library
    assert last.mean() > 0.5


def test_a_constant_offset_shifts_the_forecast_by_the_offset() -> None:
    rng = np.random.default_rng(1)
    y = np.sin(2 * np.pi * np.arange(400) / 25)[:, None] + 0.05 * rng.standard_normal((400, 1))
    a = run_online(Analog(horizon=4, n_features=1, **Analog.test_params), y)
    b = run_online(Analog(horizon=4, n_features=1, **Analog.test_params), y + 7.5)
    np.testing.assert_allclose(b.predicted[4:], a.predicted[4:] + 7.5, atol=1e-9)


@pytest.mark.parametrize(("mode", "acquired_lag"), [("causal", 5), ("reference", 0)])
def test_library_holds_only_the_pairs_the_mode_allows(mode: str, acquired_lag: int) -> None:
    y = np.sin(np.arange(100) / 3.0)[:, None]
    f = Analog(horizon=5, n_features=1, mode=mode, m=3, stride=1, neighbours=2, library=1000)
    for t in range(60):
        f.step(y[t], lookahead=y[t + 5])
        assert f._count == max(0, t + 1 - acquired_lag)
    # the stored increment of the first pair is y[5] - y[0]: acquired target minus its origin
    assert f._inc[0, 0] == pytest.approx(y[5, 0] - y[0, 0])


def test_library_is_a_sliding_window() -> None:
    f = Analog(horizon=1, n_features=1, m=2, stride=1, neighbours=1, library=10)
    for t in range(25):
        f.step(np.array([float(t)]))
    assert f._count == 24
    # slots hold the 10 newest pairs (origins 14..23): increments are all 1, embeddings all -1
    np.testing.assert_allclose(f._inc[:, 0], 1.0)
    np.testing.assert_allclose(f._emb[:, 0], -1.0)


def test_falls_back_to_the_last_value_until_enough_pairs_and_rejects_bad_settings() -> None:
    f = get("analog")(horizon=2, n_features=1, neighbours=4, m=2, stride=1)
    outs = [f.step(np.array([float(t) ** 2]))[0] for t in range(5)]
    assert outs[:5] == [0.0, 1.0, 4.0, 9.0, 16.0]  # pairs known at t: 0,0,1,2,3 < 4
    with pytest.raises(ConfigurationError):
        Analog(horizon=1, n_features=1, m=1)
    with pytest.raises(ConfigurationError):
        Analog(horizon=1, n_features=1, neighbours=20, library=10)
    with pytest.raises(ConfigurationError):
        Analog(horizon=1, n_features=1, stride=0)
