"""2D cine phantom: shapes and units, determinism, the displacement convention, ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from motionpredict.errors import ConfigurationError
from motionpredict.phantom import CineParams, PhantomCine, make_cine
from motionpredict.phantom.cine import _CineModel
from motionpredict.phantom.fields import PaddedGrid, displacement, grid_points, invert_on_grid

SMALL = {"n_frames": 24, "shape": (64, 64), "spacing_mm": (4.0, 4.0), "frame_period_s": 0.25}


@pytest.fixture(scope="module")
def clean() -> PhantomCine:
    return make_cine(seed=3, noise_sigma=0.0, **SMALL)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def noisy() -> PhantomCine:
    return make_cine(seed=3, **SMALL)  # type: ignore[arg-type]


def pull_back(frame: np.ndarray, field_px: np.ndarray) -> np.ndarray:
    """Sample ``frame`` at ``x + u(x)`` (cubic spline): the reference-grid view of frame t."""
    grid = np.meshgrid(*[np.arange(n) for n in frame.shape], indexing="ij")
    coords = [g + field_px[..., d] for d, g in enumerate(grid)]
    return ndimage.map_coordinates(frame.astype(np.float64), coords, order=3, mode="nearest")


def test_shapes_dtypes_units_and_provenance(noisy: PhantomCine) -> None:
    seq = noisy.sequence
    assert seq.frames.shape == (24, 64, 64) and seq.frames.dtype == np.float32
    assert seq.spacing == (4.0, 4.0)
    np.testing.assert_allclose(seq.times, 0.25 * np.arange(24), atol=1e-12)
    assert 0.0 <= seq.frames.min() and seq.frames.max() <= 1.0
    f = noisy.true_fields
    assert f.fields.shape == (24, 64, 64, 2) and f.fields.dtype == np.float32
    assert f.reference_index == 0 and f.spacing == (4.0, 4.0)
    assert not np.any(f.fields[0])
    assert noisy.tumour.positions.shape == (24, 1, 3) and noisy.tumour.names == ("tumour",)
    assert np.all(noisy.tumour.positions[:, 0, 2] == 0.0)
    assert noisy.tumour_mask.shape == (64, 64) and noisy.tumour_mask.dtype == bool
    assert 3 <= noisy.tumour_mask.sum() <= 60  # 7-14 mm tumour diameter... in 4 mm pixels
    assert noisy.signal.signal.shape == (24,) and noisy.signal.signal[0] == 0.0
    for prov in (seq.provenance, f.provenance):
        assert prov.source == "phantom"
        assert prov.spacing_source == "phantom" and prov.frame_period_source == "phantom"
    json.dumps(seq.provenance.extra)  # the recorded parameters are JSON-able


def test_single_frame_is_the_reference() -> None:
    one = make_cine(seed=0, n_frames=1, shape=(32, 32), spacing_mm=(8.0, 8.0), noise_sigma=0.0)
    assert one.sequence.frames.shape == (1, 32, 32) and not np.any(one.true_fields.fields)
    assert one.sequence.times.tolist() == [0.0] and one.signal.signal.tolist() == [0.0]
    # Same seed, more frames: frame 0 is the same reference image.
    more = make_cine(seed=0, n_frames=3, shape=(32, 32), spacing_mm=(8.0, 8.0), noise_sigma=0.0)
    np.testing.assert_allclose(one.sequence.frames[0], more.sequence.frames[0], atol=1e-6)


def test_same_seed_bit_identical_other_seed_differs(noisy: PhantomCine) -> None:
    again = make_cine(seed=3, **SMALL)  # type: ignore[arg-type]
    assert again.sequence.frames.tobytes() == noisy.sequence.frames.tobytes()
    assert again.true_fields.fields.tobytes() == noisy.true_fields.fields.tobytes()
    assert again.tumour.positions.tobytes() == noisy.tumour.positions.tobytes()
    other = make_cine(seed=4, **SMALL)  # type: ignore[arg-type]
    assert np.mean(np.abs(other.sequence.frames - noisy.sequence.frames)) > 0.01


def test_params_round_trip_replays_bit_for_bit(noisy: PhantomCine) -> None:
    params = CineParams.from_dict(json.loads(json.dumps(noisy.params.to_dict())))
    assert params == noisy.params
    replay = make_cine(params=params)
    assert replay.sequence.frames.tobytes() == noisy.sequence.frames.tobytes()


def test_convention_pulling_frame_t_with_true_field_gives_reference(clean: PhantomCine) -> None:
    frames = clean.sequence.frames
    fields_px = clean.true_fields.in_pixels()
    value_range = float(frames.max() - frames.min())
    b = 6  # border pixels left out (pulled positions may leave the frame there)
    moved = [t for t in range(1, 24) if np.abs(fields_px[t]).max() > 1.0]
    assert len(moved) >= 5
    for t in moved:
        pulled = pull_back(frames[t], fields_px[t])
        err = np.abs(pulled - frames[0])[b:-b, b:-b]
        plain = np.abs(frames[t].astype(np.float64) - frames[0])[b:-b, b:-b]
        # Stated tolerance: mean abs error < 1 % of the intensity range, and at least 10x below the
        # error without motion compensation.
        assert err.mean() < 0.01 * value_range
        assert err.mean() < 0.1 * plain.mean()


def test_noise_is_rician_at_the_stated_level(clean: PhantomCine, noisy: PhantomCine) -> None:
    diff = noisy.sequence.frames.astype(np.float64) - clean.sequence.frames
    bright = clean.sequence.frames > 0.3  # Rician ~ Gaussian where signal >> sigma
    assert abs(diff[bright].std() / 0.02 - 1.0) < 0.15
    assert abs(diff[bright].mean()) < 0.003
    air = clean.sequence.frames < 1e-4  # Rayleigh in the background: mean sigma * sqrt(pi / 2)
    assert abs(noisy.sequence.frames[air].mean() / (0.02 * np.sqrt(np.pi / 2)) - 1.0) < 0.1


def test_field_matches_analytic_model_and_inverse_is_accurate(clean: PhantomCine) -> None:
    model = _CineModel(clean.params)
    weights = model.weights(clean.sequence.times)
    grid = grid_points(clean.params.shape, clean.params.spacing_mm)
    t = int(np.argmax(weights[:, 0]))
    u = displacement(model.basis, weights[t], grid).reshape(64, 64, 2)
    np.testing.assert_allclose(clean.true_fields.fields[t], u, atol=1e-4)
    # The inverse map used to form the frames (field interpolated from a grid of half the pixel
    # spacing, here 2 mm) solves x + u(x) = y to better than 0.01 mm.
    pgrid = PaddedGrid.around(model.fov, np.array([2.0, 2.0]), 40.0)
    nodes = np.moveaxis(model.basis(pgrid.points()), 2, 1).reshape(2, 2, *pgrid.shape)
    u_nodes = weights[t, 0] * nodes[0] + weights[t, 1] * nodes[1]
    x = invert_on_grid(u_nodes, pgrid, grid)
    residual = x + displacement(model.basis, weights[t], x) - grid
    assert np.abs(residual).max() < 1e-2
    assert np.abs(x - grid).max() > 5.0  # a real displacement was inverted


def test_si_motion_largest_near_diaphragm_and_ap_smaller(clean: PhantomCine) -> None:
    exc = clean.signal.excursion_mm
    t = int(np.argmax(exc))
    u = clean.true_fields.fields[t]
    si, ap = u[..., 0], u[..., 1]
    assert abs(si.max() / exc[t] - 1.0) < 0.1  # SI displacement reaches the excursion
    assert np.abs(ap).max() < 0.5 * si.max()
    model = _CineModel(clean.params)
    col_of_max = np.unravel_index(np.argmax(si), si.shape)[1] * 4.0
    dome_row = model.dome_row_mm(np.array([col_of_max]))[0] / 4.0
    row_of_max = np.unravel_index(np.argmax(si), si.shape)[0]
    assert row_of_max >= dome_row - 3  # at or below the dome
    assert np.abs(si[:4]).max() < 0.3 * si.max()  # decays towards the apex (top rows)
    # Invertible everywhere: det(I + grad u) > 0.
    g = [np.gradient(u[..., i], 4.0) for i in range(2)]
    det = (1 + g[0][0]) * (1 + g[1][1]) - g[0][1] * g[1][0]
    assert det.min() > 0.3


def test_tumour_trajectory_follows_field_and_signal(clean: PhantomCine) -> None:
    pos = clean.tumour.positions[:, 0, :2]
    mask_centroid = np.argwhere(clean.tumour_mask).mean(axis=0) * 4.0
    assert np.linalg.norm(pos[0] - mask_centroid) < 2.0  # mm, mask quantised on 4 mm pixels
    model = _CineModel(clean.params)
    weights = model.weights(clean.sequence.times)
    u_at_centre = np.stack([displacement(model.basis, w, pos[:1])[0] for w in weights])
    np.testing.assert_allclose(pos - pos[0], u_at_centre, atol=0.3)
    r = np.corrcoef(pos[:, 0], clean.signal.signal)[0, 1]
    assert r > 0.95
    assert np.ptp(pos[:, 0]) > 2.0  # the tumour moves several mm SI


def test_heart_region_has_faster_cardiac_motion() -> None:
    opts = {"n_frames": 64, "shape": (48, 48), "spacing_mm": (5.0, 5.0), "frame_period_s": 0.1}
    with_heart = make_cine(seed=2, noise_sigma=0.0, cardiac_amplitude_mm=3.0, **opts)  # type: ignore[arg-type]
    without = make_cine(seed=2, noise_sigma=0.0, cardiac_amplitude_mm=0.0, **opts)  # type: ignore[arg-type]
    diff = with_heart.true_fields.fields - without.true_fields.fields
    mag = np.linalg.norm(diff, axis=-1)
    assert 1.5 < mag.max() <= 3.0 + 1e-3
    # Far from the heart (posterior spine side) the cardiac part is negligible.
    assert mag[:, :, -8:].max() < 0.1
    # Its dominant frequency is the drawn heart rate (about 1 Hz), faster than breathing.
    i, j = np.unravel_index(np.argmax(mag.max(axis=0)), mag.shape[1:])
    series = diff[:, i, j, 0] - diff[:, i, j, 0].mean()
    spectrum = np.abs(np.fft.rfft(series * np.hanning(64)))
    freqs = np.fft.rfftfreq(64, 0.1)
    f_c = with_heart.params.motion.cardiac_frequency_hz
    assert abs(freqs[np.argmax(spectrum)] - f_c) <= 0.2
    assert 0.9 <= f_c <= 1.3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shape": (4, 64)}, "shape"),
        ({"spacing_mm": (2.0, -1.0)}, "spacing"),
        ({"n_frames": 0}, "n_frames"),
        ({"frame_period_s": 0.0}, "frame_period_s"),
        ({"noise_sigma": -1.0}, "noise_sigma"),
        ({"seed": -1}, "seed"),
        ({"shape": (16, 16), "spacing_mm": (1.0, 1.0), "amplitude_mm": 30.0}, "too large"),
    ],
)
def test_bad_options_raise_configuration_error(kwargs: dict, match: str) -> None:
    opts = {"n_frames": 24, "seed": 1, **kwargs}
    with pytest.raises(ConfigurationError, match=match):
        make_cine(**opts)
