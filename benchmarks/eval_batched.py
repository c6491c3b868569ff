"""Wall time of one marker grid search: the loop over single forecasters vs the batched RNNs.

One job set of the batch evaluation: a marker phantom (3 markers, 9 coordinates, 10 Hz), SnAp-1,
``k = 12``, ``q`` in {30, 60}, ``eta`` in {0.005, 0.01, 0.02}, seeds {0, 1, 2}, horizon 5 samples
(0.5 s), causal mode: 6 grid points x 3 seeds = 18 validation runs, then 3 test runs of the chosen
settings. ``loop`` runs every grid point through :func:`forecast_series`;
``batched`` runs each ``(k, q)`` group of settings x seeds as one float64
:func:`~motionpredict.kernels.run_batched` call (the evaluation's ``rnn_backend = "batched"``).
Both give the same validation scores and test metrics, checked here to 1e-9 mm.

Usage::

    python benchmarks/eval_batched.py                  # CPU, 120 s of markers
    python benchmarks/eval_batched.py --duration 60 --threads 1
    python benchmarks/eval_batched.py --cuda           # adds a device = "cuda" row when present

Prints one table: wall time (s) of the 3 jobs, per-step cost, and the ratio to the loop measured in
the same run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from motionpredict.evaluation import protocol as P
from motionpredict.phantom import make_markers


def run_jobs(traj, splits, grid, seeds, execution) -> tuple[float, list[P.JobResult]]:
    """Run one job per seed (as the batch evaluation does); return the wall time (s), results."""
    P._BATCH_MEMO.clear()
    t0 = time.perf_counter()
    res = [P.evaluate_markers(traj, splits, method="snap1", horizon_steps=5, mode="causal",
                              seed=s, grid=grid, rnn=execution) for s in seeds]
    return time.perf_counter() - t0, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=120.0, help="marker series length (s)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS / torch threads")
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds (jobs)")
    ap.add_argument("--cuda", action="store_true", help="add a device = cuda row if available")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    traj = make_markers(seed=0, duration_s=a.duration, rate_hz=10.0).sequence
    n = traj.n_samples
    tr, va = int(0.45 * n), int(0.75 * n)
    splits = P.Splits((0, tr), (tr, va), (va, n), tr)
    grid = P.method_grid("snap1", {"k": [12], "q": [30, 60], "eta": [0.005, 0.01, 0.02]})
    seeds = list(range(a.seeds))
    rows = [("loop (forecast_series per grid point)", P.RNNExecution()),
            ("batched, CPU (PyTorch twin, float64)",
             P.RNNExecution(rnn_backend="batched", seeds=tuple(seeds)))]
    if a.cuda and torch.cuda.is_available():
        rows.append(("batched, CUDA (float64)",
                     P.RNNExecution(device="cuda", rnn_backend="batched", seeds=tuple(seeds))))
    print(f"marker grid search: T = {n} samples, P = 9, SnAp-1, k = 12, q in {{30, 60}}, "
          f"3 eta x {len(seeds)} seeds, h = 5; {a.threads} thread(s); torch {torch.__version__}")
    print(f"{'path':40s} {'wall s':>8s} {'grid s':>8s} {'us/RNN-step':>12s} {'vs loop':>8s}")
    base = None
    ref: list[P.JobResult] | None = None
    with threadpool_limits(limits=a.threads, user_api="blas"):
        for label, ex in rows:
            if ex.batched:  # warm-up (torch start-up, CUDA context, kernel compilation)
                run_jobs(traj, splits, grid[:1], seeds[:1], ex)
            wall, res = run_jobs(traj, splits, grid, seeds, ex)
            grid_s = sum(r.execution["grid_search_s"] for r in res)
            per_step = grid_s / (len(grid) * len(seeds) * n) * 1e6
            if ref is None:
                ref, base = res, wall
            else:
                for r0, r1 in zip(ref, res, strict=True):
                    assert r0.chosen == r1.chosen
                    assert abs(r0.validation_score - r1.validation_score) < 1e-9
                    assert abs(r0.metrics["rmse_mm"] - r1.metrics["rmse_mm"]) < 1e-9
            assert base is not None
            print(f"{label:40s} {wall:8.2f} {grid_s:8.2f} {per_step:12.1f} "
                  f"{base / wall:7.2f}x")
    assert ref is not None
    few = ref[:5]
    print("first seeds: chosen q", [r.chosen["params"]["q"] for r in few], "eta",
          [r.chosen["params"]["eta"] for r in few], "validation RMSE mm",
          np.round([r.validation_score for r in few], 4).tolist())


if __name__ == "__main__":
    main()
