"""Throughput of the batched online RNN step: Triton kernels vs the PyTorch twin vs a Python loop
over the single-RNN forecasters.

Prints one table: RNN-steps per second (B RNNs x steps / wall time), the modelled bytes moved and
FLOPs per RNN-step, and the ratios against the loop and the twin measured in the same run. On
CUDA it first measures two ceilings on the same GPU (a 1 GiB device-to-device copy and an
8192^3 float32 matrix product) and reports the achieved fraction of each.

Usage::

    python benchmarks/kernels.py            # CUDA if present (full grid), else a small CPU grid
    python benchmarks/kernels.py --cpu      # force the CPU grid (< 2 min on 2 cores)
    python benchmarks/kernels.py --cpu --threads 2
    # a GPU session with little device time: the rows that matter first, a time budget, a CSV
    python benchmarks/kernels.py --budget-s 420 --csv $OUT/kernels.csv \
        --estimators snap1 dni rtrl uoro --batches 8192 1024 --sync-every 1 16

Rows run estimator by estimator in the order given, largest batch first; with ``--budget-s`` no
new row starts once the budget is spent and the rows left out are listed. ``--sync-every`` adds
rows that keep the divergence check on the device for that many steps (the twin and the kernels
alike; 1 = a host round trip every step, the forecasters' behaviour). ``--csv`` writes every
row as it is measured (the file is complete up to the last row even if the run is cut short).

Shapes: B batch, Q hidden, M = 1 + K*P inputs, P = 3 outputs, N = Q + M; float32; causal mode,
horizon 1.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from motionpredict.forecasters import get
from motionpredict.kernels import BatchedRNNConfig, max_batch, new_state, triton_available
from motionpredict.kernels.backend import TRITON_ESTIMATORS
from motionpredict.kernels.batched_rnn_torch import rnn_step_torch

P = 3
FORECASTER = {"rtrl": "rtrl", "snap1": "snap1", "uoro": "uoro", "dni": "dni", "fixed": "rnn-fixed"}


def model_counts(est: str, q: int, m: int) -> tuple[float, float]:
    """Modelled (bytes, FLOPs) per RNN-step of the Triton kernels, float32, causal h = 1.

    Counts the matrix terms of the two launches as implemented; vectors of length Q, N or P are
    neglected. SnAp-1: the update reads J twice (norms, then the step) and reads and writes W;
    the forward reads W and J and writes J (7 QN values). UORO: theta is read twice and written
    once in each launch plus W read (forward) and read + written (update) (8 QN). DNI: W read
    (forward), read + written (update); A (R x Q, R ~ Q) read twice and written once, W_a read
    twice, W_a copied (3 QN + 6 Q^2). RTRL (twin): J read and written, W_c J written and read.
    """
    n = q + m
    qn = q * n
    values, flops = {
        "snap1": (7 * qn, 11 * qn),
        "fixed": (qn, 2 * qn),
        "uoro": (8 * qn, 12 * qn),
        "dni": (3 * qn + 6 * q * q, 4 * qn + 12 * q * q),
        "rtrl": (2 * q * qn + 2 * P * qn, 2 * q * q * n + 4 * P * qn),
    }[est]
    return 4.0 * values, float(flops)


def ceilings(device: torch.device) -> tuple[float, float]:
    """Measured device-to-device copy bandwidth (B/s, read + write) and matmul rate (FLOP/s)."""
    src = torch.empty(2**28, device=device)  # 1 GiB
    dst = torch.empty_like(src)
    dst.copy_(src)
    torch.cuda.synchronize(device)
    reps = 10
    t0 = time.perf_counter()
    for _ in range(reps):
        dst.copy_(src)
    torch.cuda.synchronize(device)
    bw = 2 * src.numel() * 4 * reps / (time.perf_counter() - t0)
    del src, dst
    a = torch.randn(8192, 8192, device=device)
    b = torch.randn(8192, 8192, device=device)
    a @ b
    torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize(device)
    flops = 2 * 8192**3 * reps / (time.perf_counter() - t0)
    return bw, flops


def time_batched(step, cfg, b, device, n_steps, sync_every: int = 1) -> float:
    """RNN-steps per second of ``step`` on ``b`` RNNs."""
    st = new_state(cfg, seeds=np.arange(b), lr=0.01, device=device)
    ys = torch.randn(n_steps + 3, b, P, device=device) * 0.5
    for t in range(3):
        step(st, ys[t], sync_every=sync_every)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for t in range(3, n_steps + 3):
        step(st, ys[t], sync_every=sync_every)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return b * n_steps / (time.perf_counter() - t0)


def time_loop(est, q, k, b, n_steps) -> float:
    """RNN-steps per second of a Python loop over ``b`` single-RNN forecasters (NumPy)."""
    cls = get(FORECASTER[est])
    nets = [cls(horizon=1, n_features=P, seed=i, k=k, q=q, eta=0.01) for i in range(b)]
    ys = np.random.default_rng(0).normal(0, 0.5, (n_steps + 3, P))
    for t in range(3):
        for f in nets:
            f.step(ys[t])
    t0 = time.perf_counter()
    for t in range(3, n_steps + 3):
        for f in nets:
            f.step(ys[t])
    return b * n_steps / (time.perf_counter() - t0)


class CsvRows:
    """Append measured rows to a CSV file, flushed after each row (``None``: no file)."""

    FIELDS = ("device", "estimator", "B", "Q", "M", "impl", "sync_every", "rnn_steps_per_s",
              "bytes_per_step", "flops_per_step", "x_loop", "x_twin", "pct_bandwidth",
              "pct_flops")

    def __init__(self, path: str | None, device_name: str) -> None:
        self.device_name = device_name
        self.fh = None
        if path:
            self.fh = open(path, "w", encoding="utf-8")
            self.fh.write(",".join(self.FIELDS) + "\n")
            self.fh.flush()

    def add(self, *values: object) -> None:
        if self.fh is not None:
            row = [self.device_name, *values]
            self.fh.write(",".join("" if v is None else f"{v}" for v in row) + "\n")
            self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="run the small CPU grid only")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the loop baseline is single-threaded, "
                             "and intra-op threads collapse on an oversubscribed machine)")
    parser.add_argument("--estimators", nargs="+", default=None,
                        choices=("snap1", "fixed", "uoro", "dni", "rtrl"),
                        help="estimators, in the order they run (default: all)")
    parser.add_argument("--batches", type=int, nargs="+", default=None, help="B values")
    parser.add_argument("--hidden", type=int, nargs="+", default=None, help="Q values")
    parser.add_argument("--ks", type=int, nargs="+", default=None,
                        help="history lengths K (M = 1 + 3 K)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per row")
    parser.add_argument("--sync-every", type=int, nargs="+", default=[1],
                        help="divergence-check host synchronisation intervals to compare")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="start no new row after this many seconds")
    parser.add_argument("--csv", default=None, help="also write the rows to this CSV file")
    args = parser.parse_args()
    torch.set_num_threads(max(1, args.threads))
    try:  # the NumPy loop's BLAS gets the same number of threads
        from threadpoolctl import threadpool_limits

        threadpool_limits(max(1, args.threads))
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    t_start = time.perf_counter()
    cuda = torch.cuda.is_available() and not args.cpu
    device = torch.device("cuda" if cuda else "cpu")
    torch.manual_seed(0)
    ests: tuple[str, ...] = ("snap1", "fixed", "uoro", "dni", "rtrl")
    if cuda:
        batches, hidden, ks = (1, 64, 1024, 8192), (32, 64, 110, 180), (12, 60)
        n_steps, loop_b, mem = 50, 64, torch.cuda.get_device_properties(device).total_memory
        bw, fl = ceilings(device)
        name = torch.cuda.get_device_name(device)
        print(f"device: {name}; measured ceilings: copy "
              f"{bw / 1e9:.0f} GB/s, float32 matmul {fl / 1e12:.1f} TFLOP/s")
    else:
        batches, hidden, ks = (1, 64), (32, 64), (12,)
        n_steps, loop_b, mem = 10, 64, 4 * 2**30
        bw = fl = float("nan")
        name = "CPU"
        print(f"device: CPU ({torch.get_num_threads()} threads). GPU figures are missing: "
              "no CUDA device in this run.")
    ests = tuple(args.estimators or ests)
    batches = tuple(sorted(args.batches or batches, reverse=True))
    hidden, ks = tuple(args.hidden or hidden), tuple(args.ks or ks)
    n_steps = int(args.steps or n_steps)
    syncs = tuple(dict.fromkeys(int(s) for s in args.sync_every))
    if any(s < 1 for s in syncs):
        parser.error("--sync-every values must be >= 1")
    use_triton = cuda and triton_available()
    step_triton = step_fused = None
    if use_triton:
        from motionpredict.kernels.batched_rnn_triton import (
            rnn_step_triton,
            rnn_step_triton_fused,
        )

        step_triton, step_fused = rnn_step_triton, rnn_step_triton_fused
    out = CsvRows(args.csv, name)
    head = (f"{'method':7} {'B':>5} {'Q':>4} {'M':>4} {'impl':7} {'sync':>4} {'RNN-steps/s':>12} "
            f"{'B/step':>9} {'FLOP/step':>10} {'x loop':>8} {'x twin':>7} {'%BW':>6} {'%FLOP':>6}")
    print(head)
    print("-" * len(head))
    skipped: list[str] = []

    def over_budget() -> bool:
        return args.budget_s is not None and time.perf_counter() - t_start > args.budget_s

    for est in ests:
        for q in hidden:
            for k in ks:
                m = 1 + k * P
                if over_budget():
                    skipped.append(f"{est} Q={q} M={m} (all B)")
                    continue
                cfg = BatchedRNNConfig(est, n_hidden=q, history=k, n_features=P, horizon=1)
                nbytes, nflops = model_counts(est, q, m)
                loop_rate = time_loop(est, q, k, min(loop_b, 8 if est == "rtrl" else loop_b),
                                      max(3, n_steps // 5))
                print(f"{est:7} {'-':>5} {q:>4} {m:>4} {'loop':7} {'':>4} {loop_rate:12.3g} "
                      f"{nbytes:9.3g} {nflops:10.3g} {1.0:8.2f} {'':>7} {'':>6} {'':>6}",
                      flush=True)
                out.add(est, "", q, m, "loop", "", loop_rate, nbytes, nflops, 1.0, None, None,
                        None)
                for b in batches:
                    if over_budget():
                        skipped.append(f"{est} B={b} Q={q} M={m}")
                        continue
                    if b > max_batch(cfg, mem // 2):
                        print(f"{est:7} {b:>5} {q:>4} {m:>4} {'-':7} state exceeds half the "
                              "device memory")
                        continue
                    for sync in syncs:
                        twin = time_batched(rnn_step_torch, cfg, b, device, n_steps, sync)
                        rows = [("twin", twin)]
                        if step_triton is not None and est in TRITON_ESTIMATORS:
                            rows.append(("triton", time_batched(step_triton, cfg, b, device,
                                                                n_steps, sync)))
                        if step_fused is not None and est == "snap1":
                            rows.append(("fused", time_batched(step_fused, cfg, b, device,
                                                               n_steps, sync)))
                        for impl, rate in rows:
                            # the fused SnAp-1 step (h = 1): record J read twice (norms, step),
                            # W read and written, new J written: 5 QN instead of 7
                            nb = 4.0 * 5 * q * (q + m) if impl == "fused" else nbytes
                            frac_bw = 100 * rate * nb / bw
                            frac_fl = 100 * rate * nflops / fl
                            x_twin = rate / twin if impl in ("triton", "fused") else None
                            xt = f"{x_twin:7.2f}" if x_twin is not None else f"{'':>7}"
                            print(f"{est:7} {b:>5} {q:>4} {m:>4} {impl:7} {sync:>4} "
                                  f"{rate:12.3g} {nb:9.3g} {nflops:10.3g} "
                                  f"{rate / loop_rate:8.2f} {xt} {frac_bw:6.1f} {frac_fl:6.1f}",
                                  flush=True)
                            out.add(est, b, q, m, impl, sync, rate, nb, nflops,
                                    rate / loop_rate, x_twin, frac_bw, frac_fl)
    out.close()
    print(f"total {time.perf_counter() - t_start:.0f} s")
    if skipped:
        print(f"not run (budget of {args.budget_s:g} s spent): " + "; ".join(skipped))


if __name__ == "__main__":
    main()
