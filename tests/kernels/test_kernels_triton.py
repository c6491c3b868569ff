"""Triton kernels against the PyTorch twin (float32 tolerances).

Without CUDA the kernels run under Triton's interpreter (``TRITON_INTERPRET=1``, set here before
Triton is imported) on tiny sizes; with CUDA they run on the GPU at a realistic size as well.
"""

from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import numpy as np
import pytest

pytest.importorskip("triton")

from motionpredict.kernels import BatchedRNNConfig, batched_rnn_triton, new_state, resolve_backend
from motionpredict.kernels.batched_rnn_torch import rnn_step_torch
from motionpredict.kernels.batched_rnn_triton import rnn_step_triton

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _pair(est, mode, h, b, q, k, p, dtype, lr=0.6):
    cfg = BatchedRNNConfig(est, n_hidden=q, history=k, n_features=p, horizon=h, mode=mode)
    rng = np.random.default_rng(0)
    kw = {
        "seeds": np.arange(b) + 10,
        "lr": rng.uniform(0.05, lr, b),
        "clip": np.where(np.arange(b) % 2 == 0, 100.0, 0.05),
        "device": DEVICE,
        "dtype": dtype,
    }
    return new_state(cfg, **kw), new_state(cfg, **kw)


def _compare(est, mode, h, *, b=3, q=5, k=3, p=2, t_len=6, dtype=torch.float32, lengths=None):
    twin, trit = _pair(est, mode, h, b, q, k, p, dtype)
    tt = np.arange(t_len)[None, :, None]
    ys = np.sin(0.3 * tt + np.arange(b)[:, None, None] + 0.2 * np.arange(p))
    ys = torch.tensor(ys, device=DEVICE, dtype=dtype)
    lengths = np.full(b, t_len) if lengths is None else np.asarray(lengths)
    worst = 0.0
    for t in range(t_len):
        active = torch.tensor(lengths > t, device=DEVICE)
        look = ys[:, min(t + h, t_len - 1)]
        has = torch.tensor(lengths > t + h, device=DEVICE)
        kw = {"lookahead": look, "has_lookahead": has, "active": active}
        pa = rnn_step_torch(twin, ys[:, t], **kw)
        pb = rnn_step_triton(trit, ys[:, t], **kw)
        np.testing.assert_array_equal(pa.isnan().cpu().numpy(), pb.isnan().cpu().numpy())
        ok = ~pa.isnan()
        worst = max(worst, float((pa[ok] - pb[ok]).abs().max()))
        torch.testing.assert_close(pb[ok], pa[ok], rtol=1e-4, atol=2e-5)
    torch.testing.assert_close(trit.w, twin.w, rtol=1e-4, atol=2e-5)
    torch.testing.assert_close(trit.wc, twin.wc, rtol=1e-4, atol=2e-5)
    torch.testing.assert_close(trit.slot_infl, twin.slot_infl, rtol=1e-4, atol=2e-5)
    torch.testing.assert_close(trit.credit, twin.credit, rtol=1e-4, atol=2e-5)
    torch.testing.assert_close(trit.credit_in, twin.credit_in, rtol=1e-4, atol=2e-5)
    return twin, worst


@pytest.mark.parametrize(
    ("est", "mode", "h"),
    [("snap1", "causal", 1), ("snap1", "reference", 2), ("uoro", "causal", 2),
     ("dni", "causal", 2), ("dni", "reference", 1), ("fixed", "causal", 1)],
)
def test_triton_matches_twin_float32(est, mode, h):
    twin, _ = _compare(est, mode, h)
    assert float(twin.wc.abs().max()) > 0.05  # the readout learned well beyond its init


@pytest.mark.parametrize("est", ["snap1", "uoro", "dni"])
def test_triton_matches_twin_float64_to_rounding(est):
    _, worst = _compare(est, "causal", 2, dtype=torch.float64, t_len=5)
    assert worst < 1e-12


def test_triton_masks_shorter_series():
    twin, _ = _compare("snap1", "causal", 2, b=3, lengths=[6, 3, 5])
    assert int(twin.steps[1]) == 3 and int(twin.steps[0]) == 6


@pytest.mark.parametrize("est", ["snap1", "uoro", "dni"])
def test_triton_loops_over_several_row_tiles(est, monkeypatch):
    # Q = 9 hidden units, N = 9 + 1 + 4*6 = 34 columns, tiles of 2 rows: 5 row tiles, padded
    # columns, and for DNI R = 9 + 6 + 1 = 16 credit rows
    monkeypatch.setattr(batched_rnn_triton, "_TILE_VALUES", 128)
    _compare(est, "causal", 1, b=2, q=9, k=4, p=6, t_len=4)


def test_backend_reports_estimators_without_kernel():
    for est in ("rtrl", "uoro-as-coded"):
        choice = resolve_backend("triton", device=DEVICE, estimator=est)
        assert choice.name == "torch" and est in choice.reason
    for est in ("snap1", "uoro", "dni", "fixed"):
        assert resolve_backend("triton", device=DEVICE, estimator=est).name == "triton"


@needs_cuda
@pytest.mark.parametrize("est", ["snap1", "uoro", "dni", "fixed"])
def test_triton_matches_twin_on_gpu_realistic_size(est):
    _compare(est, "causal", 3, b=256, q=64, k=12, p=3, t_len=40)


