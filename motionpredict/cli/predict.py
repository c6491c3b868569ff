"""``motionpredict predict PATH --horizon 0.6s [--method NAME]``: predicted frames of a sequence.

Runs the online pipeline over every frame after the training window and writes, in ``--out``:
the predicted frames (``predicted.<format>``, or a DICOM derived series), the acquired and
predicted PCA weights (or marker positions) as CSV, ``metrics.json``, and ``report.html`` (plus
``results.sqlite``, the one-row store the report is built from).

The errors are scored on the sidecar's test window when a ``sequence.json`` states one, else on
every predicted frame; the last line printed is the answer: the method's RMSE (mm) on that window,
no prediction's RMSE on the same window and their ratio (docs/cli.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError

#: ``--method`` when none is given: the best causal method the project has (docs/forecasters.md).
DEFAULT_METHOD = "aggregator"


def param_arg(text: str) -> tuple[str, Any]:
    """The ``--param NAME=VALUE`` argument type of every command that runs a forecaster (VALUE
    parsed as JSON when it is JSON, else kept as text)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    try:
        val: Any = json.loads(v)
    except json.JSONDecodeError:
        val = v
    return k.strip(), val


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``predict`` sub-command."""
    p = subparsers.add_parser(
        "predict",
        help="forecast future frames (or marker positions) of a sequence online",
        description=(
            "Register each frame to the reference, project it on the PCA motion modes fitted on "
            "the training frames, forecast the weights a horizon ahead, rebuild the field and warp "
            "the reference frame into the predicted frame. Marker series are forecast directly."
        ),
    )
    p.add_argument("path", type=Path, metavar="PATH", help="DICOM folder, image file or marker CSV")
    p.add_argument("--method", default=DEFAULT_METHOD,
                   help=f"forecaster name (e.g. lms, snap1, linear; default {DEFAULT_METHOD}, "
                        "the best causal method)")
    p.add_argument("--horizon", required=True,
                   help="forecast horizon: 0.6s, 600ms or 3steps (a time must be a whole number "
                        "of frame periods unless --round-horizon)")
    p.add_argument("--mode", choices=("causal", "reference"), default="causal",
                   help="causal (default, real-time valid) or reference (published look-ahead)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: ./predict-<name>-<method>)")
    p.add_argument("--n-components", type=int, default=3, help="PCA motion modes (default 3)")
    p.add_argument("--train-frames", type=int, default=None,
                   help="frames used to fit the PCA model (default: the sidecar's training split,"
                        " else the first 45%%)")
    p.add_argument("--seed", type=int, default=0, help="forecaster seed")
    p.add_argument("--param", type=param_arg, action="append", default=[], metavar="NAME=VALUE",
                   help="forecaster hyper-parameter (repeatable), e.g. --param eta=0.02")
    p.add_argument("--round-horizon", action="store_true",
                   help="round the horizon to a whole number of frame periods")
    p.add_argument("--frame-period", type=float, default=None, metavar="S",
                   help="frame period in s when the files do not give it")
    p.add_argument("--spacing", type=float, nargs="+", default=None, metavar="MM",
                   help="pixel spacing in mm when the files do not give it")
    p.add_argument("--dataset", default=None, help="dataset card to apply")
    p.add_argument("--format", choices=("mha", "nii.gz", "seq.nrrd", "dicom"), default="mha",
                   help="predicted frames format (default mha)")
    p.add_argument("--backend", choices=("numpy", "fast", "torch"), default="numpy",
                   help="registration back-end")
    p.add_argument("--pdf", action="store_true", help="also write report.pdf")
    p.add_argument("--no-report", action="store_true", help="skip the report")
    p.set_defaults(func=run)
    return p


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    from motionpredict.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def run(args: argparse.Namespace) -> int:
    """Execute ``predict``."""
    from motionpredict import __version__
    from motionpredict.evaluation.protocol import roi_from_sidecar
    from motionpredict.evaluation.store import dumps
    from motionpredict.io import atomic_path, load, write_dicom_series, write_image
    from motionpredict.io.sidecar import read_sidecar
    from motionpredict.pipeline import (
        OnlineFramePipeline,
        OnlineMarkerPipeline,
        parse_horizon,
        run_sequence,
    )
    from motionpredict.sequences import ImageSequence, PointTrajectories, Provenance

    kw: dict[str, Any] = {}
    if args.frame_period is not None:
        kw["frame_period_s"] = args.frame_period
    if args.spacing is not None:
        kw["spacing_mm"] = tuple(args.spacing) if len(args.spacing) > 1 else args.spacing[0]
    if args.dataset is not None:
        kw["dataset"] = args.dataset
    data = load(args.path, **kw)
    sidecar = read_sidecar(args.path)
    meta: dict[str, Any] = dict(sidecar.raw) if sidecar is not None else {}
    name = str(meta.get("name") or args.path.stem)
    period = data.frame_period if isinstance(data, ImageSequence) else data.sample_period
    try:
        h_s, h_steps = parse_horizon(args.horizon)
    except ConfigurationError as exc:
        raise ConfigurationError(f"--horizon {args.horizon}: {exc}") from None
    horizon_s = h_s if h_s is not None else h_steps * period  # type: ignore[operator]
    from motionpredict.evaluation.config import check_method_params

    params = check_method_params(args.method, dict(args.param), "--param")
    train = args.train_frames  # None: the pipeline takes the sidecar's split, else 45 %
    out = args.out or Path(f"predict-{name}-{args.method}")
    from motionpredict.ct4d.command import is_ct4d, predict_4dct
    from motionpredict.io.atomic import stage_output

    out = stage_output(out, force=getattr(args, "force", False))  # moved into place on success
    if is_ct4d(data, meta):  # 4DCT phases: internal points and predicted volumes (docs/ct4d.md)
        for w in predict_4dct(data, meta, out, method=args.method, horizon_s=horizon_s,
                              mode=args.mode, seed=args.seed, params=params,
                              round_horizon=args.round_horizon, backend=args.backend):
            print(w)
        return 0
    from motionpredict.units import Horizon

    try:
        horizon = (Horizon.from_seconds(h_s, period, rounded=args.round_horizon)
                   if h_s is not None else Horizon(int(h_steps or 1), period))
    except ConfigurationError as exc:
        raise ConfigurationError(f"--horizon {args.horizon}: {exc}") from None
    from motionpredict.io.write_images import times_are_regular

    if (args.format in ("nii.gz",) and isinstance(data, ImageSequence)
            and not times_are_regular(data.times)):  # checked before the prediction runs
        raise ConfigurationError(
            f"{args.path}: the acquisition times are irregular and NIfTI stores one fixed frame "
            "period; use --format mha or --format seq.nrrd (they keep every time)")

    roi = None
    if isinstance(data, ImageSequence):
        roi = roi_from_sidecar(meta, data.shape)
        pipe: OnlineFramePipeline | OnlineMarkerPipeline = OnlineFramePipeline(
            data, method=args.method, horizon_s=horizon_s, mode=args.mode,
            n_components=args.n_components, train_frames=train, seed=args.seed,
            method_params=params, round_horizon=args.round_horizon,
            lk_params=meta.get("reference_lk_parameters"), backend=args.backend)
    else:
        assert isinstance(data, PointTrajectories)
        pipe = OnlineMarkerPipeline(data, method=args.method, horizon_s=horizon_s, mode=args.mode,
                                    train_samples=train, seed=args.seed, method_params=params,
                                    round_horizon=args.round_horizon)
    prog = None
    if sys.stderr.isatty():
        def prog(done: int, total: int) -> None:
            print(f"\r{done}/{total}", end="", file=sys.stderr)
    pipe.prepare(progress=prog)
    n_all = data.n_frames if isinstance(data, ImageSequence) else data.n_samples
    first = pipe.next_frame
    assert first is not None
    window = _scored_window(meta, n_all, period, first, pipe.horizon_steps,
                            "frame" if isinstance(data, ImageSequence) else "sample")
    res = run_sequence(pipe, window=(window["start"], window["stop"]), roi=roi, progress=prog)
    if prog is not None:
        print(file=sys.stderr)
    if res.events:  # said where the user looks, not only in metrics.json
        print(f"motionpredict predict: warning: {args.method} diverged and was reset "
              f"{len(res.events)} time(s) (divergence_resets in metrics.json); check its "
              "--param values", file=sys.stderr)
    n_guarded = int(res.metrics.get("guarded_forecasts", 0))
    if n_guarded:  # the plausibility guard replaced forecasts by the last value
        print(f"motionpredict predict: warning: the plausibility guard replaced {n_guarded} of "
              f"{int(res.metrics['n_scored'])} scored forecasts of {args.method} by the last "
              f"value ({100 * res.metrics['guarded_fraction']:.1f} %, guarded_forecasts in "
              "metrics.json)", file=sys.stderr)
    targets = res.targets
    settings = res.settings
    written: list[Path] = []
    if isinstance(data, ImageSequence):
        assert res.predicted_frames is not None
        pred_seq = ImageSequence(
            frames=res.predicted_frames, spacing=data.spacing, times=data.times[targets],
            origin=data.origin, direction=data.direction,
            provenance=Provenance(source=f"motionpredict predict {args.method} "
                                         f"h={horizon.seconds:.4g}s {args.mode}",
                                  raw_range=data.provenance.raw_range))
        if args.format == "dicom":
            written += write_dicom_series(
                pred_seq, out / "predicted_dicom",
                description=f"predicted {args.method} h={horizon.seconds:.4g}s {args.mode}",
                source=data)
        else:
            target = out / f"predicted.{args.format}"
            write_image(pred_seq, target)
            written.append(target)
        p = res.weights.shape[1]
        header = ["frame", "time_s", "issued_at_frame"] + [f"w{i + 1}_acquired_mm"
                                                           for i in range(p)]
        header += [f"w{i + 1}_predicted_mm" for i in range(p)]
        csv_path = out / "weights.csv"
    else:
        p = res.weights.shape[1]
        header = ["sample", "time_s", "issued_at_sample"]
        names = data.names or ()
        coords = [f"{n}_{c}" for n in names for c in "xyz"]
        header += [f"{c}_acquired_mm" for c in coords] + [f"{c}_predicted_mm" for c in coords]
        csv_path = out / "positions.csv"
    h = pipe.horizon_steps
    rows = [[int(t) + 1, f"{data.times[t]:.6f}", int(t) - h + 1, *map(float, res.weights[i]),
             *map(float, res.predicted_weights[i])] for i, t in enumerate(targets)]
    _write_csv(csv_path, header, rows)
    written.append(csv_path)
    label = ("reference mode: published look-ahead, learns from targets before they are acquired"
             if args.mode == "reference" else "causal")
    is_img = isinstance(data, ImageSequence)
    lines = answer_lines(args.method, args.mode, horizon, res.metrics, window, is_img,
                         roi is not None)
    summary = {"version": __version__, "sequence": name, "method": args.method,
               "mode": args.mode, "mode_label": label, "settings": settings,
               "horizon": horizon.as_dict(),
               "scored_frames_1based": [int(targets[0]) + 1, int(targets[-1]) + 1],
               "scored_window": {k: window[k] for k in ("first", "last", "unit", "indexing",
                                                        "split", "source", "name")},
               "searched": SEARCHED, "rmse_definition": rmse_definition(is_img, roi is not None),
               "answer": lines[-1], "warning": lines[0] if len(lines) > 1 else None,
               "metrics": res.metrics, "divergence_resets": len(res.events),
               "guarded_forecasts": int(res.metrics.get("guarded_forecasts", 0)),
               "guarded_fraction": float(res.metrics.get("guarded_fraction", 0.0))}
    with atomic_path(out / "metrics.json") as tmp:
        Path(tmp).write_text(dumps(summary) + "\n")
    written.append(out / "metrics.json")
    if not args.no_report:
        _store_for_report(out, data, name, res, pipe, horizon, args, roi, meta, window)
        from motionpredict.report import build_report

        written += build_report(out, pdf=args.pdf)
    for w in written:
        print(w)
    for line in lines:  # the answer is the last line
        print(line)
    return 0


#: What ``predict`` searched (``metrics.json`` ``searched``): nothing.
SEARCHED: dict[str, Any] = {
    "settings_tried": 1, "validation_window": None,
    "what": "nothing: the method ran with its default settings and any --param values; no "
            "hyper-parameter or PCA size was chosen on a validation window",
}


def rmse_definition(is_image: bool, has_roi: bool) -> str:
    """What ``rmse_mm`` and ``no_prediction_rmse_mm`` measure (``metrics.json``
    ``rmse_definition``)."""
    if not is_image:
        return ("RMSE (mm) of the 3D marker positions, sqrt(mean over samples and markers of "
                "|p_hat - p|^2); no prediction repeats the last acquired sample")
    where = "the ROI pixels" if has_roi else "every pixel"
    return (f"RMSE (mm) of the predicted displacement field (rebuilt from the forecast PCA "
            f"weights) against the Lucas-Kanade field of the acquired frame, over {where} and the "
            f"scored frames; no prediction rebuilds the field from the weights of the last "
            f"acquired frame")


def _scored_window(meta: dict[str, Any], n: int, period_s: float, first: int, h: int,
                   unit: str) -> dict[str, Any]:
    """The window of target frames (samples) that ``predict`` scores.

    The sidecar's test window when it states one (from the first predicted frame on, if the
    training window given by ``--train-frames`` runs into it), else every predicted frame.

    Returns
    -------
    dict
        ``start``, ``stop`` (0-based, stop exclusive), ``first``, ``last`` (1-based inclusive),
        ``unit``, ``indexing``, ``split`` (``"test"`` or ``"all predicted"``), ``source`` and
        ``name`` (a phrase naming it).
    """
    from motionpredict.evaluation.protocol import splits_from_sidecar

    lo = first + h  # the first target with a prediction
    sp = splits_from_sidecar(meta, n, sample_period_s=period_s) if meta else None
    if sp is not None and sp.test[1] > lo:
        start, stop = max(sp.test[0], lo), sp.test[1]
        split, source = "test", "sidecar"
        name = f"test {unit}s {start + 1}-{stop} (the sidecar's test window"
        name += (f", from the first predicted {unit} on)" if start > sp.test[0] else ")")
    else:
        start, stop = lo, n
        split = "all predicted"
        source = "no sidecar test window" if sp is None else "sidecar test window too early"
        why = ("no sidecar states a test window" if sp is None else
               "the sidecar's test window ends before the first prediction")
        name = (f"{unit}s {start + 1}-{stop}: every {unit} predicted after the {first} training "
                f"{unit}s ({why})")
    return {"start": int(start), "stop": int(stop), "first": int(start) + 1, "last": int(stop),
            "unit": unit, "indexing": "1-based inclusive", "split": split, "source": source,
            "name": name}


def answer_lines(method: str, mode: str, horizon: Any, metrics: dict[str, float],
                 window: dict[str, Any], is_image: bool, has_roi: bool) -> list[str]:
    """The answer of ``predict``: a warning line when the method is worse than no prediction,
    then the answer line (the last line printed).

    Parameters
    ----------
    horizon
        :class:`motionpredict.units.Horizon` actually used.
    metrics
        ``rmse_mm``, ``no_prediction_rmse_mm`` and ``relative_rmse`` of the scored window.
    window
        :func:`_scored_window`.
    """
    unit = "frames" if is_image else "samples"
    rmse, ref, ratio = (metrics["rmse_mm"], metrics["no_prediction_rmse_mm"],
                        metrics["relative_rmse"])
    what = ""
    if is_image:
        what = (" (displacement field vs Lucas-Kanade, "
                + ("ROI pixels" if has_roi else "every pixel") + ")")
    answer = (f"answer: {method} ({mode}), horizon {horizon.label(unit)}: RMSE {rmse:.4f} mm"
              f"{what} on {window['name']}; no prediction {ref:.4f} mm on the same {unit}; "
              f"ratio {ratio:.4f}")
    if not ratio <= 1.0:  # also NaN (no-prediction error 0)
        what_held = "frame's motion" if is_image else "position"
        warn = (f"WARNING: {method} is worse than no prediction here (RMSE {ratio:.2f} times "
                f"no prediction's): repeating the last acquired {what_held} would be more "
                f"accurate; do not rely on this forecast")
        return [warn, answer]
    return [answer]


def _store_for_report(out: Path, data: Any, name: str, res: Any, pipe: Any, horizon: Any,
                      args: argparse.Namespace, roi: Any, meta: dict[str, Any],
                      window: dict[str, Any]) -> None:
    """Write the one-row results store (and frame triplets) the report is built from."""
    from motionpredict import __version__
    from motionpredict.evaluation.store import ResultStore
    from motionpredict.io.atomic import save_npz
    from motionpredict.sequences import ImageSequence

    is_img = isinstance(data, ImageSequence)
    kind = f"image-{data.ndim}d" if is_img else "markers"
    targets = res.targets
    spec = {"sequence_name": name, "kind": kind, "method": args.method, "mode": args.mode,
            "horizon_s": horizon.seconds, "horizon_steps": horizon.steps,
            "requested_horizon_s": horizon.requested_s, "period_s": horizon.period_s,
            "seed": args.seed}
    settings = res.settings
    result: dict[str, Any] = {
        "chosen": {"n_components": settings.get("n_components"),
                   "params": settings.get("method_params")} if is_img
        else {"params": settings.get("method_params")},
        "validation_score": None, "validation_metric": "none (settings given)",
        "metrics": res.metrics, "grid_size": 1,
        "label": args.mode,
        "traces": {"t": targets.tolist(), "time_s": data.times[targets].tolist(),
                   "true": res.weights.tolist(), "predicted": res.predicted_weights.tolist(),
                   "stage_ms": {k: v.tolist() for k, v in res.stage_ms.items()}},
        "splits": {"train": [0, settings.get("train_frames", settings.get("train_samples"))],
                   "validation": None, "test": [window["start"], window["stop"]],
                   "offline_fit_until": settings.get("offline_fit_until"),
                   "source": settings.get("train_frames_source",
                                          settings.get("train_samples_source")),
                   "convention": "0-based, stop exclusive; scored = the test window "
                                 "(scored_window)"},
        "scored_window": {k: window[k] for k in ("first", "last", "unit", "indexing", "split",
                                                 "source", "name")},
        "searched": SEARCHED,
        "period_s": data.frame_period if is_img else data.sample_period,
        "provenance": {"source": Path(args.path).name, "dataset": meta.get("dataset"),
                       "frame_period_source": data.provenance.frame_period_source,
                       "spacing_source": getattr(data.provenance, "spacing_source", None),
                       "licence": meta.get("licence"), "citation": meta.get("citation")},
    }
    if is_img:
        result["lk_params"] = settings.get("lk_params")
        k = min(3, len(targets))
        pick = np.unique(np.linspace(0, len(targets) - 1, k).round().astype(int))
        arts = {"triplet_t": targets[pick], "triplet_acquired": res.acquired_frames[pick],
                "triplet_predicted": res.predicted_frames[pick]}
        if roi is not None:
            arts["roi"] = roi
        result["artifacts"] = save_npz(out, "artifacts/predict.npz", arts)
    if not len(targets):
        raise ConfigurationError("no frame was predicted; the sequence is too short")
    with ResultStore(out) as st:
        st.put("predict", spec, result)
        st.set_meta("version", __version__)
        st.set_meta("config", {"command": "predict", **{k: str(v) for k, v in
                                                         vars(args).items() if k != "func"}})
        st.set_meta("title", f"motionpredict prediction: {name}")
