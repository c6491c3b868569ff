"""``run_batched`` (grid of series x settings x seeds) against ``run_online`` of the single
forecasters, masking of shorter series, and the backend choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.forecasters import get, run_online
from motionpredict.kernels import BACKENDS, resolve_backend, run_batched


def _two_series() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    a = np.sin(0.3 * np.arange(50)[:, None] + [0.0, 0.7]) + 0.05 * rng.normal(size=(50, 2))
    b = np.cos(0.2 * np.arange(37)[:, None] + [0.3, 0.1]) + 0.05 * rng.normal(size=(37, 2))
    return [a, b]


@pytest.mark.parametrize(("est", "mode"), [("snap1", "causal"), ("uoro", "reference"),
                                           ("rnn-fixed", "causal")])
def test_grid_equals_single_runs_with_masked_lengths(est, mode):
    series = _two_series()
    settings = [{"eta": 0.05}, {"eta": 0.3, "clip": 0.5}]
    run = run_batched(series, estimator=est, horizon=2, n_hidden=6, history=3,
                      settings=settings, seeds=[0, 9], mode=mode, dtype=torch.float64,
                      uoro_noise="numpy")
    assert run.predicted.shape == (2, 2, 2, 50, 2)
    assert run.backend.name == "torch" and run.mode == mode
    for i, s in enumerate(series):
        assert np.all(np.isnan(run.predicted[i, :, :, len(s):]))
        for j, st in enumerate(run.settings):
            for k, seed in enumerate(run.seeds):
                f = get(est)(horizon=2, n_features=2, mode=mode, seed=seed, k=3, q=6,
                             eta=st["eta"], clip=st["clip"])
                ref = run_online(f, s).predicted
                got = run.predicted[i, j, k, : len(s)]
                np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
                np.testing.assert_allclose(got[2:], ref[2:], rtol=0, atol=1e-12)
    # different settings give different forecasts (the grid is really a grid)
    assert np.nanmax(np.abs(run.predicted[0, 0, 0] - run.predicted[0, 1, 0])) > 1e-3


def test_float32_grid_close_to_float64():
    series = np.stack([s[:37] for s in _two_series()])
    kw = {"estimator": "dni", "horizon": 1, "n_hidden": 5, "history": 2,
          "settings": [{"eta": 0.1}], "seeds": [1, 2, 3]}
    a = run_batched(series, dtype=torch.float64, **kw).predicted
    b = run_batched(series, dtype=torch.float32, **kw).predicted
    np.testing.assert_allclose(b[..., 1:, :], a[..., 1:, :], rtol=1e-3, atol=1e-4)


def test_run_batched_rejects_bad_input():
    s = _two_series()
    kw = {"estimator": "snap1", "horizon": 1, "n_hidden": 3, "history": 2, "seeds": [0]}
    with pytest.raises(ConfigurationError):
        run_batched(s, settings=[{"lr": 0.1}], **kw)
    with pytest.raises(ConfigurationError):
        run_batched(s, settings=[], **kw)
    bad = [s[0].copy()]
    bad[0][4, 1] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        run_batched(bad, settings=[{"eta": 0.1}], **kw)
    with pytest.raises(ValidationError):
        run_batched([s[0], s[1][:, :1]], settings=[{"eta": 0.1}], **kw)
    with pytest.raises(ConfigurationError):
        run_batched(s, settings=[{"eta": 0.1}], **{**kw, "estimator": "bptt"})


def test_backend_choice(monkeypatch):
    assert BACKENDS == ("torch", "triton", "auto")
    assert resolve_backend("torch", device="cpu", estimator="snap1").name == "torch"
    auto = resolve_backend("auto", device="cpu", estimator="snap1")
    assert auto.name == "torch" and "cpu" in auto.reason
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ConfigurationError, match="triton"):
        resolve_backend("triton", device="cpu", estimator="snap1")
    with pytest.raises(ConfigurationError):
        resolve_backend("cuda", device="cpu", estimator="snap1")  # type: ignore[arg-type]


def test_sync_every_counts_resets_and_keeps_healthy_rows():
    """Deferred resets: the same healthy forecasts, every divergence counted by the final flush,
    forecasts finite; a non-positive ``sync_every`` is refused."""
    series = [s * 40.0 for s in _two_series()]
    kw = {"estimator": "snap1", "horizon": 1, "n_hidden": 5, "history": 3,
          "settings": [{"eta": 0.001}, {"eta": 40.0, "clip": 1e9}], "seeds": [2],
          "dtype": torch.float64}
    now = run_batched(series, sync_every=1, **kw)
    late = run_batched(series, sync_every=8, **kw)
    np.testing.assert_allclose(late.predicted[:, 0], now.predicted[:, 0], rtol=0, atol=1e-12)
    assert np.all(now.resets[:, 1] >= 1) and np.all(late.resets[:, 1] >= 1)
    assert np.all(late.resets[:, 0] == 0)
    for i, s in enumerate(series):
        assert np.all(np.isfinite(late.predicted[i, :, 0, 1 : len(s)]))
    with pytest.raises(ConfigurationError, match="sync_every"):
        run_batched(series, sync_every=0, **kw)
