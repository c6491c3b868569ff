"""``motionpredict demo``: the whole pipeline on the built-in synthetic phantom, ending in a report.

Steps (each printed as it runs):

1. generate a seeded cine-MRI-like phantom and an external-marker phantom, both with known motion;
2. export them the way a scanner would (a DICOM series, marker CSV files) and read them back through
   the same loaders clinical data use, checking the round trip;
3. run a batch evaluation (registration, PCA, every selected forecaster at several horizons, in the
   causal mode and in the labelled reference mode), scored against the true motion too;
4. write the HTML (and PDF) report.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError

#: The demo's methods and the values searched on the validation window; every other declared
#: hyper-parameter stays at its default (the published grids take hours; the aggregator needs none).
DEMO_METHODS: dict[str, dict[str, list[Any]]] = {
    "no-prediction": {},
    "linear": {"k": [4, 8]},
    "lms": {"k": [4, 8], "eta": [0.01, 0.05]},
    "rls": {"k": [4, 8], "forgetting": [0.99, 0.999]},
    "snap1": {"k": [4, 8], "q": [20], "eta": [0.01, 0.02]},
    "aggregator": {},
}
QUICK_METHODS = ("no-prediction", "linear", "rls", "snap1")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``demo`` sub-command."""
    p = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on the synthetic phantom and write a report",
        description=(
            "Generate a breathing phantom with known motion, export it as DICOM and CSV, read it "
            "back, register, fit the PCA motion model, forecast with several methods at several "
            "horizons (causal and reference modes) and write an HTML/PDF report."
        ),
    )
    p.add_argument("--out", type=Path, default=Path("demo-output"),
                   help="output folder (default: ./demo-output); must be empty or absent")
    p.add_argument("--quick", action="store_true",
                   help="small phantom, fewer methods and horizons (about a minute)")
    p.add_argument("--seed", type=int, default=0, help="phantom seed (default 0)")
    p.add_argument("--jobs", type=int, default=2, help="local worker processes (default 2)")
    p.add_argument("--no-pdf", action="store_true", help="HTML report only")
    p.set_defaults(func=run)
    return p


def _say(text: str) -> None:
    print(text, flush=True)


def _export_and_reload(out: Path, seed: int, quick: bool) -> dict[str, Any]:
    """Steps 1-2: phantom -> DICOM / CSV -> loaders; return the phantom settings used."""
    from motionpredict import phantom
    from motionpredict.io import load, write_dicom_series, write_points_csv

    cine_kw: dict[str, Any] = (
        {"n_frames": 64, "shape": (64, 64), "spacing_mm": (3.0, 3.0), "frame_period_s": 0.25}
        if quick
        else {"n_frames": 160, "shape": (112, 112), "spacing_mm": (2.0, 2.0),
              "frame_period_s": 0.25}
    )
    marker_kw: dict[str, Any] = {"duration_s": 90.0 if quick else 180.0, "rate_hz": 10.0}

    t0 = time.perf_counter()
    cine = phantom.make_cine(seed=seed, **cine_kw)
    markers = phantom.make_markers(seed=seed, **marker_kw)
    seq = cine.sequence
    _say(f"[1/4] phantom: cine {seq.n_frames} frames {seq.shape[0]}x{seq.shape[1]} px, "
         f"{seq.spacing[0]:g} mm pixels, frame period {seq.frame_period * 1e3:.0f} ms; "
         f"markers {markers.sequence.n_points} x {markers.sequence.n_samples} samples at "
         f"{1 / markers.sequence.sample_period:.0f} Hz ({time.perf_counter() - t0:.1f} s)")

    t0 = time.perf_counter()
    dicom_dir = out / "phantom" / "cine-dicom"
    files = write_dicom_series(seq, dicom_dir, description="motionpredict phantom cine")
    back = load(dicom_dir)
    if not isinstance(back, type(seq)) or back.frames.shape != seq.frames.shape:
        raise ConfigurationError(f"{dicom_dir}: the exported phantom did not read back as written")
    err = float(np.max(np.abs(back.frames - seq.frames)))
    span = float(np.ptp(seq.frames)) or 1.0
    marker_dir = out / "phantom" / "markers"
    marker_dir.mkdir(parents=True, exist_ok=True)
    write_points_csv(markers.sequence, marker_dir / "markers.csv")
    mback = load(marker_dir / "markers.csv")
    merr = float(np.max(np.abs(mback.positions - markers.sequence.positions)))  # type: ignore[union-attr]
    _say(f"[2/4] exported {len(files)} DICOM files and a marker CSV; read back through the "
         f"loaders: spacing {back.spacing} mm ({back.provenance.spacing_source}), period "
         f"{back.frame_period * 1e3:.0f} ms ({back.provenance.frame_period_source}), max pixel "
         f"difference {err / span:.2%} of the range (stored as integers), max marker difference "
         f"{merr:.3g} mm ({time.perf_counter() - t0:.1f} s)")
    return {"cine": cine_kw, "markers": marker_kw}


