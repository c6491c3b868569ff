"""Latency of the online pipeline: time from a frame's arrival to its predicted frame, per stage.

Runs :class:`motionpredict.pipeline.OnlineFramePipeline` with SnAp-1 over real cine frames (ETH
270x270 and OvGU 176x140 from ``--data``, with each sequence's reference LK parameters) or, without
data, over phantoms of the same sizes, and prints per stage the median and 99th percentile in ms,
the total against the frame period, and the ratio to the no-prediction baseline measured in the
same run. The total is given both as wall time (what the target is about) and as the CPU time of
the processing thread (``time.thread_time``): on a shared machine the difference is time spent
waiting for a core; the load average before and after is printed with the tables.

    python benchmarks/latency.py --data ../shared/data [--frames 60] [--q 30] [--backend torch]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from motionpredict.pipeline import STAGES, OnlineFramePipeline
from motionpredict.sequences import ImageSequence


def _sequences(data: Path | None, frames: int) -> list[tuple[str, ImageSequence, dict | None]]:
    out = []
    if data is not None:
        from motionpredict.evaluation.protocol import read_sidecar
        from motionpredict.io import load

        for name, kw in (("ETH eth-1 (270x270)", {"spacing_mm": 1.0}),
                         ("OvGU ovgu-ks81 (176x140)", {})):
            folder = data / "cine_mri" / ("eth-1" if name.startswith("ETH") else "ovgu-ks81")
            if folder.is_dir():
                seq = load(folder, **kw)
                meta = read_sidecar(folder) or {}
                out.append((name, seq.subset(slice(0, frames)), meta.get(
                    "reference_lk_parameters")))
    if not out:
        from motionpredict.phantom import make_cine

        for shape, period, sp in (((270, 270), 0.314, (1.0, 1.0)),
                                  ((176, 140), 0.1675, (1.818, 1.818))):
            ph = make_cine(seed=0, n_frames=frames, shape=shape, frame_period_s=period,
                           spacing_mm=sp)
            out.append((f"phantom {shape[0]}x{shape[1]}", ph.sequence, None))
    return out


def measure(seq: ImageSequence, lk: dict | None, method: str, params: dict, backend: str,
            device: str | None, train: int) -> dict[str, np.ndarray]:
    """Per-frame stage times (ms) of the frames after the training window."""
    pipe = OnlineFramePipeline(seq, method=method, horizon_s=seq.frame_period, n_components=3,
                               train_frames=train, lk_params=lk, method_params=params,
                               backend=backend, device=device)
    pipe.prepare()
    times: dict[str, list[float]] = {s: [] for s in (*STAGES, "total", "total_cpu")}
    for t in range(train, seq.n_frames):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        r = pipe.process(t)
        total = (time.perf_counter() - t0) * 1e3
        cpu = (time.thread_time() - c0) * 1e3
        for s in STAGES:
            times[s].append(r.stage_ms[s])
        times["total"].append(total)
        times["total_cpu"].append(cpu)
    return {k: np.asarray(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="../shared/data (else phantoms)")
    ap.add_argument("--frames", type=int, default=60, help="frames per sequence (default 60)")
    ap.add_argument("--train", type=int, default=20, help="training frames (default 20)")
    ap.add_argument("--k", type=int, default=12, help="SnAp-1 history length")
    ap.add_argument("--q", type=int, default=30, help="SnAp-1 hidden units")
    ap.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    ap.add_argument("--device", default=None, help="torch device, e.g. cuda")
    args = ap.parse_args()
    print(f"# latency, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"backend {args.backend} {args.device or ''}; times in ms per frame after the "
          f"{args.train} training frames; load average {_load()}")
    for name, seq, lk in _sequences(args.data, args.frames):
        base = measure(seq, lk, "no-prediction", {}, args.backend, args.device, args.train)
        snap = measure(seq, lk, "snap1", {"k": args.k, "q": args.q}, args.backend, args.device,
                       args.train)
        period = seq.frame_period * 1e3
        print(f"\n## {name}: frame period {period:.1f} ms, {len(snap['total'])} frames, "
              f"SnAp-1 k={args.k} q={args.q}")
        print("| stage | SnAp-1 median | SnAp-1 p99 | no-prediction median | ratio |")
        print("|---|---|---|---|---|")
        for s in (*STAGES, "total", "total_cpu"):
            m, p = np.median(snap[s]), np.percentile(snap[s], 99)
            b = np.median(base[s])
            print(f"| {s} | {m:.2f} | {p:.2f} | {b:.2f} | {m / b if b > 0 else float('nan'):.2f} |")
        tot = np.median(snap["total"])
        print(f"total median {tot:.1f} ms = {tot / period:.3f} x frame period; "
              f"p99 {np.percentile(snap['total'], 99):.1f} ms; target <= 15 ms: "
              f"{'met' if tot <= 15 else 'NOT met'}; CPU time of the thread "
              f"{np.median(snap['total_cpu']):.1f} ms median")
    print(f"\nload average after: {_load()}")


def _load() -> str:
    """The 1, 5 and 15 min load averages (other processes share the cores)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
