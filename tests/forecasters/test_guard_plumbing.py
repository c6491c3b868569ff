"""The guard's count reaches the metrics (issue #14): ``guarded_forecasts`` and
``guarded_fraction`` of the scored forecasts in evaluation jobs and in the online pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.evaluation.protocol import Splits, evaluate_markers
from motionpredict.forecasters import Standardizer, get, guard_summary, run_online
from motionpredict.phantom.markers import make_markers
from motionpredict.pipeline import OnlineMarkerPipeline, run_sequence

UNSTABLE = {"eta": 1e3}


@pytest.fixture(scope="module")
def traj():
    return make_markers(seed=5, duration_s=60.0, rate_hz=10.0).sequence


def test_guard_summary_counts_and_fraction() -> None:
    out = guard_summary(np.array([True, False, True, False]))
    assert out == {"guarded_forecasts": 2, "guarded_fraction": 0.5}
    assert guard_summary(np.zeros(0, dtype=bool))["guarded_fraction"] == 0.0


def _expected(series: np.ndarray, h: int, test: slice) -> int:
    z = Standardizer(series[:200]).transform(series)
    run = run_online(get("snap1")(horizon=h, n_features=z.shape[1], **UNSTABLE), z)
    return int(run.guarded[test].sum())


def test_evaluate_markers_reports_the_guard(traj) -> None:
    series = traj.as_series()
    splits = Splits(train=(0, 200), validation=(200, 400), test=(400, 600), offline_fit_until=380)
    res = evaluate_markers(traj, splits, method="snap1", horizon_steps=3, mode="causal", seed=0,
                           grid=[UNSTABLE])
    n = _expected(series, 3, slice(400, 600))
    assert n > 0
    assert res.metrics["guarded_forecasts"] == n
    assert res.metrics["guarded_fraction"] == pytest.approx(n / 200)
    good = evaluate_markers(traj, splits, method="no-prediction", horizon_steps=3,
                            mode="causal", seed=0, grid=[{}])
    assert good.metrics["guarded_forecasts"] == 0


def test_online_pipeline_reports_the_guard(traj) -> None:
    pipe = OnlineMarkerPipeline(traj, method="snap1", horizon_s=0.3, train_samples=200,
                                method_params=UNSTABLE)
    res = run_sequence(pipe, window=(400, 600))
    n = _expected(traj.as_series(), 3, slice(400, 600))
    assert n > 0
    assert res.metrics["guarded_forecasts"] == n
    assert res.metrics["guarded_fraction"] == pytest.approx(n / 200)


def test_viewer_counts_guarded_forecasts(traj) -> None:
    """The GUI's model: per-result flags, the count per method and the report column."""
    from motionpredict.viewer_model import ViewerModel, default_pipeline_factory

    def factory(sequence, **kwargs):
        if kwargs["method"] == "snap1":
            kwargs["method_params"] = UNSTABLE
        return default_pipeline_factory(sequence, **kwargs)

    m = ViewerModel()
    m.set_sequence(traj, source="markers")
    m.update_settings(methods=("snap1", "no-prediction"), horizon_ms=300.0, train_frames=200)
    proc = m.create_processor(factory)
    m.begin(proc.prepare())
    for _ in range(200):
        m.add_frame(proc.process_next())
    n = _expected(traj.as_series(), 3, slice(203, 403))  # forecasts issued at 200..399
    ng, ni = m.guarded_count("snap1")
    assert ni == 200 and ng == n > 0
    assert m.guarded_count("no-prediction") == (0, 200)
    text = m.report_text()
    assert "guarded forecasts |" in text
    assert f"| {ng} of 200 |" in text


def test_settings_record_the_guard(traj) -> None:
    """An override through the method parameters is recorded with the run's settings."""
    pipe = OnlineMarkerPipeline(traj, method="rls", horizon_s=0.3, train_samples=200,
                                method_params={"guard_ratio": 2.5, "guard_window": 20})
    pipe.prepare()
    rec = pipe.settings()["guard"]
    assert rec["ratio"] == 2.5 and rec["window"] == 20 and rec["margin"] == 1.0
    assert "guard_ratio" not in pipe.settings()["method_params"]
    assert pipe.forecaster.describe()["guard"] == rec
