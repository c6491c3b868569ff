"""The one contract test suite, run over every registered forecaster with its ``test_params``."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
import torch
from breathing_signal import breathing_series

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters import Forecaster, Standardizer, available, get, run_online

P = 3
N = 500
FIT_UNTIL = 250
METHODS = available()
#: Declared lower bounds, not expected to beat the last value (strict xfail: an XPASS fails).
LOWER_BOUNDS = {"rnn-fixed": "fixed random recurrent weights: the published lower bound"}


@pytest.fixture(scope="module")
def series() -> np.ndarray:
    raw = breathing_series(N, p=P, seed=3)
    return Standardizer(raw[:FIT_UNTIL]).transform(raw)


@pytest.fixture(scope="module")
def setup_cache(tmp_path_factory: pytest.TempPathFactory) -> dict[Any, dict[str, Any]]:
    return {}


def make(
    name: str,
    horizon: int,
    series: np.ndarray,
    cache: dict[Any, dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
    *,
    seed: int = 0,
    mode: str = "causal",
) -> Forecaster:
    """Construct ``name`` with its test parameters (plus any contract set-up it declares)."""
    cls = get(name)
    params = dict(cls.test_params)
    setup = getattr(cls, "contract_setup", None)
    if setup is not None:
        key = (name, horizon)
        if key not in cache:
            others = [
                Standardizer(s[:FIT_UNTIL]).transform(s)
                for s in (breathing_series(N, p=P, seed=s) for s in (11, 12))
            ]
            cache[key] = setup(tmp_path_factory.mktemp(name), others, horizon, 0)
        params.update(cache[key])
    return cls(horizon=horizon, n_features=P, mode=mode, seed=seed, **params)


def drive(f: Forecaster, series: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Step ``f`` over ``series[start:stop]`` (look-ahead given in reference mode)."""
    out = []
    for t in range(start, stop):
        look = series[t + f.horizon] if t + f.horizon < len(series) else None
        out.append(f.step(series[t], lookahead=look))
    return np.array(out)


