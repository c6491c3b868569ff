"""Benchmark: phantom generation. Target: ``make_cine`` (120 frames, 128 x 128) well under 5 s.

Prints a table of wall-clock and CPU times (best of ``--repeats``; on a shared machine the CPU
time is the steadier number) for the generators and, as the baseline of the same run, the direct
way of forming the same default cine: evaluating the analytic anatomy at every pulled position of
every frame instead of sampling it once on a fine grid and interpolating it (the ratio column is
CPU time / baseline CPU time).
Run: ``python benchmarks/phantom.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from motionpredict.phantom import (
    breathing_signal,
    draw_cine_params,
    make_cine,
    make_ct4d,
    make_markers,
)
from motionpredict.phantom.cine import _CineModel
from motionpredict.phantom.fields import PaddedGrid, grid_points, invert_on_grid


def _best(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best wall-clock and best CPU time (s) over ``repeats`` runs."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def _direct_cine(seed: int) -> np.ndarray:
    """Default cine frames (noise-free) with the anatomy evaluated analytically per frame."""
    params = draw_cine_params(seed=seed)
    model = _CineModel(params)
    times = np.arange(params.n_frames) * params.frame_period_s
    weights = model.weights(times)
    grid = grid_points(params.shape, params.spacing_mm)
    pgrid = PaddedGrid.around(model.fov, np.asarray(params.spacing_mm) / 2.0, 50.0)
    nodes = np.moveaxis(model.basis(pgrid.points()), 2, 1).reshape(2, 2, *pgrid.shape)
    frames = np.empty((params.n_frames, *params.shape))
    source = grid
    for t in range(params.n_frames):
        if np.any(weights[t]):
            u_nodes = weights[t, 0] * nodes[0] + weights[t, 1] * nodes[1]
            source = invert_on_grid(u_nodes, pgrid, grid, init=source)
        frames[t] = model.intensity(source).reshape(params.shape)
    return frames


def main() -> None:
    """Time the generators and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    base = _best(lambda: _direct_cine(0), a.repeats)
    rows = [
        ("baseline: cine 120 x 128x128, anatomy evaluated per frame", base),
        ("make_cine 120 x 128x128 (default)", _best(lambda: make_cine(seed=0), a.repeats)),
        (
            "make_cine 120 x 64x64, 4 mm",
            _best(lambda: make_cine(seed=0, shape=(64, 64), spacing_mm=(4.0, 4.0)), a.repeats),
        ),
        ("make_ct4d 10 x 40x64x64 (default)", _best(lambda: make_ct4d(seed=0), a.repeats)),
        ("make_markers 120 s at 10 Hz (default)", _best(lambda: make_markers(seed=0), a.repeats)),
        (
            "breathing_signal 600 s at 100 Hz",
            _best(lambda: breathing_signal(duration_s=600.0, period_s=0.01), a.repeats),
        ),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'case':<{width}}  {'wall (s)':>8}  {'cpu (s)':>8}  {'ratio (cpu)':>11}")
    for name, (wall, cpu) in rows:
        print(f"{name:<{width}}  {wall:>8.3f}  {cpu:>8.3f}  {cpu / base[1]:>11.2f}")


if __name__ == "__main__":
    main()
