"""Lucas-Kanade registration: zero motion, sign convention, accuracy, back-ends, 3D, errors."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.registration import LKParams, LucasKanade, lucas_kanade, register_sequence
from motionpredict.sequences import ImageSequence

SHAPE = (96, 96)


def test_identical_frames_give_zero_flow(synth):
    img = synth.texture(SHAPE)([g.astype(float) for g in np.indices(SHAPE)]).astype(np.float32)
    for backend in ("numpy", "torch"):
        flow = lucas_kanade(img, img, backend=backend)
        assert flow.shape == (2, *SHAPE) and flow.dtype == np.float32
        assert np.abs(flow).max() < 1e-5


def test_sign_convention_pinned():
    # moving = reference shifted by +3 rows: content at row r of the reference is at r + 3,
    # so I_ref(x) = I_t(x + u) needs u = (+3, 0).
    ref = np.zeros((64, 64), np.float32)
    yy, xx = np.mgrid[:64, :64]
    ref[:] = np.exp(-((yy - 30) ** 2 + (xx - 32) ** 2) / 60.0) * 100
    moving = np.roll(ref, 3, axis=0)
    flow = lucas_kanade(ref, moving, params=LKParams(iterations=5))
    centre = flow[:, 25:36, 27:38].reshape(2, -1).mean(1)
    np.testing.assert_allclose(centre, [3.0, 0.0], atol=0.1)


@pytest.mark.parametrize("shift", [(0.3, -0.6), (2.5, 1.5), (-6.0, 5.0), (8.0, -3.0)])
def test_translation_recovered(synth, shift):
    ref, moving, truth = synth.deform(SHAPE, synth.texture(SHAPE, seed=1), synth.translation(shift))
    flow = lucas_kanade(ref, moving, params=LKParams(levels=3, iterations=3))
    assert synth.epe(flow, truth, margin=12) < 0.25
    # the mean displacement has no bias beyond linear-interpolation error
    mean = flow[:, 12:-12, 12:-12].reshape(2, -1).mean(1)
    np.testing.assert_allclose(mean, shift, atol=0.05)


def test_smooth_deformation_recovered(synth):
    ref, moving, truth = synth.deform(SHAPE, synth.texture(SHAPE, seed=2),
                                      synth.smooth_field(SHAPE, 4.0))
    flow = lucas_kanade(ref, moving, params=LKParams(levels=3, iterations=3, sigma_lk=2.0))
    assert synth.epe(flow, truth, margin=12) < 0.3
    zero_error = synth.epe(np.zeros_like(truth), truth, margin=12)
    assert zero_error > 2.0  # the test is not trivial


def test_anisotropic_spacing_gives_mm(synth):
    shift_px = (2.0, -3.0)
    spacing = (2.5, 1.25)
    ref, moving, _ = synth.deform(SHAPE, synth.texture(SHAPE, seed=3),
                                  synth.translation(shift_px))
    seq = ImageSequence(np.stack([ref, moving]), spacing=spacing, times=[0.0, 0.3])
    fields = register_sequence(seq, params=LKParams(levels=3, iterations=3))
    assert fields.fields.shape == (2, *SHAPE, 2)
    assert np.abs(fields.fields[0]).max() == 0.0
    inner = fields.fields[1, 12:-12, 12:-12].reshape(-1, 2)
    mean_mm = inner.mean(0)
    np.testing.assert_allclose(mean_mm, np.array(shift_px) * spacing, atol=0.15 * 2.5)
    epe_mm = np.sqrt(((inner - np.array(shift_px) * spacing) ** 2).sum(1)).mean()
    assert epe_mm < 0.25
    np.testing.assert_allclose(fields.in_pixels()[1, 12:-12, 12:-12].reshape(-1, 2).mean(0),
                               shift_px, atol=0.1)


def test_numpy_and_torch_agree_2d(synth):
    ref, moving, _ = synth.deform(SHAPE, synth.texture(SHAPE, seed=4),
                                  synth.smooth_field(SHAPE, 3.0))
    for params in (LKParams(), LKParams(gradient="scharr", sigma_init=1.0, levels=2)):
        a = lucas_kanade(ref, moving, params=params, backend="numpy")
        b = lucas_kanade(ref, moving, params=params, backend="torch", device="cpu")
        assert np.abs(a - b).max() < 5e-3
        assert np.abs(a - b).mean() < 1e-4


def test_3d_translation_and_backends(synth):
    shape = (24, 40, 36)
    ref, moving, truth = synth.deform(shape, synth.texture(shape, seed=5),
                                      synth.translation((1.5, -2.0, 0.7)))
    params = LKParams(levels=2, iterations=3)
    a = lucas_kanade(ref, moving, params=params)
    assert a.shape == (3, *shape)
    assert synth.epe(a, truth, margin=6) < 0.2
    b = lucas_kanade(ref, moving, params=params, backend="torch", device="cpu")
    assert np.abs(a - b).max() < 5e-3


def test_3d_smooth_anisotropic_sequence(synth):
    shape = (20, 36, 36)
    ref, moving, truth = synth.deform(shape, synth.texture(shape, seed=6),
                                      synth.smooth_field(shape, 2.0))
    spacing = (3.0, 1.5, 1.5)
    seq = ImageSequence(np.stack([ref, moving]), spacing=spacing, times=[0.0, 0.5])
    fields = register_sequence(seq, params=LKParams(levels=2, iterations=3))
    err_mm = fields.fields[1] - np.moveaxis(truth, 0, -1) * np.array(spacing)
    inner = err_mm[5:-5, 6:-6, 6:-6]
    assert np.sqrt((inner**2).sum(-1)).mean() < 0.7  # mm, voxels up to 3 mm
    truth_mm = (np.moveaxis(truth, 0, -1) * np.array(spacing))[5:-5, 6:-6, 6:-6]
    assert np.sqrt((truth_mm**2).sum(-1)).mean() > 1.5  # the identity would fail


def test_agrees_with_skimage_ilk(synth):
    skreg = pytest.importorskip("skimage.registration")
    ref, moving, truth = synth.deform(SHAPE, synth.texture(SHAPE, seed=7),
                                      synth.smooth_field(SHAPE, 2.0))
    ours = lucas_kanade(ref, moving, params=LKParams(levels=3, iterations=3))
    oracle = skreg.optical_flow_ilk(ref, moving, radius=5, num_warp=10, prefilter=False)
    assert synth.epe(oracle, truth, margin=12) < 0.3  # the oracle itself is right here
    assert synth.epe(ours, oracle, margin=12) < 0.2


def test_flat_and_edge_images_are_finite():
    flat = np.full((32, 32), 7.0, np.float32)
    flow = lucas_kanade(flat, flat + 1.0)
    assert np.all(np.isfinite(flow)) and np.abs(flow).max() == 0.0
    # a vertical edge: motion along it is unobservable (aperture problem), across it is found
    xx = np.arange(48, dtype=np.float32)
    ref = np.tile(100.0 / (1 + np.exp(-(xx - 24) / 2.0)), (48, 1)).astype(np.float32)
    moving = np.tile(100.0 / (1 + np.exp(-(xx - 26) / 2.0)), (48, 1)).astype(np.float32)
    flow = lucas_kanade(ref, moving, params=LKParams(iterations=5))
    assert np.all(np.isfinite(flow))
    band = flow[:, 10:-10, 20:29]
    np.testing.assert_allclose(band[1].mean(), 2.0, atol=0.1)
    assert np.abs(band[0]).max() < 1e-3


def test_propagation_init_converges_to_same_field(synth):
    ref, moving, truth = synth.deform(SHAPE, synth.texture(SHAPE, seed=8),
                                      synth.translation((5.0, -4.0)))
    lk = LucasKanade(ref, LKParams(levels=1, iterations=6, min_eigenvalue=0.01))
    cold = lk.register(moving)
    warm = lk.register(moving, init=truth + 0.4)
    assert synth.epe(warm, truth, margin=12) < 0.1
    assert synth.epe(cold, truth, margin=12) > 1.0  # one level cannot reach 6 px from zero
    seq = ImageSequence(np.stack([ref, moving, moving]), spacing=(1.0, 1.0), times=[0, 1, 2])
    fields = register_sequence(seq, params=LKParams(levels=3, iterations=3), propagate=True,
                               reference=1)
    assert np.abs(fields.fields[1]).max() == 0.0
    assert len(fields.provenance.extra["registration"]["frame_time_s"]) == 3


def test_input_errors():
    a = np.zeros((16, 16), np.float32)
    with pytest.raises(ValidationError, match="shape"):
        lucas_kanade(a, np.zeros((16, 17), np.float32))
    with pytest.raises(ValidationError, match="NaN"):
        lucas_kanade(a, np.full((16, 16), np.nan, np.float32))
    with pytest.raises(ValidationError, match="2D"):
        lucas_kanade(np.zeros(5), np.zeros(5))
    with pytest.raises(ValidationError, match="init"):
        lucas_kanade(a, a, init=np.zeros((2, 8, 8)))
    with pytest.raises(ConfigurationError, match="backend"):
        lucas_kanade(a, a, backend="jax")
    with pytest.raises(ConfigurationError, match="sigma_lk"):
        LKParams(sigma_lk=0)
    with pytest.raises(ConfigurationError, match="levels"):
        LKParams(levels=0)
    with pytest.raises(ConfigurationError, match="gradient"):
        LKParams(gradient="sobel")  # type: ignore[arg-type]


def test_params_from_reference_mapping():
    p = LKParams.from_mapping({"sigma_init": 0.1, "sigma_subsample": 1, "sigma_lk": 2,
                               "pyramid_levels": 3, "iterations": 2})
    assert (p.sigma_init, p.sigma_subsample, p.sigma_lk, p.levels, p.iterations) == (
        0.1, 1, 2, 3, 2)
    assert (p.min_eigenvalue, p.fill_sigma) == (0.0, 0.0)  # the reference algorithm
    assert LKParams.from_mapping({"levels": 2}, fill_sigma=3.0).fill_sigma == 3.0
    with pytest.raises(ConfigurationError, match="unknown"):
        LKParams.from_mapping({"window": 3})
