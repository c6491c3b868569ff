"""Gradient correctness of the online RNN estimators (float64, torch autograd as the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from motionpredict.forecasters.rnn_dni import DNIForecaster
from motionpredict.forecasters.rnn_rtrl import RTRLForecaster
from motionpredict.forecasters.rnn_snap1 import SnAp1Forecaster
from motionpredict.forecasters.rnn_uoro import UOROForecaster


@pytest.fixture(autouse=True)
def _single_thread_blas():
    """Vector-sized BLAS calls: threads only add latency (and stall on a loaded machine)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _series(n: int, p: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, p))


def _drive_frozen(cls, series: np.ndarray, *, k: int, q: int, seed: int = 0, **kw):
    """Run a forecaster over ``series`` without learning (causal, horizon beyond the series)."""
    f = cls(horizon=len(series) + 1, n_features=series.shape[1], seed=seed, k=k, q=q, **kw)
    for y in series:
        f.step(y)
    return f


def _inputs(series: np.ndarray, k: int) -> np.ndarray:
    """Independent construction of x_t = [1, y_{t-k+1}, ..., y_t], padded with y_0."""
    n, _ = series.shape
    padded = np.concatenate([np.repeat(series[:1], k - 1, axis=0), series])
    return np.stack([np.concatenate([[1.0], padded[t : t + k].ravel()]) for t in range(n)])


