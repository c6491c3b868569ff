"""Relative RMSE (method / no prediction) of RLS, LMS, linear regression and our aggregator on the
external-marker sequences (``../shared/data/markers``), per horizon 0.1-2.1 s.

Protocol (``../shared/data/README.md``): the 9 coordinates ``org_data`` (9 x N, mm) of
``resampled_<rate>hz.mat``, standardised with the training window; splits from each
``sequence.json`` (train / validation / test). Online methods run over the whole sequence; the
offline linear regression is fitted on the pairs whose target index is at most
``offline_last_training_target``. RLS, LMS and linear choose ``k`` (LMS also ``eta``, linear the
ridge) per sequence and horizon on the validation window from the published grids; the
aggregator has no validation step (its ``lag_stride`` follows the rate: 0.3 s / 0.2 s / 0.2 s
lags at 3.33 / 10 / 30 Hz); ``aggregator-v1`` is the first version, for comparison: its 17
members (no analog or strided multivariate RLS members, forgetting factors not scaled with the
rate) and rule (squared loss, ``eta = 4``, weights per feature, ``discount = 0.98``). ``kalman``
is the harmonic-oscillator Kalman filter alone, its ``q`` chosen on the validation window.
Errors are 3D marker-position errors in mm on the test window; relative RMSE = RMSE(method) /
RMSE(last value) at the same horizon.

Usage::

    .venv/bin/python benchmarks/forecasters_markers.py --rates 3.33 10 [--mode reference] \
        [--methods rls aggregator] [--horizons 1 3 5] [--jobs 2] [--json out.json]

Prints one table per rate (mean over sequences), the aggregator's mean time per online step (wall
and CPU ms) and its per-sequence values. ``--jobs`` runs the sequences in parallel processes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.io
from joblib import Parallel, delayed

from motionpredict.forecasters import Standardizer, get, run_online
from motionpredict.forecasters.linear import K_GRIDS
from motionpredict.forecasters.lms import ETA_GRIDS

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "markers"
PERIOD_S = {"3.33": 0.3, "10": 0.1, "30": 1.0 / 30.0}
#: published horizons in samples per rate (0.1-2.1 s)
HORIZONS = {"3.33": list(range(1, 8)), "10": list(range(1, 22)), "30": list(range(3, 64, 3))}
LAG_STRIDE = {"3.33": 1, "10": 2, "30": 6}
METHODS = ("rls", "lms", "linear", "kalman", "aggregator-v1", "aggregator")


def v1_members(s: int) -> tuple:
    """The first aggregator version's 17 members (last value, RLS; lag stride ``s``)."""
    members: list = [("no-prediction", ())]
    for k in (2, 4):
        for lam in (0.995, 0.999):
            members.append(("rls", (("k", k * s), ("stride", 1), ("forgetting", lam))))
    for k, stride in ((10, s), (20, s), (20, 2 * s)):
        for lam in (0.995, 0.999):
            for recursive in (False, True):
                members.append(
                    (
                        "rls",
                        (
                            ("k", k),
                            ("stride", stride),
                            ("forgetting", lam),
                            ("per_feature", True),
                            ("recursive", recursive),
                        ),
                    )
                )
    return tuple(members)


def load(folder: Path, rate: str) -> tuple[np.ndarray, dict]:
    """Return the ``(N, 9)`` series in mm and the rate's split record."""
    y = scipy.io.loadmat(folder / f"resampled_{rate}hz.mat")["org_data"].T.astype(np.float64)
    splits = json.loads((folder / "sequence.json").read_text())["splits"][f"{rate}hz"]
    return y, splits


def window_rmse(pred: np.ndarray, y: np.ndarray, sl: slice) -> float:
    """RMSE in mm of the 3D positions of the 3 markers over ``sl``."""
    err = (pred[sl] - y[sl]).reshape(-1, 3, 3)  # rows [x1 x2 x3 y1 y2 y3 z1 z2 z3]
    return float(np.sqrt(np.mean(np.sum(err**2, axis=1))))


def candidates(method: str, rate: str, h: int) -> list[dict]:
    """Settings searched on the validation window (published grids)."""
    key = f"markers-{rate}hz"
    if method == "rls":
        return [{"k": k} for k in K_GRIDS[key]]
    if method == "lms":
        return [{"k": k, "eta": e} for k in K_GRIDS[key] for e in ETA_GRIDS[key]]
    if method == "linear":
        return [{"k": k, "ridge": r} for k in K_GRIDS[key] for r in (1.0, 100.0)]
    if method == "aggregator":
        return [{"lag_stride": LAG_STRIDE[rate]}]
    if method == "aggregator-v1":
        members = v1_members(LAG_STRIDE[rate])
        return [
            {"members": members, "eta": 4.0, "loss_power": 2, "own_loss": 1.0, "discount": 0.98}
        ]
    if method == "kalman":
        # the estimate window spans about 30 s (100 samples at 3.33 Hz)
        window = {"3.33": 100, "10": 300, "30": 900}[rate]
        return [{"q": q, "window": window} for q in (1e-3, 1e-2)]
    raise ValueError(method)