def poison(obj: Any, seen: set[int] | None = None) -> int:
    """Fill every float array / tensor reachable from ``obj`` with NaN; return how many."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    count = 0
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f" and obj.size and obj.flags.writeable:
            obj[...] = np.nan
            return 1
        return 0
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point():
            with torch.no_grad():
                obj.fill_(float("nan"))
            return 1
        return 0
    if isinstance(obj, torch.nn.Module):
        return sum(poison(t, seen) for t in obj.state_dict(keep_vars=True).values())
    if isinstance(obj, dict):
        return sum(poison(v, seen) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(poison(v, seen) for v in obj)
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        for key, value in vars(obj).items():
            if key in ("_last_sample", "params"):
                continue
            count += poison(value, seen)
    return count


@pytest.mark.parametrize("name", METHODS)
def test_declared_hyperparameters(name: str) -> None:
    cls = get(name)
    assert cls.name == name
    names = [hp.name for hp in cls.hyperparameters]
    assert len(set(names)) == len(names)
    assert set(cls.test_params) <= set(names)
    for hp in cls.hyperparameters:
        assert hp.doc, f"{name}.{hp.name} has no description"
        grid = cls.grid()[hp.name]
        assert len(grid) >= 1


@pytest.mark.parametrize("name", METHODS)
def test_shapes_and_alignment(name, series, setup_cache, tmp_path_factory) -> None:
    h = 3
    f = make(name, h, series, setup_cache, tmp_path_factory)
    run = run_online(f, series, fit_until=FIT_UNTIL)
    assert run.predicted.shape == series.shape
    assert np.all(np.isnan(run.predicted[:h]))
    assert np.all(np.isfinite(run.predicted[h:]))
    np.testing.assert_array_equal(run.issued_at[h:], np.arange(N - h))
    assert run.mode == "causal"
    assert run.step_ms.shape == (N,)


@pytest.mark.parametrize("name", METHODS)
def test_same_seed_same_output(name, series, setup_cache, tmp_path_factory) -> None:
    runs = [
        run_online(
            make(name, 2, series, setup_cache, tmp_path_factory, seed=7),
            series,
            fit_until=FIT_UNTIL,
        ).predicted
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("mode", ["causal", "reference"])
@pytest.mark.parametrize("name", METHODS)
def test_pickle_mid_run_continues_identically(
    name, mode, series, setup_cache, tmp_path_factory
) -> None:
    if mode == "reference" and not get(name).has_reference_mode:
        with pytest.raises(ConfigurationError, match="no reference"):
            make(name, 2, series, setup_cache, tmp_path_factory, mode=mode)
        return
    f = make(name, 2, series, setup_cache, tmp_path_factory, mode=mode)
    if not f.online:
        f.fit(series[:FIT_UNTIL])
    drive(f, series, 0, 300)
    clone = pickle.loads(pickle.dumps(f))
    a = drive(f, series, 300, 360)
    b = drive(clone, series, 300, 360)
    np.testing.assert_array_equal(a, b)
    assert clone.t == f.t


@pytest.mark.parametrize("name", METHODS)
def test_causal_predictions_ignore_the_future(name, series, setup_cache, tmp_path_factory) -> None:
    """Garbage after t0 cannot change forecasts issued at t <= t0 (causal mode)."""
    h, t0 = 4, 320
    garbage = series.copy()
    garbage[t0 + 1 :] = np.random.default_rng(0).normal(0.0, 50.0, (N - t0 - 1, P))
    runs = [
        run_online(make(name, h, series, setup_cache, tmp_path_factory), s, fit_until=FIT_UNTIL)
        for s in (series, garbage)
    ]
    np.testing.assert_array_equal(runs[0].predicted[: t0 + h + 1], runs[1].predicted[: t0 + h + 1])
    # the garbage does reach the forecasts issued later
    assert not np.array_equal(runs[0].predicted[t0 + h + 1 :], runs[1].predicted[t0 + h + 1 :])


@pytest.mark.parametrize("name", METHODS)
def test_exploding_input_never_gives_nan(name, series, setup_cache, tmp_path_factory) -> None:
    f = make(name, 2, series, setup_cache, tmp_path_factory)
    if not f.online:
        f.fit(series[:FIT_UNTIL])
    bad = series[:200].copy()
    bad[120:130] *= 1e9
    out = drive(f, bad, 0, 200)
    assert np.all(np.isfinite(out))
    if np.any(np.abs(out[120:]) > 1e6):
        # an exploded forecast is only allowed as the no-prediction fallback after a reset or
        # a plausibility-guard replacement
        assert f.events or f.guard_events, "an exploded forecast must come with an event"
        exploded = np.nonzero(np.abs(out).max(axis=1) > 1e6)[0]
        for t in exploded:
            np.testing.assert_array_equal(out[t], bad[t])


@pytest.mark.parametrize("name", METHODS)
def test_nan_state_resets_with_event(name, series, setup_cache, tmp_path_factory) -> None:
    f = make(name, 2, series, setup_cache, tmp_path_factory)
    if not f.online:
        f.fit(series[:FIT_UNTIL])
    drive(f, series.copy(), 0, 100)
    if poison(f) == 0:
        pytest.skip(f"{name} keeps no numeric state")
    out = drive(f, series.copy(), 100, 160)
    assert np.all(np.isfinite(out))
    assert f.events and f.events[0].step == 100
    assert f.events[0].reason


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=LOWER_BOUNDS[n], strict=True))
        if n in LOWER_BOUNDS
        else n
        for n in METHODS
    ],
)
def test_beats_no_prediction_on_noisy_breathing(name, setup_cache, tmp_path_factory) -> None:
    """h = 0.5 s at 10 Hz: RMSE over the second half below the last-value forecast's."""
    raw = breathing_series(N, p=P, seed=5, noise=0.03)
    z = Standardizer(raw[:FIT_UNTIL]).transform(raw)
    h = 5
    f = make(name, h, z, setup_cache, tmp_path_factory)
    run = run_online(f, z, fit_until=FIT_UNTIL - h)
    sl = slice(N // 2, N)
    rmse = np.sqrt(np.mean((run.predicted[sl] - z[sl]) ** 2))
    rmse0 = np.sqrt(np.mean((z[sl.start - h : sl.stop - h] - z[sl]) ** 2))
    if name == "no-prediction":
        assert rmse == pytest.approx(rmse0)
    else:
        assert rmse < 0.9 * rmse0, f"{name}: relative RMSE {rmse / rmse0:.3f}"
