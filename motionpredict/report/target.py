"""The target report of ``motionpredict target``: the answer first (centroid error in mm against no
prediction, Dice, HD95, interval coverage against nominal, gating), then the centroid traces with
the interval band, the per-frame errors, the gating curves and one frame with the predicted and the
actual contours. Same HTML/PDF renderers as the evaluation reports
(:mod:`motionpredict.report.html`, :mod:`motionpredict.report.pdf`); de-identified (only the
sequence name is shown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from motionpredict.report.content import Table
from motionpredict.report.figures import A4_LANDSCAPE
from motionpredict.target.gating import draw_duty_vs_residual


def axis_names(ndim: int) -> list[str]:
    """Names of the array axes of a target centroid: for a 2D cine ``rows (SI on a sagittal
    cine)`` and ``columns (AP)``; for a volume ``axis 0..2``."""
    if ndim == 2:
        return ["rows (SI on a sagittal cine)", "columns (AP on a sagittal cine)"]
    return [f"axis {j}" for j in range(ndim)]


@dataclass
class TargetReportData:
    """Everything the target report shows.

    Attributes
    ----------
    name
        Sequence name (no patient data).
    version
        motionpredict version.
    summary
        The ``metrics.json`` dictionary of ``motionpredict target``.
    times_s
        ``(T,)`` times of the scored frames, s.
    actual_mm, predicted_mm
        ``(T, ndim)`` actual and predicted target centroids, mm.
    radius_mm
        ``(T,)`` interval radius, mm (NaN before the interval is ready).
    errors
        ``{name: (T,)}`` per-frame errors of the prediction (``centroid_distance_mm``, ``dice``,
        ``hd95_mm``) and ``no_prediction_centroid_distance_mm`` (NaN where undefined).
    curves
        ``{method: [GatingResult per window]}``.
    windows_mm
        Gating windows, mm.
    frame
        ``(*spatial)`` image of the frame drawn with its contours, or None.
    frame_index
        1-based number of that frame.
    predicted_mask, actual_mask
        ``(*spatial)`` boolean masks of that frame.
    """

    name: str
    version: str
    summary: dict[str, Any]
    times_s: np.ndarray
    actual_mm: np.ndarray
    predicted_mm: np.ndarray
    radius_mm: np.ndarray
    errors: dict[str, np.ndarray]
    curves: dict[str, list[Any]]
    windows_mm: Sequence[float]
    frame: np.ndarray | None = None
    frame_index: int = 0
    predicted_mask: np.ndarray | None = None
    actual_mask: np.ndarray | None = None


def _f(v: Any, fmt: str = ".2f") -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "-"
    return format(x, fmt) if np.isfinite(x) else "-"


def statement(d: TargetReportData) -> str:
    """One paragraph: the answer in words."""
    s = d.summary
    tg, iv = s["target"], s["interval"]
    nop = s.get("no_prediction", {})
    h_ms = s["settings"].get("latency_ms", float("nan"))
    return (
        f"Target of {d.name}: {int(tg['n_frames'])} frames forecast {_f(h_ms, '.0f')} ms ahead "
        f"with {s['settings'].get('method', '?')}. Mean centroid error "
        f"{_f(tg['mean_centroid_distance_mm'])} mm (no prediction "
        f"{_f(nop.get('mean_centroid_distance_mm'))} mm); Dice {_f(tg['mean_dice'], '.3f')}, "
        f"HD95 {_f(tg['mean_hd95_mm'])} mm. Interval coverage {_f(100 * iv['coverage'], '.1f')} % "
        f"(nominal {_f(100 * iv['nominal'], '.0f')} %), mean radius {_f(iv['mean_radius_mm'])} mm."
    )


def answer_tables(d: TargetReportData) -> list[Table]:
    """The answer: target errors against no prediction, the interval, and gating per method."""
    s = d.summary
    tg, iv = s["target"], s["interval"]
    nop = s.get("no_prediction", {})
    err = Table(
        "Target error of the forecast vs no prediction (mean over frames; p95 in brackets)",
        ["", "centroid error (mm)", "Dice", "HD95 (mm)", "MASD (mm)"],
        [
            [
                str(s["settings"].get("method", "forecast")),
                f"{_f(tg['mean_centroid_distance_mm'])} ({_f(tg['p95_centroid_distance_mm'])})",
                _f(tg["mean_dice"], ".3f"),
                _f(tg["mean_hd95_mm"]),
                _f(tg["mean_masd_mm"]),
            ],
            [
                "no prediction (target of h frames earlier)",
                f"{_f(nop.get('mean_centroid_distance_mm'))} "
                f"({_f(nop.get('p95_centroid_distance_mm'))})",
                _f(nop.get("mean_dice"), ".3f"),
                _f(nop.get("mean_hd95_mm")),
                _f(nop.get("mean_masd_mm")),
            ],
        ],
        note="Errors of the predicted against the actual target (the reference mask moved by the "
        "acquired frame's own field). No prediction: the actual target of the frame the forecast "
        "was issued at.",
    )
    ivt = Table(
        "Prediction interval of the centroid (online adaptive conformal inference)",
        ["nominal coverage", "empirical coverage", "mean radius (mm)", "frames with an interval"],
        [
            [
                f"{_f(100 * iv['nominal'], '.0f')} %",
                f"{_f(100 * iv['coverage'], '.1f')} %",
                _f(iv["mean_radius_mm"]),
                str(iv["ready_frames"]),
            ]
        ],
        note="Covered: the actual centroid lies within the radius of the predicted one; scored "
        "causally, each interval issued before its frame is acquired.",
    )
    rows = []
    for method, per in s["gating"].items():
        for g in per:
            rows.append(
                [
                    method,
                    _f(g["window_mm"], "g"),
                    f"{_f(100 * g['duty_cycle'], '.1f')} %",
                    _f(g["residual_mean_mm"]),
                    _f(g["residual_p95_mm"]),
                    f"{_f(100 * g['gating_accuracy'], '.1f')} %",
                    _f(g["gating_error_ms"], ".0f"),
                    _f(g["crossing_error_ms"], ".0f"),
                ]
            )
    gat = Table(
        f"Gating with a beam latency of {_f(s['settings'].get('latency_ms'), '.0f')} ms",
        [
            "beam decided by",
            "window (mm)",
            "duty cycle",
            "residual mean (mm)",
            "residual p95 (mm)",
            "gating accuracy",
            "gating error (ms)",
            "crossing error (ms)",
        ],
        rows,
        note="Residual: distance of the actual target from the planned position while the beam is "
        "on. Gating accuracy, gating error and crossing error as in Sun et al., Radiat. Oncol. "
        "18:149 (2023). '+ interval inside': the beam is on only when the whole interval lies in "
        "the window.",
    )
    return [err, ivt, gat]


def centroid_figure(d: TargetReportData) -> Figure:
    """Predicted vs actual centroid displacement from the reference (mm) over time with the
    interval band, one panel per axis."""
    nd = d.actual_mm.shape[1]
    ref = np.asarray(d.summary["settings"].get("reference_centroid_mm", d.actual_mm[0]))
    fig = Figure(figsize=(A4_LANDSCAPE[0], min(2.4 * nd + 0.6, A4_LANDSCAPE[1])),
                 layout="constrained")
    axes = np.atleast_1d(np.asarray(fig.subplots(nd, 1, sharex=True), dtype=object))
    r = np.nan_to_num(d.radius_mm, nan=0.0)
    names = axis_names(nd)
    for j, ax in enumerate(axes):
        p = d.predicted_mm[:, j] - ref[j]
        ax.fill_between(d.times_s, p - r, p + r, color="C1", alpha=0.25,
                        label=f"{_f(100 * d.summary['interval']['nominal'], '.0f')} % interval")
        ax.plot(d.times_s, d.actual_mm[:, j] - ref[j], "k-", lw=1, label="actual")
        ax.plot(d.times_s, p, "C1-", lw=1, label="predicted")
        ax.set_ylabel(f"{names[j]}\ndisplacement (mm)", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, ncol=3, loc="upper right")
    axes[0].set_title("Target centroid: predicted vs actual")
    axes[-1].set_xlabel("time (s)")
    return fig


def error_figure(d: TargetReportData) -> Figure:
    """Per-frame centroid error (forecast and no prediction, mm), Dice and HD95 (mm)."""
    fig = Figure(figsize=(A4_LANDSCAPE[0], 6.0), layout="constrained")
    a0, a1, a2 = fig.subplots(3, 1, sharex=True)
    t = d.times_s
    a0.plot(t, d.errors["no_prediction_centroid_distance_mm"], color="0.6", lw=1,
            label="no prediction")
    a0.plot(t, d.errors["centroid_distance_mm"], "C0-", lw=1, label="forecast")
    a0.plot(t, d.radius_mm, "C1--", lw=1, label="interval radius")
    a0.set_ylabel("centroid error (mm)")
    a0.legend(fontsize=8, ncol=3, loc="upper right")
    a1.plot(t, d.errors["dice"], "C0-", lw=1)
    a1.set_ylabel("Dice")
    a2.plot(t, d.errors["hd95_mm"], "C0-", lw=1)
    a2.set_ylabel("HD95 (mm)")
    a2.set_xlabel("time (s)")
    for ax in (a0, a1, a2):
        ax.grid(alpha=0.3)
    a0.set_title("Per-frame target error")
    return fig


def gating_figure(d: TargetReportData) -> Figure:
    """Duty cycle vs residual motion (mean and p95 while the beam is on), one line per method,
    one point per window."""
    fig = Figure(figsize=(A4_LANDSCAPE[0], 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    draw_duty_vs_residual(axes, d.curves, d.windows_mm, title="Gating, windows")
    return fig


def _slice2d(a: np.ndarray, index: int | None) -> np.ndarray:
    return a if a.ndim == 2 else a[index if index is not None else a.shape[0] // 2]


def contour_figure(d: TargetReportData) -> Figure | None:
    """The frame with the predicted (orange) and actual (black) target contours; for a volume,
    the slice along axis 0 through the actual centroid."""
    if d.frame is None or d.predicted_mask is None or d.actual_mask is None:
        return None
    am = np.asarray(d.actual_mask, bool)
    k = None
    if am.ndim == 3:
        k = round(float(np.mean(np.nonzero(am)[0]))) if am.any() else am.shape[0] // 2
    img = _slice2d(np.asarray(d.frame, float), k)
    pm = _slice2d(np.asarray(d.predicted_mask, bool), k).astype(float)
    a2 = _slice2d(am, k).astype(float)
    sp = d.summary["settings"].get("spacing_mm", [1.0] * am.ndim)[-2:]
    h, w = img.shape
    # pixel (i, j) centred at (i * sp0, j * sp1) mm, the convention of target.centroid_mm
    extent = (-0.5 * float(sp[1]), (w - 0.5) * float(sp[1]), (h - 0.5) * float(sp[0]),
              -0.5 * float(sp[0]))
    fig = Figure(figsize=(A4_LANDSCAPE[0], 6.2), layout="constrained")
    ax = fig.subplots()
    ax.imshow(img, cmap="gray", extent=extent, interpolation="nearest")
    ys = np.arange(h) * float(sp[0])
    xs = np.arange(w) * float(sp[1])
    if a2.any():
        ax.contour(xs, ys, a2, levels=[0.5], colors="lime", linewidths=1.5)
    if pm.any():
        ax.contour(xs, ys, pm, levels=[0.5], colors="orange", linewidths=1.5, linestyles="--")
    both = np.nonzero((a2 > 0) | (pm > 0))
    if both[0].size:  # zoom on the target: its box with a margin of its size (at least 20 mm)
        r0, r1 = both[0].min() * float(sp[0]), (both[0].max() + 1) * float(sp[0])
        c0, c1 = both[1].min() * float(sp[1]), (both[1].max() + 1) * float(sp[1])
        m = max(r1 - r0, c1 - c0, 20.0)
        ax.set_xlim(max(c0 - m, extent[0]), min(c1 + m, extent[1]))
        ax.set_ylim(min(r1 + m, extent[2]), max(r0 - m, extent[3]))
    ax.plot([], [], color="lime", label="actual")
    ax.plot([], [], color="orange", ls="--", label="predicted")
    ax.legend(fontsize=8, loc="upper right")
    where = "" if k is None else f", slice {k + 1}"
    ax.set_title(f"Frame {d.frame_index}{where}: predicted and actual target contours")
    ax.set_xlabel("mm")
    ax.set_ylabel("mm")
    return fig


def sections(d: TargetReportData) -> list[tuple[str, list[Figure | Table]]]:
    """Report sections, the answer first."""
    secs: list[tuple[str, list[Figure | Table]]] = [
        ("The answer: target error, interval coverage and gating", list(answer_tables(d))),
        ("Target centroid over time", [centroid_figure(d), error_figure(d)]),
        ("Gating curves", [gating_figure(d)]),
    ]
    cf = contour_figure(d)
    if cf is not None:
        secs.append(("Contours", [cf]))
    st = d.summary["settings"]
    keys = [k for k in ("method", "horizon_s", "horizon_steps", "latency_ms", "train_frames",
                        "alpha", "gamma", "planned_mm", "spacing_mm", "frame_period_s")
            if k in st]
    secs.append(("Settings", [Table("Settings", ["setting", "value"],
                                    [[k, str(st[k])] for k in keys])]))
    return secs


def build_target_report(out_dir: str | Path, d: TargetReportData, *, pdf: bool = False
                        ) -> list[Path]:
    """Write ``report.html`` (and ``report.pdf``) of a target run into ``out_dir``.

    Returns
    -------
    list of Path
        The files written.
    """
    from motionpredict.io.atomic import atomic_path
    from motionpredict.report.html import render_html
    from motionpredict.report.pdf import render_pdf

    out = Path(out_dir)
    title = f"motionpredict target report: {d.name}"
    text = render_html(title, d.version, sections(d), has_reference=False, statement=statement(d))
    written = []
    with atomic_path(out / "report.html") as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    written.append(out / "report.html")
    if pdf:
        with atomic_path(out / "report.pdf") as tmp:
            render_pdf(Path(tmp), title, d.version, sections(d), statement(d))
        written.append(out / "report.pdf")
    return written
