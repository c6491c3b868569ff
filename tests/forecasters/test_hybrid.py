"""snap1-hybrid: starts at causal RLS, bounded output, heads learn only from arrived targets."""

from __future__ import annotations

import numpy as np
import pytest
from breathing_signal import breathing_series

from motionpredict.errors import ConfigurationError, InputFileError
from motionpredict.forecasters import Standardizer, run_online
from motionpredict.forecasters.hybrid import HybridSnAp1, train_prior
from motionpredict.forecasters.rls import RLS


@pytest.fixture(scope="module")
def z() -> np.ndarray:
    raw = breathing_series(2000, p=3, seed=5)
    return Standardizer(raw[:300]).transform(raw)


@pytest.mark.parametrize("heads", ["single", "multi"])
def test_zero_correction_equals_causal_rls_exactly(z: np.ndarray, heads: str) -> None:
    h = 4
    base = RLS(horizon=h, n_features=3, k=3, stride=2, forgetting=0.995)
    hyb = HybridSnAp1(horizon=h, n_features=3, base_k=3, base_stride=2, base_forgetting=0.995,
                      eta=0.0, heads=heads, q=5, k=4)
    a = run_online(base, z[:400]).predicted
    b = run_online(hyb, z[:400]).predicted
    np.testing.assert_array_equal(a, b)
    assert np.abs(hyb.correction()).max() == 0.0


def test_learning_starts_at_rls_then_departs(z: np.ndarray) -> None:
    h = 3
    hyb = HybridSnAp1(horizon=h, n_features=3, base_k=3, eta=0.01, step="sgd", q=5, k=4)
    base = RLS(horizon=h, n_features=3, k=3, stride=2)
    diffs = [np.abs(hyb.step(z[t]) - base.step(z[t])).max() for t in range(300)]
    # nothing can be learned before the first target arrives (t = h): identical forecasts
    assert max(diffs[:h]) == 0.0
    assert diffs[h] > 0.0 and max(diffs[h:]) > 1e-6


@pytest.mark.parametrize("step", ["sgd", "nlms", "rmsprop"])
def test_correction_is_bounded(z: np.ndarray, step: str) -> None:
    bound = 0.2
    h = 5
    # a huge learning rate drives the raw head output far beyond the bound
    hyb = HybridSnAp1(horizon=h, n_features=3, base_k=2, eta=5.0, step=step, bound=bound, q=6,
                      k=4)
    base = RLS(horizon=h, n_features=3, k=2, stride=2)
    largest = 0.0
    for t in range(600):
        out = hyb.step(z[t])
        ref = base.step(z[t])
        if hyb.events:  # a divergence reset also restarts the base: stop comparing
            break
        assert np.all(np.abs(out - ref) <= bound + 1e-12)
        largest = max(largest, float(np.abs(out - ref).max()))
    assert largest > 0.5 * bound  # the bound was reached, so the check above had teeth


def test_multi_horizon_heads_learn_only_from_arrived_targets(z: np.ndarray) -> None:
    h, eta, aux = 3, 0.1, 0.5
    f = HybridSnAp1(horizon=h, n_features=3, heads="multi", step="sgd", eta=eta, aux_weight=aux,
                    base_k=2, q=4, k=3)
    f.step(z[0])
    h0 = f.hid.copy()
    assert np.all(f.w_c == 0.0)
    f.step(z[1])
    # head 1 (y_{t+1}) learned from y_1 with the state of t = 0: W_c^1 = eta aux (y_1 - y_0) h_0'
    np.testing.assert_allclose(f.w_c[0], eta * aux * np.outer(z[1] - z[0], h0), atol=1e-15)
    # heads 2 and 3 have no target yet: learning from y_1 would be seeing their future
    assert np.all(f.w_c[1:] == 0.0)
    f.step(z[2])
    assert np.any(f.w_c[1] != 0.0) and np.all(f.w_c[2] == 0.0)
    f.step(z[3])
    assert np.any(f.w_c[2] != 0.0)


def test_online_correction_learns_what_the_base_misses(z: np.ndarray) -> None:
    # base: last value + learned offset only (k = 1); the RNN sees 10 lags and learns the rest
    kw = dict(base_k=1, base_stride=1, k=10, q=16, step="rmsprop")
    errs = {}
    for eta in (0.0, 1e-3):
        f = HybridSnAp1(horizon=5, n_features=3, eta=eta, **kw)
        pred = run_online(f, z).predicted
        errs[eta] = float(np.sqrt(np.mean((pred[1500:] - z[1500:]) ** 2)))
    assert errs[1e-3] < 0.85 * errs[0.0], errs


@pytest.mark.parametrize(
    "bad",
    [{"step": "adam"}, {"heads": "some"}, {"q": 0}, {"bound": 0.0}, {"smooth": 1.0},
     {"eta": -1.0}],
)
def test_invalid_settings_raise(bad: dict) -> None:
    with pytest.raises(ConfigurationError):
        HybridSnAp1(horizon=2, n_features=3, **bad)


def _others() -> list[np.ndarray]:
    out = []
    for seed in (11, 12):
        raw = breathing_series(800, p=3, seed=seed)
        out.append(Standardizer(raw[:300]).transform(raw))
    return out


PRIOR_KW = dict(base_k=1, base_stride=1, k=10, q=8)


def test_prior_round_trip_and_start(tmp_path, z: np.ndarray) -> None:
    path = tmp_path / "prior.npz"
    meta = train_prior(_others(), path, horizon=5, epochs=2, eta=1e-3, **PRIOR_KW)
    assert meta["n_series"] == 2 and meta["n_samples"] == 1600
    with np.load(path) as f:
        w_c = np.array(f["w_c"])
    assert np.abs(w_c).max() > 0  # it learned something
    f = HybridSnAp1(horizon=5, n_features=3, eta=0.0, prior_path=str(path), **PRIOR_KW)
    np.testing.assert_array_equal(f.w_c, w_c)
    # frozen prior (eta 0) on an unseen series: better than the base alone (eta 0, no prior)
    base = HybridSnAp1(horizon=5, n_features=3, eta=0.0, **PRIOR_KW)
    e_prior = run_online(f, z[:800]).predicted[200:800] - z[200:800]
    e_base = run_online(base, z[:800]).predicted[200:800] - z[200:800]
    assert np.sqrt(np.mean(e_prior**2)) < 0.9 * np.sqrt(np.mean(e_base**2))


def test_prior_with_other_settings_or_damaged_is_refused(tmp_path) -> None:
    path = tmp_path / "prior.npz"
    train_prior(_others(), path, horizon=5, epochs=1, **PRIOR_KW)
    with pytest.raises(ConfigurationError, match="other settings"):
        HybridSnAp1(horizon=4, n_features=3, prior_path=str(path), **PRIOR_KW)
    with pytest.raises(ConfigurationError, match="other settings"):
        HybridSnAp1(horizon=5, n_features=3, prior_path=str(path), **{**PRIOR_KW, "q": 6})
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(InputFileError):
        HybridSnAp1(horizon=5, n_features=3, prior_path=str(bad), **PRIOR_KW)
    with pytest.raises(InputFileError):
        HybridSnAp1(horizon=5, n_features=3, prior_path=str(tmp_path / "missing.npz"),
                    **PRIOR_KW)
