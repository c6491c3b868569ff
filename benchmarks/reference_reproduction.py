"""Reproduce the reference implementation's published online-RNN numbers (Pohl et al.).

Runs the online RNN forecasters in ``reference`` mode (the published look-ahead update, labelled
as such) and in ``causal`` mode on

* ``markers/markers-1/resampled_10hz.mat`` (``org_data`` 9 x N, mm): k = 60, q = 40, eta = 0.02,
  standardised with samples 1-300 (first 30 s), test from sample 601 (1-based);
* ``cine_mri/eth-1/reference_pca_weights.mat`` (``org_data`` 3 x 200): k = 12, q = 110,
  eta = 0.02, standardised with frames 1-90, test frames 181-200;

and prints the nRMSE of each method and horizon (mean over random initialisations, with the 95%
half-range ``1.96 sd / sqrt(n)``) next to the published value.

nRMSE (the reference's definition, checked against the learner-free "no prediction" numbers):
``||Y_pred - Y||_F / ||Y - mean_test(Y)||_F`` over the test window, in the original units (mm for
markers), all coordinates together.

Usage::

    python benchmarks/reference_reproduction.py                 # default subset (~10 min, 1 core)
    python benchmarks/reference_reproduction.py --horizons all --seeds 10 --eth-runs 50 --jobs 4

The reference data folder is ``../shared/data`` (or ``--data``); it is never copied.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from threadpoolctl import threadpool_limits

from motionpredict.forecasters import Standardizer, get

REPO = Path(__file__).resolve().parents[1]

#: Published nRMSE of the reference implementation (see the issue / ../shared/data/README.md).
PUBLISHED = {
    "markers-1": {
        "snap1": {h: 0.199 for h in range(1, 22)},
        "dni": {h: 0.204 for h in range(1, 22)},
        "uoro-as-coded": {h: 0.208 for h in range(1, 22)},
        "rtrl-as-coded": {h: 0.201 for h in range(1, 22)},
        "rtrl": {h: 0.201 for h in range(1, 22)},
        "no-prediction": {1: 0.172, 21: 1.49},
    },
    "eth-1": {
        "snap1": {1: 0.805, 7: 0.902},
        "rtrl-as-coded": {1: 0.855, 7: 0.949},
        "rtrl": {1: 0.855, 7: 0.949},
        "no-prediction": {1: 1.15},
    },
}


@dataclass(frozen=True)
class Case:
    """One data set and its published settings."""

    name: str
    path: str
    k: int
    q: int
    eta: float
    n_train: int  # samples used for the standardisation statistics
    test_from: int  # 0-based first test index
    horizons: tuple[int, ...]
    period_s: float


CASES = {
    "markers-1": Case(
        "markers-1", "markers/markers-1/resampled_10hz.mat", 60, 40, 0.02, 300, 600,
        tuple(range(1, 22)), 0.1,
    ),
    "eth-1": Case(
        "eth-1", "cine_mri/eth-1/reference_pca_weights.mat", 12, 110, 0.02, 90, 180,
        tuple(range(1, 8)), 0.314,
    ),
}  # fmt: skip


def nrmse(pred: np.ndarray, true: np.ndarray) -> float:
    """``||pred - true||_F / ||true - mean(true)||_F`` over ``(T, p)`` arrays."""
    return float(np.linalg.norm(pred - true) / np.linalg.norm(true - true.mean(axis=0)))


def load_series(data: Path, case: Case) -> np.ndarray:
    """``(T, p)`` series of ``org_data`` (time along the first axis)."""
    return np.asarray(scipy.io.loadmat(data / case.path)["org_data"], dtype=np.float64).T


def run_one(
    series: np.ndarray, case: Case, method: str, mode: str, h: int, seed: int, eta: float = 0.0
) -> tuple[float, int, float]:
    """Return (nRMSE on the test window, divergence events, ms per step) of one run
    (``eta = 0``: the case's published learning rate)."""
    std = Standardizer(series[: case.n_train])
    z = std.transform(series)
    n, p = z.shape
    if method == "no-prediction":
        pred = np.full_like(series, np.nan)
        pred[h:] = series[:-h]
        return nrmse(pred[case.test_from :], series[case.test_from :]), 0, 0.0
    name, params = method, {"k": case.k, "q": case.q, "eta": eta or case.eta}
    if method.endswith("-as-coded"):
        name, params["variant"] = method.removesuffix("-as-coded"), "as-coded"
    f = get(name)(horizon=h, n_features=p, mode=mode, seed=seed, **params)
    pred_z = np.full_like(z, np.nan)
    # one BLAS thread: vector-sized products gain nothing from threads and stall under load
    with threadpool_limits(limits=1, user_api="blas"):
        t0 = time.perf_counter()
        for t in range(n):
            look = z[t + h] if (mode == "reference" and t + h < n) else None
            out = f.step(z[t], lookahead=look)
            if t + h < n:
                pred_z[t + h] = out
        ms = (time.perf_counter() - t0) / n * 1e3
    pred = std.inverse(pred_z)
    return nrmse(pred[case.test_from :], series[case.test_from :]), len(f.events), ms


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--cases", default="markers-1,eth-1")
    ap.add_argument("--methods", default="snap1,dni,uoro-as-coded,uoro,rtrl")
    ap.add_argument("--modes", default="reference,causal")
    ap.add_argument(
        "--horizons", default="1,3,7,14,21", help="comma list (samples) or 'all'; eth-1 caps at 7"
    )
    ap.add_argument("--seeds", type=int, default=10, help="random initialisations (markers)")
    ap.add_argument("--eth-runs", type=int, default=20, help="random initialisations (eth-1)")
    ap.add_argument("--rtrl-runs", type=int, default=0, help="cap on RTRL runs (0: no cap)")
    ap.add_argument(
        "--causal-etas",
        default="0,0.002",
        help="learning rates of the causal runs (0: the published one, tuned for reference mode)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="parallel processes (joblib)")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"reference data folder {args.data} is absent; nothing to do")
        return 0

    from joblib import Parallel, delayed

    for cname in args.cases.split(","):
        case = CASES[cname]
        series = load_series(args.data, case)
        if args.horizons == "all":
            horizons = case.horizons
        else:
            horizons = tuple(h for h in map(int, args.horizons.split(",")) if h in case.horizons)
        if cname == "eth-1" and args.horizons != "all":
            horizons = tuple(sorted({1, 4, 7} | set(horizons)))
        runs = args.seeds if cname == "markers-1" else args.eth_runs
        methods = args.methods.split(",")
        jobs = []
        settings = []  # (mode, eta)
        for mode in args.modes.split(","):
            etas = [float(e) for e in args.causal_etas.split(",")] if mode == "causal" else [0.0]
            settings += [(mode, eta) for eta in etas]
        for mode, eta in settings:
            for method in methods:
                if mode == "causal" and method.endswith("-as-coded"):
                    continue
                n_runs = runs
                if method.startswith("rtrl") and args.rtrl_runs:
                    n_runs = min(runs, args.rtrl_runs)
                for h in horizons:
                    for seed in range(n_runs):
                        jobs.append((method, mode, eta, h, seed))
        t0 = time.perf_counter()
        results = Parallel(n_jobs=args.jobs)(
            delayed(run_one)(series, case, m, mo, h, s, eta) for (m, mo, eta, h, s) in jobs
        )
        wall = time.perf_counter() - t0
        table: dict[tuple[str, str, float, int], list[tuple[float, int, float]]] = {}
        for key, res in zip(jobs, results, strict=True):
            table.setdefault(key[:4], []).append(res)
        print(f"\n## {cname}: k={case.k}, q={case.q}, eta={case.eta}, test from index "
              f"{case.test_from + 1} (1-based); {len(jobs)} runs in {wall:.0f} s")  # fmt: skip
        print("mode       eta    method          h  h(s)   nRMSE  +-95%   runs  resets  "
              "published  ratio   ms/step")  # fmt: skip
        for h in horizons:
            base = run_one(series, case, "no-prediction", "causal", h, 0)[0]
            pub = PUBLISHED[cname]["no-prediction"].get(h)
            ratio = f"{base / pub:6.3f}" if pub else "     -"
            print(f"{'-':10s} {'-':6s} {'no-prediction':14s} {h:2d} {h * case.period_s:5.2f} "
                  f"{base:7.3f}  {'':5s}  {1:4d}  {0:6d}  "
                  f"{pub if pub else '-':>9}  {ratio}")  # fmt: skip
        for mode, eta in settings:
            for method in methods:
                for h in horizons:
                    res = table.get((method, mode, eta, h))
                    if not res:
                        continue
                    vals = np.array([r[0] for r in res])
                    resets = sum(r[1] for r in res)
                    ms = float(np.mean([r[2] for r in res]))
                    half = 1.96 * vals.std(ddof=1) / np.sqrt(len(vals)) if len(vals) > 1 else 0
                    pub = PUBLISHED[cname].get(method, {}).get(h) if mode == "reference" else None
                    ratio = f"{vals.mean() / pub:6.3f}" if pub else "     -"
                    label = "reference*" if mode == "reference" else mode
                    lr = eta or case.eta
                    print(f"{label:10s} {lr:<6g} {method:14s} {h:2d} {h * case.period_s:5.2f} "
                          f"{vals.mean():7.3f}  {half:5.3f}  {len(vals):4d}  {resets:6d}  "
                          f"{pub if pub else '-':>9}  {ratio}  {ms:7.3f}")  # fmt: skip
        print("* reference mode = the published look-ahead update (uses y[t+h] at time t); "
              "not clinically valid.")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
