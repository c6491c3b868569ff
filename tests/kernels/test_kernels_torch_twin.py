"""The batched PyTorch twin against the single-RNN forecasters (float64, step by step), against
autograd for the RTRL influence, and its memory accounting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters import get, run_online
from motionpredict.kernels import BatchedRNNConfig, max_batch, new_state, state_bytes
from motionpredict.kernels.batched_rnn_torch import counter_signs, forward_torch, rnn_step_torch

FORECASTER = {"rtrl": "rtrl", "snap1": "snap1", "uoro": "uoro", "dni": "dni", "fixed": "rnn-fixed"}
P, K, Q, T = 2, 3, 5, 30


def _series(n: int, t: int = T, p: int = P) -> np.ndarray:
    """``(n, t, p)`` noisy quasi-periodic standardised series, different per row."""
    rng = np.random.default_rng(123)
    tt = np.arange(t)[None, :, None]
    phase = rng.uniform(0, np.pi, (n, 1, p))
    return np.sin(0.35 * tt + phase) + 0.3 * np.sin(0.11 * tt) + 0.05 * rng.normal(size=(n, t, p))


def _run_twin(est, mode, h, seeds, lrs, clips, ys):
    cfg = BatchedRNNConfig(est, n_hidden=Q, history=K, n_features=P, horizon=h, mode=mode)
    st = new_state(cfg, seeds=seeds, lr=lrs, clip=clips, dtype=torch.float64, uoro_noise="numpy")
    w0 = st.w.clone()
    b, t_len = ys.shape[0], ys.shape[1]
    preds = np.full((b, t_len, P), np.nan)
    for t in range(t_len):
        look = torch.tensor(ys[:, min(t + h, t_len - 1)])
        has = torch.full((b,), t + h < t_len)
        pr = rnn_step_torch(st, torch.tensor(ys[:, t]), lookahead=look, has_lookahead=has)
        if t + h < t_len:
            preds[:, t + h] = pr.numpy()
    return st, w0, preds


@pytest.mark.parametrize("est", list(FORECASTER))
@pytest.mark.parametrize("mode", ["causal", "reference"])
@pytest.mark.parametrize("h", [1, 3])
def test_twin_matches_single_forecasters(est, mode, h):
    seeds, lrs, clips = [1, 2, 3], [0.3, 0.1, 0.2], [100.0, 0.05, 100.0]
    ys = _series(3)
    st, w0, preds = _run_twin(est, mode, h, seeds, lrs, clips, ys)
    for i in range(3):
        f = get(FORECASTER[est])(
            horizon=h, n_features=P, mode=mode, seed=seeds[i], k=K, q=Q, eta=lrs[i],
            clip=clips[i],
        )
        ref = run_online(f, ys[i])
        np.testing.assert_array_equal(np.isnan(ref.predicted), np.isnan(preds[i]))
        np.testing.assert_allclose(preds[i, h:], ref.predicted[h:], rtol=0, atol=1e-12)
        wab = np.asarray(f.w_ab)
        np.testing.assert_allclose(st.w[i].numpy(), wab, rtol=0, atol=1e-12)
        np.testing.assert_allclose(st.wc[i].numpy(), f.w_c, rtol=0, atol=1e-12)
    moved = float((st.w - w0).abs().max())
    if est == "fixed":
        assert moved == 0.0
    else:
        assert moved > 1e-3  # the recurrent weights really learned


@pytest.mark.parametrize("est", ["snap1", "dni"])
def test_twin_resets_like_forecaster_on_divergence(est):
    ys = _series(2, t=40) * 50.0
    seeds, lrs, clips = [4, 5], [30.0, 0.01], [1e9, 100.0]
    st, _, preds = _run_twin(est, "causal", 2, seeds, lrs, clips, ys)
    assert int(st.resets[0]) >= 1
    for i in range(2):
        f = get(FORECASTER[est])(
            horizon=2, n_features=P, seed=seeds[i], k=K, q=Q, eta=lrs[i], clip=clips[i]
        )
        ref = run_online(f, ys[i])
        assert len(ref.events) == int(st.resets[i])
        np.testing.assert_allclose(preds[i, 2:], ref.predicted[2:], rtol=1e-9, atol=1e-9)
    assert np.all(np.isfinite(preds[:, 2:]))


def test_rtrl_influence_equals_autograd():
    """With frozen weights, e^T W_c J_T equals the BPTT gradient of L_T = 1/2||W_c h_T - y||^2."""
    cfg = BatchedRNNConfig("rtrl", n_hidden=4, history=2, n_features=P, horizon=1,
                           mode="reference")
    st = new_state(cfg, seeds=[0, 1], lr=0.1, dtype=torch.float64)
    st.w.normal_(0.0, 0.4, generator=torch.Generator().manual_seed(0))
    xs = torch.tensor(_series(2, t=8, p=cfg.n_inputs))
    for t in range(8):
        forward_torch(st, xs[:, t], 0, 0, None)
    target = torch.tensor([[0.3, -0.2], [0.1, 0.5]], dtype=torch.float64)
    e = st.slot_yhat[0] - target
    delta = (st.wc.transpose(1, 2) @ e[:, :, None])[:, :, 0]
    g_rtrl = (delta[:, None, :] @ st.infl.reshape(2, 4, -1)).reshape(st.w.shape)
    w = st.w.clone().requires_grad_(True)
    h = torch.zeros(2, 4, dtype=torch.float64)
    for t in range(8):
        h = torch.tanh((w @ torch.cat([h, xs[:, t]], 1)[:, :, None])[:, :, 0])
    loss = 0.5 * (((st.wc @ h[:, :, None])[:, :, 0] - target) ** 2).sum()
    (g_auto,) = torch.autograd.grad(loss, w)
    assert float(g_auto.abs().max()) > 1e-3
    torch.testing.assert_close(g_rtrl, g_auto, rtol=1e-10, atol=1e-12)


def test_counter_signs_are_balanced_and_distinct():
    seeds = torch.arange(64)
    a = counter_signs(seeds, 3, 50)
    assert set(a.unique().tolist()) == {-1.0, 1.0}
    assert abs(float(a.mean())) < 0.05
    assert not torch.equal(a, counter_signs(seeds, 4, 50))
    assert not torch.equal(a[0], a[1])
    assert torch.equal(a, counter_signs(seeds, 3, 50))


@pytest.mark.parametrize("est", list(FORECASTER))
@pytest.mark.parametrize("mode", ["causal", "reference"])
def test_state_bytes_counts_every_tensor(est, mode):
    cfg = BatchedRNNConfig(est, n_hidden=7, history=4, n_features=3, horizon=3, mode=mode)
    st = new_state(cfg, seeds=range(5), lr=0.01)
    tensors = [v for v in vars(st).values() if isinstance(v, torch.Tensor)]
    tensors += [v for v in vars(st.guard).values() if isinstance(v, torch.Tensor)]
    allocated = sum(x.numel() * x.element_size() for x in tensors)
    assert state_bytes(cfg, 5) == allocated


def test_rtrl_memory_bound_documented_figure():
    cfg = BatchedRNNConfig("rtrl", n_hidden=180, history=60, n_features=3, horizon=1)
    per_rnn = state_bytes(cfg, 1)
    assert 47e6 < per_rnn < 48e6  # Q^2 (Q + M) floats dominate: 180^2 * 361 * 4 B = 46.8 MB
    assert max_batch(cfg, 80 * 10**9) == 80 * 10**9 // (per_rnn + 180 * 180 * 361 * 4)
    snap = BatchedRNNConfig("snap1", n_hidden=180, history=60, n_features=3, horizon=1)
    assert state_bytes(snap, 1) < 0.6e6


def test_invalid_configuration_raises():
    with pytest.raises(ConfigurationError):
        BatchedRNNConfig("bptt", n_hidden=3, history=2, n_features=1, horizon=1)  # type: ignore
    with pytest.raises(ConfigurationError):
        BatchedRNNConfig("snap1", n_hidden=3, history=2, n_features=1, horizon=0)
    cfg = BatchedRNNConfig("snap1", n_hidden=3, history=2, n_features=1, horizon=1)
    with pytest.raises(ConfigurationError):
        new_state(cfg, seeds=[0, 1], lr=[0.1, -0.1])
    with pytest.raises(ConfigurationError):
        new_state(cfg, seeds=[0, 1, 2], lr=[0.1, 0.2])
    with pytest.raises(ConfigurationError):
        new_state(cfg, seeds=[], lr=0.1)


@pytest.mark.parametrize(("mode", "h"), [("causal", 3), ("reference", 1)])
def test_twin_matches_uoro_as_coded(mode, h):
    ys = _series(2)
    cfg = BatchedRNNConfig("uoro", n_hidden=Q, history=K, n_features=P, horizon=h, mode=mode,
                           uoro_variant="as-coded")
    st = new_state(cfg, seeds=[3, 4], lr=[0.3, 0.1], dtype=torch.float64, uoro_noise="numpy")
    preds = np.full((2, T, P), np.nan)
    for t in range(T):
        look = torch.tensor(ys[:, min(t + h, T - 1)])
        pr = rnn_step_torch(st, torch.tensor(ys[:, t]), lookahead=look,
                            has_lookahead=torch.full((2,), t + h < T))
        if t + h < T:
            preds[:, t + h] = pr.numpy()
    for i, (seed, eta) in enumerate([(3, 0.3), (4, 0.1)]):
        f = get("uoro")(horizon=h, n_features=P, mode=mode, seed=seed, k=K, q=Q, eta=eta,
                        variant="as-coded")
        ref = run_online(f, ys[i]).predicted
        # the finite-difference tangent divides rounding errors (1e-16) by eps = 1e-7
        np.testing.assert_allclose(preds[i, h:], ref[h:], rtol=0, atol=1e-7)
        np.testing.assert_allclose(st.w[i].numpy(), f.w_ab, rtol=0, atol=1e-7)
    # the variant really differs from the correct estimator
    f = get("uoro")(horizon=h, n_features=P, mode=mode, seed=4, k=K, q=Q, eta=0.1)
    assert np.nanmax(np.abs(run_online(f, ys[1]).predicted - preds[1])) > 1e-4


@pytest.mark.parametrize("sync_every", [4, 7])
def test_deferred_resets_forecast_last_value_then_restart(sync_every, monkeypatch):
    """With ``sync_every = n`` a diverged row forecasts ``y_t`` until the next flush step, is then
    re-initialised from ``seed + resets`` like the immediate path, and the host synchronises
    only at flush steps; healthy rows are unaffected."""
    import motionpredict.kernels.batched_rnn_torch as twin

    ys = _series(2, t=40) * 50.0
    seeds, lrs, clips = [4, 5], [30.0, 0.01], [1e9, 100.0]
    cfg = BatchedRNNConfig("snap1", n_hidden=Q, history=K, n_features=P, horizon=2)
    now = new_state(cfg, seeds=seeds, lr=lrs, clip=clips, dtype=torch.float64)
    late = new_state(cfg, seeds=seeds, lr=lrs, clip=clips, dtype=torch.float64)
    flushes: list[int] = []
    real_flush = twin.flush_resets

    def counting_flush(state):
        if state is late:  # the immediate path flushes every step
            flushes.append(state.t)
        return real_flush(state)

    monkeypatch.setattr(twin, "flush_resets", counting_flush)
    first_bad = None
    for t in range(ys.shape[1]):
        y = torch.tensor(ys[:, t])
        p_now = rnn_step_torch(now, y)
        p_late = rnn_step_torch(late, y, sync_every=sync_every)
        if first_bad is None and int(now.resets[0]) > 0:
            first_bad = t
        if first_bad is not None and t < first_bad + 1 and bool(late.pending[0]):
            np.testing.assert_array_equal(p_late[0].numpy(), ys[0, t])  # last value while pending
        # the healthy row never diverges: identical in both paths
        np.testing.assert_allclose(p_late[1].numpy(), p_now[1].numpy(), rtol=0, atol=1e-12)
        assert np.all(np.isfinite(p_late.numpy()))
    assert first_bad is not None, "row 0 should diverge with eta = 30"
    assert flushes and all((t + 1) % sync_every == 0 for t in flushes)
    assert len(flushes) == ys.shape[1] // sync_every
    assert int(late.resets[0]) >= 1 and int(late.resets[1]) == 0
    # a flushed row restarts from seed + resets exactly as the immediate path does
    assert not bool(late.pending.any()) or ys.shape[1] % sync_every != 0


def test_deferred_reset_restarts_with_the_next_seed():
    """After a flush the row's weights equal a fresh draw from ``seed + resets``."""
    from motionpredict.kernels.batched_rnn_state import init_weights

    ys = _series(1, t=30) * 50.0
    cfg = BatchedRNNConfig("snap1", n_hidden=Q, history=K, n_features=P, horizon=1)
    st = new_state(cfg, seeds=[4], lr=[30.0], clip=[1e9], dtype=torch.float64)
    for t in range(ys.shape[1]):
        rnn_step_torch(st, torch.tensor(ys[:, t]), sync_every=5)
        if (t + 1) % 5 == 0 and int(st.resets[0]) > 0 and int(st.steps[0]) == 0:
            wa, wb, wc, _ = init_weights(4 + int(st.resets[0]), Q, cfg.n_inputs, P)
            np.testing.assert_array_equal(st.w[0, :, :Q].numpy(), wa)
            np.testing.assert_array_equal(st.w[0, :, Q:].numpy(), wb)
            np.testing.assert_array_equal(st.wc[0].numpy(), wc)
            return
    pytest.fail("no flushed reset happened")
