"""Beam-gating simulation: a gating window around the planned target position, a beam latency,
and a gating decision taken from the acquired position (no prediction) or from a forecast (with
or without its conformal interval).

Sampled at period ``Δt`` (s), with ``d_i = ‖x_i − x_plan‖`` the target's distance (mm) from its
planned position at sample ``i`` and ``W`` the window (mm):

* ideal gate ``g_i = [d_i ≤ W]``;
* the beam at ``i`` follows a decision taken ``k = round(L / Δt)`` samples earlier (latency ``L``,
  ms); without prediction that decision sees the then-latest position, ``b_i = [d_{i−k} ≤ W]``;
  with a forecast ``x̂_i`` issued at ``i − k`` for ``i`` (horizon = latency),
  ``b_i = [‖x̂_i − x_plan‖ ≤ W]``;
* with an interval of radius ``r_i`` (mm): ``"inside"`` keeps the beam on only when the whole ball
  lies in the window, ``‖x̂_i − x_plan‖ + r_i ≤ W``; ``hold_width_mm = ρ`` holds the beam whenever
  ``r_i > ρ`` (the forecast is too uncertain).

Reported over the samples where a decision exists:

* duty cycle ``mean(b)``;
* residual motion while the beam is on: mean and 95th percentile of ``d_i`` over ``b_i = 1`` (mm),
  and the fraction of beam-on time with the target outside the window;
* after Sun et al. (Radiat. Oncol. 18:149, 2023), comparing the delivered beam ``b`` with the
  ideal gate ``g`` (our operational definitions of their three temporal metrics):
  gating accuracy ``mean(b = g)`` (%); crossing error: mean ``|t_b − t_g|`` (ms) over the ideal
  gate's crossings (beam-on and beam-off switches), each paired with the nearest switch of ``b``
  in the same direction; gating error: mis-gated time ``Δt Σ [b_i ≠ g_i]`` per ideal crossing (ms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from motionpredict.errors import ConfigurationError, ValidationError

IntervalRule = Literal["inside", "none"]


@dataclass
class GatingResult:
    """Beam and metrics of one simulation (see the module docstring for the definitions).

    Attributes
    ----------
    duty_cycle
        Fraction of the valid samples with the beam on.
    residual_mean_mm, residual_p95_mm
        Target distance from the planned position while the beam is on, mm (0 when never on).
    outside_fraction
        Fraction of beam-on time with the target outside the window.
    gating_accuracy
        Fraction of the valid samples where the beam equals the ideal gate.
    crossing_error_ms
        Mean time between each ideal-gate switch and the beam's nearest same-direction switch, ms
        (NaN without switches).
    gating_error_ms
        Mis-gated time per ideal-gate switch, ms (NaN without switches).
    n_samples, latency_steps
        Valid samples; latency in samples.
    """

    duty_cycle: float
    residual_mean_mm: float
    residual_p95_mm: float
    outside_fraction: float
    gating_accuracy: float
    crossing_error_ms: float
    gating_error_ms: float
    n_samples: int
    latency_steps: int

    def to_dict(self) -> dict[str, float]:
        """JSON-able ``{name: value}``."""
        return {k: float(v) for k, v in asdict(self).items()}


def _distance(x: np.ndarray, planned: np.ndarray) -> np.ndarray:
    return np.abs(x[:, 0] - planned[0]) if x.shape[1] == 1 else np.linalg.norm(x - planned, axis=1)


def _switches(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``i`` where ``b`` switches between ``i − 1`` and ``i`` and the direction (+1 on)."""
    d = np.diff(b.astype(np.int8))
    idx = np.flatnonzero(d) + 1
    return idx, d[idx - 1]


