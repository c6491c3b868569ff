"""Backward (pull) and forward (splat) warping, field inversion; NumPy and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionpredict.errors import ValidationError
from motionpredict.registration import invert_field, warp_backward, warp_forward

SHAPE = (64, 72)


def _texture(synth, shape=SHAPE, seed=0):
    return synth.texture(shape, seed=seed)([g.astype(float) for g in np.indices(shape)])


def test_backward_integer_translation_is_exact():
    img = np.arange(8 * 9, dtype=np.float32).reshape(8, 9)
    u = np.zeros((2, 8, 9), np.float32)
    u[0] = 1.0  # out(r, c) = img(r + 1, c)
    out = warp_backward(img, u)
    np.testing.assert_array_equal(out[:-1], img[1:])
    np.testing.assert_array_equal(out[-1], img[-1])  # clamped at the edge, not zero


def test_backward_matches_analytic_subpixel(synth):
    f = synth.texture(SHAPE, seed=1)
    grid = [g.astype(float) for g in np.indices(SHAPE)]
    img = f(grid).astype(np.float32)
    u = np.stack([np.full(SHAPE, 0.5), np.full(SHAPE, -0.25)]).astype(np.float32)
    expected = f([grid[0] + 0.5, grid[1] - 0.25])
    out = warp_backward(img, u)
    err = np.abs(out - expected)[4:-4, 4:-4]
    assert err.mean() < 1.0 and err.max() < 5.0  # linear-interpolation error, 0..255 scale
    assert np.abs(img - expected)[4:-4, 4:-4].mean() > 8 * err.mean()


def test_forward_splat_round_trip(synth):
    ref, moving, truth = synth.deform(SHAPE, synth.texture(SHAPE, seed=2),
                                      synth.smooth_field(SHAPE, 3.0))
    predicted = warp_forward(ref, truth)  # reference pushed along u_t ~ frame t
    inner = (slice(6, -6), slice(6, -6))
    err = np.abs(predicted - moving)[inner].mean()
    assert err < 0.05 * np.abs(moving - moving.mean())[inner].mean()
    assert np.abs(ref - moving)[inner].mean() > 5 * err  # better than no warping
    channel_last = warp_forward(ref, np.moveaxis(truth, 0, -1))
    np.testing.assert_allclose(channel_last, predicted, rtol=0, atol=1e-4)


def test_forward_fills_holes_without_zeros():
    img = np.full((40, 40), 100.0, np.float32)
    yy, xx = np.mgrid[:40, :40].astype(np.float32)
    # strong expansion around the centre: arrows fan out and leave gaps between their tips
    u = np.stack([(yy - 20) * 0.8, (xx - 20) * 0.8]).astype(np.float32)
    out = warp_forward(img, u)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, 100.0, atol=1e-3)


def test_forward_zero_field_is_gaussian_smoothing_of_weight_one():
    rng = np.random.default_rng(0)
    img = rng.random((20, 24)).astype(np.float32)
    out = warp_forward(img, np.zeros((2, 20, 24), np.float32), sigma=0.05)
    np.testing.assert_allclose(out, img, atol=1e-5)


def test_invert_field_round_trip(synth):
    u = np.stack(synth.smooth_field(SHAPE, 3.0)([g.astype(float) for g in np.indices(SHAPE)]))
    u = u.astype(np.float32)
    v = invert_field(u)
    # y = x + u(x) must map back: v(x + u(x)) = -u(x)
    composed = np.stack([warp_backward(v[a], u) for a in range(2)]) + u
    assert np.abs(composed[:, 6:-6, 6:-6]).max() < 0.02


def test_numpy_and_torch_agree_and_3d(synth):
    shape = (12, 20, 18)
    ref, moving, truth = synth.deform(shape, synth.texture(shape, seed=3),
                                      synth.smooth_field(shape, 1.5))
    fw_np = warp_forward(ref, truth)
    fw_t = warp_forward(torch.from_numpy(ref), torch.from_numpy(truth))
    assert isinstance(fw_t, torch.Tensor)
    np.testing.assert_allclose(fw_t.numpy(), fw_np, atol=1e-3)
    bw_np = warp_backward(moving, truth)
    bw_t = warp_backward(moving, truth, backend="torch")
    np.testing.assert_allclose(bw_t.numpy() if hasattr(bw_t, "numpy") else bw_t, bw_np,
                               atol=1e-3)
    inner = (slice(3, -3), slice(4, -4), slice(4, -4))
    assert np.abs(bw_np - ref)[inner].mean() < 0.2 * np.abs(moving - ref)[inner].mean()
    assert np.abs(fw_np - moving)[inner].mean() < 0.2 * np.abs(moving - ref)[inner].mean()


def test_bad_inputs():
    with pytest.raises(ValidationError, match="does not fit"):
        warp_backward(np.zeros((8, 8)), np.zeros((2, 8, 9)))
    with pytest.raises(ValidationError, match="2D or 3D"):
        warp_backward(np.zeros(8), np.zeros((1, 8)))
    with pytest.raises(ValidationError, match="sigma"):
        warp_forward(np.zeros((8, 8)), np.zeros((2, 8, 8)), sigma=0.0)
