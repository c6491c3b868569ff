"""Gating simulation against hand-computed square-wave and sinusoid numbers."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import MotionPredictError
from motionpredict.target.gating import gating_curve, plot_gating_curves, simulate_gating

DT = 0.1


def _square(n_periods: int = 20, period_s: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """0 mm for the first half of each period, 10 mm for the second half."""
    t = np.arange(round(n_periods * period_s / DT)) * DT
    phase = np.round(t / DT).astype(int) % round(period_s / DT)
    return t, np.where(phase < round(period_s / DT / 2), 0.0, 10.0)


def test_square_wave_without_prediction_by_hand() -> None:
    t, x = _square()
    res, beam, ideal = simulate_gating(t, x, 0.0, 5.0, 500.0)
    assert res.latency_steps == 5
    # the beam is the ideal gate 0.5 s late: per 4 s period, 2 x 0.5 s mis-gated, 2 switches
    np.testing.assert_array_equal(beam[5:], ideal[:-5])
    valid = len(t) - 5
    assert res.n_samples == valid
    assert res.duty_cycle == pytest.approx(ideal[:-5].sum() / valid)
    # 39 switches of the ideal gate (every 2 s), each followed by 5 mis-gated samples
    assert res.gating_accuracy == pytest.approx(1 - 39 * 5 / valid)
    assert res.crossing_error_ms == pytest.approx(500.0)
    assert res.gating_error_ms == pytest.approx(500.0)
    # beam on 2 s per period, of which 0.5 s with the target at 10 mm
    assert res.residual_mean_mm == pytest.approx(10 * 0.5 / 2.0, rel=0.02)
    assert res.residual_p95_mm == 10.0
    assert res.outside_fraction == pytest.approx(0.25, rel=0.02)


def test_square_wave_with_a_perfect_forecast_and_an_interval() -> None:
    t, x = _square()
    k = 5
    fc = np.full_like(x, np.nan)
    fc[k:] = x[k:]  # issued at i - k, exactly right
    res, _, ideal = simulate_gating(t, x, 0.0, 5.0, 500.0, forecast_mm=fc)
    assert res.gating_accuracy == 1.0
    assert res.crossing_error_ms == 0.0 and res.gating_error_ms == 0.0
    assert res.residual_mean_mm == 0.0 and res.residual_p95_mm == 0.0
    assert res.duty_cycle == pytest.approx(ideal[k:].mean())
    # an interval of radius 3 mm still fits a 5 mm window around 0 mm; 6 mm never does
    r = np.full_like(x, 3.0)
    assert simulate_gating(t, x, 0.0, 5.0, 500.0, forecast_mm=fc, interval_mm=r)[0].duty_cycle == (
        res.duty_cycle
    )
    assert (
        simulate_gating(t, x, 0.0, 5.0, 500.0, forecast_mm=fc, interval_mm=r + 3)[0].duty_cycle == 0
    )
    # hold when the interval is wider than 4 mm: every other period has a wide interval
    wide = np.where((t // 4.0) % 2 == 1, 6.0, 1.0)
    held, hb, _ = simulate_gating(
        t,
        x,
        0.0,
        5.0,
        500.0,
        forecast_mm=fc,
        interval_mm=wide,
        interval_rule="none",
        hold_width_mm=4.0,
    )
    assert not hb[wide > 4.0].any()
    assert held.duty_cycle == pytest.approx(res.duty_cycle / 2, rel=0.05)


def test_sinusoid_duty_cycle_is_the_arcsine_law() -> None:
    a, period, w = 8.0, 4.0, 3.0
    t = np.arange(40000) * 0.001
    x = a * np.sin(2 * np.pi * t / period)
    res, _, _ = simulate_gating(t, x, 0.0, w, 0.0)
    assert res.duty_cycle == pytest.approx(2 / np.pi * np.arcsin(w / a), abs=1e-3)
    assert res.gating_accuracy == 1.0
    # residual while on: |x| with x uniform in phase over |x| <= w
    phase = np.linspace(-np.arcsin(w / a), np.arcsin(w / a), 200001)
    assert res.residual_mean_mm == pytest.approx(np.mean(np.abs(a * np.sin(phase))), rel=1e-3)
    # latency 0.2 s on a sinusoid: each crossing 200 ms late
    late, _, _ = simulate_gating(t, x, 0.0, w, 200.0)
    assert late.crossing_error_ms == pytest.approx(200.0, abs=1.0)
    assert late.gating_accuracy < 1.0


def test_3d_positions_use_the_distance_and_curves_plot(tmp_path) -> None:
    t = np.arange(200) * DT
    x = np.zeros((200, 3))
    x[:, 2] = np.where(np.arange(200) % 40 < 20, 0.0, 4.0)
    x[:, 0] = 3.0  # constant 3 mm offset: distance 3 or 5 mm
    curves = gating_curve(t, x, [0.0, 0.0, 0.0], [2.0, 4.0, 6.0], 0.0)
    assert [c.duty_cycle for c in curves] == pytest.approx([0.0, 0.5, 1.0])
    out = plot_gating_curves({"no prediction": curves}, [2.0, 4.0, 6.0], tmp_path / "g.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gating_errors() -> None:
    t, x = _square(2)
    with pytest.raises(MotionPredictError):
        simulate_gating(t, x, 0.0, -1.0, 0.0)
    with pytest.raises(MotionPredictError):
        simulate_gating(t, x[:-1], 0.0, 5.0, 0.0)
    with pytest.raises(MotionPredictError):
        simulate_gating(t, x, 0.0, 5.0, 0.0, interval_mm=np.ones_like(x))
    bad = x.copy()
    bad[3] = np.nan
    with pytest.raises(MotionPredictError):
        simulate_gating(t, bad, 0.0, 5.0, 0.0)
    tt = t.copy()
    tt[5] += 0.05
    with pytest.raises(MotionPredictError):
        simulate_gating(tt, x, 0.0, 5.0, 0.0)
