"""``motionpredict target PATH --horizon 0.5s``: the tumour's predicted position and contour,
prediction intervals and a gating simulation (docs/target.md).

The target is a label image (``--label``), the sidecar's ``roi`` box, or, with ``--phantom``, the
cine phantom's exact tumour. The online pipeline runs over every frame after the training window;
each predicted field moves the target to its predicted place ``h`` frames ahead, each acquired
frame's field to its actual place. Written in ``--out``: ``target.csv`` (per frame: centroids in
mm, Dice, HD95, MASD, centroid distance, interval radius, coverage, beam states),
``metrics.json`` (summary, coverage, gating per window), ``centroid.png``, ``gating.png`` and
``report.html`` (``--pdf``: also ``report.pdf``; ``--no-report``: neither), see
:mod:`motionpredict.report.target`.
The beam latency is the forecast horizon (the forecast is what the latency needs).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``target`` sub-command."""
    from motionpredict.cli.predict import DEFAULT_METHOD, param_arg

    p = subparsers.add_parser(
        "target",
        help="predicted target contour and centroid (mm), prediction intervals and gating",
        description=(
            "Move a target mask drawn on the reference frame with every predicted and every "
            "acquired displacement field; report the per-frame centroid (mm), Dice, HD95 and "
            "centroid errors, online conformal intervals of the centroid with their coverage, "
            "and a gating simulation (duty cycle, residual motion in mm) for several windows."
        ),
    )
    p.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=None,
        metavar="PATH",
        help="cine/4D DICOM folder or image file (omit with --phantom)",
    )
    p.add_argument(
        "--phantom",
        action="store_true",
        help="use a generated cine phantom and its exact tumour as the target",
    )
    p.add_argument("--seed", type=int, default=0, help="phantom and forecaster seed")
    p.add_argument("--frames", type=int, default=160, help="phantom frames (default 160)")
    p.add_argument(
        "--label",
        type=Path,
        default=None,
        help="target label image on the reference frame (default: the sidecar roi)",
    )
    p.add_argument(
        "--label-value",
        type=int,
        default=None,
        help="label value of the target (default: every non-zero voxel)",
    )
    p.add_argument(
        "--method", default=DEFAULT_METHOD, help=f"forecaster (default {DEFAULT_METHOD})"
    )
    p.add_argument(
        "--param",
        type=param_arg,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="forecaster hyper-parameter (repeatable)",
    )
    p.add_argument(
        "--horizon", required=True, help="forecast horizon = beam latency: 0.5s, 500ms or 2steps"
    )
    p.add_argument(
        "--round-horizon",
        action="store_true",
        help="round the horizon to a whole number of frame periods",
    )
    p.add_argument(
        "--train-frames",
        type=int,
        default=None,
        help="frames used to fit the PCA model (default: sidecar split, else 45%%)",
    )
    p.add_argument(
        "--frame-period",
        type=float,
        default=None,
        metavar="S",
        help="frame period in s when the files do not give it",
    )
    p.add_argument(
        "--spacing",
        type=float,
        nargs="+",
        default=None,
        metavar="MM",
        help="pixel spacing in mm when the files do not give it",
    )
    p.add_argument("--dataset", default=None, help="dataset card to apply")
    p.add_argument("--alpha", type=float, default=0.1, help="interval miss rate (default 0.1)")
    p.add_argument("--gamma", type=float, default=0.005, help="ACI step size (default 0.005)")
    p.add_argument(
        "--windows",
        type=float,
        nargs="+",
        default=[1.0, 2.0, 3.0, 4.0, 6.0],
        metavar="MM",
        help="gating windows around the planned position, mm",
    )
    p.add_argument(
        "--planned",
        type=float,
        nargs="+",
        default=None,
        metavar="MM",
        help="planned target centroid, mm, array-axis order (default: reference frame)",
    )
    p.add_argument(
        "--slicer-cinetrack",
        action="store_true",
        help="also write OUT/slicercinetrack/ (frames, segmentation, predicted and actual "
        "X,Y,Z transforms in LPS mm) to replay the target in 3D Slicer",
    )
    p.add_argument(
        "--write-trackrad",
        action="store_true",
        help="with --phantom: also write the phantom as a TrackRAD2025 case in "
        "OUT/trackrad/<case> (labels from its exact tumour)",
    )
    p.add_argument("--out", type=Path, default=None, help="output folder (default ./target-<name>)")
    p.add_argument("--pdf", action="store_true", help="also write report.pdf")
    p.add_argument("--no-report", action="store_true", help="skip the report")
    p.set_defaults(func=run)
    return p


