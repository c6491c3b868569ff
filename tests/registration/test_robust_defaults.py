"""Registration right by default: intensity normalisation, the plausible-range cap, the
made-worse flag and the ``register`` defaults, on phantoms with exact fields."""

from __future__ import annotations

import json

import numpy as np
import pytest

from motionpredict.cli.main import main
from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.io import read_fields, write_image
from motionpredict.phantom import make_cine
from motionpredict.registration import (
    LKParams,
    frames_made_worse,
    quality_report,
    register_sequence,
)
from motionpredict.registration.plausibility import cap_displacements
from motionpredict.sequences import ImageSequence


@pytest.fixture(scope="module")
def phantom():
    return make_cine(seed=4, n_frames=5, noise_sigma=0.02)


def _epe_px(fields_mm: np.ndarray, truth_mm: np.ndarray, spacing: tuple[float, ...],
            body: np.ndarray) -> float:
    err = np.sqrt((((fields_mm - truth_mm) / np.asarray(spacing)) ** 2).sum(-1))[1:]
    return float(np.mean([e[body].mean() for e in err]))


def _scaled(seq: ImageSequence) -> ImageSequence:
    """Frames after the first with a global gain and offset per frame (contrast drift)."""
    frames = seq.frames.astype(np.float32).copy()
    for t in range(1, seq.n_frames):
        frames[t] = frames[t] * (1.0 + 0.15 * t) + 0.1 * t
    return ImageSequence(frames, spacing=seq.spacing, times=seq.times)


def test_intensity_scaled_frames_give_the_same_field(phantom):
    seq, truth = phantom.sequence, phantom.true_fields.fields
    body = seq.frames[0] > 0.1 * seq.frames[0].max()
    scaled = _scaled(seq)
    plain = register_sequence(seq)
    robust = register_sequence(scaled)
    raw = register_sequence(scaled, params=LKParams(intensity="none"))
    e_plain = _epe_px(plain.fields, truth, seq.spacing, body)
    e_robust = _epe_px(robust.fields, truth, seq.spacing, body)
    e_raw = _epe_px(raw.fields, truth, seq.spacing, body)
    # the normalised registration of scaled frames matches the unscaled one ...
    assert _epe_px(robust.fields, plain.fields, seq.spacing, body) < 0.05
    assert e_robust < e_plain + 0.02
    assert e_plain < 0.35
    # ... where registering the raw intensities turns the contrast change into motion
    assert e_raw > 2 * e_robust


def test_cap_fills_and_counts():
    rng = np.random.default_rng(0)
    rows, cols = np.indices((40, 50), dtype=np.float32)
    flow = np.stack([2.0 + 0.05 * rows, -1.0 + 0.02 * cols]).astype(np.float32)  # px
    spiked = flow.copy()
    spots = rng.choice(40 * 50, size=30, replace=False)
    spiked[0].reshape(-1)[spots] = 60.0  # 60 px x 1.5 mm = 90 mm
    spacing = (1.5, 1.0)
    out, n = cap_displacements(spiked, spacing, 20.0)
    assert n == 30
    length = np.sqrt((out[0] * 1.5) ** 2 + out[1] ** 2)
    assert length.max() <= 20.0
    # the replaced voxels take their smooth neighbourhood's flow, the others are untouched
    r, c = np.unravel_index(spots, (40, 50))
    np.testing.assert_allclose(out[:, r, c], flow[:, r, c], atol=0.35)
    keep = np.ones((40, 50), bool)
    keep[r, c] = False
    np.testing.assert_array_equal(out[:, keep], spiked[:, keep])
    assert spiked[0].reshape(-1)[spots[0]] == 60.0  # the input is not modified
    # everything beyond the cap: shortened to it
    out, n = cap_displacements(np.full((2, 8, 8), 50.0, np.float32), (1.0, 1.0), 10.0)
    assert n == 64 and np.sqrt((out**2).sum(0)).max() <= 10.0
    out, n = cap_displacements(flow, spacing, 40.0)
    assert n == 0 and np.array_equal(out, flow)
    with pytest.raises(ConfigurationError):
        cap_displacements(flow, spacing, -1.0)


