"""The NumPy fast paths of registration and warping against plain reference computations:
bilinear pull vs SciPy, pyramid upsampling vs the generic back-end code, the forward splat vs a
brute-force evaluation of its (truncated) definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from motionpredict.registration import warp_forward
from motionpredict.registration.backends import get_backend
from motionpredict.registration.pyramid import upsample_flow


@pytest.mark.parametrize("shape", [(23, 31), (7, 9, 11), (1, 12), (2, 2)])
def test_numpy_pull_equals_scipy_linear_nearest(shape):
    rng = np.random.default_rng(len(shape) * 10 + shape[0])
    b = get_backend("numpy")
    img = (rng.random(shape) * 255).astype(np.float32)
    flow = (rng.normal(size=(len(shape), *shape)) * 4).astype(np.float32)
    flow[0].flat[:3] = [-50.0, 50.0, 0.0]  # far outside on both sides, and a grid point
    coords = np.stack([g + f for g, f in zip(np.indices(shape), flow, strict=True)])
    expected = ndimage.map_coordinates(img.astype(np.float64), coords.astype(np.float64),
                                       order=1, mode="nearest")
    np.testing.assert_allclose(b.pull(img, flow), expected, rtol=0, atol=1e-3)


def test_numpy_pull_is_exact_on_grid_points():
    b = get_backend("numpy")
    img = np.random.default_rng(1).random((9, 8)).astype(np.float32)
    np.testing.assert_array_equal(b.pull(img, np.zeros((2, 9, 8), np.float32)), img)


@pytest.mark.parametrize("coarse, fine", [((5, 6), (9, 12)), ((5, 6), (10, 11)),
                                          ((1, 3), (1, 5)), ((3, 4, 5), (6, 7, 9))])
def test_numpy_upsample_equals_generic_code(coarse, fine):
    u = np.random.default_rng(2).random((len(coarse), *coarse)).astype(np.float32)
    fast = upsample_flow(get_backend("numpy"), u, fine)
    generic = upsample_flow(get_backend("torch", "cpu"), torch.from_numpy(u), fine).numpy()
    assert fast.shape == (len(fine), *fine)
    np.testing.assert_array_equal(fast, generic)
    # samples j sit at 2 j: even positions keep the coarse value (doubled: fine px)
    np.testing.assert_array_equal(fast[(slice(None),) + (slice(None, None, 2),) * len(fine)],
                                  2 * u)


def _brute_force_splat(img, u, sigma=0.5, radius_px=1.5):
    """sum K I and sum K by the definition: every source voxel, every target voxel within
    ``radius_px`` of its tip along every axis."""
    shape = img.shape
    src = np.indices(shape).reshape(len(shape), -1).T.astype(np.float64)  # (N, nd)
    tips = src + u.reshape(len(shape), -1).T
    d = src[:, None, :] - tips[None, :, :]  # (targets, sources, nd)
    k = np.exp(-(d**2).sum(-1) / (2 * sigma**2)) * np.all(np.abs(d) <= radius_px, axis=-1)
    return (k @ img.ravel()).reshape(shape), k.sum(1).reshape(shape)


@pytest.mark.parametrize("shape", [(13, 15), (6, 7, 8)])
def test_forward_splat_equals_truncated_definition(shape):
    rng = np.random.default_rng(3)
    img = rng.random(shape).astype(np.float32)
    grid = np.indices(shape).astype(np.float64)
    u = np.stack([0.9 * np.sin(grid[(a + 1) % len(shape)] / 3.0 + a) + 0.3 * a
                  for a in range(len(shape))]).astype(np.float32)
    num, den = _brute_force_splat(img.astype(np.float64), u.astype(np.float64))
    out = warp_forward(img, u, sigma=0.5)
    covered = den > 0.5  # the hole fall-back weighs <= 1e-3 / 0.5 there
    assert covered.mean() > 0.6  # not a vacuous comparison
    np.testing.assert_allclose(out[covered], (num / den)[covered], rtol=0, atol=2e-3)


def test_forward_splat_reaches_exactly_1p5_px():
    img = np.zeros((11, 11), np.float32)
    img[5, 5] = 1.0
    u = np.zeros((2, 11, 11), np.float32)
    u[0], u[1] = 0.3, -0.2  # every tip at x + (0.3, -0.2): the impulse lands at (5.3, 4.8)
    out = warp_forward(img, u, sigma=0.5)
    rows, cols = np.nonzero(out > 1e-6)
    assert set(rows.tolist()) == {4, 5, 6}  # |row - 5.3| <= 1.5; row 7 (1.7 px) is cut
    assert set(cols.tolist()) == {4, 5, 6}  # |col - 4.8| <= 1.5; col 3 (1.8 px) is cut
    # (6, 5): the one bright source reaching it is the impulse, weight exp(-(0.7^2 + 0.2^2) / 0.5);
    # the hole fall-back B = img(6 - 0.3, 5 + 0.2) = 0.3 * 0.8 enters with weight 1e-3
    _, den = _brute_force_splat(img.astype(np.float64), u.astype(np.float64))
    expected = (np.exp(-(0.7**2 + 0.2**2) / 0.5) + 1e-3 * 0.24) / (den[6, 5] + 1e-3)
    assert out[6, 5] == pytest.approx(expected, rel=1e-4)


def test_forward_splat_chunking_does_not_change_the_result(monkeypatch):
    from motionpredict.registration import warp as warp_module

    rng = np.random.default_rng(4)
    img = rng.random((37, 29)).astype(np.float32)
    u = (rng.normal(size=(2, 37, 29)) * 2.0).astype(np.float32)  # rough: folds and holes
    whole = warp_forward(img, u)
    monkeypatch.setattr(warp_module, "SPLAT_CHUNK_TAPS", 9 * 29 * 3)  # 13 slabs of 3 rows
    chunked = warp_forward(img, u)
    np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=1e-6)