def _pinned_grid(method: str) -> dict[str, list[Any]]:
    """The demo grid of ``method``: its small search values, defaults for the rest."""
    from motionpredict.forecasters import get

    grid = {hp.name: [hp.default] for hp in get(method).hyperparameters
            if isinstance(hp.default, (bool, int, float, str))}
    grid.update(DEMO_METHODS.get(method, {}))
    return grid


def _config(seed: int, quick: bool, kw: dict[str, Any]) -> Any:
    from motionpredict.evaluation.config import parse_config

    methods = [m for m in DEMO_METHODS if not quick or m in QUICK_METHODS]
    n = int(kw["cine"]["n_frames"])
    tr, cv = int(n * 0.4), int(n * 0.7)
    cine: dict[str, Any] = {"phantom": "cine", "seed": seed, "name": "phantom-cine",
                            "n_frames": n, "shape": list(kw["cine"]["shape"]),
                            "spacing_mm": list(kw["cine"]["spacing_mm"]),
                            "frame_period_s": kw["cine"]["frame_period_s"],
                            "horizons_s": [0.25, 0.5, 1.0],
                            "splits": {"train": [1, tr], "cv": [tr + 1, cv], "test": [cv + 1, n]}}
    dur = float(kw["markers"]["duration_s"])
    rate = float(kw["markers"]["rate_hz"])
    ns = int(dur * rate)
    mk: dict[str, Any] = {"phantom": "markers", "seed": seed, "name": "phantom-markers",
                          "duration_s": dur, "rate_hz": rate,
                          "horizons_s": [0.1, 0.5, 1.0],
                          "splits": {"train": [1, ns // 3], "cv": [ns // 3 + 1, 2 * ns // 3],
                                     "test": [2 * ns // 3 + 1, ns]}}
    data = {
        "run": {"jobs": 2},
        "sequences": [cine, mk],
        "evaluation": {
            "methods": methods,
            "modes": ["causal"] if quick else ["causal", "reference"],
            "seeds": [0],
            "n_components": [2] if quick else [3],
            "system_latency_ms": 200,
            "grids": {m: _pinned_grid(m) for m in methods if m != "no-prediction"},
        },
    }
    return parse_config(data, base=Path.cwd())


def run(args: argparse.Namespace) -> int:
    """Execute ``demo``."""
    out: Path = args.out
    if out.exists() and any(out.iterdir()):
        if not getattr(args, "force", False):
            raise ConfigurationError(f"{out}: the output folder is not empty; choose another "
                                     "--out or pass --force to replace it")
        shutil.rmtree(out)
    # The demo's run folder records the data paths, so it is built in place (not staged); a
    # failed demo removes what it wrote.
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _run_demo(args, out)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise


def _run_demo(args: argparse.Namespace, out: Path) -> int:
    """The demo's four steps, writing into ``out``."""
    from motionpredict.evaluation.batch import run_evaluation
    from motionpredict.evaluation.store import ResultStore
    from motionpredict.evaluation.tables import export, job_rows, summary_rows
    from motionpredict.report import build_report

    start = time.perf_counter()
    kw = _export_and_reload(out, args.seed, args.quick)
    cfg = _config(args.seed, args.quick, kw)
    run_dir = out / "run"
    _say(f"[3/4] evaluating {len(cfg.methods)} methods x 3 horizons x {len(cfg.modes)} mode(s) "
         "on 2 phantom sequences (registration, PCA, grid search on the validation window, "
         "test-window scores)")
    summary = run_evaluation(cfg, run_dir, jobs=args.jobs, progress=sys.stderr.isatty())
    with ResultStore(run_dir) as store:
        rows = job_rows(list(store.rows()))
    for kind, metrics, what in (
        ("image-2d", ["dvf_mean_mm", "dvf_roi_mean_mm", "dvf_true_mean_mm", "ssim_true_range"],
         "cine: mean geometric error (mm) vs the LK field, in the tumour ROI, vs the true motion"),
        ("markers", ["rmse_mm", "nrmse", "max_mm"], "markers: 3D position errors (mm)"),
    ):
        picked = summary_rows([r for r in rows if r.get("kind") == kind], metrics)
        if picked:
            keep = ["method", "mode", "horizon_s", *metrics]
            _say(f"\n{what}, test window")
            _say(export([{k: r[k] for k in keep} for r in picked], "markdown"))
    if summary.errors:
        _say(f"warning: {summary.errors} job(s) failed; their errors are listed in the report")
    files = build_report(run_dir, pdf=not args.no_pdf)
    _say(f"[4/4] report: {', '.join(str(f) for f in files)} "
         f"(total {time.perf_counter() - start:.0f} s)")
    return 0
