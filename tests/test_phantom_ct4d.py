"""3D CT phantom: shapes and HU, phases of one cycle, static ribs, the displacement convention."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from motionpredict.errors import ConfigurationError
from motionpredict.phantom import CTParams, PhantomCT, make_ct4d
from motionpredict.phantom.ct4d import _CTModel

SMALL = {"shape": (24, 40, 40), "spacing_mm": (4.0, 3.2, 3.2)}


@pytest.fixture(scope="module")
def clean() -> PhantomCT:
    return make_ct4d(seed=1, noise_hu=0.0, **SMALL)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def noisy() -> PhantomCT:
    return make_ct4d(seed=1, **SMALL)  # type: ignore[arg-type]


def test_shapes_units_and_hounsfield_levels(clean: PhantomCT, noisy: PhantomCT) -> None:
    seq = noisy.sequence
    assert seq.frames.shape == (10, 24, 40, 40) and seq.frames.dtype == np.float32
    assert seq.spacing == (4.0, 3.2, 3.2)
    assert noisy.true_fields.fields.shape == (10, 24, 40, 40, 3)
    assert noisy.tumour.positions.shape == (10, 1, 3)
    assert noisy.tumour_mask.shape == (24, 40, 40) and noisy.tumour_mask.sum() >= 5
    assert seq.provenance.source == "phantom" and seq.provenance.spacing_source == "phantom"
    ref = clean.sequence.frames[0]
    assert abs(ref[0, 0, 0] + 1000.0) < 1.0  # air in the corner
    hist, edges = np.histogram(ref, bins=np.arange(-1025.0, 800.0, 50.0))
    centres = 0.5 * (edges[1:] + edges[:-1])
    for level in (-1000.0, -820.0, 40.0):  # air, lung, soft tissue are histogram modes
        assert hist[np.argmin(np.abs(centres - level))] > 0.03 * ref.size
    assert np.sum(ref > 500) > 100  # bone (ribs, vertebrae) near 700 HU
    assert ref.max() < 760
    noise = noisy.sequence.frames.astype(np.float64) - clean.sequence.frames
    assert abs(noise.std() / 15.0 - 1.0) < 0.05


def test_phases_sample_one_cycle_from_end_exhale(clean: PhantomCT) -> None:
    times = clean.sequence.times
    onsets = clean.params.breathing.inhale_onsets_s()
    np.testing.assert_allclose(np.diff(times), onsets[1] / 10.0, rtol=1e-12)
    assert times[0] == 0.0 and times[-1] < onsets[1]
    exc = clean.signal.excursion_mm
    assert exc[0] == 0.0 and not np.any(clean.true_fields.fields[0])
    assert exc.max() > 5.0 and exc[-1] < 0.3 * exc.max()  # inhale then back to exhale
    series = make_ct4d(seed=1, n_phases=6, frame_period_s=0.5, noise_hu=0.0, **SMALL)  # type: ignore[arg-type]
    np.testing.assert_allclose(series.sequence.times, 0.5 * np.arange(6), atol=1e-12)


def test_determinism_and_replay(noisy: PhantomCT) -> None:
    again = make_ct4d(seed=1, **SMALL)  # type: ignore[arg-type]
    assert again.sequence.frames.tobytes() == noisy.sequence.frames.tobytes()
    assert again.true_fields.fields.tobytes() == noisy.true_fields.fields.tobytes()
    params = CTParams.from_dict(json.loads(json.dumps(noisy.params.to_dict())))
    assert params == noisy.params
    assert make_ct4d(params=params).sequence.frames.tobytes() == noisy.sequence.frames.tobytes()
    other = make_ct4d(seed=2, **SMALL)  # type: ignore[arg-type]
    assert np.mean(np.abs(other.sequence.frames - noisy.sequence.frames)) > 20.0


def test_convention_holds_in_3d(clean: PhantomCT) -> None:
    frames = clean.sequence.frames
    u_px = clean.true_fields.in_pixels()
    grid = np.meshgrid(*[np.arange(n) for n in frames.shape[1:]], indexing="ij")
    value_range = float(frames.max() - frames.min())
    b = 3
    t = int(np.argmax(clean.signal.signal))
    pulled = ndimage.map_coordinates(
        frames[t].astype(np.float64),
        [g + u_px[t, ..., d] for d, g in enumerate(grid)],
        order=3,
        mode="nearest",
    )
    err = np.abs(pulled - frames[0])[b:-b, b:-b, b:-b]
    plain = np.abs(frames[t].astype(np.float64) - frames[0])[b:-b, b:-b, b:-b]
    assert err.mean() < 0.01 * value_range  # stated tolerance: 1 % of the HU range
    assert err.mean() < 0.1 * plain.mean()


def test_ribs_and_spine_static_diaphragm_moves(clean: PhantomCT) -> None:
    model = _CTModel(clean.params)
    t = int(np.argmax(clean.signal.signal))
    u = clean.true_fields.fields[t]
    mag = np.linalg.norm(u, axis=-1)
    exc = clean.signal.excursion_mm[t]
    assert abs(u[..., 0].max() / exc - 1.0) < 0.15  # SI motion reaches the diaphragm excursion
    grid = np.meshgrid(
        *[np.arange(n) * s for n, s in zip((24, 40, 40), SMALL["spacing_mm"], strict=True)],
        indexing="ij",
    )
    rho = model.body_radius(grid[1], grid[2])
    bone = clean.sequence.frames[0] > 400
    ribs = bone & (rho > 0.75)
    spine = bone & (rho <= 0.75)
    assert ribs.sum() > 50 and spine.sum() > 20
    assert mag[ribs].max() < 0.12 * mag.max()
    assert mag[spine].max() < 0.12 * mag.max()
    # Tumour moves with breathing (mostly SI) and starts at its mask's centroid.
    pos = clean.tumour.positions[:, 0]
    centroid = np.argwhere(clean.tumour_mask).mean(axis=0) * np.array(SMALL["spacing_mm"])
    assert np.linalg.norm(pos[0] - centroid) < 2.0
    assert np.ptp(pos[:, 0]) > 1.5 and np.ptp(pos[:, 0]) > 3 * np.ptp(pos[:, 2])
    assert np.corrcoef(pos[:, 0], clean.signal.signal)[0, 1] > 0.95


def test_bad_options_raise() -> None:
    with pytest.raises(ConfigurationError, match="shape"):
        make_ct4d(shape=(40, 64))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="n_phases"):
        make_ct4d(n_phases=0)
    with pytest.raises(ConfigurationError, match="frame_period_s"):
        make_ct4d(frame_period_s=-1.0)
