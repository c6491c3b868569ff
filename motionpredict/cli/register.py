"""``motionpredict register PATH --out DIR``: register every frame to a reference frame.

Writes ``fields.mha`` (displacement fields in mm, LPS, MHA vector image with time last),
``quality.csv`` (per-frame registration RMSE, whole grid and ROI) and ``registration.json``
(method, parameters, timings, tuning table) into DIR.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError, InputFileError

LK_OPTIONS = ("sigma_init", "sigma_subsample", "sigma_lk", "levels", "iterations", "gradient")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``register`` sub-command."""
    p = subparsers.add_parser(
        "register",
        help="register every frame to a reference frame (Lucas-Kanade or a baseline)",
        description="Compute the displacement field u_t of every frame t relative to a reference "
        "frame, with I_ref(x) ~ I_t(x + u_t(x)), by pyramidal iterative Lucas-Kanade optical flow "
        "(or OpenCV DIS / Farneback, SimpleITK demons). Writes fields.mha (mm, LPS), "
        "quality.csv (registration RMSE per frame) and registration.json.",
    )
    p.add_argument("path", metavar="PATH", help="DICOM folder/file or MHA/NRRD/NIfTI sequence")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--reference", type=int, default=1, metavar="N",
                   help="reference frame, 1-based (default 1)")
    p.add_argument("--method", choices=("lk", "dis", "farneback", "demons"), default="lk")
    g = p.add_argument_group("Lucas-Kanade options (px of the level they act on)")
    g.add_argument("--lk-params", metavar="JSON",
                   help="JSON file with the LK parameters, e.g. a sequence.json whose "
                   "'reference_lk_parameters' are used; single options below override it")
    g.add_argument("--sigma-init", type=float, help="Gaussian pre-filter sigma (px)")
    g.add_argument("--sigma-subsample", type=float, help="pyramid anti-alias sigma (px)")
    g.add_argument("--sigma-lk", type=float, help="LK window (Gaussian) sigma (px)")
    g.add_argument("--levels", type=int, help="pyramid levels")
    g.add_argument("--iterations", type=int, help="iterations per level")
    g.add_argument("--gradient", choices=("central", "scharr"), help="gradient operator")
    g.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    g.add_argument("--propagate", action="store_true",
                   help="start each frame from its neighbour's field (faster)")
    g.add_argument("--tune", action="store_true",
                   help="choose the LK parameters by grid search on the training frames")
    g.add_argument("--train", metavar="FIRST:LAST",
                   help="training frames for --tune, 1-based inclusive (default: all)")
    g.add_argument("--tune-max-frames", type=int, metavar="N",
                   help="score at most N evenly spread training frames per grid point")
    p.add_argument("--dis-preset", choices=("ultrafast", "fast", "medium"), default="medium")
    p.add_argument("--roi", metavar="A1:A2,B1:B2[,C1:C2]",
                   help="region for the quality table, 1-based inclusive voxel ranges in "
                   "array-axis order (rows, columns) or (slices, rows, columns)")
    m = p.add_argument_group("metadata the files may lack")
    m.add_argument("--frame-period", type=float, metavar="S", help="frame period in s")
    m.add_argument("--spacing", type=float, nargs="+", metavar="MM",
                   help="pixel spacing in mm (one value or one per array axis)")
    m.add_argument("--dataset", metavar="NAME", help="dataset card giving period / spacing")
    p.set_defaults(func=run)
    return p


