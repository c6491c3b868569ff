"""Cost per sample of the aggregator with RNN experts: separate members vs one RNN bank.

The aggregator runs the same B SnAp-1 experts (3 learning rates x B/3 initialisations, ``k``
history samples, ``q`` hidden units) either as B separate member forecasters (each a compiled
single-RNN step) or as one RNN bank (one batched step of the PyTorch twin on the CPU, the
Triton kernels on CUDA). The series is a noisy 9-coordinate marker-like signal at 10 Hz,
horizon 5 samples (0.5 s), causal mode. Prints ms per sample (wall and process CPU) and the ratio
to the separate members measured in the same run; in float64 the two aggregates are checked to be
equal (1e-9).

Usage::

    python benchmarks/aggregator_bank.py                 # CPU, B in {6, 30, 90}
    python benchmarks/aggregator_bank.py --experts 6 30 --samples 300 --threads 1
    python benchmarks/aggregator_bank.py --cuda          # adds float32 bank rows on CUDA
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from motionpredict.forecasters import get, run_online

ETAS = (0.005, 0.01, 0.02)
BASE = (("no-prediction", ()), ("rls", (("k", 8), ("forgetting", 0.999))))


def series(n: int, p: int = 9, seed: int = 0) -> np.ndarray:
    """``(n, p)`` standardised breathing-like signal with noise (10 Hz, 4 s period)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 0.1
    phase = rng.uniform(0, np.pi, p)
    y = np.sin(2 * np.pi * t[:, None] / 4.0 + phase) ** 3 + 0.05 * rng.normal(size=(n, p))
    return (y - y.mean(0)) / y.std(0)


def timed(agg, ys: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Run ``agg`` over ``ys``; return forecasts, wall ms and CPU ms per sample."""
    w0, c0 = time.perf_counter(), time.process_time()
    run = run_online(agg, ys)
    n = len(ys)
    return run.predicted, 1e3 * (time.perf_counter() - w0) / n, 1e3 * (time.process_time() - c0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experts", type=int, nargs="+", default=[6, 30, 90], help="B (multiple of 3)")
    ap.add_argument("--samples", type=int, default=600, help="series length (samples)")
    ap.add_argument("--k", type=int, default=24)
    ap.add_argument("--q", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1, help="BLAS / torch threads")
    ap.add_argument("--cuda", action="store_true", help="add float32 bank rows on CUDA")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ys = series(args.samples)
    h, p = 5, ys.shape[1]
    rnn = (("k", args.k), ("q", args.q))
    # warm-up: numba compilation and torch initialisation are not part of the per-sample cost
    warm = {"estimator": "snap1", "k": args.k, "q": args.q, "etas": [0.01], "device": "cpu"}
    run_online(get("aggregator")(horizon=h, n_features=p, members=BASE, rnn_banks=(warm,)),
               ys[:20])
    run_online(get("aggregator")(horizon=h, n_features=p,
                                 members=(*BASE, ("snap1", (*rnn, ("eta", 0.01))))), ys[:20])
    print(f"aggregator + B SnAp-1 experts (k = {args.k}, q = {args.q}, P = {p}), "
          f"{args.samples} samples, h = {h}, causal, {args.threads} thread(s)")
    print("| B | members: wall / CPU ms | bank (twin, CPU, float64): wall / CPU ms | ratio "
          "| max diff | bank CUDA float32: wall ms | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    with threadpool_limits(args.threads):
        for b in args.experts:
            seeds = b // len(ETAS)
            members = [*BASE]
            for eta in ETAS:
                members += [("snap1", (*rnn, ("eta", eta)))] * seeds
            sep = get("aggregator")(horizon=h, n_features=p, seed=1, members=tuple(members))
            spec = {"estimator": "snap1", "k": args.k, "q": args.q, "etas": list(ETAS),
                    "seeds": seeds, "device": "cpu", "backend": "torch"}
            bank = get("aggregator")(horizon=h, n_features=p, seed=1, members=BASE,
                                     rnn_banks=(spec,))
            pa, wa, ca = timed(sep, ys)
            pb, wb, cb = timed(bank, ys)
            diff = float(np.nanmax(np.abs(pa - pb)))
            cuda = ""
            if args.cuda and torch.cuda.is_available():
                gspec = {**spec, "device": "cuda", "backend": "auto", "dtype": "float32"}
                gpu = get("aggregator")(horizon=h, n_features=p, seed=1, members=BASE,
                                        rnn_banks=(gspec,))
                _, wg, _ = timed(gpu, ys)
                cuda = f"| {wg:.3f} | {wa / wg:.2f}x "
            else:
                cuda = "| - | - "
            print(f"| {b} | {wa:.3f} / {ca:.3f} | {wb:.3f} / {cb:.3f} | {wa / wb:.2f}x "
                  f"| {diff:.1e} {cuda}|")
            assert diff < 1e-9, "bank and separate members disagree"


if __name__ == "__main__":
    main()
