"""The Qt-free viewer model: settings, budget, image helpers, replay state with the real pipeline.

These tests do not need Qt.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError, InputFileError, ValidationError
from motionpredict.sequences import ImageSequence, Provenance
from motionpredict.viewer_model import (
    STAGES,
    FrameOutput,
    PredictionSettings,
    ViewerModel,
    apply_window,
    checkerboard,
    compose,
    mask_contours,
    move_points,
    roi_from_provenance,
    settings_from_evaluation_config,
)


# ----------------------------------------------------------------------------- settings / budget
@pytest.mark.parametrize(
    ("horizon_ms", "latency_ms", "steps", "budget"),
    [
        (None, None, 1, None),
        (500.0, None, 2, None),
        (620.0, None, 2, None),  # nearest whole number of frames
        (100.0, None, 1, None),  # at least one frame
        (None, 200.0, 1, 50.0),  # k = floor(200/250) + 1 = 1, budget 250 - 200
        (None, 250.0, 2, 250.0),  # L exactly one period: the next frame, budget 500 - 250
        (None, 600.0, 3, 150.0),
    ],
)
def test_horizon_and_budget(horizon_ms, latency_ms, steps, budget):
    s = PredictionSettings(horizon_ms=horizon_ms, system_latency_ms=latency_ms).validated()
    assert s.horizon_steps(0.25) == steps
    got = s.budget_ms(0.25)
    assert got == pytest.approx(budget) if budget is not None else got is None


@pytest.mark.parametrize(
    "changes",
    [
        {"methods": ()},
        {"methods": ("no-such-method",)},
        {"methods": ("no-prediction", "no-prediction")},
        {"mode": "future"},
        {"n_components": 0},
        {"horizon_ms": -5.0},
        {"system_latency_ms": float("nan")},
        {"train_frames": 1},
    ],
)
def test_invalid_settings_are_refused(changes):
    m = ViewerModel()
    before = m.settings
    with pytest.raises(ConfigurationError):
        m.update_settings(**changes)
    assert m.settings == before


def test_unknown_setting_name():
    with pytest.raises(ConfigurationError, match="unknown setting"):
        ViewerModel().update_settings(horizon=3)


def test_frame_period_must_be_known():
    with pytest.raises(ValidationError):
        PredictionSettings().horizon_steps(float("nan"))


# ----------------------------------------------------------------------------- image helpers
def test_apply_window_maps_level_and_window():
    img = np.array([[0.0, 50.0, 100.0, 150.0, 200.0]])
    out = apply_window(img, window=100.0, level=100.0)  # 50 -> 0, 150 -> 255
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 0, 128, 255, 255]])


def test_compose_modes():
    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    b = np.full((4, 4), 2.0, dtype=np.float32)
    np.testing.assert_array_equal(compose(a, b, "difference"), a - 2.0)
    np.testing.assert_allclose(compose(a, b, "blend"), (a + 2.0) / 2)
    cb = compose(a, b, "checkerboard", tile=2)
    # tile (0,0) and (1,1) from a; (0,1) and (1,0) from b
    np.testing.assert_array_equal(cb[:2, :2], a[:2, :2])
    np.testing.assert_array_equal(cb[2:, 2:], a[2:, 2:])
    np.testing.assert_array_equal(cb[:2, 2:], 2.0)
    np.testing.assert_array_equal(cb[2:, :2], 2.0)
    with pytest.raises(ValidationError):
        compose(a, b[:3], "blend")
    with pytest.raises(ConfigurationError):
        compose(a, b, "overlay")  # type: ignore[arg-type]


def test_checkerboard_counts():
    cb = checkerboard(np.zeros((8, 8)), np.ones((8, 8)), tile=4)
    assert cb.sum() == 32  # half of the pixels come from b


def test_contour_moves_with_constant_field():
    mask = np.zeros((20, 20), dtype=bool)
    mask[5:10, 6:12] = True
    (contour,) = mask_contours(mask)
    assert contour[:, 0].min() == 5 and contour[:, 0].max() == 9
    assert contour[:, 1].min() == 6 and contour[:, 1].max() == 11
    field = np.zeros((20, 20, 2))
    field[..., 0] = 3.0  # mm along rows
    field[..., 1] = -2.0  # mm along columns
    moved = move_points(contour, field, spacing=(1.5, 0.5))
    np.testing.assert_allclose(moved - contour, np.tile([2.0, -4.0], (len(contour), 1)))


def test_move_points_interpolates_linearly():
    rows = np.arange(10, dtype=np.float64)
    field = np.zeros((10, 10, 2))
    field[..., 0] = rows[:, None] * 0.5  # u_row(r) = 0.5 r mm
    moved = move_points(np.array([[2.5, 4.0]]), field, spacing=(1.0, 1.0))
    np.testing.assert_allclose(moved, [[2.5 + 1.25, 4.0]])


# ----------------------------------------------------------------------------- ROI, config
def _seq(n=6, shape=(16, 20), period=0.2, extra=None):
    frames = np.random.default_rng(0).random((n, *shape)).astype(np.float32)
    return ImageSequence(
        frames=frames,
        spacing=(1.0, 1.0),
        times=np.arange(n) * period,
        provenance=Provenance(source="test", extra=extra or {}),
    )


def test_roi_from_provenance_and_sidecar(tmp_path):
    seq = _seq(extra={"roi": {"x": [3, 10], "y": [2, 8]}})
    assert roi_from_provenance(seq) == (1, 2, 8, 10)
    side = tmp_path / "sequence.json"
    side.write_text('{"roi": {"x": [1, 20], "y": [1, 16]}}', encoding="utf-8")
    assert roi_from_provenance(_seq(extra={"sidecar": str(side)})) == (0, 0, 16, 20)
    assert roi_from_provenance(_seq(extra={"roi": {"x": [1, 99], "y": [1, 2]}})) is None
    assert roi_from_provenance(_seq()) is None


def test_settings_from_evaluation_config(tmp_path):
    cfg = tmp_path / "eval.toml"
    cfg.write_text(
        '[evaluation]\nmethods = ["lms", "no-prediction"]\nhorizons_s = [0.5, 1.0]\n'
        'modes = ["reference"]\nn_components = [2, 3]\n',
        encoding="utf-8",
    )
    got = settings_from_evaluation_config(cfg)
    assert got == {
        "methods": ("lms", "no-prediction"),
        "horizon_ms": 500.0,
        "mode": "reference",
        "n_components": 2,
        "system_latency_ms": None,
    }
    m = ViewerModel()
    m.update_settings(**got)
    assert m.settings.methods == ("lms", "no-prediction")
    bad = tmp_path / "bad.toml"
    bad.write_text("[evaluation\nmethods = 3", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"bad\.toml"):
        settings_from_evaluation_config(bad)
    with pytest.raises(InputFileError, match="no \\[evaluation\\]"):
        (tmp_path / "empty.toml").write_text("[run]\njobs = 1\n", encoding="utf-8")
        settings_from_evaluation_config(tmp_path / "empty.toml")


# ----------------------------------------------------------------------------- events
def test_events_fire_and_disconnect():
    m = ViewerModel()
    seen = []
    cb = m.events.speed.connect(lambda e: seen.append((e.type, e.value)))
    m.set_speed(2.0)
    m.events.speed.disconnect(cb)
    m.set_speed(3.0)
    assert seen == [("speed", 2.0)]
    with pytest.raises(ConfigurationError):
        m.set_speed(0.0)


def test_sequence_checks():
    m = ViewerModel()
    with pytest.raises(ValidationError, match="at least 3"):
        m.set_sequence(_seq(n=2))
    with pytest.raises(ValidationError, match="mask shape"):
        m.set_sequence(_seq(), tumour_mask=np.zeros((3, 3), bool))
    with pytest.raises(ValidationError, match="outside"):
        m.set_sequence(_seq(), roi=(0, 0, 40, 5))


# ----------------------------------------------------------------------------- real pipeline
@pytest.fixture(scope="module")
def replayed():
    """A phantom replayed through the real pipeline: 12 frames after the training window."""
    from motionpredict.phantom import make_cine

    ph = make_cine(seed=3, n_frames=36, shape=(48, 48), frame_period_s=0.25)
    m = ViewerModel()
    m.set_sequence(ph.sequence, source="phantom", tumour_mask=ph.tumour_mask)
    m.update_settings(methods=("no-prediction", "lms"), horizon_ms=500.0, train_frames=16)
    proc = m.create_processor()
    prepared = proc.prepare()
    m.begin(prepared)
    outputs = []
    for _ in range(12):
        out = proc.process_next()
        outputs.append(out)
        m.add_frame(out)
        m.record_render_ms(out.t, 1.5)
    return m, outputs, ph


def test_replay_state(replayed):
    m, outputs, _ = replayed
    assert m.first_frame == 16
    assert m.horizon_steps == 2
    assert m.newest == 27 and m.position == 27
    assert sorted(m.results["lms"]) == list(range(16, 28))
    assert m.training_weights["no-prediction"].shape == (16, 3)
    # the views' images are the model's data
    np.testing.assert_array_equal(m.acquired(20), m.sequence.frames[20])
    np.testing.assert_array_equal(
        m.predicted(20), outputs[4].results["no-prediction"].predicted_frame
    )
    # stage timings: read + the pipeline's stages + render, in the panel's order
    frames, table = m.latency_table()
    np.testing.assert_array_equal(frames, np.arange(16, 28))
    for i, out in enumerate(outputs):
        res = out.results["no-prediction"]
        expected = [out.read_ms, *(res.stage_ms[s] for s in STAGES[1:-1]), 1.5]
        np.testing.assert_allclose(table[i], expected)
    stats = m.latency_stats()
    totals = table.sum(axis=1)
    assert stats.median_ms == pytest.approx(np.median(totals))
    assert stats.p99_ms == pytest.approx(np.percentile(totals, 99))
    assert stats.n_over_period == int(np.sum(totals > 250.0))


def test_comparison_targets(replayed):
    m, _, _ = replayed
    # reviewing frame 20: the prediction issued at 20 for 22 is checkable (22 <= newest 27)
    assert m.comparison_indices(20) == (20, 22)
    # live at the newest frame: the prediction issued 2 frames earlier for it
    assert m.comparison_indices(27) == (25, 27)
    # the first replayed frame has no earlier prediction, but its own target is acquired
    assert m.comparison_indices(16) == (16, 18)
    issued, target, actual, pred, combined = m.comparison(27)
    assert (issued, target) == (25, 27)
    np.testing.assert_array_equal(actual, m.sequence.frames[27])
    np.testing.assert_array_equal(pred, m.results["no-prediction"][25].predicted_frame)
    np.testing.assert_allclose(combined, actual - pred)


def test_series_are_shifted_by_the_horizon(replayed):
    m, _, _ = replayed
    ws = m.weight_series("lms")
    assert ws["true"].shape == (28, 3)  # 16 training + 12 replayed frames
    np.testing.assert_allclose(ws["pred_times"], m.sequence.times[16:28] + 0.5)
    # no-prediction forecasts the last weights: predicted(t + h) == measured(t)
    wn = m.weight_series("no-prediction")
    np.testing.assert_allclose(wn["predicted"], wn["true"][16:], atol=1e-9)
    # its weight error at target t + h is |w(t) - w(t + h)|
    diffs = np.linalg.norm(wn["true"][16:26] - wn["true"][18:28], axis=1)
    np.testing.assert_allclose(wn["error"], diffs, rtol=1e-9)
    t_err, e_mm = m.field_error_series("no-prediction")
    assert t_err.shape == (10,) and np.all(e_mm >= 0)
    t_img, rmse = m.image_error_series()
    np.testing.assert_allclose(t_img, m.sequence.times[18:28])
    d = m.results["no-prediction"][16].predicted_frame.astype(np.float64) - m.sequence.frames[18]
    assert rmse[0] == pytest.approx(np.sqrt(np.mean(d * d)))


def test_contours_follow_the_fields(replayed):
    m, _, ph = replayed
    ref = m.reference_contours()
    assert ref and len(ref) == len(mask_contours(ph.tumour_mask))
    moved = m.predicted_contours(27)
    f = m.predicted_field(27)
    np.testing.assert_allclose(moved[0], move_points(ref[0], f, m.sequence.spacing))
    assert m.registered_contours(27)  # the pipeline returns the LK field of the frame


def test_predicted_sequence_and_report(replayed):
    m, _, _ = replayed
    seq = m.predicted_sequence("lms")
    assert seq.n_frames == 12
    np.testing.assert_allclose(seq.times, m.sequence.times[16:28] + 0.5)
    np.testing.assert_array_equal(seq.frames[0], m.results["lms"][16].predicted_frame)
    text = m.report_text()
    assert "Horizon: 2 frame(s) = 500.0 ms" in text
    assert "replayed 16..27 (12 frames)" in text
    stats = m.latency_stats()
    assert f"| **total** | {stats.median_ms:.2f} | {stats.p99_ms:.2f} |" in text


def test_frames_must_arrive_in_order(replayed):
    m, outputs, _ = replayed
    with pytest.raises(ValidationError, match="in order"):
        m.add_frame(outputs[0])
    bad = FrameOutput(t=m.newest + 1, results={"lms": outputs[0].results["lms"]}, read_ms=0.0)
    with pytest.raises(ValidationError):
        m.add_frame(bad)


def test_positions_are_clamped(replayed):
    m, _, _ = replayed
    m.set_position(1000)
    assert m.position == m.newest
    m.step(-3)
    assert m.position == m.newest - 3
    m.set_position(-5)
    assert m.position == 0
    m.set_position(m.newest)


def test_model_has_no_qt_import():
    """Direct imports only; the import-linter contract in pyproject.toml checks indirect ones."""
    import motionpredict.viewer_model as vm

    tree = ast.parse(Path(vm.__file__).read_text(encoding="utf-8"))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert "numpy" in names
    assert not [n for n in names if n.startswith(("PySide6", "shiboken6", "motionpredict.gui"))]


def test_cli_rejects_bad_options_before_starting_qt(capsys):
    from motionpredict.cli.main import main

    assert main(["gui", "--phantom", "--method", "no-such-method"]) == 2
    assert "unknown method 'no-such-method'" in capsys.readouterr().err
    assert main(["gui", "some/path", "--phantom"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["gui", "--phantom", "--size", "big"]) == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_marker_trajectories_replay():
    from motionpredict.phantom import make_markers
    from motionpredict.sequences import PointTrajectories

    traj = make_markers(seed=5, duration_s=8.0, rate_hz=10.0).sequence
    m = ViewerModel()
    m.set_sequence(traj, source="markers")
    assert m.is_markers and m.image_sequence is None
    m.update_settings(methods=("no-prediction",), horizon_ms=300.0, train_frames=30)
    proc = m.create_processor()
    m.begin(proc.prepare())
    assert m.first_frame == 30 and m.horizon_steps == 3
    for _ in range(10):
        m.add_frame(proc.process_next())
    # measured values are the 9 coordinates; no-prediction forecasts the last sample
    ws = m.weight_series()
    series = traj.as_series()
    np.testing.assert_allclose(ws["true"], series[:40])
    np.testing.assert_allclose(ws["predicted"], series[30:40])
    np.testing.assert_allclose(ws["pred_times"], traj.times[33:43])
    # position error: mean over markers of the 3D distance between sample t and t + 3
    t_err, err = m.field_error_series()
    dist = np.linalg.norm(traj.positions[30:37] - traj.positions[33:40], axis=-1).mean(axis=1)
    np.testing.assert_allclose(err, dist)
    np.testing.assert_allclose(t_err, traj.times[33:40])
    assert m.image_error_series()[0].size == 0
    assert m.comparison(39) is None and m.predicted(39) is None
    _, table = m.latency_table()
    assert np.all(table[:, STAGES.index("register")] == 0) and np.all(table[:, 0] >= 0)
    pred = m.predicted_sequence()
    assert isinstance(pred, PointTrajectories) and pred.names == traj.names
    np.testing.assert_allclose(pred.positions, traj.positions[30:40])
    text = m.report_text()
    assert "- Markers: 3 (LAC, UAC, UCC), 80 samples" in text
    assert "mean position error (mm)" in text and f"| {dist.mean():.3f} |" in text
    with pytest.raises(ValidationError):
        m.set_sequence(traj, roi=(0, 0, 2, 2))
