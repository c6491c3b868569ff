"""``motionpredict gui [PATH]``: the desktop viewer (PySide6), or a scripted screenshot of it.

Qt is imported inside :func:`run` only, so the rest of the command line works without it.
"""

from __future__ import annotations

import argparse
from typing import Any

from motionpredict.errors import ConfigurationError, MotionPredictError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``gui`` sub-command."""
    p = subparsers.add_parser(
        "gui",
        help="open the desktop viewer (replay with predicted frames and latency budget)",
        description=(
            "Open the desktop viewer: replay a sequence as if live, with the frame predicted a "
            "horizon ahead, the check against the frame actually acquired, PCA-weight and error "
            "plots and the per-frame latency budget. With --screenshot, render the window after "
            "a real pipeline run and save it as PNG instead."
        ),
    )
    p.add_argument("path", nargs="?", help="DICOM folder, MHA/NIfTI/NRRD file or dataset folder")
    p.add_argument("--phantom", action="store_true", help="open a synthetic phantom")
    p.add_argument(
        "--phantom-kind",
        choices=("cine", "ct4d"),
        default="cine",
        help="cine (2D sagittal cine) or ct4d (3D CT volume series, orthogonal slices)",
    )
    p.add_argument("--seed", type=int, default=0, help="phantom seed (default 0)")
    p.add_argument("--phantom-frames", type=int, default=120, help="phantom frames (default 120)")
    p.add_argument(
        "--phantom-size", type=int, default=128, help="phantom frame size in px (default 128)"
    )
    p.add_argument(
        "--method",
        action="append",
        dest="methods",
        metavar="NAME",
        help="forecasting method (repeat for several; the first is shown)",
    )
    hz = p.add_mutually_exclusive_group()
    hz.add_argument("--horizon-ms", type=float, help="prediction horizon in ms")
    hz.add_argument(
        "--latency-ms",
        type=float,
        help="system latency L to compensate in ms (horizon = smallest whole frames > L)",
    )
    p.add_argument("--mode", choices=("causal", "reference"), help="learning mode")
    p.add_argument("--n-components", type=int, help="number of PCA components")
    p.add_argument("--train-frames", type=int, help="frames used to fit the motion model")
    p.add_argument(
        "--spacing-mm",
        type=float,
        nargs="+",
        metavar="MM",
        help="pixel spacing when the files lack it (array-axis order)",
    )
    p.add_argument("--frame-period-ms", type=float, help="frame period when the files lack it")
    p.add_argument("--screenshot", metavar="OUT.png", help="save a screenshot and exit")
    p.add_argument("--frame", type=int, help="frame shown in the screenshot")
    p.add_argument(
        "--size", default="1600x1000", help="screenshot window size WxH (default 1600x1000)"
    )
    p.add_argument("--field", choices=("none", "arrows", "grid"), help="field overlay")
    p.add_argument(
        "--compare", choices=("difference", "blend", "checkerboard"), help="check view mode"
    )
    p.set_defaults(func=run)
    return p


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.methods:
        out["methods"] = tuple(args.methods)
    if args.horizon_ms is not None:
        out["horizon_ms"] = args.horizon_ms
        out["system_latency_ms"] = None
    if args.latency_ms is not None:
        out["system_latency_ms"] = args.latency_ms
    if args.mode is not None:
        out["mode"] = args.mode
    if args.n_components is not None:
        out["n_components"] = args.n_components
    if args.train_frames is not None:
        out["train_frames"] = args.train_frames
    return out


def run(args: argparse.Namespace) -> int:
    """Open the viewer or write the screenshot; return the exit status."""
    if args.path and args.phantom:
        raise ConfigurationError("give either PATH or --phantom, not both")
    try:
        width, height = (int(v) for v in str(args.size).lower().split("x"))
    except ValueError:
        raise ConfigurationError(
            f"--size {args.size!r}: write WIDTHxHEIGHT, e.g. 1600x1000"
        ) from None
    settings = _settings(args)
    # validate before starting Qt: an unknown method or a bad value is a one-line error
    from motionpredict.viewer_model import PredictionSettings

    PredictionSettings(**settings).validated()
    spacing = None
    if args.spacing_mm:
        spacing = args.spacing_mm[0] if len(args.spacing_mm) == 1 else tuple(args.spacing_mm)
    period = None if args.frame_period_ms is None else args.frame_period_ms / 1e3
    phantom = None
    if args.phantom:
        if args.phantom_kind == "cine":
            size = (args.phantom_size, args.phantom_size)
            phantom = {"seed": args.seed, "n_frames": args.phantom_frames, "shape": size}
        else:  # a volume series at 0.4 s per volume (4DCT-like), cubes of --phantom-size / 2
            edge = max(16, args.phantom_size // 2)
            phantom = {"kind": "ct4d", "seed": args.seed, "n_phases": args.phantom_frames,
                       "shape": (edge, edge, edge), "frame_period_s": 0.4}
    display = {k: v for k, v in (("field", args.field), ("compare", args.compare)) if v}
    try:
        from motionpredict.gui import app
    except ImportError as exc:
        raise MotionPredictError(
            f"the desktop viewer needs PySide6, which cannot be imported: {exc}"
        ) from None
    if args.screenshot:
        if args.path is None and phantom is None:
            raise ConfigurationError("--screenshot needs a PATH or --phantom")
        out = app.screenshot(
            args.screenshot,
            path=args.path,
            phantom=phantom,
            frame=args.frame,
            settings=settings,
            spacing_mm=spacing,
            frame_period_s=period,
            size=(width, height),
            display=display,
        )
        print(out)
        return 0
    return app.launch(
        args.path,
        phantom=phantom,
        settings=settings,
        spacing_mm=spacing,
        frame_period_s=period,
        display=display,
    )
