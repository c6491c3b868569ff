"""Building blocks: Gaussian kernels, mirror borders, gradients, pyramids, flow transfer."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from motionpredict.registration.backends import gaussian_kernel, get_backend, mirror_index
from motionpredict.registration.gradient import gradient
from motionpredict.registration.pyramid import build_pyramid, downsample_flow, upsample_flow

BACKENDS = ("numpy", "torch")


def test_gaussian_kernel_and_mirror_index():
    k = gaussian_kernel(2.0, 2.0)
    assert k.size == 9 and abs(k.sum() - 1) < 1e-12 and np.allclose(k, k[::-1])
    assert k[4] / k[0] == pytest.approx(np.exp(2.0))  # exp(4^2 / (2 * 2^2))
    np.testing.assert_array_equal(mirror_index(4, 3), [3, 2, 1, 0, 1, 2, 3, 2, 1, 0])
    np.testing.assert_array_equal(mirror_index(1, 2), [0, 0, 0, 0, 0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(30, 41), (9, 13, 11), (5, 40)])
def test_gaussian_matches_scipy_mirror(backend, shape):
    b = get_backend(backend, "cpu")
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    k = gaussian_kernel(1.5, 3.0)
    expected = x.astype(np.float64)
    for axis in range(x.ndim):
        expected = ndimage.correlate1d(expected, k, axis=axis, mode="mirror")
    out = b.to_numpy(b.gaussian(b.asarray(x), 1.5, 3.0))
    np.testing.assert_allclose(out, expected, atol=2e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_of_linear_ramp_is_exact_everywhere(backend):
    b = get_backend(backend, "cpu")
    d, h, w = np.indices((6, 7, 8)).astype(np.float32)
    ramp = 2.0 * d - 3.0 * h + 0.5 * w
    for op in ("central", "scharr"):
        grads = [b.to_numpy(g) for g in gradient(b, b.asarray(ramp), op)]
        for g, slope in zip(grads, (2.0, -3.0, 0.5), strict=True):
            np.testing.assert_allclose(g, slope, atol=1e-5)  # edges included


@pytest.mark.parametrize("backend", BACKENDS)
def test_flow_upsampling_is_linear_and_doubles(backend):
    b = get_backend(backend, "cpu")
    fine_shape = (9, 12)
    rr, cc = np.indices(fine_shape).astype(np.float32)
    fine = np.stack([0.3 * rr + 0.1 * cc, -0.2 * cc + 1.0])
    coarse = downsample_flow(b.asarray(fine), 2)
    assert tuple(coarse.shape) == (2, 5, 6)
    up = b.to_numpy(upsample_flow(b, coarse, fine_shape))
    # exact where interpolation is inside; the last odd column is held (clamped)
    np.testing.assert_allclose(up[:, :, :11], fine[:, :, :11], atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pyramid_shapes(backend):
    b = get_backend(backend, "cpu")
    pyr = build_pyramid(b, b.asarray(np.ones((33, 20, 9), np.float32)), 3, 1.0, 2.0)
    assert [tuple(p.shape) for p in pyr] == [(33, 20, 9), (17, 10, 5), (9, 5, 3)]
    np.testing.assert_allclose(b.to_numpy(pyr[-1]), 1.0, atol=1e-6)
