"""4DCT internal-point prediction: point errors, predicted-volume similarity and time per step.

For the CT phantom (exact fields) and ct4d-117 (3D Lucas-Kanade with the reference parameters of
its sequence.json; the files store no voxel spacing, so ``--spacing`` (default 1 mm isotropic) is
an explicit option, and the phases' frame period is 0.4 s = a 4 s cycle / 10 phases):

1. internal points are picked around the tumour ROI and tracked through the phase fields;
2. a 300 s breathing series is cycled through the phases at 2.5 Hz (seeded period / amplitude
   variation and drift along the spine); training window = the first 100 s (standardisation,
   offline fitting), validation = 100-160 s, test = 160-300 s;
3. each method forecasts the 3N point coordinates at each horizon (causal mode, one seed); its
   hyper-parameters are chosen per horizon on the validation window from the small grids in
   GRIDS (point RMSE); point RMSE / max / jitter on the test window, in mm, with the ratio of
   RMSE to no prediction;
4. predicted volumes (correspondence model -> field -> reference pushed forward) against the
   actual series volumes on a few test samples: Pearson and nRMSE inside the tumour ROI;
5. correspondence models compared with the true surrogate (no forecasting error): linear vs
   Nadaraya-Watson, phases-only vs phases + training samples; and the surrogate-driven variant
   (an external 1D signal: the phantom's surface signal / ct4d-117's first PCA weight).

Usage::

    python benchmarks/ct4d.py                      # phantom and ct4d-117 (if ../shared/data)
    python benchmarks/ct4d.py --only phantom --volume-samples 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from motionpredict.ct4d import (
    forecast_series,
    make_correspondence,
    point_errors,
    prepare_ct4d,
    roi_mask_xyz,
    run_ct4d,
    training_pairs,
)
from motionpredict.ct4d.pipeline import evaluate_volumes
from motionpredict.ct4d.points import mm_to_index, sample_field
from motionpredict.io import load
from motionpredict.motion_model import PCAMotionModel
from motionpredict.phantom import make_ct4d
from motionpredict.registration import LKParams, register_sequence

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ct4d" / "ct4d-117"
GRIDS: dict[str, dict[str, tuple]] = {
    "no-prediction": {},
    "linear": {"k": (6, 12, 24), "ridge": (1e-3,)},
    "lms": {"k": (6, 12, 24), "eta": (0.002, 0.005, 0.01, 0.02)},
    "rtrl": {"k": (6, 12, 24), "q": (10, 25), "eta": (0.005, 0.01, 0.02)},
}
HORIZONS_S = (0.4, 0.8, 1.2, 2.0)
VOLUME_HORIZONS_S = (0.4, 1.2)
SERIES = {"rate_hz": 2.5, "mean_period_s": 4.0, "duration_s": 300.0}
TRAIN_S = 100.0
VALIDATION_S = 60.0


def _combos(grid: dict[str, tuple]) -> list[dict]:
    keys = sorted(grid)
    return [dict(zip(keys, v, strict=True)) for v in itertools.product(*(grid[k] for k in keys))]


def _tune(y: np.ndarray, period: float, method: str, h: float, train: int, test: int,
          seed: int) -> dict:
    """Hyper-parameters with the smallest RMS error on the validation window [train, test)."""
    best, best_err = {}, np.inf
    for params in _combos(GRIDS[method]):
        fc = forecast_series(y, period, method=method, horizon_s=h, train_samples=train,
                             params=params, seed=seed, test_start=test)
        w = slice(train + fc.horizon_steps, test)
        err = float(np.sqrt(np.mean((fc.predicted[w] - fc.true[w]) ** 2)))
        if err < best_err:
            best, best_err = params, err
    return best


def _table(title: str, rows: list[dict], cols: list[str]) -> None:
    print(f"\n## {title}")
    print(" | ".join(f"{c:>14s}" for c in cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            if isinstance(v, float):
                cells.append(f"{v:14.3g}" if c == "chosen" else f"{v:14.3f}")
            else:
                cells.append(f"{v!s:>14s}")
        print(" | ".join(cells))


def _datasets(only: str | None, spacing: float):
    if only in (None, "phantom"):
        ph = make_ct4d(seed=0, shape=(40, 64, 64), spacing_mm=(2.5, 2.0, 2.0), amplitude_mm=12.0)
        t0 = time.perf_counter()
        lk = register_sequence(ph.sequence, params=LKParams())
        lk_s = time.perf_counter() - t0
        m = ph.tumour_mask
        err = np.linalg.norm(lk.fields - ph.true_fields.fields, axis=-1)[:, m].mean(axis=1)
        print(f"phantom: LK (default LKParams) vs true fields in the tumour, mean |du| per phase "
              f"(mm): {np.round(err, 3).tolist()}; registration {lk_s:.1f} s for 9 phases")
        # exact fields: errors measure forecasting and correspondence, not registration
        yield "phantom", ph.sequence, ph.tumour_mask, ph.true_fields, ph.signal.signal, {}
    if only in (None, "ct4d-117") and SHARED.is_dir():
        seq = load(SHARED, spacing_mm=spacing, frame_period_s=0.4)
        meta = json.loads((SHARED / "sequence.json").read_text())
        roi = roi_mask_xyz(meta["roi"], seq.shape)
        t0 = time.perf_counter()
        fields = register_sequence(seq, params=LKParams.from_mapping(
            meta["reference_lk_parameters"]))
        print(f"ct4d-117: {seq.frames.shape[1:]} voxels of {spacing} mm (option), LK "
              f"registration of 9 phases {time.perf_counter() - t0:.1f} s")
        pca = PCAMotionModel(1).fit(fields)
        yield "ct4d-117", seq, roi, fields, pca.project(fields)[:, 0], {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("phantom", "ct4d-117"), default=None)
    ap.add_argument("--spacing", type=float, default=1.0, help="ct4d-117 voxel spacing, mm")
    ap.add_argument("--volume-samples", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for name, seq, roi, fields, phase_signal, _ in _datasets(args.only, args.spacing):
        setup = prepare_ct4d(seq, roi, fields=fields, seed=args.seed, n_points=3,
                             margin_mm=10.0, min_distance_mm=8.0, **SERIES)
        series = setup.series
        train = int(TRAIN_S * SERIES["rate_hz"])
        test = int((TRAIN_S + VALIDATION_S) * SERIES["rate_hz"])
        motion = np.ptp(setup.trajectories.positions, axis=0)
        print(f"\n# {name}: points (mm) {np.round(setup.points_mm, 1).tolist()}; "
              f"peak-to-peak motion per point (mm) {np.round(np.linalg.norm(motion, axis=1), 2)}"
              f"; {series.n_samples} samples, train {train}, test from {test}")
        cache: dict[int, np.ndarray] = {}
        # correspondence models with the true surrogate (the floor of the volume metrics)
        corr_rows = []
        sur = setup.trajectories.as_series()
        idx = np.unique(np.linspace(test, series.n_samples - 1, args.volume_samples)
                        .round().astype(int))
        models = {}
        for cname in ("linear", "nw"):
            for extra in (0, 10):
                t0 = time.perf_counter()
                s_tr, u_tr = training_pairs(series, sur, setup.phase_points.as_series(),
                                            train_samples=train, n_from_train=extra)
                model = make_correspondence(cname).fit(s_tr, u_tr, mask=roi)
                fit_s = time.perf_counter() - t0
                models[(cname, extra)] = model
                vf = evaluate_volumes(series, model, sur, idx, roi, actual_cache=cache)
                corr_rows.append({"model": cname, "support": f"phases+{extra}",
                                  "chosen": model.chosen_, "loo_cv_mm": model.cv_error_mm_,
                                  "fit_s": fit_s, **vf.summary()})
        _table(f"{name}: correspondence with the true point positions (no forecast)",
               corr_rows, ["model", "support", "chosen", "loo_cv_mm", "field_error_mm",
                           "pearson_mean", "nrmse_mean", "correspondence_ms", "warp_ms"])
        model = models[("linear", 10)]
        rows = []
        base: dict[float, float] = {}
        chosen: dict[tuple[str, float], dict] = {}
        for h in HORIZONS_S:
            for method in GRIDS:
                params = _tune(sur, series.frame_period_s, method, h, train, test, args.seed)
                chosen[(method, h)] = params
                vs = args.volume_samples if h in VOLUME_HORIZONS_S else 0
                run = run_ct4d(series, sur, model, method=method, horizon_s=h,
                               train_samples=train, roi_mask=roi, volume_samples=vs,
                               params=params, seed=args.seed, actual_cache=cache,
                               test_start=test)
                row = run.row()
                row["params"] = " ".join(f"{k}={v:g}" for k, v in sorted(params.items()))
                if method == "no-prediction":
                    base[h] = row["rmse_mm"]
                row["rmse_ratio"] = row["rmse_mm"] / base[h]
                rows.append(row)
        _table(f"{name}: internal points (test window, mm) and predicted volumes in the tumour "
               "ROI (linear correspondence, phases+10)", rows,
               ["method", "horizon_s", "rmse_mm", "rmse_ratio", "max_mm", "jitter_mm",
                "true_jitter_mm", "pearson_mean", "nrmse_mean", "forecast_ms",
                "correspondence_ms", "warp_ms"])
        print("\nchosen on the validation window: " + "; ".join(
            f"{r['method']}@{r['horizon_s']:.1f}s {r['params']}" for r in rows if r["params"]))
        # surrogate-driven variant: a 1D external signal -> 3D field
        sig = series.signal(phase_signal)
        sur_rows = []
        for cname in ("linear", "nw"):
            s_tr, u_tr = training_pairs(series, sig, np.asarray(phase_signal)[:, None],
                                        train_samples=train, n_from_train=10)
            smodel = make_correspondence(cname).fit(s_tr, u_tr, mask=roi)
            for method in ("no-prediction", "linear", "rtrl"):
                params = _tune(sig, series.frame_period_s, method, 0.4, train, test, args.seed)
                run = run_ct4d(series, sig, smodel, method=method, horizon_s=0.4,
                               train_samples=train, roi_mask=roi,
                               volume_samples=args.volume_samples, params=params,
                               seed=args.seed, points=False, actual_cache=cache,
                               test_start=test)
                # internal points moved by the predicted fields (surrogate -> field -> points)
                pi = mm_to_index(setup.points_mm, series.spacing, series.origin)
                pred = np.stack([setup.points_mm + sample_field(smodel.predict(
                    run.forecast.predicted[k]), pi) for k in run.volumes.indices])
                e = point_errors(pred, setup.trajectories.positions[run.volumes.indices])
                sur_rows.append({"model": cname, "method": method, **run.volumes.summary(),
                                 "points_rmse_mm": e["rmse_mm"], "points_max_mm": e["max_mm"]})
        _table(f"{name}: surrogate-driven (1D external signal -> 3D field), h = 0.4 s",
               sur_rows, ["model", "method", "field_error_mm", "pearson_mean", "nrmse_mean",
                          "points_rmse_mm", "points_max_mm"])


if __name__ == "__main__":
    main()
