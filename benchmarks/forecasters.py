"""Time per online step (predict + learn) of the online RNN forecasters at the published sizes.

Prints, for each method and size, the median wall time of one ``Forecaster.step`` call (reference
mode: one learning step per call; causal mode: the same plus the record copy), the ratio to the
fixed-weights RNN in the same run (forward + readout only, the floor of every method), and the
figures quoted for the authors' MATLAB code (published, desktop CPU) and for their code under GNU
Octave on this kind of machine (from the issue), with our speed-up over Octave.

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


def time_step(method: str, p: int, k: int, q: int, mode: str, steps: int, h: int = 5) -> float:
    """Median ms per ``step`` call after a warm-up, on a standardised random-walk-like signal."""
    rng = np.random.default_rng(0)
    n = steps + 20 + h
    t = np.arange(n) * 0.1
    y = np.sin(2 * np.pi * t[:, None] / 4.0 + rng.uniform(0, 6, p)) + 0.05 * rng.normal(size=(n, p))
    f = get(method)(horizon=h, n_features=p, mode=mode, seed=0, k=k, q=q, eta=0.01)
    times = np.empty(steps)
    for i in range(n - h):
        look = y[i + h] if mode == "reference" else None
        t0 = time.perf_counter()
        f.step(y[i], lookahead=look)
        if i >= 20:
            times[min(i - 20, steps - 1)] = time.perf_counter() - t0
    return float(np.median(times) * 1e3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="timed steps per cell (RTRL: /10)")
    ap.add_argument("--blas-threads", type=int, default=1)
    ap.add_argument("--modes", default="reference,causal")
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args(argv)
    methods = args.methods.split(",")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# ms per online step; BLAS threads {args.blas_threads}; {os.cpu_count()} CPUs; "
          f"load average at start {load:.2f}")  # fmt: skip
    print("size                 mode       method      ms/step  x fixed  MATLAB  Octave  "
          "vs Octave  target")  # fmt: skip
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        for label, p, k, q, matlab, octave in SIZES:
            for mode in args.modes.split(","):
                base = time_step("rnn-fixed", p, k, q, mode, args.steps)
                for method in methods:
                    if method == "rtrl" and q > 110:
                        continue  # outside the published RTRL grid (q^3 (q + m) per step)
                    steps = max(20, args.steps // 10) if method == "rtrl" else args.steps
                    ms = base if method == "rnn-fixed" else time_step(method, p, k, q, mode, steps)
                    pub = matlab.get(method)
                    octv = octave.get(method)
                    speed = f"{octv / ms:8.1f}x" if octv else f"{'-':>9s}"
                    target = ""
                    if method in TARGET_MS and q == 180:
                        target = f"<= {TARGET_MS[method]} ms: {'met' if ms <= 0.1 else 'NOT met'}"
                    elif method == "rtrl":
                        target = f"< {RTRL_BUDGET_MS:g} ms: " + (
                            "met" if ms < RTRL_BUDGET_MS else "NOT met"
                        )
                    print(f"{label:20s} {mode:10s} {method:10s} {ms:8.3f}  {ms / base:7.1f}  "
                          f"{pub if pub else '-':>6}  {octv if octv else '-':>6}  {speed}  "
                          f"{target}")  # fmt: skip
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# load average at end {load:.2f} (other processes share these cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
