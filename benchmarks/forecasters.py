"""Time per online step (predict + learn) of the online RNN forecasters at the published sizes.

Prints, for each method and size, the median wall time and the median thread CPU time of one
``Forecaster.step`` call (reference mode: one learning step per call; causal mode: the same plus
the record kept for ``h`` steps) with the compiled kernels (``use_jit=True``, the default;
:mod:`motionpredict.forecasters.rnn_jit`) and with the numpy specification (``use_jit=False``) in
the same run, their ratio, the ratio to the fixed-weights RNN (forward + readout only, the floor of
every method), and the figures quoted for the authors' MATLAB code (published, desktop CPU) and
for their code under GNU Octave on this kind of machine (from the issue), with our speed-up over
Octave. RTRL has no compiled step (numpy only). Targets are checked on the compiled wall time and,
in brackets, on its thread CPU time (on a loaded machine a niced process waits for the CPU in
the middle of a step, which only the wall time shows).

Usage::

    python benchmarks/forecasters.py                   # all sizes, BLAS on 1 thread
    python benchmarks/forecasters.py --blas-threads 2 --steps 200

Sizes (p = 9 marker coordinates unless stated): 3.33 Hz k = 20, 10 Hz k = 60, 30 Hz k = 150,
eth-1 PCA weights p = 3, k = 12; q = 180 (SnAp-1, UORO, DNI) or the RTRL grid maximum q = 40
(markers) / q = 110 (eth-1).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from motionpredict.forecasters import get

#: (label, p, k, q, {method: published MATLAB ms}, {method: Octave-here ms}).
SIZES = [
    ("3.33Hz k=20 q=180", 9, 20, 180, {"snap1": 0.15, "dni": 0.15}, {}),
    ("3.33Hz k=20 q=40", 9, 20, 40, {"rtrl": 1.4}, {}),
    ("10Hz k=60 q=40", 9, 60, 40, {"rtrl": 10.0},
     {"snap1": 0.20, "dni": 0.18, "uoro": 0.46, "rtrl": 4.9}),
    ("10Hz k=60 q=180", 9, 60, 180, {"snap1": 1.5, "dni": 1.0}, {}),
    ("30Hz k=150 q=180", 9, 150, 180, {"snap1": 9.7, "dni": 6.8}, {"snap1": 2.05, "dni": 1.1}),
    ("30Hz k=150 q=40", 9, 150, 40, {"rtrl": 34.0}, {}),
    ("eth-1 k=12 q=110", 3, 12, 110, {}, {"rtrl": 16.0}),
]  # fmt: skip

METHODS = ("rnn-fixed", "snap1", "dni", "uoro", "rtrl")
TARGET_MS = {"snap1": 0.1, "dni": 0.1, "uoro": 0.1}  # at q = 180
RTRL_BUDGET_MS = 33.0  # one 30 Hz frame


def time_step(
    method: str, p: int, k: int, q: int, mode: str, steps: int, *, jit: bool, h: int = 5
) -> tuple[float, float]:
    """Median wall and median thread-CPU ms per ``step`` call after a 20-step warm-up, on a
    noisy multi-sinusoid standardised-like signal."""
    rng = np.random.default_rng(0)
    n = steps + 20 + h
    t = np.arange(n) * 0.1
    y = np.sin(2 * np.pi * t[:, None] / 4.0 + rng.uniform(0, 6, p)) + 0.05 * rng.normal(size=(n, p))
    f = get(method)(horizon=h, n_features=p, mode=mode, seed=0, k=k, q=q, eta=0.01)
    f.use_jit = jit
    wall = np.empty(steps)
    cpu = np.empty(steps)
    for i in range(n - h):
        look = y[i + h] if mode == "reference" else None
        c0 = time.thread_time()
        t0 = time.perf_counter()
        f.step(y[i], lookahead=look)
        t1 = time.perf_counter()
        c1 = time.thread_time()
        if i >= 20:
            j = min(i - 20, steps - 1)
            wall[j], cpu[j] = t1 - t0, c1 - c0
    return float(np.median(wall) * 1e3), float(np.median(cpu) * 1e3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="timed steps per cell (RTRL: /10)")
    ap.add_argument("--blas-threads", type=int, default=1)
    ap.add_argument("--modes", default="reference,causal")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--sizes", default="", help="comma-separated size labels (default: all)")
    args = ap.parse_args(argv)
    methods = args.methods.split(",")
    sizes = [s for s in SIZES if not args.sizes or s[0] in args.sizes.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# ms per online step (median over steps); BLAS threads {args.blas_threads}; "
          f"{os.cpu_count()} CPUs; load average at start {load:.2f}")  # fmt: skip
    print("# jit = compiled kernels (default), numpy = the numpy specification (use_jit=False); "
          "cpu = thread CPU time")  # fmt: skip
    print("size                 mode       method     jit ms  jit cpu  numpy ms  np cpu  "
          "np/jit  x fixed  MATLAB  Octave  vs Octave  target")  # fmt: skip
    # compile (or load the cached kernels) outside the timed cells
    for method in ("rnn-fixed", "snap1", "dni", "uoro"):
        time_step(method, 2, 2, 3, "causal", 2, jit=True)
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        for label, p, k, q, matlab, octave in sizes:
            for mode in args.modes.split(","):
                base, base_cpu = time_step("rnn-fixed", p, k, q, mode, args.steps, jit=True)
                for method in methods:
                    if method == "rtrl" and q > 110:
                        continue  # outside the published RTRL grid (q^3 (q + m) per step)
                    steps = max(20, args.steps // 10) if method == "rtrl" else args.steps
                    has_jit = method != "rtrl"
                    if method == "rnn-fixed":
                        ms, cpu = base, base_cpu
                    elif has_jit:
                        ms, cpu = time_step(method, p, k, q, mode, steps, jit=True)
                    np_ms, np_cpu = time_step(method, p, k, q, mode, steps, jit=False)
                    if not has_jit:
                        ms, cpu = np_ms, np_cpu
                    pub = matlab.get(method)
                    octv = octave.get(method)
                    speed = f"{octv / ms:8.1f}x" if octv else f"{'-':>9s}"
                    target = ""
                    if method in TARGET_MS and q == 180:
                        limit = TARGET_MS[method]
                        target = (f"<= {limit} ms: {'met' if ms <= limit else 'NOT met'} "
                                  f"(cpu: {'met' if cpu <= limit else 'NOT met'})")  # fmt: skip
                    elif method == "rtrl":
                        budget = RTRL_BUDGET_MS
                        target = (f"< {budget:g} ms: {'met' if ms < budget else 'NOT met'} "
                                  f"(cpu: {'met' if cpu < budget else 'NOT met'})")  # fmt: skip
                    jit_cols = f"{ms:7.3f}  {cpu:7.3f}" if has_jit else f"{'-':>7s}  {'-':>7s}"
                    ratio = f"{np_ms / ms:6.1f}" if has_jit else f"{'-':>6s}"
                    print(f"{label:20s} {mode:10s} {method:10s} {jit_cols}  {np_ms:8.3f}  "
                          f"{np_cpu:6.3f}  {ratio}  {ms / base:7.1f}  "
                          f"{pub if pub else '-':>6}  {octv if octv else '-':>6}  {speed}  "
                          f"{target}")  # fmt: skip
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# load average at end {load:.2f} (other processes share these cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
