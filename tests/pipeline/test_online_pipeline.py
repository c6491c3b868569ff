"""The online frame pipeline and the marker pipeline on phantoms with known motion."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError
from motionpredict.pipeline import (
    STAGES,
    FrameResult,
    OnlineFramePipeline,
    OnlineMarkerPipeline,
    run_sequence,
)
from motionpredict.sequences import ImageSequence, PointTrajectories


@pytest.fixture(scope="module")
def cine():
    from motionpredict.phantom import make_cine

    return make_cine(seed=3, n_frames=32, shape=(48, 48))


def test_frame_result_contract(cine) -> None:
    seq = cine.sequence
    pipe = OnlineFramePipeline(seq, method="lms", horizon_s=0.5, n_components=2, train_frames=16)
    assert pipe.horizon_steps == 2
    with pytest.raises(ConfigurationError, match="prepare"):
        pipe.process(16)
    calls = []
    pipe.prepare(progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (16, 16)
    with pytest.raises(ConfigurationError, match="in order"):
        pipe.process(17)
    r = pipe.process(16)
    assert isinstance(r, FrameResult)
    assert (r.t, r.target_t) == (16, 18)
    assert r.weights.shape == r.predicted_weights.shape == (2,)
    assert r.predicted_field_mm.shape == (48, 48, 2)
    assert r.predicted_frame.shape == (48, 48)
    assert set(r.stage_ms) == set(STAGES) and all(v >= 0 for v in r.stage_ms.values())
    # the weights are the projection of the frame's own LK field
    np.testing.assert_allclose(r.weights, pipe.model.project(r.field_mm[None])[0], rtol=1e-6)
    assert pipe.settings()["train_frames_source"] == "option"


def test_non_integer_horizon_is_refused_unless_rounded(cine) -> None:
    with pytest.raises(ConfigurationError, match="not a whole"):
        OnlineFramePipeline(cine.sequence, method="lms", horizon_s=0.6, train_frames=16)
    p = OnlineFramePipeline(cine.sequence, method="lms", horizon_s=0.6, train_frames=16,
                            round_horizon=True)
    assert p.horizon_steps == 2
    with pytest.raises(ConfigurationError, match="unknown method"):
        OnlineFramePipeline(cine.sequence, method="nope", horizon_s=0.5, train_frames=16)
    with pytest.raises(ConfigurationError, match="train_frames"):
        OnlineFramePipeline(cine.sequence, method="lms", horizon_s=0.5, train_frames=40)


def test_static_sequence_predicts_the_reference_frame() -> None:
    rng = np.random.default_rng(0)
    frame = rng.uniform(0, 1, (40, 40)).astype(np.float32)
    from scipy.ndimage import gaussian_filter

    frame = gaussian_filter(frame, 2.0)
    seq = ImageSequence(np.repeat(frame[None], 14, axis=0), (1.5, 1.5), np.arange(14) * 0.2)
    pipe = OnlineFramePipeline(seq, method="no-prediction", horizon_s=0.2, n_components=1,
                               train_frames=8)
    run = run_sequence(pipe)
    assert run.metrics["dvf_mean_mm"] < 1e-3
    np.testing.assert_allclose(run.predicted_frames, run.acquired_frames, atol=0.02)


def test_phantom_run_metrics_against_truth(cine) -> None:
    pipe = OnlineFramePipeline(cine.sequence, method="no-prediction", horizon_s=0.25,
                               n_components=3, train_frames=16)
    run = run_sequence(pipe, roi=cine.tumour_mask, true_fields=cine.true_fields)
    m = run.metrics
    for k in ("dvf_mean_mm", "dvf_max_mm", "dvf_roi_mean_mm", "dvf_true_mean_mm",
              "pca_truncation_mean_mm", "nrmse", "ssim_255", "ssim_true_range", "pearson",
              "roi_nrmse", "total_median_ms", "warp_p99_ms"):
        assert np.isfinite(m[k]), k
    assert m["dvf_max_mm"] >= m["dvf_mean_mm"] > 0
    assert run.targets.tolist() == list(range(17, 32))
    # no-prediction: the forecast of frame t + 1 is the weights of frame t
    np.testing.assert_allclose(run.predicted_weights[1:], run.weights[:-1], rtol=1e-9)
    assert m["n_scored"] == 15


def test_reference_mode_differs_only_for_learners(cine) -> None:
    def err(method: str, mode: str) -> float:
        p = OnlineFramePipeline(cine.sequence, method=method, horizon_s=0.75, mode=mode,
                                n_components=2, train_frames=16, method_params=None)
        return run_sequence(p, keep_frames=False).metrics["dvf_mean_mm"]

    assert err("no-prediction", "causal") == err("no-prediction", "reference")
    assert err("lms", "causal") != err("lms", "reference")


def test_marker_pipeline() -> None:
    t = np.arange(120) * 0.1
    pos = np.zeros((120, 2, 3))
    pos[:, :, 2] = 8 * np.sin(2 * np.pi * t / 3.6)[:, None]
    pos[:, 1, 0] = 5.0
    traj = PointTrajectories(pos, t, names=("A", "B"))
    pipe = OnlineMarkerPipeline(traj, method="no-prediction", horizon_s=0.3, train_samples=50)
    assert pipe.horizon_steps == 3
    pipe.prepare()
    r = pipe.process(50)
    assert r.target_t == 53 and r.predicted_positions.shape == (2, 3)
    np.testing.assert_allclose(r.predicted_positions, pos[50])
    run = run_sequence(pipe)
    e = np.linalg.norm(pos[54:120] - pos[51:117], axis=2)  # frame 50 was processed above
    assert run.metrics["mae_mm"] == pytest.approx(e.mean())
    lin = OnlineMarkerPipeline(traj, method="linear", horizon_s=0.3, train_samples=50)
    assert run_sequence(lin).metrics["rmse_mm"] < 0.5 * run.metrics["rmse_mm"]


def test_3d_phase_series() -> None:
    from motionpredict.phantom import make_ct4d

    ph = make_ct4d(seed=1, n_phases=12, shape=(12, 24, 24), frame_period_s=0.4)
    seq = ph.sequence
    pipe = OnlineFramePipeline(seq, method="no-prediction", horizon_s=0.4, n_components=2,
                               train_frames=6)
    run = run_sequence(pipe, true_fields=ph.true_fields, roi=ph.tumour_mask)
    assert run.predicted_frames is not None and run.predicted_frames.shape == (5, 12, 24, 24)
    assert np.isfinite(run.metrics["dvf_true_roi_mean_mm"])
    assert 0 < run.metrics["ssim_true_range"] <= 1