def simulate_gating(
    times_s: np.ndarray,
    position_mm: np.ndarray,
    planned_mm: float | Sequence[float],
    window_mm: float,
    latency_ms: float,
    *,
    forecast_mm: np.ndarray | None = None,
    interval_mm: np.ndarray | None = None,
    interval_rule: IntervalRule = "inside",
    hold_width_mm: float | None = None,
) -> tuple[GatingResult, np.ndarray, np.ndarray]:
    """Simulate the gated beam over a target trajectory.

    Parameters
    ----------
    times_s
        ``(T,)`` sample times, s, evenly spaced (each step within 10 % of the median step
        ``Δt``: acquisition-time jitter is tolerated; times are counted in samples of ``Δt``).
    position_mm
        ``(T,)`` one coordinate (e.g. superior-inferior) or ``(T, d)`` positions, mm.
    planned_mm
        Planned position (scalar or ``(d,)``), mm.
    window_mm
        Gating window: the beam may be on while the target is within this distance, mm.
    latency_ms
        Beam on/off latency, ms (rounded to whole samples).
    forecast_mm
        ``(T,)`` / ``(T, d)`` forecasts aligned on their target: ``forecast_mm[i]`` was issued at
        ``i − k`` for sample ``i`` (horizon = latency); NaN where none. ``None``: no prediction.
    interval_mm
        ``(T,)`` interval radius of each forecast, mm (NaN where none).
    interval_rule
        ``"inside"``: the whole interval must lie in the window; ``"none"``: the interval only
        serves ``hold_width_mm``.
    hold_width_mm
        Hold the beam while the interval radius exceeds this, mm.

    Returns
    -------
    ``(result, beam, ideal)``: :class:`GatingResult` and the ``(T,)`` bool beam and ideal gate
    (the beam is off where no decision exists).
    """
    t = np.asarray(times_s, dtype=np.float64).ravel()
    x = np.asarray(position_mm, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    n = len(t)
    if x.ndim != 2 or len(x) != n or n < 3:
        raise ValidationError(
            f"positions {np.shape(position_mm)} must be (T,) or (T, d) for {n} times"
        )
    dt = float(np.median(np.diff(t)))
    if not dt > 0 or np.any(np.abs(np.diff(t) - dt) > 0.1 * dt):
        raise ValidationError(
            "the sample times must increase evenly (each step within 10 % of the median step)"
        )
    if not np.all(np.isfinite(x)):
        raise ValidationError("the target positions hold NaN or infinite values")
    plan = np.broadcast_to(np.asarray(planned_mm, dtype=np.float64).ravel(), (x.shape[1],))
    if not window_mm > 0 or not latency_ms >= 0:
        raise ConfigurationError(
            f"window ({window_mm} mm) must be > 0 and latency ({latency_ms} ms) >= 0"
        )
    k = round(latency_ms / 1e3 / dt)
    dist = _distance(x, plan)
    ideal = dist <= window_mm
    valid = np.zeros(n, dtype=bool)
    valid[k:] = True
    est = np.full(n, np.inf)
    if forecast_mm is None:
        if interval_mm is not None:
            raise ConfigurationError("an interval needs its forecast")
        est[k:] = dist[: n - k]
    else:
        f = np.asarray(forecast_mm, dtype=np.float64)
        f = f[:, None] if f.ndim == 1 else f
        if f.shape != x.shape:
            raise ValidationError(f"forecasts {f.shape} must match the positions {x.shape}")
        ok = np.all(np.isfinite(f), axis=1)
        valid &= ok
        est[ok] = _distance(f[ok], plan)
    beam = est <= window_mm
    if interval_mm is not None:
        r = np.asarray(interval_mm, dtype=np.float64).ravel()
        if r.shape != (n,):
            raise ValidationError(f"interval radii {r.shape} must be ({n},)")
        r_ok = np.isfinite(r)
        valid &= r_ok
        r = np.where(r_ok, r, np.inf)
        if interval_rule == "inside":
            beam = est + r <= window_mm
        elif interval_rule != "none":
            raise ConfigurationError(
                f"interval_rule must be 'inside' or 'none', got {interval_rule!r}"
            )
        if hold_width_mm is not None:
            beam &= r <= hold_width_mm
    elif hold_width_mm is not None:
        raise ConfigurationError("hold_width_mm needs an interval")
    beam &= valid
    if valid.sum() < 2:
        raise ValidationError("fewer than two samples with a gating decision")
    b, g, dv = beam[valid], ideal[valid], dist[valid]
    on = dv[b]
    gi, gd = _switches(g)
    bi, bd = _switches(b)
    tv = t[valid]
    errs = []
    for i, d in zip(gi, gd, strict=True):
        same = bi[bd == d]
        if len(same):
            errs.append(float(np.min(np.abs(tv[same] - tv[i]))))
    mis = float(np.sum(b != g)) * dt
    res = GatingResult(
        duty_cycle=float(b.mean()),
        residual_mean_mm=float(on.mean()) if len(on) else 0.0,
        residual_p95_mm=float(np.percentile(on, 95)) if len(on) else 0.0,
        outside_fraction=float(np.mean(on > window_mm)) if len(on) else 0.0,
        gating_accuracy=float(np.mean(b == g)),
        crossing_error_ms=1e3 * float(np.mean(errs)) if errs else float("nan"),
        gating_error_ms=1e3 * mis / len(gi) if len(gi) else float("nan"),
        n_samples=int(valid.sum()),
        latency_steps=k,
    )
    return res, beam, ideal


def gating_curve(
    times_s: np.ndarray,
    position_mm: np.ndarray,
    planned_mm: float | Sequence[float],
    windows_mm: Sequence[float],
    latency_ms: float,
    **kwargs: object,
) -> list[GatingResult]:
    """:func:`simulate_gating` for each window size (same options)."""
    return [
        simulate_gating(times_s, position_mm, planned_mm, w, latency_ms, **kwargs)[0]  # type: ignore[arg-type]
        for w in windows_mm
    ]


def draw_duty_vs_residual(
    axes: Any, curves: dict[str, list[GatingResult]], windows_mm: Sequence[float],
    title: str = "windows",
) -> None:
    """Draw duty cycle (%) against the residual motion while the beam is on (mean on ``axes[0]``,
    95th percentile on ``axes[1]``, mm), one line per method, on two matplotlib axes."""
    for name, rows in curves.items():
        duty = [100 * r.duty_cycle for r in rows]
        axes[0].plot([r.residual_mean_mm for r in rows], duty, "o-", label=name)
        axes[1].plot([r.residual_p95_mm for r in rows], duty, "o-", label=name)
    for ax, what in zip(axes, ("mean", "95th percentile"), strict=True):
        ax.set_xlabel(f"residual motion while beam on, {what} (mm)")
        ax.set_ylabel("duty cycle (%)")
        ax.grid(alpha=0.3)
    axes[0].set_title(f"{title} {min(windows_mm):g}-{max(windows_mm):g} mm")
    axes[1].legend(fontsize=8)


def plot_gating_curves(
    curves: dict[str, list[GatingResult]], windows_mm: Sequence[float], path: str | Path
) -> Path:
    """Duty cycle vs residual motion (mean and p95 while the beam is on) for each method; PNG.

    Written atomically (:func:`motionpredict.io.atomic.atomic_path`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from motionpredict.io.atomic import atomic_path

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    draw_duty_vs_residual(axes, curves, windows_mm)
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return out
