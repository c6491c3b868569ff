"""Cost of one ``evaluate`` job with the ``default`` grid preset against the ``published`` one,
and the leave-one-sequence-out evidence behind the default points (issue #14, item 3).

Timing (default command): one 10 Hz marker sequence (markers-8, 320 s, the longest of the
development set), one horizon (0.5 s = 5 samples), causal mode, one core (BLAS and PyTorch
limited to one thread), for every method:

* ``default``: the whole job (:func:`motionpredict.evaluation.protocol.evaluate_markers` with
  :func:`motionpredict.evaluation.grids.method_grid`), timed;
* ``published``: the declared grid. Where it has more than ``--full-limit`` settings, a seeded
  random sample of ``--sample`` settings is timed and the job time is estimated as their mean
  x the grid size (+ the final run); smaller grids run whole. Both columns come from the same
  process on the same machine (the baseline is measured in the same run).

Choosing the default points (``--choose``): on the five development marker sequences (10 Hz,
h = 0.5 s, causal) every candidate setting is run once per sequence (candidates: the published
grid, or a seeded sample of it where it is large, plus the declared default; per-sequence
validation and test RMSE are cached in ``--cache``). For each method and a preset of ``K``
points:

* development-fitted: the ``K`` points with the lowest mean relative validation RMSE (RMSE /
  no prediction's RMSE) over all five sequences, each sequence's job then picking among them on
  its own validation window and scored on its test window;
* leave-one-sequence-out: the same, with the ``K`` points chosen on the other four sequences.

The table gives the mean relative test RMSE over the five sequences of both, of the search over
every candidate, and of the declared default alone.

Usage::

    nice -n 5 .venv/bin/python benchmarks/default_grids.py [--methods lms rls ...]
    nice -n 5 .venv/bin/python benchmarks/default_grids.py --choose [--cache /tmp/loo.json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "markers"
SEQUENCES = ("markers-1", "markers-2", "markers-3", "markers-5", "markers-8")
H = 5  # samples at 10 Hz = 0.5 s


def _load(name: str) -> Any:
    from motionpredict.evaluation.batch import load_sequence

    path = DATA / name / "resampled_10hz.mat"
    if not path.is_file():
        sys.exit(f"{path} not found: the development data (../shared/data) is needed")
    return load_sequence({"path": str(path), "frame_period_s": 0.1})


def _one_thread() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    torch.set_num_threads(1)


# ---------------------------------------------------------------------------- timing
def time_jobs(methods: list[str], sequence: str, sample: int, full_limit: int) -> None:
    from motionpredict.evaluation import grids as G
    from motionpredict.evaluation.protocol import evaluate_markers, forecast_series

    seq = _load(sequence)
    series = seq.data.as_series()
    print(f"# one job: {sequence} ({seq.n} samples at 10 Hz), h = {H} samples (0.5 s), causal, "
          "one core")
    print("| method | default settings | default job (s) | published settings | "
          "published job (s) | published / default |")
    print("|---|---|---|---|---|---|")
    for m in methods:
        grid = G.method_grid(m)
        t0 = time.perf_counter()
        evaluate_markers(seq.data, seq.splits, method=m, horizon_steps=H, mode="causal", seed=0,
                         grid=grid)
        t_def = time.perf_counter() - t0
        pub = G.method_grid(m, preset="published")
        if len(pub) <= full_limit:
            t0 = time.perf_counter()
            evaluate_markers(seq.data, seq.splits, method=m, horizon_steps=H, mode="causal",
                             seed=0, grid=pub)
            t_pub, how = time.perf_counter() - t0, "measured"
        else:
            pts = random.Random(0).sample(pub, sample)
            secs = []
            for p in pts:
                t0 = time.perf_counter()
                forecast_series(series, method=m, horizon=H, mode="causal", seed=0, params=p,
                                splits=seq.splits, frame_period_s=0.1)
                secs.append(time.perf_counter() - t0)
            t_pub = float(np.mean(secs)) * (len(pub) + 1)
            how = f"est. from {sample} settings"
        print(f"| {m} | {len(grid)} | {t_def:.1f} | {len(pub)} | {t_pub:.1f} ({how}) | "
              f"{t_pub / t_def:.0f}x |", flush=True)


# ---------------------------------------------------------------------------- choosing
def candidates(method: str, n_sample: int) -> list[dict[str, Any]]:
    """Candidate settings: the declared grid (a seeded sample of ``n_sample`` settings where it
    has more than 200; RNNs: a few points, as their full grids cost hours), plus the
    default."""
    from motionpredict.evaluation.protocol import expand_grid
    from motionpredict.forecasters import get

    cls = get(method)
    full = expand_grid(dict(cls.grid()))
    if method in ("snap1", "rnn-fixed"):
        pts = [{"k": k, "q": 30, "eta": e} for k in (12, 24) for e in (0.005, 0.01, 0.02)]
    elif method in ("dni", "rtrl"):
        pts = [{"k": 12, "q": 30, "eta": e} for e in (0.005, 0.01, 0.02)]
    elif method == "uoro":
        pts = [{"k": 12, "q": 30, "eta": e} for e in (0.005, 0.02)]
    elif len(full) > 200:
        pts = random.Random(0).sample(full, n_sample)
    else:
        pts = full
    defaults = {hp.name: hp.default for hp in cls.hyperparameters}
    pts = [{**defaults, **p} for p in pts]
    if defaults not in pts:
        pts.insert(0, defaults)
    return pts


def collect(methods: list[str], cache: Path, n_sample: int) -> dict[str, Any]:
    from motionpredict import metrics as M
    from motionpredict.evaluation.protocol import forecast_series, scored_window

    res: dict[str, Any] = json.loads(cache.read_text()) if cache.is_file() else {}
    seqs = {name: _load(name) for name in SEQUENCES}
    for m in methods:
        pts = candidates(m, n_sample)
        rows = res.get(m)
        if rows is None or rows.get("points") != json.loads(json.dumps(pts)):
            rows = res[m] = {"points": pts, "val": {}, "test": {}, "nopred": {}, "sec": {}}
        for name, s in seqs.items():
            if len(rows["val"].get(name, [])) == len(pts):
                continue
            y, sp = s.data.as_series(), s.splits
            val = scored_window(sp.validation, sp, m)
            te = slice(*sp.test)
            v, t, sec = [], [], []
            for p in pts:
                t0 = time.perf_counter()
                pred, _, _ = forecast_series(y, method=m, horizon=H, mode="causal", seed=0,
                                             params=p, splits=sp, frame_period_s=0.1)
                sec.append(time.perf_counter() - t0)
                v.append(M.marker_metrics(pred[val[0]: val[1]], y[val[0]: val[1]])["rmse_mm"])
                t.append(M.marker_metrics(pred[te], y[te])["rmse_mm"])
            rows["nopred"][name] = {
                "val": M.marker_metrics(y[val[0] - H: val[1] - H], y[val[0]: val[1]])["rmse_mm"],
                "test": M.marker_metrics(y[sp.test[0] - H: sp.test[1] - H], y[te])["rmse_mm"]}
            rows["val"][name], rows["test"][name], rows["sec"][name] = v, t, sec
            cache.write_text(json.dumps(res, default=str))
            print(f"# {m} {name}: {len(pts)} settings, {sum(sec):.0f} s", file=sys.stderr,
                  flush=True)
    return res


def _job(val: np.ndarray, test: np.ndarray, seq: int, preset: np.ndarray) -> float:
    """Relative test RMSE of a job on sequence ``seq`` that picks among ``preset`` on its
    validation window."""
    return float(test[seq, preset[np.argmin(val[seq, preset])]])


def _top(val: np.ndarray, train: list[int], k: int) -> np.ndarray:
    """The ``k`` settings with the lowest mean relative validation RMSE over ``train``."""
    return np.argsort(val[train].mean(axis=0), kind="stable")[:k]


def loo_table(res: dict[str, Any], sizes: dict[str, int]) -> list[dict[str, Any]]:
    """Per method: mean relative test RMSE of the K-point preset, development-fitted and
    leave-one-sequence-out, of the search over all candidates and of the declared default."""
    out = []
    for m, rows in res.items():
        names = [n for n in SEQUENCES if n in rows["val"]]
        if len(names) < 2:
            continue
        val = np.array([np.asarray(rows["val"][n]) / rows["nopred"][n]["val"] for n in names])
        test = np.array([np.asarray(rows["test"][n]) / rows["nopred"][n]["test"] for n in names])
        val = np.where(np.isfinite(val), val, np.inf)
        k = min(sizes.get(m, 3), val.shape[1])
        everything = np.arange(val.shape[1])
        n = len(names)
        dev_pick = _top(val, list(range(n)), k)
        dev = [_job(val, test, i, dev_pick) for i in range(n)]
        loo = [_job(val, test, i, _top(val, [j for j in range(n) if j != i], k))
               for i in range(n)]
        out.append({
            "method": m, "candidates": val.shape[1], "k": k,
            "dev": float(np.mean(dev)), "loo": float(np.mean(loo)),
            "all": float(np.mean([_job(val, test, i, everything) for i in range(n)])),
            "default": float(np.mean(test[:, 0])),
            "points": [rows["points"][i] for i in dev_pick],
            "sec_per_setting": float(np.mean([np.mean(rows["sec"][n]) for n in names])),
        })
    return out


def main() -> None:
    from motionpredict.evaluation import grids as G

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", nargs="+", default=["no-prediction", "linear", "lms", "rls",
                                                      "kalman", "analog", "aggregator", "snap1",
                                                      "rtrl", "dni", "uoro", "svr"])
    ap.add_argument("--sequence", default="markers-8")
    ap.add_argument("--sample", type=int, default=6, help="settings timed per large grid")
    ap.add_argument("--full-limit", type=int, default=30,
                    help="published grids up to this size run whole")
    ap.add_argument("--choose", action="store_true", help="leave-one-sequence-out evidence")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/default_grids_loo.json"))
    ap.add_argument("--candidates", type=int, default=100,
                    help="sampled candidates of a published grid of more than 200")
    args = ap.parse_args()
    _one_thread()
    if not args.choose:
        time_jobs(args.methods, args.sequence, args.sample, args.full_limit)
        return
    methods = [m for m in args.methods if m not in ("no-prediction", "aggregator", "svr")]
    res = collect(methods, args.cache, args.candidates)
    sizes = {m: G.grid_size(m) for m in res}
    print("# 5 development marker sequences, 10 Hz, h = 0.5 s, causal; relative test RMSE "
          "(RMSE / no prediction's), mean over sequences")
    print("| method | candidates | K (default preset size) | development-fitted | "
          "leave-one-out | search over all candidates | declared default alone | s/setting |")
    print("|---|---|---|---|---|---|---|---|")
    for r in loo_table(res, sizes):
        print(f"| {r['method']} | {r['candidates']} | {r['k']} | {r['dev']:.3f} | "
              f"{r['loo']:.3f} | {r['all']:.3f} | {r['default']:.3f} | "
              f"{r['sec_per_setting']:.2f} |")
        print(f"#   {r['method']} development-fitted points: {json.dumps(r['points'])}")


if __name__ == "__main__":
    main()
