"""Aggregator: Hedge weights, uniform limit, concentration on the best member, adaptation."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters import get, run_online
from motionpredict.forecasters.aggregator import Aggregator, default_members

MEMBERS = (
    ("no-prediction", ()),
    ("rls", (("k", 4), ("forgetting", 0.98))),
)


def regimes(n: int = 1200, seed: int = 0) -> np.ndarray:
    """Noise around a constant for n/2 samples (last value is best), then a clean sinusoid."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = np.where(t < n // 2, 0.0, np.sin(2 * np.pi * t / 30))
    y = y + np.where(t < n // 2, 0.3, 0.01) * rng.standard_normal(n)
    # make the first regime a slow random walk so that the last value is the best forecast
    y[: n // 2] = np.cumsum(y[: n // 2]) * 0.3
    return y[:, None]


def test_eta_zero_averages_members_uniformly() -> None:
    y = regimes(300)
    agg = Aggregator(horizon=3, n_features=1, eta=0.0, members=MEMBERS)
    solo = [get(n)(horizon=3, n_features=1, **dict(p)) for n, p in MEMBERS]
    for t in range(300):
        out = agg.step(y[t])
        preds = [m.step(y[t]) for m in solo]
        np.testing.assert_allclose(out, np.mean(preds, axis=0), atol=1e-12)


def test_weights_follow_the_hedge_rule() -> None:
    agg = Aggregator(
        horizon=1, n_features=2, eta=3.0, discount=0.5, loss_power=2, own_loss=1.0, members=MEMBERS
    )
    agg._score(np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([0.0, 0.0]))
    agg._score(np.array([[1.0, 0.0], [1.0, 2.0]]), np.array([0.0, 0.0]))
    losses = np.array([[0.5, 0.5], [1.0, 2.5]])
    np.testing.assert_allclose(agg.losses, losses)
    w = np.exp(-3.0 * (losses / losses.min(axis=0) - 1))
    np.testing.assert_allclose(agg.weights(), w / w.sum(axis=0))


def test_absolute_loss_and_shared_part_of_the_loss() -> None:
    agg = Aggregator(horizon=1, n_features=2, eta=2.0, discount=0.5, own_loss=0.25, members=MEMBERS)
    agg._score(np.array([[0.0, -2.0], [1.0, 1.0]]), np.array([0.0, 0.0]))
    agg._score(np.array([[-1.0, 0.0], [1.0, 3.0]]), np.array([0.0, 0.0]))
    losses = np.array([[0.5, 1.0], [1.0, 2.0]])  # discounted absolute errors
    np.testing.assert_allclose(agg.losses, losses)
    mixed = 0.25 * losses + 0.75 * losses.mean(axis=1, keepdims=True)  # [[.875, 1], [1.75, 2]]
    w = np.exp(-2.0 * (mixed / mixed.min(axis=0) - 1))
    np.testing.assert_allclose(agg.weights(), w / w.sum(axis=0))
    np.testing.assert_allclose(agg.weights()[0], [1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(-2.0))])
    shared = Aggregator(horizon=1, n_features=2, own_loss=0.0, members=MEMBERS)
    shared.losses, shared._scored = losses, 2
    assert np.allclose(shared.weights()[:, 0], shared.weights()[:, 1])


def test_weights_move_to_the_better_member_when_breathing_changes() -> None:
    y = regimes()
    h = 5
    agg = Aggregator(horizon=h, n_features=1, eta=4.0, discount=0.95, members=MEMBERS)
    w_end_first, w_end_second = None, None
    preds = np.full_like(y, np.nan)
    for t in range(len(y) - h):
        preds[t + h] = agg.step(y[t])
        if t == 590:
            w_end_first = agg.weights()[:, 0]
        if t == 1100:
            w_end_second = agg.weights()[:, 0]
    assert w_end_first[0] > 0.5  # last value wins on the random walk
    assert w_end_second[1] > 0.95  # RLS wins on the sinusoid
    # overall error close to the better member's in each regime
    members = [run_online(get(n)(horizon=h, n_features=1, **dict(p)), y) for n, p in MEMBERS]
    for sl in (slice(300, 600), slice(700, 1200)):
        err = np.sqrt(np.mean((preds[sl] - y[sl]) ** 2))
        best = min(np.sqrt(np.mean((m.predicted[sl] - y[sl]) ** 2)) for m in members)
        assert err < 1.15 * best


def test_default_members_and_errors() -> None:
    specs = default_members(2)
    assert specs[0] == ("no-prediction", ())
    assert len(specs) == len(set(specs)) == 19
    assert sum(name == "analog" for name, _ in specs) == 3
    recursive = [s for s in specs if ("recursive", True) in s[1]]
    assert len(recursive) == 3
    # iterated members only from horizon 5 lag_stride (about 1 s) on
    assert default_members(2, 9) == tuple(s for s in specs if s not in recursive)
    assert default_members(2, 10) == specs
    agg = Aggregator(horizon=2, n_features=3, lag_stride=2)
    assert len(agg.members) == 16
    with pytest.raises(ConfigurationError, match="offline"):
        Aggregator(horizon=1, n_features=1, members=(("linear", ()),))
    with pytest.raises(ConfigurationError):
        Aggregator(horizon=1, n_features=1, discount=1.0)
    with pytest.raises(ConfigurationError):
        Aggregator(horizon=1, n_features=1, eta=-1.0)
    with pytest.raises(ConfigurationError):
        default_members(0)
    with pytest.raises(ConfigurationError, match="loss_power"):
        Aggregator(horizon=1, n_features=1, loss_power=3)
    with pytest.raises(ConfigurationError, match="own_loss"):
        Aggregator(horizon=1, n_features=1, own_loss=1.5)


def test_forgetting_factors_keep_their_memory_in_seconds() -> None:
    """Set for lag_stride 2 (10 Hz); at lag_stride 6 (30 Hz) 1 - lambda is 3 times smaller."""

    def lambdas(stride: int) -> set[float]:
        return {v for _, p in default_members(stride) for k, v in p if k == "forgetting"}

    assert lambdas(1) == lambdas(2) == {0.995, 0.999}
    assert lambdas(6) == {round(1 - 0.005 / 3, 6), round(1 - 0.001 / 3, 6)}


def test_analog_members_help_at_long_horizons_on_a_quasi_periodic_signal() -> None:
    """Cusped cycles (|sin|^3) of varying period (about 15 samples) and amplitude with noise: at
    h = 7 samples (half a cycle) the aggregator with an analog member beats the same aggregator
    without it (measured 0.084 vs 0.145) and the last value (0.739)."""
    rng = np.random.default_rng(4)
    n, h = 900, 7
    period = 30 + 3 * np.sin(np.arange(n) / 200)
    phase = np.cumsum(2 * np.pi / period)
    y = (np.abs(np.sin(phase)) ** 3 * (1 + 0.2 * np.sin(np.arange(n) / 90)))[:, None]
    y = y + 0.03 * rng.standard_normal((n, 1))
    base = (("no-prediction", ()), ("rls", (("k", 4), ("forgetting", 0.99))))
    with_analog = (*base, ("analog", (("m", 10), ("stride", 2), ("neighbours", 5))))
    sl = slice(400, n)
    errs = {}
    for label, members in (("base", base), ("analog", with_analog)):
        run = run_online(Aggregator(horizon=h, n_features=1, members=members), y)
        errs[label] = np.sqrt(np.mean((run.predicted[sl] - y[sl]) ** 2))
    last = np.sqrt(np.mean((y[sl.start - h : n - h] - y[sl]) ** 2))
    assert errs["analog"] < 0.7 * errs["base"]
    assert errs["analog"] < 0.2 * last