def _parse_ranges(text: str, what: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        try:
            first, last = (int(v) for v in part.split(":"))
        except ValueError:
            raise ConfigurationError(f"{what} {text!r}: expected FIRST:LAST pairs") from None
        out.append((first, last))
    return out


def _lk_params(args: argparse.Namespace) -> Any:
    from motionpredict.registration import LKParams

    values: dict[str, Any] = {}
    if args.lk_params:
        path = Path(args.lk_params)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputFileError(path, f"cannot read the LK parameters: {exc}") from None
        if isinstance(data, dict) and "reference_lk_parameters" in data:
            data = data["reference_lk_parameters"]
        if not isinstance(data, dict):
            raise InputFileError(path, "expected a JSON object of LK parameters")
        try:
            values = LKParams.from_mapping(data).as_dict()
        except ConfigurationError as exc:
            raise InputFileError(path, str(exc)) from None
    for name in LK_OPTIONS:
        value = getattr(args, name)
        if value is not None:
            values[name] = value
    return LKParams(**values)


def run(args: argparse.Namespace) -> int:
    """Load, (tune,) register, write fields, quality table and summary."""
    from motionpredict.io import load, write_fields
    from motionpredict.io.atomic import atomic_path
    from motionpredict.registration import quality_report, register_sequence, roi_from_bounds
    from motionpredict.registration.tuning import tune_lk
    from motionpredict.sequences import ImageSequence

    out = Path(args.out)
    spacing = None
    if args.spacing:
        spacing = args.spacing[0] if len(args.spacing) == 1 else tuple(args.spacing)
    seq = load(args.path, dataset=args.dataset, frame_period_s=args.frame_period,
               spacing_mm=spacing)
    if not isinstance(seq, ImageSequence):
        raise InputFileError(args.path, "holds point trajectories, not images to register")
    if not 1 <= args.reference <= seq.n_frames:
        raise ConfigurationError(f"--reference {args.reference} outside 1..{seq.n_frames}")
    ref = args.reference - 1
    roi = None
    if args.roi:
        roi = roi_from_bounds(_parse_ranges(args.roi, "--roi"), seq.shape)
    lk_given = args.lk_params or any(getattr(args, n) is not None for n in LK_OPTIONS)
    summary: dict[str, Any] = {"input": str(args.path), "method": args.method,
                               "reference_frame": args.reference, "n_frames": seq.n_frames,
                               "spacing_mm": list(seq.spacing)}
    params = None
    options: dict[str, Any] = {}
    if args.method == "lk":
        params = _lk_params(args)
        if args.tune:
            train = None
            if args.train:
                (first, last), = _parse_ranges(args.train, "--train")
                if not 1 <= first <= last <= seq.n_frames:
                    raise ConfigurationError(f"--train {args.train} outside 1..{seq.n_frames}")
                train = list(range(first - 1, last))
            result = tune_lk(seq, reference=ref, train=train, roi=roi, base=params,
                             max_frames=args.tune_max_frames, backend=args.backend,
                             progress=True)
            params = result.best
            summary["tuning"] = {"best_rmse": result.best_rmse, "frames": result.frames,
                                 "table": [{**row, "rmse": s} for row, s in result.table]}
        summary["lk_params"] = params.as_dict()
        summary["backend"] = args.backend
    else:
        if lk_given or args.tune:
            raise ConfigurationError(f"Lucas-Kanade options do not apply to --method {args.method}")
        if args.method == "dis":
            options["preset"] = args.dis_preset
    fields = register_sequence(seq, method=args.method, reference=ref, params=params,
                               backend=args.backend, propagate=args.propagate, progress=True,
                               **options)
    out.mkdir(parents=True, exist_ok=True)
    write_fields(fields, out / "fields.mha")
    report = quality_report(seq, fields, roi=roi)
    report.write_csv(out / "quality.csv")
    times = np.asarray(fields.provenance.extra["registration"]["frame_time_s"])
    summary.update({"propagate": bool(args.propagate),
                    "mean_frame_time_ms": float(1e3 * times[times > 0].mean()) if
                    (times > 0).any() else 0.0,
                    "quality": report.summary()})
    with atomic_path(out / "registration.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    q = report.summary()
    line = (f"registered {seq.n_frames} frames to frame {args.reference} ({args.method}): "
            f"RMSE {q['rmse_identity']:.4g} -> {q['rmse_registered']:.4g}")
    if "rmse_registered_roi" in q:
        line += f", ROI {q['rmse_identity_roi']:.4g} -> {q['rmse_registered_roi']:.4g}"
    print(f"{line}; {summary['mean_frame_time_ms']:.1f} ms/frame; wrote {out}")
    return 0

