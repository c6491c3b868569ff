"""TrackRAD2025 layout: a phantom case written and read back, scored against its exact labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from motionpredict.errors import MotionPredictError
from motionpredict.phantom.cine import make_cine
from motionpredict.target.trackrad import (
    phantom_labels,
    read_trackrad_case,
    score_against_labels,
    write_trackrad_case,
)


@pytest.fixture(scope="module")
def phantom():
    return make_cine(
        seed=4, n_frames=60, shape=(64, 56), spacing_mm=(2.5, 2.0), frame_period_s=0.25
    )


def test_round_trip_and_layout(tmp_path, phantom) -> None:
    seq = phantom.sequence
    labels = phantom_labels(phantom.tumour_mask, phantom.true_fields.fields, seq.spacing)
    root = write_trackrad_case(tmp_path / "Z_001", seq, phantom.tumour_mask, labels)
    # the challenge's layout: arrays (H, W, T), time last
    frames = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "images" / "Z_001_frames.mha")))
    assert frames.shape == (64, 56, 60)
    np.testing.assert_array_equal(frames[..., 7], seq.frames[7])
    assert json.loads((root / "frame-rate.json").read_text()) == pytest.approx(4.0)

    case = read_trackrad_case(root)
    assert case.case_id == "Z_001" and case.scanned_region == "phantom" and case.b_field_t == 1.5
    np.testing.assert_array_equal(case.sequence.frames, seq.frames)
    assert case.sequence.spacing == (2.5, 2.0)
    np.testing.assert_allclose(case.sequence.times, seq.times)
    np.testing.assert_array_equal(case.first_label, phantom.tumour_mask)
    assert case.labels is not None
    np.testing.assert_array_equal(case.labels, labels)
    # the exact labels follow the phantom's exact tumour centroid
    cen = np.array([np.argwhere(m).mean(axis=0) for m in labels]) * np.array(seq.spacing)
    assert np.max(np.linalg.norm(cen - phantom.tumour.positions[:, 0, :2], axis=1)) < 1.25


def test_scoring_tracking_and_forecast(tmp_path, phantom) -> None:
    from motionpredict.pipeline import OnlineFramePipeline
    from motionpredict.target import track_pipeline

    seq = phantom.sequence
    labels = phantom_labels(phantom.tumour_mask, phantom.true_fields.fields, seq.spacing)
    case = read_trackrad_case(
        write_trackrad_case(tmp_path / "Z_002", seq, phantom.tumour_mask, labels)
    )
    pipe = OnlineFramePipeline(
        case.sequence, method="lms", horizon_s=0.5, n_components=2, train_frames=30
    )
    track = track_pipeline(pipe, case.first_label, keep_masks=True)
    s = score_against_labels(track, case.labels)
    # tracking (h = 0, the LK field) beats the forecast 0.5 s ahead, both are sane
    assert 0.8 < s["forecast"]["mean_dice"] <= s["tracking"]["mean_dice"] <= 1.0
    assert s["tracking"]["mean_hd95_mm"] <= s["forecast"]["mean_hd95_mm"] + 1e-9
    # labels themselves score perfectly
    assert (
        score_against_labels(
            type(track)(**{**track.__dict__, "actual_masks": labels[track.targets]}), labels
        )["tracking"]["mean_dice"]
        == 1.0
    )


def test_malformed_cases(tmp_path, phantom) -> None:
    root = write_trackrad_case(tmp_path / "Z_003", phantom.sequence, phantom.tumour_mask)
    assert read_trackrad_case(root).labels is None
    (root / "frame-rate.json").write_text('"fast"')
    with pytest.raises(MotionPredictError):
        read_trackrad_case(root)
    (root / "frame-rate.json").write_text("4")
    (root / "targets" / "Z_003_first_label.mha").unlink()
    with pytest.raises(MotionPredictError):
        read_trackrad_case(root)
    with pytest.raises(MotionPredictError):
        write_trackrad_case(tmp_path / "Z_004", phantom.sequence, phantom.tumour_mask[:-1])