def evaluate(folder: Path, rate: str, h: int, method: str, mode: str) -> dict:
    """Run one method at one horizon on one sequence; return test relative RMSE and settings."""
    y, sp = load(folder, rate)
    std = Standardizer(y[: sp["train"][1]])
    z = std.transform(y)
    cv = slice(sp["cv"][0] - 1, sp["cv"][1])
    test = slice(sp["test_from"] - 1, len(y))
    last = np.full_like(y, np.nan)
    last[h:] = y[:-h]
    best = None
    t0 = time.perf_counter()
    for params in candidates(method, rate, h):
        f = get(method.removesuffix("-v1"))(horizon=h, n_features=y.shape[1], mode=mode, **params)
        c0 = time.process_time()
        run = run_online(f, z, fit_until=sp["offline_last_training_target"])
        cpu_ms = (time.process_time() - c0) * 1e3 / len(z)
        pred = std.inverse(run.predicted)
        score = window_rmse(pred, y, cv)
        if best is None or score < best[0]:
            best = (score, params, pred, len(run.events), float(np.mean(run.step_ms)), cpu_ms)
    assert best is not None
    _, params, pred, n_events, ms, cpu_ms = best
    return {
        "relative_rmse": window_rmse(pred, y, test) / window_rmse(last, y, test),
        "rmse_mm": window_rmse(pred, y, test),
        "params": {k: v for k, v in params.items() if k != "members"},
        "events": n_events,
        "ms_per_step": ms,
        "cpu_ms_per_step": cpu_ms,
        "seconds": time.perf_counter() - t0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="markers folder")
    parser.add_argument("--rates", nargs="+", default=["3.33", "10"], choices=list(PERIOD_S))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--mode", default="causal", choices=["causal", "reference"])
    parser.add_argument("--horizons", type=int, nargs="*", help="horizons in samples (default all)")
    parser.add_argument("--jobs", type=int, default=1, help="sequences run in parallel processes")
    parser.add_argument("--json", type=Path, help="also write all results to this JSON file")
    args = parser.parse_args(argv)
    folders = sorted(p for p in args.data.glob("markers-*") if (p / "sequence.json").is_file())
    if not folders:
        print(f"{args.data}: no marker sequences found", file=sys.stderr)
        return 2
    results: dict = {}
    label = "" if args.mode == "causal" else " [REFERENCE MODE: look-ahead, not causal]"
    for rate in args.rates:
        hs = args.horizons or HORIZONS[rate]
        print(f"\n## {rate} Hz, {args.mode} mode{label}; sequences: {[f.name for f in folders]}")
        head = " ".join(f"{m:>10}" for m in args.methods)
        print(f"{'h':>3} {'h (s)':>6} {head}  (mean relative RMSE over sequences)", end="")
        print("  agg vs rls" if {"rls", "aggregator"} <= set(args.methods) else "")
        for h in hs:
            row = {}
            for m in args.methods:
                outs = Parallel(n_jobs=args.jobs)(
                    delayed(evaluate)(f, rate, h, m, args.mode) for f in folders
                )
                per_seq = {f.name: out for f, out in zip(folders, outs, strict=True)}
                results.setdefault(rate, {}).setdefault(str(h), {})[m] = per_seq
                row[m] = float(np.mean([v["relative_rmse"] for v in per_seq.values()]))
            cells = " ".join(f"{row[m]:>10.3f}" for m in args.methods)
            gain = ""
            if "rls" in row and "aggregator" in row:
                gain = f"  {100 * (1 - row['aggregator'] / row['rls']):+9.1f}%"
            print(f"{h:>3} {h * PERIOD_S[rate]:>6.2f} {cells}{gain}", flush=True)
            if args.json:  # after every row, so that a long run stopped early keeps its results
                write_json(args.json, args.mode, results)
        if "aggregator" in args.methods:
            per_h = [results[rate][str(h)]["aggregator"] for h in hs]
            ms = [v["ms_per_step"] for per in per_h for v in per.values()]
            cpu = [v["cpu_ms_per_step"] for per in per_h for v in per.values()]
            print(
                f"aggregator: {np.mean(ms):.2f} ms wall, {np.mean(cpu):.2f} ms CPU per step (mean "
                f"over sequences and horizons; max wall {np.max(ms):.2f} ms)"
            )
            print("aggregator per sequence (relative RMSE), rows = horizon:")
            for h in hs:
                per = results[rate][str(h)]["aggregator"]
                print(f"{h:>3} " + " ".join(f"{v['relative_rmse']:.3f}" for v in per.values()))
    if args.json:
        write_json(args.json, args.mode, results)
    return 0


def write_json(path: Path, mode: str, results: dict) -> None:
    """Write all results so far to ``path`` (atomically)."""
    from motionpredict.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"mode": mode, "results": results}, indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
