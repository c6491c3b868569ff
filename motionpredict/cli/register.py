"""``motionpredict register PATH --out DIR``: register every frame to a reference frame.

Writes ``fields.mha`` (displacement fields in mm, LPS, MHA vector image with time last),
``quality.csv`` (per-frame registration RMSE, whole grid and ROI, and the ``made_worse`` flag)
and ``registration.json`` (method, parameters and where they came from, timings, tuning table,
displacement cap and capped voxels, frames made worse) into DIR.

Lucas-Kanade parameters, first match wins: ``--lk-params`` and the single options; the
``reference_lk_parameters`` of a ``sequence.json`` beside the data, with one more iteration per
level (:meth:`LKParams.robust_from_mapping`); otherwise a quick grid search
on the training frames (:data:`QUICK_GRID`; ``--no-tune`` takes the :class:`LKParams` defaults,
``--tune`` the full reference grid). Intensity normalisation (``--intensity meanstd``) and the
plausible-range cap (``--max-displacement-mm``, 40 mm) are on by default.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError, InputFileError

LK_OPTIONS = ("sigma_init", "sigma_subsample", "sigma_lk", "levels", "iterations", "gradient")

#: Grid searched on the training frames when neither options nor a sidecar give the parameters
#: (12 combinations on at most ``QUICK_MAX_FRAMES`` frames; the other fields keep the defaults).
QUICK_GRID: dict[str, tuple[Any, ...]] = {
    "sigma_lk": (2.0, 3.0, 4.0),
    "levels": (2, 4),
    "fill_sigma": (0.0, 6.0),
}
QUICK_MAX_FRAMES = 8


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
    g.add_argument("--backend", choices=("numpy", "fast", "torch"), default="numpy")
    g.add_argument("--propagate", action="store_true",
                   help="start each frame from its neighbour's field (faster)")
    g.add_argument("--intensity", choices=("meanstd", "none"), default="meanstd",
                   help="intensity normalisation of each frame to the reference (default "
                   "meanstd: global brightness/contrast changes are not taken for motion; "
                   "none: the reference implementation)")
    g.add_argument("--tune", action="store_true",
                   help="choose the LK parameters by grid search (the full reference grid) on "
                   "the training frames")
    g.add_argument("--no-tune", action="store_true",
                   help="without options or sidecar, take the LKParams defaults instead of the "
                   "quick grid search on the training frames")
    g.add_argument("--train", metavar="FIRST:LAST",
                   help="training frames for --tune, 1-based inclusive (default: all)")
    g.add_argument("--tune-max-frames", type=int, metavar="N",
                   help="score at most N evenly spread training frames per grid point")
    p.add_argument("--dis-preset", choices=("ultrafast", "fast", "medium"), default="medium")
    p.add_argument("--max-displacement-mm", type=float, default=40.0, metavar="MM",
                   help="plausible-range cap: displacements longer than MM are replaced by "
                   "their neighbourhood's and counted (default 40 mm; 0 switches it off)")
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
    """Parameters from ``--lk-params`` and the single options (``None`` when none is given)."""
    from motionpredict.registration import LKParams

    values: dict[str, Any] = {}
    given = False
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
        given = True
    for name in LK_OPTIONS:
        value = getattr(args, name)
        if value is not None:
            values[name] = value
            given = True
    if not given:
        return None
    values["intensity"] = args.intensity
    return LKParams(**values)


def _format_params(params: Any) -> str:
    """One line of the LK parameters a user can set."""
    d = params.as_dict()
    keys = ("sigma_init", "sigma_subsample", "sigma_lk", "levels", "iterations", "gradient",
            "fill_sigma", "min_eigenvalue", "intensity")
    return ", ".join(f"{k}={d[k]}" for k in keys)


def run(args: argparse.Namespace) -> int:
    """Load, (tune,) register, write fields, quality table and summary."""
    from motionpredict.io import load, write_fields
    from motionpredict.io.atomic import atomic_path, stage_output
    from motionpredict.registration import quality_report, register_sequence, roi_from_bounds
    from motionpredict.registration.tuning import tune_lk
    from motionpredict.sequences import ImageSequence

    # built in a hidden folder beside --out, moved into place when complete (cli/main.py)
    out = stage_output(Path(args.out), force=getattr(args, "force", False))
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
        from motionpredict.evaluation.protocol import read_sidecar
        from motionpredict.registration import LKParams

        params = _lk_params(args)
        source = "options"
        meta = read_sidecar(args.path) if params is None else None
        train = None
        if args.train:
            (first, last), = _parse_ranges(args.train, "--train")
            if not 1 <= first <= last <= seq.n_frames:
                raise ConfigurationError(f"--train {args.train} outside 1..{seq.n_frames}")
            train = list(range(first - 1, last))
        if params is None and meta and isinstance(meta.get("reference_lk_parameters"), dict):
            try:
                params = LKParams.robust_from_mapping(meta["reference_lk_parameters"],
                                                      intensity=args.intensity)
            except ConfigurationError as exc:
                raise InputFileError(args.path, f"sequence.json: {exc}") from None
            source = ("sidecar (sequence.json reference_lk_parameters, one more iteration "
                      "per level)")
        if train is None and meta:
            split = (meta.get("splits") or {}).get("online_methods") or {}
            tr = split.get("train") if isinstance(split, dict) else None
            if isinstance(tr, list) and len(tr) == 2 and 1 <= int(tr[0]) <= int(tr[1]):
                train = list(range(int(tr[0]) - 1, min(int(tr[1]), seq.n_frames)))
        quick = params is None and not args.no_tune and not args.tune and seq.n_frames > 1
        if params is None:
            params = LKParams(intensity=args.intensity)
            source = "defaults"
        if args.tune or quick:
            result = tune_lk(seq, reference=ref, train=train, roi=roi, base=params,
                             grid=None if args.tune else QUICK_GRID,
                             max_frames=args.tune_max_frames or (None if args.tune
                                                                 else QUICK_MAX_FRAMES),
                             backend=args.backend, progress=True)
            params = result.best
            frames = f"{result.frames[0] + 1}-{result.frames[-1] + 1}"
            source = (f"tuned on {len(result.frames)} training frames ({frames}), "
                      f"{'full' if args.tune else 'quick'} grid of {len(result.table)}")
            summary["tuning"] = {"best_rmse": result.best_rmse, "frames": result.frames,
                                 "table": [{**row, "rmse": s} for row, s in result.table]}
        summary["lk_params"] = params.as_dict()
        summary["lk_params_source"] = source
        summary["backend"] = args.backend
        print(f"Lucas-Kanade parameters ({source}): {_format_params(params)}")
    else:
        if lk_given or args.tune:
            raise ConfigurationError(f"Lucas-Kanade options do not apply to --method {args.method}")
        if args.method == "dis":
            options["preset"] = args.dis_preset
    cap = args.max_displacement_mm if args.max_displacement_mm > 0 else None
    fields = register_sequence(seq, method=args.method, reference=ref, params=params,
                               backend=args.backend, propagate=args.propagate, progress=True,
                               max_displacement_mm=cap, **options)
    out.mkdir(parents=True, exist_ok=True)
    write_fields(fields, out / "fields.mha")
    report = quality_report(seq, fields, roi=roi)
    report.write_csv(out / "quality.csv")
    reg = fields.provenance.extra["registration"]
    times = np.asarray(reg["frame_time_s"])
    capped = np.asarray(reg["capped_voxels"])
    worse = [int(t) + 1 for t in np.flatnonzero(report.made_worse)]
    summary.update({"propagate": bool(args.propagate),
                    "mean_frame_time_ms": float(1e3 * times[times > 0].mean()) if
                    (times > 0).any() else 0.0,
                    "max_displacement_mm": cap,
                    "capped_voxels": capped.tolist(),
                    "frames_made_worse": worse,
                    "quality": report.summary()})
    with atomic_path(out / "registration.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    q = report.summary()
    line = (f"registered {seq.n_frames} frames to frame {args.reference} ({args.method}): "
            f"RMSE {q['rmse_identity']:.4g} -> {q['rmse_registered']:.4g}")
    if "rmse_registered_roi" in q:
        line += f", ROI {q['rmse_identity_roi']:.4g} -> {q['rmse_registered_roi']:.4g}"
    print(f"{line}; {summary['mean_frame_time_ms']:.1f} ms/frame; wrote {out}")
    if cap is not None:
        print(f"displacements beyond {cap:g} mm: {int(capped.sum())} voxels in "
              f"{int((capped > 0).sum())} frame(s), replaced by their neighbourhood's")
    shown = ", ".join(map(str, worse[:20])) + (" ..." if len(worse) > 20 else "")
    print(f"frames made worse by the registration (registered RMSE above unregistered): "
          f"{len(worse)}" + (f" ({shown})" if worse else ""))
    return 0
