"""Issue #19, Qt-free: replay clock, ROI slice range, play state on setting changes, preparation
progress, method colours, Kalman warm-up."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from motionpredict.errors import ValidationError
from motionpredict.forecasters import available
from motionpredict.sequences import ImageSequence, Provenance
from motionpredict.viewer_model import (
    METHOD_PALETTE,
    FrameProcessor,
    PredictionSettings,
    ReplayClock,
    ViewerModel,
    method_color,
    roi_slices_from_provenance,
)


# ----------------------------------------------------------------------------- replay clock
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(period_s: float, late_s: float, compute_s: float, n: int) -> float:
    """Drive a ReplayClock like the GUI: a timer that fires ``late_s`` after it is due and a
    frame that takes ``compute_s``; return the effective rate in frames/s over ``n`` frames."""
    clock = FakeClock()
    rc = ReplayClock(period_s, clock)
    rc.start()
    requests = []
    for _ in range(n):
        delay = rc.delay_s()
        if delay > 0:
            # the GUI rounds the delay to whole ms and the timer fires late
            clock.now += round(delay * 1000) / 1000 + late_s
        rc.requested()
        requests.append(clock.now)
        clock.now += compute_s  # the frame is computed, then the next one is scheduled
    return (n - 1) / (requests[-1] - requests[0])


@pytest.mark.parametrize(("period_s", "late_s"), [(0.168, 0.0069), (0.3145, 0.0005), (0.1, 0.004)])
def test_replay_clock_keeps_the_rate_despite_a_late_timer(period_s, late_s):
    rate = simulate(period_s, late_s, compute_s=0.03, n=200)
    # within 1 % of the requested rate (a relative schedule gives 1 / (period + late): 4 % slow)
    assert rate == pytest.approx(1.0 / period_s, rel=0.01)
    relative = 1.0 / (period_s + late_s)
    assert abs(rate - 1.0 / period_s) < abs(relative - 1.0 / period_s)


def test_replay_clock_slower_computation_has_no_burst():
    clock = FakeClock()
    rc = ReplayClock(0.1, clock)
    rc.start()
    rc.requested()
    clock.now += 0.5  # the computation took five periods
    assert rc.delay_s() == 0.0  # next frame at once
    rc.requested()
    clock.now += 0.01
    assert rc.delay_s() == 0.0  # one period is made up...
    rc.requested()
    clock.now += 0.01
    # ...but no more: the next is due a period later, not at once (no burst of four frames)
    assert rc.delay_s() == pytest.approx(0.08)
    rc.start(0.05)  # speed change: a new schedule, due now
    assert rc.delay_s() == 0.0
    with pytest.raises(ValidationError):
        ReplayClock(0.0)


# ----------------------------------------------------------------------------- ROI z range
def _volume_seq(extra=None):
    frames = np.zeros((4, 6, 8, 10), np.float32)
    return ImageSequence(frames, (2.5, 1.0, 1.0), np.arange(4) * 0.5,
                         provenance=Provenance(extra=extra or {}))


def test_roi_slice_range_is_used_for_volume_errors():
    seq = _volume_seq()
    m = ViewerModel()
    m.set_sequence(seq, roi=(2, 3, 6, 9), roi_slices=(1, 4))
    # predicted field error 1 mm inside the ROI box, 5 mm outside
    err = np.full((6, 8, 10), 5.0)
    err[1:4, 2:6, 3:9] = 1.0
    issued = SimpleNamespace(predicted_field_mm=np.stack([err, 0 * err, 0 * err], -1))
    target = SimpleNamespace(field_mm=np.zeros((6, 8, 10, 3)))
    assert m._prediction_error_mm(issued, target) == pytest.approx(1.0)
    m.set_sequence(seq, roi=(2, 3, 6, 9))  # no slice range: every slice of the box
    assert m._prediction_error_mm(issued, target) == pytest.approx((3 * 1.0 + 3 * 5.0) / 6)
    m.set_sequence(seq)
    assert m._prediction_error_mm(issued, target) == pytest.approx(err.mean())
    with pytest.raises(ValidationError, match="slices"):
        m.set_sequence(seq, roi_slices=(3, 9))


def test_roi_slices_from_provenance_and_report_wording():
    seq = _volume_seq({"roi": {"x": [4, 9], "y": [3, 6], "z": [2, 4]}})
    assert roi_slices_from_provenance(seq) == (1, 4)
    assert roi_slices_from_provenance(_volume_seq({"roi": {"x": [4, 9], "y": [3, 6]}})) is None
    assert roi_slices_from_provenance(_volume_seq({"roi": {"z": [2, 9]}})) is None  # 6 slices
    m = ViewerModel()
    m.set_sequence(seq, roi=(2, 3, 6, 9), roi_slices=(1, 4))
    text = m.report_text()
    assert "slices 1..3; rows 2..5, columns 3..8" in text
    m.set_sequence(seq)
    assert "averaged over the whole volume" in m.report_text()


# ----------------------------------------------------------------------------- play state
def test_setting_change_says_the_replay_stopped():
    from motionpredict.phantom import make_markers

    m = ViewerModel()
    m.set_sequence(make_markers(seed=1, duration_s=4.0, rate_hz=10.0).sequence)
    seen = []
    m.events.playing.connect(lambda e: seen.append(e.value))
    m.set_playing(True)
    m.update_settings(horizon_ms=300.0)
    assert seen == [True, False] and not m.playing
    m.set_playing(True)
    m.reset_results()
    assert seen == [True, False, True, False]


# ----------------------------------------------------------------------------- progress
class SlowFitPipeline:
    """Reports every training frame registered, then still has work to do (PCA, warm-up)."""

    log: list[str]

    def __init__(self, sequence, *, method, horizon_s, **_kw) -> None:
        self.horizon_steps = round(horizon_s / sequence.sample_period)
        self.next_frame = 10
        self.method = method

    def prepare(self, progress=None) -> None:
        for t in range(10):
            progress(t + 1, 10)
        self.log.append(f"{self.method} fitted")


def test_preparation_progress_reaches_100_percent_only_when_ready():
    from motionpredict.phantom import make_markers

    traj = make_markers(seed=1, duration_s=4.0, rate_hz=10.0).sequence
    log: list = []
    SlowFitPipeline.log = log
    settings = PredictionSettings(methods=("no-prediction", "lms"), horizon_ms=200.0).validated()
    proc = FrameProcessor(traj, settings, SlowFitPipeline)
    proc.prepare(lambda done, total: log.append(done / total))
    fractions = [x for x in log if isinstance(x, float)]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert fractions.count(1.0) == 1
    # 100 % only after the last pipeline finished its fit (today: when it registered its frames)
    assert log.index("lms fitted") < log.index(1.0)
    # halfway = the first method is ready
    assert log.index("no-prediction fitted") < log.index(0.5) < log.index("lms fitted")


# ----------------------------------------------------------------------------- colours
def test_method_colours_are_fixed_and_distinct():
    names = available()
    colours = [method_color(n) for n in names]
    assert len(set(colours)) == len(names) <= len(METHOD_PALETTE)
    assert method_color("no-prediction") != method_color("uoro")
    # the colour depends on the method only, not on what else is checked or in which order
    assert method_color("lms") == METHOD_PALETTE[names.index("lms")]


def test_primary_method_is_the_first_setting():
    m = ViewerModel()
    m.update_settings(methods=("lms", "no-prediction"))
    assert m.primary == "lms"


# ----------------------------------------------------------------------------- Kalman warm-up
def test_kalman_warm_up_is_reported_while_it_forecasts_the_last_value():
    from motionpredict.phantom import make_markers

    traj = make_markers(seed=2, duration_s=30.0, rate_hz=10.0).sequence
    m = ViewerModel()
    m.set_sequence(traj, source="markers")
    m.update_settings(methods=("kalman", "no-prediction"), horizon_ms=300.0, train_frames=20)
    proc = m.create_processor()
    m.begin(proc.prepare())
    warm, after = [], []
    while not proc.finished:
        out = proc.process_next()
        m.add_frame(out)
        res = out.results["kalman"]
        last_value = np.allclose(res.predicted_positions, res.positions)
        (warm if "kalman" in out.warming_up else after).append((out.t, last_value))
        assert "no-prediction" not in out.warming_up
    assert warm and after, "the 300-sample run must cover the warm-up and its end"
    assert all(lv for _, lv in warm)  # while said to warm up: the last value
    assert not all(lv for _, lv in after)  # afterwards: a forecast
    assert max(t for t, _ in warm) < min(t for t, _ in after)
    assert m.warmup_frames["kalman"] == [t for t, _ in warm] and m.warming_up == {}
    assert "kalman was warming up (forecast = last value" in m.report_text()
