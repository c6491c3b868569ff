"""The plausibility guard on the batched paths (issue #14): the PyTorch twin, ``run_batched``, the
RNN expert bank and the Triton kernels (interpreted on a CPU) replace, count and reset exactly as
the single forecasters do, with the guard firing."""

from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import numpy as np
import pytest

from motionpredict.forecasters import get, run_online
from motionpredict.forecasters.base import GuardSettings
from motionpredict.kernels import BatchedRNNConfig, new_state, run_batched
from motionpredict.kernels.batched_rnn_torch import rnn_step_torch

FORECASTER = {"rtrl": "rtrl", "snap1": "snap1", "uoro": "uoro", "dni": "dni", "fixed": "rnn-fixed"}
P, K, Q = 2, 3, 5
#: Settings that make the guard fire often on short series.
SETTINGS = GuardSettings(margin=0.2, ratio=1.2, reset_ratio=4.0, window=5)
KW = {"guard_margin": 0.2, "guard_ratio": 1.2, "guard_reset_ratio": 4.0, "guard_window": 5}


def _series(n: int, t: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    tt = np.arange(t)[None, :, None]
    phase = rng.uniform(0, np.pi, (n, 1, P))
    return np.sin(0.35 * tt + phase) + 0.3 * np.sin(0.11 * tt) + 0.05 * rng.normal(size=(n, t, P))


def _twin(est, h, seeds, lrs, ys, step=rnn_step_torch, device="cpu"):
    cfg = BatchedRNNConfig(est, n_hidden=Q, history=K, n_features=P, horizon=h)
    st = new_state(cfg, seeds=seeds, lr=lrs, dtype=torch.float64, uoro_noise="numpy",
                   guard=SETTINGS, device=device)
    preds = np.full(ys.shape, np.nan)
    for t in range(ys.shape[1]):
        pr = step(st, torch.tensor(ys[:, t], device=device))
        if t + h < ys.shape[1]:
            preds[:, t + h] = pr.cpu().numpy()
    return st, preds


@pytest.mark.parametrize("est", list(FORECASTER))
@pytest.mark.parametrize("h", [1, 3])
def test_twin_guard_matches_single_forecasters(est, h):
    seeds, lrs = [1, 2, 3], [0.05, 0.4, 8.0]
    ys = _series(3, 90)
    st, preds = _twin(est, h, seeds, lrs, ys)
    assert st.guard is not None
    fired = 0
    for i in range(3):
        f = get(FORECASTER[est])(horizon=h, n_features=P, seed=seeds[i], k=K, q=Q, eta=lrs[i],
                                 **KW)
        ref = run_online(f, ys[i])
        np.testing.assert_allclose(preds[i, h:], ref.predicted[h:], rtol=0, atol=1e-9)
        assert int(st.guard.guarded[i]) == f.guarded
        assert int(st.resets[i]) == len(f.events)
        fired += f.guarded
    assert fired > 0  # the guard really replaced forecasts


def test_guard_resets_take_the_next_seed_like_the_forecaster():
    ys = _series(1, 120)
    st, preds = _twin("snap1", 2, [5], [30.0], ys)
    f = get("snap1")(horizon=2, n_features=P, seed=5, k=K, q=Q, eta=30.0, **KW)
    ref = run_online(f, ys[0])
    guard_resets = [e for e in f.events if e.reason.startswith("guard:")]
    assert guard_resets, "the error-ratio reset must fire at this step size"
    assert int(st.resets[0]) == len(f.events)
    np.testing.assert_allclose(preds[0, 2:], ref.predicted[2:], rtol=0, atol=1e-9)


def test_run_batched_guarded_flags_equal_online_runs():
    series = [_series(1, 70)[0], _series(2, 55)[1]]
    settings = [{"eta": 0.05}, {"eta": 6.0}]
    run = run_batched(series, estimator="snap1", horizon=2, n_hidden=Q, history=K,
                      settings=settings, seeds=[0, 4], dtype=torch.float64, guard=SETTINGS)
    assert run.guarded.shape == run.predicted.shape[:-1]
    total = 0
    for i, s in enumerate(series):
        assert not run.guarded[i, :, :, len(s):].any()
        for j, st in enumerate(run.settings):
            for k, seed in enumerate(run.seeds):
                f = get("snap1")(horizon=2, n_features=P, seed=seed, k=K, q=Q, eta=st["eta"],
                                 **KW)
                ref = run_online(f, s)
                np.testing.assert_array_equal(run.guarded[i, j, k, : len(s)], ref.guarded)
                np.testing.assert_allclose(run.predicted[i, j, k, 2 : len(s)], ref.predicted[2:],
                                           rtol=0, atol=1e-9)
                total += ref.n_guarded
    assert total > 0
    assert run.n_guarded.sum() == total


def test_guard_off_replaces_only_diverged_rows():
    ys = _series(2, 60)
    cfg = BatchedRNNConfig("snap1", n_hidden=Q, history=K, n_features=P, horizon=1)
    st = new_state(cfg, seeds=[0, 1], lr=[0.05, 0.4], dtype=torch.float64, guard=False)
    for t in range(60):
        rnn_step_torch(st, torch.tensor(ys[:, t]))
    assert st.guard is not None and not st.guard.active
    assert st.guard.guarded.tolist() == st.resets.tolist()


def test_expert_bank_with_a_diverging_eta_equals_separate_members():
    """Bank experts are guarded like members (defaults), so the aggregator sees the same."""
    base = (("no-prediction", ()), ("rls", (("k", 4),)))
    bank = {"estimator": "snap1", "k": 3, "q": 5, "etas": [0.05, 40.0], "seeds": 1,
            "backend": "torch", "device": "cpu"}
    t = np.arange(160)
    ys = 3.0 * np.stack([np.sin(0.3 * t), np.cos(0.21 * t + 0.4)], axis=1)
    with_bank = get("aggregator")(horizon=2, n_features=2, seed=7, members=base,
                                  rnn_banks=(bank,))
    members = (*base, ("snap1", (("k", 3), ("q", 5), ("eta", 0.05))),
               ("snap1", (("k", 3), ("q", 5), ("eta", 40.0))))
    separate = get("aggregator")(horizon=2, n_features=2, seed=7, members=members)
    ra, rb = run_online(with_bank, ys), run_online(separate, ys)
    np.testing.assert_allclose(ra.predicted, rb.predicted, rtol=0, atol=1e-9, equal_nan=True)
    assert separate.members[-1].guarded > 0
    assert int(with_bank.banks[0].state.guard.guarded[1]) == separate.members[-1].guarded


@pytest.mark.slow
@pytest.mark.parametrize("est", ["snap1", "dni"])
def test_triton_guard_matches_twin(est):
    pytest.importorskip("triton")
    from motionpredict.kernels.batched_rnn_triton import rnn_step_triton

    device = "cuda" if torch.cuda.is_available() else "cpu"
    ys = _series(2, 40)
    twin, pa = _twin(est, 2, [3, 4], [0.1, 8.0], ys, device=device)
    trit, pb = _twin(est, 2, [3, 4], [0.1, 8.0], ys, step=rnn_step_triton, device=device)
    np.testing.assert_allclose(pb, pa, rtol=0, atol=1e-9)
    assert twin.guard is not None and trit.guard is not None
    assert trit.guard.guarded.tolist() == twin.guard.guarded.tolist()
    assert trit.resets.tolist() == twin.resets.tolist()
    assert int(twin.guard.guarded.sum()) > 0


@pytest.mark.parametrize("est", ["snap1", "uoro"])
def test_reference_mode_bound_matches_single_forecasters(est):
    """Reference mode: the twin applies the same REFERENCE_BOUND as the forecasters."""
    h, seeds, lrs = 2, [1, 2], [0.05, 2.0]
    ys = _series(2, 120)
    cfg = BatchedRNNConfig(est, n_hidden=Q, history=K, n_features=P, horizon=h, mode="reference")
    st = new_state(cfg, seeds=seeds, lr=lrs, dtype=torch.float64, uoro_noise="numpy",
                   guard=GuardSettings())
    preds = np.full(ys.shape, np.nan)
    n = ys.shape[1]
    for t in range(n):
        look = torch.tensor(ys[:, t + h]) if t + h < n else None
        pr = rnn_step_torch(st, torch.tensor(ys[:, t]), lookahead=look)
        if t + h < n:
            preds[:, t + h] = pr.numpy()
    fired = 0
    for i in range(2):
        f = get(FORECASTER[est])(horizon=h, n_features=P, mode="reference", seed=seeds[i], k=K,
                                 q=Q, eta=lrs[i])
        ref = run_online(f, ys[i])
        # eta 2 is chaotic: rounding differences grow to ~1e-7 relative
        np.testing.assert_allclose(preds[i, h:], ref.predicted[h:], rtol=1e-6, atol=1e-9)
        assert int(st.guard.guarded[i]) == f.guarded
        fired += sum(e.reason == "bound" for e in f.guard_events)
    assert fired > 0  # the bound really replaced forecasts