@pytest.mark.parametrize("est", ["snap1", "uoro", "dni"])
def test_kernels_keep_the_weight_norms_of_the_divergence_check(est):
    """The update kernels write ||W||^2 (and DNI's ||A||^2) as they write the matrices; the
    divergence check reads those instead of another pass over W."""
    _, trit = _pair(est, "causal", 1, b=3, q=5, k=3, p=2, dtype=torch.float64)
    ys = torch.tensor(np.sin(0.3 * np.arange(6)[None, :, None] + np.arange(3)[:, None, None]
                             + 0.2 * np.arange(2)), device=DEVICE, dtype=torch.float64)
    for t in range(6):
        rnn_step_triton(trit, ys[:, t])
    assert trit.w_sq is not None
    torch.testing.assert_close(trit.w_sq, (trit.w * trit.w).sum(dim=(1, 2)), rtol=1e-12, atol=0)
    if est == "dni":
        torch.testing.assert_close(trit.credit_sq, (trit.credit * trit.credit).sum(dim=(1, 2)),
                                   rtol=1e-12, atol=0)


def test_triton_resets_diverging_rows_like_the_twin():
    """A row whose weights explode is found from the kernel-kept norms and re-initialised in the
    same step as on the twin (which computes the norms itself)."""
    cfg = BatchedRNNConfig("snap1", n_hidden=4, history=2, n_features=2, horizon=1)
    kw = {"seeds": [3, 4], "lr": [40.0, 0.01], "clip": [1e9, 100.0], "device": DEVICE,
          "dtype": torch.float64}
    twin, trit = new_state(cfg, **kw), new_state(cfg, **kw)
    ys = 50.0 * np.sin(0.4 * np.arange(25)[:, None, None] + np.arange(2)[None, :, None]
                       + 0.3 * np.arange(2))
    for t in range(25):
        y = torch.tensor(ys[t], device=DEVICE, dtype=torch.float64)
        pa = rnn_step_torch(twin, y)
        pb = rnn_step_triton(trit, y)
        torch.testing.assert_close(pb, pa, rtol=1e-9, atol=1e-9)
    assert int(twin.resets[0]) >= 1
    assert trit.resets.tolist() == twin.resets.tolist()
    torch.testing.assert_close(trit.w_sq, (trit.w * trit.w).sum(dim=(1, 2)), rtol=1e-12, atol=0)


@pytest.mark.parametrize(("h", "dtype", "tol"), [(1, torch.float32, 2e-5), (3, torch.float32, 2e-5),
                                                 (2, torch.float64, 1e-12)])
@pytest.mark.parametrize("tiles", [False, True])
def test_fused_snap1_causal_step_matches_twin(h, dtype, tol, tiles, monkeypatch):
    """One-launch SnAp-1 causal step (update of the forecast issued at t - h, then the forward
    step of t) against the twin: forecasts, weights, records, norms; clipping active on half the
    rows, one row masked after its end, several row tiles."""
    from motionpredict.kernels.batched_rnn_triton import rnn_step_triton_fused

    if tiles:
        monkeypatch.setattr(batched_rnn_triton, "_TILE_VALUES", 128)

    def unfused(*args, **kwargs):
        raise AssertionError("the two-launch path ran")

    monkeypatch.setattr(batched_rnn_triton, "update_triton", unfused)
    monkeypatch.setattr(batched_rnn_triton, "forward_triton", unfused)
    b, q, k, p, t_len = 3, 9 if tiles else 5, 4 if tiles else 3, 2, 8
    twin, fused = _pair("snap1", "causal", h, b, q, k, p, dtype)
    ys = np.sin(0.3 * np.arange(t_len)[None, :, None] + np.arange(b)[:, None, None]
                + 0.2 * np.arange(p))
    ys = torch.tensor(ys, device=DEVICE, dtype=dtype)
    lengths = np.array([t_len, 5, t_len])
    for t in range(t_len):
        active = torch.tensor(lengths > t, device=DEVICE)
        pa = rnn_step_torch(twin, ys[:, t], active=active)
        pb = rnn_step_triton_fused(fused, ys[:, t], active=active)
        np.testing.assert_array_equal(pa.isnan().cpu().numpy(), pb.isnan().cpu().numpy())
        ok = ~pa.isnan()
        torch.testing.assert_close(pb[ok], pa[ok], rtol=1e-4 if tol > 1e-9 else 0, atol=tol)
    for name in ("w", "wc", "slot_infl", "slot_h", "slot_yhat", "slot_wc"):
        torch.testing.assert_close(getattr(fused, name)[..., :], getattr(twin, name),
                                   rtol=1e-4 if tol > 1e-9 else 0, atol=tol)
    torch.testing.assert_close(fused.w_sq, (fused.w * fused.w).sum(dim=(1, 2)), rtol=1e-5,
                               atol=0)
    assert float((twin.w - fused.w).abs().max()) <= tol
    assert float(twin.wc.abs().max()) > 0.05  # learned beyond the initial readout


def test_run_batched_with_the_fused_step_matches_the_twin():
    from motionpredict.kernels import run_batched

    rng = np.random.default_rng(3)
    series = [np.sin(0.3 * np.arange(12)[:, None] + [0.0, 0.5]) + 0.05 * rng.normal(size=(12, 2)),
              np.cos(0.2 * np.arange(9)[:, None] + [0.1, 0.4])]
    kw = {"estimator": "snap1", "horizon": 2, "n_hidden": 4, "history": 2,
          "settings": [{"eta": 0.05}, {"eta": 0.3, "clip": 0.05}], "seeds": [0, 1],
          "device": DEVICE}
    ref = run_batched(series, backend="torch", **kw)
    got = run_batched(series, backend="triton", fused=True, **kw)
    assert got.backend.name == "triton"
    np.testing.assert_array_equal(np.isnan(got.predicted), np.isnan(ref.predicted))
    np.testing.assert_allclose(got.predicted, ref.predicted, rtol=1e-4, atol=2e-5,
                               equal_nan=True)