def _load(args: argparse.Namespace) -> tuple[Any, np.ndarray, str, np.ndarray | None]:
    """``(sequence, target mask, name, per-frame reference labels or None)``."""
    from motionpredict.io import load
    from motionpredict.sequences import ImageSequence
    from motionpredict.target import (
        mask_from_label,
        mask_from_sidecar,
        phantom_labels,
        read_trackrad_case,
    )

    if args.phantom:
        if args.path is not None:
            raise ConfigurationError("give either PATH or --phantom, not both")
        if args.frames < 20:
            raise ConfigurationError(f"--frames must be at least 20, got {args.frames}")
        from motionpredict.phantom import make_cine

        ph = make_cine(seed=args.seed, n_frames=args.frames)
        labels = phantom_labels(ph.tumour_mask, ph.true_fields.fields, ph.sequence.spacing)
        return ph.sequence, ph.tumour_mask, f"phantom-{args.seed}", labels
    if args.path is None:
        raise ConfigurationError("give PATH (a cine or 4D series) or --phantom")
    root = Path(args.path)
    if (root / "images" / f"{root.name}_frames.mha").is_file():  # a TrackRAD2025 case
        case = read_trackrad_case(root)
        mask = case.first_label
        if args.label is not None:
            mask = mask_from_label(args.label, tuple(case.sequence.shape), label=args.label_value)
        return case.sequence, mask, case.case_id, case.labels
    kw: dict[str, Any] = {"dataset": args.dataset}
    if args.frame_period is not None:
        kw["frame_period_s"] = args.frame_period
    if args.spacing is not None:
        kw["spacing_mm"] = tuple(args.spacing) if len(args.spacing) > 1 else args.spacing[0]
    data = load(args.path, **kw)
    if not isinstance(data, ImageSequence):
        raise ConfigurationError(f"{args.path}: target tracking needs images, not marker positions")
    shape = tuple(data.shape)
    if args.label is not None:
        mask = mask_from_label(args.label, shape, label=args.label_value)
    else:
        mask = mask_from_sidecar(args.path, shape)
    return data, mask, Path(args.path).name, None


