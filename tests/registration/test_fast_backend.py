"""The "fast" registration back-end (fused numba kernels) against the NumPy specification."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from motionpredict.errors import ConfigurationError
from motionpredict.phantom import make_cine
from motionpredict.registration import LKParams, LucasKanade
from motionpredict.registration.backends import get_backend


@pytest.fixture(scope="module")
def cine():
    return make_cine(seed=3, n_frames=6, noise_sigma=0.02)


def _both(ref, mov, params, init=None):
    a = LucasKanade(ref, params).register(mov, init)
    b = LucasKanade(ref, params, backend="fast").register(mov, init)
    return a, b


@pytest.mark.parametrize("params", [
    LKParams(),                                              # defaults: meanstd, fill-in
    LKParams.from_mapping({"sigma_init": 0.1, "sigma_subsample": 0.1, "sigma_lk": 2.0,
                           "pyramid_levels": 2, "iterations": 1}),  # published path
    LKParams(max_step=0.5, intensity="none", gradient="scharr", levels=3, iterations=3),
])
def test_same_field_as_numpy_on_phantom(cine, params):
    frames = cine.sequence.frames
    for t in (2, 4):
        a, b = _both(frames[0], frames[t], params)
        assert b.dtype == np.float32 and b.shape == a.shape
        assert np.abs(a - b).max() < 1e-3  # px: float32 round-off, not an approximation
        assert np.abs(a).max() > 0.5       # the frames do move


def test_end_point_error_equal_to_numpy(cine):
    seq, truth = cine.sequence, cine.true_fields.fields
    ref = seq.frames[0]
    body = ref > 0.1 * ref.max()
    px = float(np.mean(seq.spacing))
    epe = {}
    for backend in ("numpy", "fast"):
        lk = LucasKanade(ref, LKParams(), backend=backend)
        errs = []
        for t in range(1, seq.n_frames):
            u = np.moveaxis(lk.register(seq.frames[t]), 0, -1) * np.asarray(seq.spacing)
            errs.append(np.sqrt(((u - truth[t]) ** 2).sum(-1))[body].mean() / px)
        epe[backend] = float(np.mean(errs))
    assert abs(epe["fast"] - epe["numpy"]) < 0.005
    assert epe["fast"] < 0.4  # px; the phantom's body moves several px


def test_translation_partly_outside_and_brightness_change():
    """A shifted, brighter frame: the inside mask and the intensity normalisation matter."""
    rng = np.random.default_rng(1)
    ref = (ndimage.gaussian_filter(rng.random((96, 80)), 2.5) * 1000).astype(np.float32)
    mov = ndimage.shift(ref, (2.4, -1.7), order=3, mode="nearest") * 1.3 + 25.0
    a, b = _both(ref, mov, LKParams())
    assert np.abs(a - b).max() < 1e-3
    core = (slice(12, -12), slice(12, -12))
    assert abs(float(np.median(b[0][core])) - 2.4) < 0.05
    assert abs(float(np.median(b[1][core])) + 1.7) < 0.05


def test_init_flow_and_3d_fall_back():
    rng = np.random.default_rng(2)
    ref = (ndimage.gaussian_filter(rng.random((64, 64)), 2.0) * 100).astype(np.float32)
    mov = ndimage.shift(ref, (1.0, 0.5), order=1, mode="nearest")
    init = np.zeros((2, 64, 64), np.float32)
    init[0] = 0.8
    a, b = _both(ref, mov, LKParams(levels=2), init)
    assert np.abs(a - b).max() < 1e-3
    vol = (ndimage.gaussian_filter(rng.random((12, 24, 24)), 1.5) * 100).astype(np.float32)
    p = LKParams(levels=2, sigma_lk=1.5, fill_sigma=0.0)
    a3, b3 = _both(vol, np.roll(vol, 1, axis=2), p)
    assert b3.shape == (3, 12, 24, 24)
    assert np.abs(a3 - b3).max() < 1e-3


def test_pull_matches_numpy_including_outside_positions():
    rng = np.random.default_rng(3)
    img = rng.random((17, 23)).astype(np.float32)
    flow = (rng.standard_normal((2, 17, 23)) * 6).astype(np.float32)  # many beyond the edge
    exact = get_backend("numpy").pull(img, flow)
    fast = get_backend("fast").pull(img, flow)
    assert np.abs(exact - fast).max() < 1e-6


def test_unknown_backend_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="fast"):
        get_backend("fastest")


@pytest.mark.parametrize("shape", [(270, 270), (17, 23), (4, 5), (2, 3), (1, 3)])
def test_upsample_matches_numpy(shape):
    from motionpredict.registration.pyramid import upsample_flow

    rng = np.random.default_rng(4)
    coarse = rng.standard_normal((2, (shape[0] + 1) // 2, (shape[1] + 1) // 2)).astype(np.float32)
    exact = upsample_flow(get_backend("numpy"), coarse, shape)
    fast = get_backend("fast").upsample_flow(coarse, shape)
    assert fast.shape == exact.shape == (2, *shape)
    np.testing.assert_array_equal(fast, exact)
    np.testing.assert_array_equal(fast[:, ::2, ::2], 2 * coarse)  # coarse samples kept


def test_tiny_image_with_one_pixel_levels():
    """Coarse levels of 1 px per axis go through the NumPy code (no out-of-range gathers)."""
    rng = np.random.default_rng(5)
    ref = (ndimage.gaussian_filter(rng.random((9, 7)), 1.0) * 100).astype(np.float32)
    mov = np.roll(ref, 1, axis=0)
    a, b = _both(ref, mov, LKParams(levels=4, sigma_lk=1.0, fill_sigma=1.0))
    assert np.all(np.isfinite(b))
    assert np.abs(a - b).max() < 1e-3