def _bptt_gradient(f, series: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dL/dW_a and dL/dW_b of L = 1/2 ||W_c h_T - target||^2 by autograd through all steps."""
    w_a = torch.tensor(f.w_a, requires_grad=True)
    w_b = torch.tensor(f.w_b, requires_grad=True)
    w_c = torch.tensor(f.w_c)
    h = torch.zeros(f.q, dtype=torch.float64)
    for x in torch.tensor(_inputs(series, f.k)):
        h = torch.tanh(w_a @ h + w_b @ x)
    loss = 0.5 * torch.sum((w_c @ h - torch.tensor(target)) ** 2)
    loss.backward()
    return w_a.grad.numpy(), w_b.grad.numpy()


@pytest.mark.parametrize(("q", "k", "p", "n"), [(4, 3, 2, 9), (7, 2, 3, 15), (1, 4, 1, 6)])
def test_rtrl_gradient_equals_bptt(q: int, k: int, p: int, n: int) -> None:
    series = _series(n, p, seed=q)
    # larger weights than the default so that the recurrence matters
    f = _drive_frozen(RTRLForecaster, series, k=k, q=q, seed=3, init_std=0.5)
    target = np.random.default_rng(1).normal(size=p)
    e = f.w_c @ f.h - target
    g = f._recurrent_gradient(f.w_c.T @ e, e, target, {})
    ga, gb = _bptt_gradient(f, series, target)
    assert np.abs(ga).max() > 1e-3  # a non-trivial recurrent gradient
    np.testing.assert_allclose(g[:, :q], ga, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(g[:, q:], gb, rtol=1e-6, atol=1e-12)


def test_rtrl_causal_record_gives_the_same_gradient() -> None:
    """The causal record keeps W_c J; e^T (W_c J) equals g_h J."""
    series = _series(8, 2, seed=5)
    f = _drive_frozen(RTRLForecaster, series, k=2, q=3, init_std=0.4)
    target = np.array([0.3, -0.2])
    e = f.w_c @ f.h - target
    live = f._recurrent_gradient(f.w_c.T @ e, e, target, {}).copy()
    rec = f._estimator_record()
    via_record = f._recurrent_gradient(f.w_c.T @ e, e, target, rec)
    np.testing.assert_allclose(via_record, live, rtol=1e-12, atol=1e-15)


def _masked_rtrl_recursion(f, series: np.ndarray) -> np.ndarray:
    """RTRL recursion with the influence restricted to the SnAp-1 pattern after every step."""
    q = f.q
    xs = _inputs(series, f.k)
    h = np.zeros(q)
    jac = np.zeros((q, q, q + f.m))
    eye = np.eye(q)
    for x in xs:
        xi = np.concatenate([h, x])
        h = np.tanh(f.w_ab @ xi)
        jac = (1 - h**2)[:, None, None] * (
            np.einsum("ij,jrc->irc", f.w_a, jac) + eye[:, :, None] * xi[None, None, :]
        )
        jac = jac * eye[:, :, None]  # keep only dh_i / dW[i, :]
    return np.einsum("iic->ic", jac)


def test_snap1_equals_rtrl_restricted_to_its_pattern() -> None:
    series = _series(12, 2, seed=7)
    f = _drive_frozen(SnAp1Forecaster, series, k=3, q=5, init_std=0.5)
    np.testing.assert_allclose(f.J, _masked_rtrl_recursion(f, series), rtol=1e-12, atol=1e-14)
    # and SnAp-1 is not RTRL when W_a couples the units
    r = _drive_frozen(RTRLForecaster, series, k=3, q=5, init_std=0.5)
    assert np.abs(np.einsum("iic->ic", r.J) - f.J).max() > 1e-4


@pytest.mark.parametrize("diagonal", [False, True])
def test_snap1_equals_rtrl_where_the_pattern_is_complete(diagonal: bool) -> None:
    """q = 1, or a diagonal W_a: the SnAp-1 pattern holds every non-zero influence."""
    q = 4 if diagonal else 1
    series = _series(10, 3, seed=11)
    kw = {"k": 2, "q": q, "init_std": 0.6, "seed": 2}
    snap = SnAp1Forecaster(horizon=50, n_features=3, **kw)
    rtrl = RTRLForecaster(horizon=50, n_features=3, **kw)
    if diagonal:
        for f in (snap, rtrl):
            f.w_a[...] = np.diag([0.9, -0.5, 0.3, 0.7])
    for y in series:
        snap.step(y)
        rtrl.step(y)
    np.testing.assert_allclose(snap.J, np.einsum("iic->ic", rtrl.J), rtol=1e-13, atol=1e-15)
    off = rtrl.J * (1 - np.eye(q))[:, :, None]
    assert np.abs(off).max() == 0.0
    target = np.ones(3)
    e = rtrl.w_c @ rtrl.h - target
    g_h = rtrl.w_c.T @ e
    g_rtrl = rtrl._recurrent_gradient(g_h, e, target, {}).copy()
    g_snap = snap._recurrent_gradient(g_h, e, target, snap._estimator_record())
    np.testing.assert_allclose(g_snap, g_rtrl, rtol=1e-12, atol=1e-15)


def test_uoro_estimate_is_unbiased() -> None:
    """Mean of (g_h . s) theta over many independent sign sequences -> the RTRL gradient.

    Tolerance: every entry of the mean within 5 standard errors of the RTRL value.
    """
    series = _series(5, 1, seed=13)
    kw = {"k": 2, "q": 3, "init_std": 0.7}
    rtrl = _drive_frozen(RTRLForecaster, series, seed=4, **kw)
    target = np.array([0.5])
    e = rtrl.w_c @ rtrl.h - target
    g_h = rtrl.w_c.T @ e
    exact = rtrl._recurrent_gradient(g_h, e, target, {}).copy()
    n_chains = 4000
    samples = np.empty((n_chains, *exact.shape))
    for i in range(n_chains):
        u = UOROForecaster(horizon=99, n_features=1, seed=1000 + i, **kw)
        u.w_ab[...] = rtrl.w_ab
        u.w_c[...] = rtrl.w_c
        for y in series:
            u.step(y)
        np.testing.assert_allclose(u.h, rtrl.h, rtol=1e-14)
        samples[i] = u._recurrent_gradient(g_h, e, target, u._estimator_record())
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(n_chains)
    assert np.all(np.abs(mean - exact) <= 5 * se + 1e-12)
    # the test has power: the standard errors are small against the gradient itself
    assert np.linalg.norm(se) < 0.25 * np.linalg.norm(exact)
    # a single draw is far from exact (it is an estimate, not a copy of RTRL)
    assert np.linalg.norm(samples[0] - exact) > 1e-3 * np.linalg.norm(exact)


def test_uoro_tangent_matches_the_finite_difference_variant() -> None:
    """The exact tangent dF/dh s equals the reference's finite difference to ~1e-6."""
    series = _series(6, 2, seed=17)
    kw = {"k": 2, "q": 4, "init_std": 0.5, "seed": 8}
    a = UOROForecaster(horizon=99, n_features=2, **kw)
    b = UOROForecaster(horizon=99, n_features=2, variant="as-coded", **kw)
    for y in series:
        a.step(y)
        b.step(y)
    np.testing.assert_allclose(a.s, b.s, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-5, atol=1e-7)


def test_dni_credit_model_reduces_its_own_loss() -> None:
    """On a stationary periodic signal the bootstrapped credit error 1/2||f||^2 decreases."""
    t = np.arange(4000) * 0.1
    y = np.stack([np.sin(2 * np.pi * t / 4.0), np.cos(2 * np.pi * t / 4.0)], axis=1)
    f = DNIForecaster(horizon=2, n_features=2, mode="reference", seed=0, k=4, q=8, eta=0.005)
    losses = []
    for i in range(len(y) - 2):
        f.step(y[i], lookahead=y[i + 2])
        losses.append(f.credit_loss)
    losses = np.asarray(losses)
    first, last = losses[:300].mean(), losses[-300:].mean()
    assert last < 0.5 * first


def test_snap1_row_scale_refolding_keeps_the_recursion_exact() -> None:
    """200 steps with decays ~0.02 per step: the row scales must be refolded (0.02^200 underflows)
    and J still equals the direct recursion."""
    series = _series(200, 2, seed=19)
    f = _drive_frozen(SnAp1Forecaster, series, k=3, q=5, init_std=0.02)
    direct = _masked_rtrl_recursion(f, series)
    # |decay| <= |W_a[i, i]| (phi' <= 1): the cumulative row scale would underflow
    assert np.max(np.abs(np.diag(f.w_a))) ** 200 < 1e-200  # refolded below 1e-100
    np.testing.assert_allclose(f.J, direct, rtol=1e-10, atol=1e-300)
    assert np.all(np.isfinite(f.Jt)) and np.all(np.abs(f.s) >= 1e-100)