def _column(text: str) -> str:
    """A CSV column name: lower-case letters, digits and ``_``."""
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def _plot_centroid(track: Any, lo: np.ndarray, hi: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from motionpredict.io.atomic import atomic_path

    nd = track.actual_centroid_mm.shape[1]
    fig, axes = plt.subplots(nd, 1, figsize=(9, 2.6 * nd), sharex=True, constrained_layout=True)
    axes = np.atleast_1d(axes)
    for j, ax in enumerate(axes):
        t = track.times_s
        ax.fill_between(t, lo[:, j], hi[:, j], color="C1", alpha=0.2, label="90 % interval")
        ax.plot(t, track.actual_centroid_mm[:, j], "k-", lw=1, label="actual")
        ax.plot(t, track.predicted_centroid_mm[:, j], "C1-", lw=1, label="predicted")
        ax.set_ylabel(f"centroid axis {j} (mm)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[-1].set_xlabel("time (s)")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _no_prediction(track: Any, h: int) -> dict[str, Any]:
    """Errors of no prediction: the actual target of frame ``t - h`` used for frame ``t``.

    Returns ``{"summary": {mean_<metric>, p95_centroid_distance_mm}, "centroid_distance_mm":
    (T,) with NaN where frame t - h was not tracked}``.
    """
    from motionpredict.target import METRIC_NAMES, overlap_metrics

    pos = {int(t): i for i, t in enumerate(track.targets)}
    n = len(track.targets)
    per = {k: np.full(n, np.nan) for k in METRIC_NAMES}
    for i, t in enumerate(track.targets):
        j = pos.get(int(t) - h)
        if j is None:
            continue
        if track.actual_masks is not None:
            m = overlap_metrics(track.actual_masks[j], track.actual_masks[i], track.spacing_mm)
            for k in METRIC_NAMES:
                per[k][i] = m[k]
        else:
            per["centroid_distance_mm"][i] = float(
                np.linalg.norm(track.actual_centroid_mm[j] - track.actual_centroid_mm[i])
            )
    summ: dict[str, float | None] = {}
    for k, v in per.items():
        ok = np.isfinite(v)
        summ[f"mean_{k}"] = float(np.mean(v[ok])) if ok.any() else None
    cd = per["centroid_distance_mm"]
    ok = np.isfinite(cd)
    summ["p95_centroid_distance_mm"] = float(np.percentile(cd[ok], 95)) if ok.any() else None
    summ["n_frames"] = float(ok.sum())
    return {"summary": summ, "centroid_distance_mm": cd}


def _report(
    out: Path,
    name: str,
    data: Any,
    track: Any,
    summary: dict[str, Any],
    radius: np.ndarray,
    nopred: dict[str, Any],
    curves: dict[str, list[Any]],
    windows: list[float],
    pdf: bool,
) -> None:
    """report.html (and report.pdf): the frame drawn is the one with the largest actual
    displacement of the target from the reference."""
    from motionpredict import __version__
    from motionpredict.report.target import TargetReportData, build_target_report

    disp = np.linalg.norm(track.actual_centroid_mm - track.reference_centroid_mm, axis=1)
    i = int(np.argmax(disp))
    d = TargetReportData(
        name=name,
        version=__version__,
        summary=summary,
        times_s=track.times_s,
        actual_mm=track.actual_centroid_mm,
        predicted_mm=track.predicted_centroid_mm,
        radius_mm=radius,
        errors={
            "centroid_distance_mm": track.metrics["centroid_distance_mm"],
            "dice": track.metrics["dice"],
            "hd95_mm": track.metrics["hd95_mm"],
            "no_prediction_centroid_distance_mm": nopred["centroid_distance_mm"],
        },
        curves=curves,
        windows_mm=windows,
        frame=np.asarray(data.frames[int(track.targets[i])]),
        frame_index=int(track.targets[i]) + 1,
        predicted_mask=None if track.predicted_masks is None else track.predicted_masks[i],
        actual_mask=None if track.actual_masks is None else track.actual_masks[i],
    )
    build_target_report(out, d, pdf=pdf)


def run(args: argparse.Namespace) -> int:
    """Track the target, compute the intervals and simulate gating."""
    from motionpredict.io.atomic import atomic_path, stage_output
    from motionpredict.pipeline import OnlineFramePipeline, parse_horizon
    from motionpredict.target import (
        conformal_series,
        plot_gating_curves,
        score_against_labels,
        simulate_gating,
        track_pipeline,
    )

    if args.write_trackrad and not args.phantom:
        raise ConfigurationError("--write-trackrad writes the phantom: use it with --phantom")
    if any(w <= 0 for w in args.windows):
        raise ConfigurationError("--windows must be positive (mm)")
    data, mask, name, labels = _load(args)
    seconds, steps = parse_horizon(args.horizon)
    horizon_s = seconds if seconds is not None else float(steps or 0) * data.frame_period
    out_final = args.out or Path(f"target-{name}")
    pipe = OnlineFramePipeline(
        data,
        method=args.method,
        horizon_s=horizon_s,
        train_frames=args.train_frames,
        seed=args.seed,
        method_params=dict(args.param),
        round_horizon=args.round_horizon,
    )
    track = track_pipeline(pipe, mask, keep_masks=True)
    h = pipe.horizon_steps
    n = data.n_frames
    nd = mask.ndim
    first = int(track.targets[0])
    truth = np.zeros((n, nd))
    pred = np.full((n, nd), np.nan)
    truth[:first] = track.actual_centroid_mm[0]
    truth[track.targets] = track.actual_centroid_mm
    pred[track.targets] = track.predicted_centroid_mm
    iv = conformal_series(
        truth, pred, h, start=first, alpha=args.alpha, gamma=args.gamma, min_scores=10
    )
    radius = np.where(iv.ready, iv.widths_mm[:, 0], np.nan)[track.targets]
    covered = iv.covered[track.targets, 0]
    planned = (
        np.asarray(args.planned, dtype=np.float64)
        if args.planned is not None
        else track.reference_centroid_mm
    )
    if planned.shape != (nd,):
        raise ConfigurationError(f"--planned needs {nd} values (mm, array-axis order)")
    t = track.times_s
    x = track.actual_centroid_mm
    fc = track.predicted_centroid_mm
    methods = {
        "no prediction": {},
        args.method: {"forecast_mm": fc},
        f"{args.method} + interval inside": {"forecast_mm": fc, "interval_mm": radius},
    }
    gating: dict[str, list[dict[str, float]]] = {}
    curves: dict[str, list[Any]] = {}
    beams: dict[str, np.ndarray] = {}
    latency_ms = 1e3 * h * data.frame_period
    for label, kw in methods.items():
        rows = []
        for w in args.windows:
            res, beam, _ = simulate_gating(t, x, planned, w, latency_ms, **kw)  # type: ignore[arg-type]
            rows.append(res)
            if w == args.windows[0]:
                beams[label] = beam
        curves[label] = rows
        gating[label] = [
            r.to_dict() | {"window_mm": w} for r, w in zip(rows, args.windows, strict=True)
        ]

    out = stage_output(out_final, force=getattr(args, "force", False))
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "target.csv") as tmp, tmp.open("w", newline="") as fh:
        wr = csv.writer(fh)
        axes = range(nd)
        wr.writerow(
            ["frame", "time_s"]
            + [f"actual_c{j}_mm" for j in axes]
            + [f"predicted_c{j}_mm" for j in axes]
            + [
                "dice",
                "hd95_mm",
                "masd_mm",
                "centroid_distance_mm",
                "interval_radius_mm",
                "covered",
            ]
            + [_column(f"beam {k}") for k in beams]
        )
        for i, idx in enumerate(track.targets):
            wr.writerow(
                [int(idx) + 1, f"{t[i]:.4f}"]
                + [f"{v:.4f}" for v in x[i]]
                + [f"{v:.4f}" for v in fc[i]]
                + [
                    f"{track.metrics[k][i]:.4f}"
                    for k in ("dice", "hd95_mm", "masd_mm", "centroid_distance_mm")
                ]
                + [
                    f"{radius[i]:.4f}" if np.isfinite(radius[i]) else "",
                    int(covered[i]) if np.isfinite(radius[i]) else "",
                ]
                + [int(b[i]) for b in beams.values()]
            )
    nopred = _no_prediction(track, h)
    summary: dict[str, Any] = {
        "settings": pipe.settings()
        | {
            "alpha": args.alpha,
            "gamma": args.gamma,
            "latency_ms": latency_ms,
            "planned_mm": planned.tolist(),
            "spacing_mm": list(track.spacing_mm),
            "reference_centroid_mm": track.reference_centroid_mm.tolist(),
        },
        "target": track.summary(),
        "no_prediction": nopred["summary"],
        "interval": {
            "coverage": iv.coverage(),
            "mean_radius_mm": iv.mean_width(),
            "nominal": 1 - args.alpha,
            "ready_frames": int(iv.ready.sum()),
        },
        "gating": gating,
        "against_labels": (score_against_labels(track, labels) if labels is not None else None),
    }
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    lo = fc - np.nan_to_num(radius, nan=0.0)[:, None]
    hi = fc + np.nan_to_num(radius, nan=0.0)[:, None]
    _plot_centroid(track, lo, hi, out / "centroid.png")
    if args.slicer_cinetrack:
        from motionpredict.target.slicer import write_slicer_cinetrack

        write_slicer_cinetrack(out / "slicercinetrack", data.frames, data.spacing, mask, track)
    if args.write_trackrad:
        from motionpredict.target import write_trackrad_case

        write_trackrad_case(out / "trackrad" / name, data, mask, labels)
    plot_gating_curves(curves, args.windows, out / "gating.png")
    if not args.no_report:
        _report(out, name, data, track, summary, radius, nopred, curves, args.windows, args.pdf)
    s = summary["target"]
    print(
        f"target: {len(track.targets)} frames, {h} frame(s) ahead; mean Dice {s['mean_dice']:.3f}, "
        f"HD95 {s['mean_hd95_mm']:.2f} mm, centroid error {s['mean_centroid_distance_mm']:.2f} mm; "
        f"interval coverage {100 * iv.coverage():.1f} % (nominal {100 * (1 - args.alpha):.0f} %), "
        f"mean radius {iv.mean_width():.2f} mm; wrote {out}"
    )
    return 0
