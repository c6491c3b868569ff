"""The plausibility guard of ``Forecaster.step`` (issue #14): envelope, error ratio, resets,
counting, and that it leaves well-behaved learners and reference mode alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters import GuardEvent, Standardizer, get, run_online
from motionpredict.forecasters.base import GUARD_PARAMETERS
from motionpredict.phantom.markers import make_markers
from tests.forecasters.breathing_signal import breathing_series

MARGIN = dict((hp.name, hp.default) for hp in GUARD_PARAMETERS)["guard_margin"]


def _emitted_by_issue_time(run, h: int) -> np.ndarray:
    """``(T - h, p)`` forecasts indexed by the step that issued them."""
    return run.predicted[h:]


def _assert_inside_envelope(z: np.ndarray, run, h: int, margin: float) -> None:
    """Every forecast issued at ``t`` lies in the running min/max of ``z[:t+1]`` +- margin."""
    issued = _emitted_by_issue_time(run, h)
    lo = np.minimum.accumulate(z, axis=0)[: len(issued)]
    hi = np.maximum.accumulate(z, axis=0)[: len(issued)]
    assert np.all(issued >= lo - margin - 1e-12)
    assert np.all(issued <= hi + margin + 1e-12)


def _rmse(run, z: np.ndarray, h: int, start: int) -> float:
    return float(np.sqrt(np.mean((run.predicted[start:] - z[start:]) ** 2)))


def _no_prediction_rmse(z: np.ndarray, h: int, start: int) -> float:
    last = np.full_like(z, np.nan)
    last[h:] = z[:-h]
    return float(np.sqrt(np.mean((last[start:] - z[start:]) ** 2)))


@pytest.fixture(scope="module")
def phantom() -> np.ndarray:
    """Standardised phantom marker coordinates, ``(1200, 9)`` (120 s at 10 Hz)."""
    ph = make_markers(seed=3, duration_s=120.0, rate_hz=10.0)
    y = ph.sequence.positions.reshape(len(ph.sequence.positions), -1)
    return Standardizer(y[:300]).transform(y)


# snap1 at the published marker setting diverges causally; lms with a huge step; plus the working
UNSTABLE = [("snap1", {"k": 60, "q": 40, "eta": 0.02}), ("snap1", {"eta": 1e3}),
            ("lms", {"eta": 1.0, "clip": 1e6}), ("uoro", {"eta": 5.0})]
WORKING = [("rls", {}), ("lms", {}), ("aggregator", get("aggregator").test_params),
           ("linear", {})]


@pytest.mark.parametrize(("name", "params"), UNSTABLE + WORKING)
def test_phantom_forecasts_stay_inside_the_envelope(phantom, name, params) -> None:
    h = 5
    f = get(name)(horizon=h, n_features=phantom.shape[1], **params)
    run = run_online(f, phantom, fit_until=540)
    _assert_inside_envelope(phantom, run, h, MARGIN)
    # guarded flags match the events, by target time
    marked = np.flatnonzero(run.guarded)
    assert run.n_guarded == len(marked)
    issued = {e.step for e in run.guard_events}
    assert all(int(t) - h in issued for t in marked)
    assert all(isinstance(e, GuardEvent) for e in run.guard_events)


@pytest.mark.parametrize(("name", "params"), UNSTABLE)
def test_unstable_learner_ends_within_ten_percent_of_no_prediction(phantom, name, params) -> None:
    h, start = 5, 600
    nop = _no_prediction_rmse(phantom, h, start)
    cls = get(name)
    guarded = run_online(cls(horizon=h, n_features=9, **params), phantom)
    assert _rmse(guarded, phantom, h, start) <= 1.1 * nop
    assert guarded.n_guarded > 0
    # the guard is what makes the difference: the same learner unguarded is far worse
    raw = run_online(cls(horizon=h, n_features=9, guard=False, **params), phantom)
    assert _rmse(raw, phantom, h, start) > 1.5 * nop
    assert raw.n_guarded == len([e for e in raw.guard_events if e.reason == "divergence"])


def test_huge_eta_is_reset_by_the_guard_and_restarts_on_probation(phantom) -> None:
    f = get("snap1")(horizon=2, n_features=9, eta=1e3)
    run_online(f, phantom[:400])
    resets = [e for e in f.events if e.reason.startswith("guard:")]
    reasons = {e.reason for e in f.guard_events}
    assert resets or "divergence" in reasons
    assert reasons <= {"envelope", "error ratio", "probation", "divergence"}
    assert f.guarded == len(f.guard_events)


@pytest.mark.parametrize(("name", "params"), [("rls", {"k": 6}), ("linear", {"k": 6}),
                                              ("lms", {"k": 6, "eta": 0.01})])
def test_guard_never_fires_on_a_clean_sinusoid(name, params) -> None:
    t = np.arange(1500) * 0.1
    z = np.stack([np.sin(2 * np.pi * t / 4.0), np.cos(2 * np.pi * t / 4.0 + 0.3)], axis=1)
    f = get(name)(horizon=5, n_features=2, **params)
    run = run_online(f, z, fit_until=300)
    assert f.guarded == 0 and run.n_guarded == 0
    assert _rmse(run, z, 5, 600) < 0.5 * _no_prediction_rmse(z, 5, 600)


def test_jit_and_numpy_paths_guard_identically(phantom) -> None:
    runs = []
    for jit in (True, False):
        f = get("snap1")(horizon=3, n_features=9, eta=0.5, guard_window=10)
        f.use_jit = jit
        runs.append((run_online(f, phantom[:400]), f))
    (a, fa), (b, fb) = runs
    assert a.n_guarded > 0
    np.testing.assert_array_equal(a.guarded, b.guarded)
    np.testing.assert_allclose(a.predicted, b.predicted, rtol=0, atol=1e-9)
    assert [e.step for e in fa.events] == [e.step for e in fb.events]


def test_reference_mode_only_counts_divergence(phantom) -> None:
    f = get("snap1")(horizon=2, n_features=9, mode="reference", eta=0.5)
    run = run_online(f, phantom[:300])
    reasons = [e.reason for e in run.guard_events]
    assert set(reasons) <= {"divergence", "bound"}  # no envelope or error-ratio replacement
    assert f.guarded == len(run.events) + reasons.count("bound")


def test_reference_mode_forecasts_stay_bounded(phantom) -> None:
    """An unstable learner in reference mode is replaced beyond REFERENCE_BOUND, never earlier."""
    from motionpredict.forecasters.base import REFERENCE_BOUND

    h = 3
    bounded = run_online(
        get("lms")(horizon=h, n_features=9, mode="reference", eta=1.0, clip=1e6), phantom
    )
    free = run_online(
        get("lms")(horizon=h, n_features=9, mode="reference", eta=1.0, clip=1e6, guard=False),
        phantom,
    )
    _assert_inside_envelope(phantom, bounded, h, REFERENCE_BOUND)
    reasons = {e.reason for e in bounded.guard_events}
    assert "bound" in reasons  # it really fired on this learner
    # without the bound the same learner leaves the envelope by far more than the bound
    issued = free.predicted[h:]
    hi = np.maximum.accumulate(phantom, axis=0)[: len(issued)]
    lo = np.minimum.accumulate(phantom, axis=0)[: len(issued)]
    excess = np.nanmax(np.maximum(issued - hi, lo - issued))
    assert excess > REFERENCE_BOUND
    # a working learner in reference mode is never touched by the bound
    ok = run_online(get("snap1")(horizon=h, n_features=9, mode="reference"), phantom)
    assert not any(e.reason == "bound" for e in ok.guard_events)


def test_guard_settings_are_keywords_and_validated() -> None:
    f = get("rls")(horizon=1, n_features=2, guard_ratio=3.0, guard_window=7)
    assert f.guard_settings.ratio == 3.0 and f.guard_settings.window == 7
    assert "guard_ratio" not in f.params  # not a searched hyper-parameter
    with pytest.raises(ConfigurationError, match="guard"):
        get("rls")(horizon=1, n_features=2, guard_window=0)
    with pytest.raises(ConfigurationError, match="guard"):
        get("rls")(horizon=1, n_features=2, guard_margin=-1.0)
    with pytest.raises(ConfigurationError, match="unknown"):
        get("rls")(horizon=1, n_features=2, guard_typo=1.0)


def test_envelope_replaces_an_implausible_offline_forecast() -> None:
    """A fitted model that extrapolates wildly is replaced, and only while it does so."""
    z = breathing_series(600, p=2)
    f = get("linear")(horizon=3, n_features=2, k=4)
    f.fit(z[:300])
    assert f.coef is not None
    f.coef = f.coef * 40.0  # a model that extrapolates ~40x too far
    out = np.stack([f.step(z[t]) for t in range(600)])
    lo = np.minimum.accumulate(z, axis=0)
    hi = np.maximum.accumulate(z, axis=0)
    assert np.all(out >= lo - MARGIN - 1e-12) and np.all(out <= hi + MARGIN + 1e-12)
    assert f.guarded > 0
    assert {e.reason for e in f.guard_events} <= {"envelope", "error ratio"}


@pytest.mark.shared_data
def test_real_markers_stay_inside_the_envelope_and_snap1_is_tamed(shared_data: Path) -> None:
    """markers-2 at 10 Hz: causal SnAp-1 at its published setting ends within 10 % of no
    prediction at 0.5 s on the test window, and no forecast leaves the envelope."""
    folder = shared_data / "markers" / "markers-2"
    y = scipy.io.loadmat(folder / "resampled_10hz.mat")["org_data"].T.astype(np.float64)
    z = Standardizer(y[:300]).transform(y)
    h, start = 5, 600
    nop = _no_prediction_rmse(z, h, start)
    for name, params in (("snap1", {"k": 60, "q": 40, "eta": 0.02}), ("rls", {})):
        run = run_online(get(name)(horizon=h, n_features=9, **params), z)
        _assert_inside_envelope(z, run, h, MARGIN)
        assert _rmse(run, z, h, start) <= 1.1 * nop