def test_register_sequence_cap_is_reported(phantom):
    seq = phantom.sequence
    fields = register_sequence(seq, max_displacement_mm=1.0)
    length = np.sqrt((fields.fields**2).sum(-1))
    assert length.max() <= 1.0
    extra = fields.provenance.extra["registration"]
    assert extra["max_displacement_mm"] == 1.0
    capped = np.asarray(extra["capped_voxels"])
    free = register_sequence(seq, max_displacement_mm=None)
    beyond = (np.sqrt((free.fields**2).sum(-1)) > 1.0).reshape(seq.n_frames, -1).sum(1)
    np.testing.assert_array_equal(capped, beyond)
    assert capped[0] == 0 and capped.sum() > 0


def test_quality_flag_marks_a_corrupted_frame(phantom):
    seq = phantom.sequence
    fields = register_sequence(seq)
    good = quality_report(seq, fields)
    assert not good.made_worse.any()
    corrupt = fields.fields.copy()
    rng = np.random.default_rng(1)
    corrupt[2] = rng.normal(0.0, 6.0, corrupt[2].shape)  # mm: a scrambled field
    bad = quality_report(seq, type(fields)(corrupt, fields.spacing, fields.times,
                                           reference_index=0))
    np.testing.assert_array_equal(bad.made_worse, [False, False, True, False, False])
    assert bad.summary()["n_made_worse"] == 1.0


def test_default_register_stays_in_range_and_shows_choices(phantom, tmp_path, capsys):
    seq = phantom.sequence
    path = tmp_path / "cine.mha"
    write_image(seq, path)
    out = tmp_path / "out"
    assert main(["register", str(path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Lucas-Kanade parameters (tuned on" in text and "intensity=meanstd" in text
    assert "frames made worse by the registration" in text and "beyond 40 mm" in text
    fields = read_fields(out / "fields.mha")
    assert np.sqrt((fields.fields**2).sum(-1)).max() <= 40.0
    summary = json.loads((out / "registration.json").read_text())
    assert summary["max_displacement_mm"] == 40.0 and summary["frames_made_worse"] == []
    assert len(summary["tuning"]["table"]) == 12
    # a tight cap is obeyed and reported
    out2 = tmp_path / "tight"
    assert main(["register", str(path), "--out", str(out2), "--no-tune",
                 "--max-displacement-mm", "1.5"]) == 0
    fields = read_fields(out2 / "fields.mha")
    assert np.sqrt((fields.fields**2).sum(-1)).max() <= 1.5 + 1e-4
    summary = json.loads((out2 / "registration.json").read_text())
    assert sum(summary["capped_voxels"]) > 0 and summary["lk_params_source"] == "defaults"
    # a sidecar beside the data gives its reference parameters
    side = tmp_path / "side"
    side.mkdir()
    write_image(seq, side / "cine.mha")
    (side / "sequence.json").write_text(json.dumps({"reference_lk_parameters": {
        "sigma_init": 0.1, "sigma_subsample": 0.1, "sigma_lk": 2, "pyramid_levels": 2,
        "iterations": 1}}))
    assert main(["register", str(side / "cine.mha"), "--out", str(tmp_path / "o3")]) == 0
    summary = json.loads((tmp_path / "o3" / "registration.json").read_text())
    assert summary["lk_params_source"].startswith("sidecar")
    assert summary["lk_params"]["levels"] == 2 and summary["lk_params"]["intensity"] == "meanstd"
    assert summary["lk_params"]["iterations"] == 2  # the published 1, plus one
    side_params = {"sigma_init": 0.1, "sigma_subsample": 1, "sigma_lk": 2, "pyramid_levels": 3,
                   "iterations": 2}
    robust = LKParams.robust_from_mapping(side_params)
    plain = LKParams.from_mapping(side_params)
    assert (robust.iterations, robust.intensity) == (3, "meanstd")
    assert plain.replace(iterations=3, intensity="meanstd") == robust
    assert LKParams.robust_from_mapping(side_params, intensity="none").intensity == "none"


def test_frames_made_worse_for_fields_at_hand(phantom):
    seq = phantom.sequence
    fields = register_sequence(seq).fields
    np.testing.assert_array_equal(frames_made_worse(seq.frames, fields[:3], seq.spacing),
                                  [False, False, False])
    bad = fields.copy()
    bad[3] = -3.0 * fields[3] + 4.0  # mm: the wrong way and offset
    np.testing.assert_array_equal(frames_made_worse(seq.frames, bad, seq.spacing),
                                  [False, False, False, True, False])
    with pytest.raises(ValidationError):
        frames_made_worse(seq.frames, fields[..., :1], seq.spacing)
