"""Empirical coverage and width of the online conformal intervals (issue #21).

Adaptive conformal inference (:mod:`motionpredict.target.intervals`, nominal 90 %) wraps causal
forecasts and is scored on the **test window** of each development sequence:

* markers (``markers-1, -2, -3, -5, -8``, ``resampled_10hz.mat``, 10 Hz): each marker's 3D
  position, an interval radius in mm around its forecast (one ACI per marker; coverage averaged);
  forecasts: no prediction (last value) and causal RLS (``k = 12``), optionally the aggregator
  (``--methods ... aggregator``, slow);
* cine (``--cine``): the target centroid of ``ovgu-ks81`` and ``eth-1`` (1 px = 1 mm; the sidecar
  ROI moved by the predicted and by the Lucas-Kanade field,
  :func:`motionpredict.target.track_pipeline`), 2D radius in mm, on the test window and on every
  frame after the training window (the cine test windows are short).

The ACI step size ``gamma`` is chosen from a grid two ways: **dev-fitted** (best over all test
windows, optimistic) and **LOO** (for each sequence, chosen on the other sequences' test windows
only). The rule: the smallest mean width among the ``gamma`` whose coverage is within 1 point of
90 %, else the coverage closest to 90 %.

    nice -n 5 .venv/bin/python benchmarks/intervals.py [--data ../shared/data]
        [--horizons 0.1 0.5 1.0 2.1] [--methods none rls] [--cine]

About 1 min for the markers with ``none`` and ``rls`` on one core; ``--cine`` adds the
registration of ``ovgu-ks81`` once per horizon (a few minutes). Needs the reference data.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from motionpredict.evaluation.batch import load_sequence
from motionpredict.forecasters import Standardizer, get, run_online
from motionpredict.target.intervals import conformal_series

REPO = Path(__file__).resolve().parents[1]
SEQUENCES = ("markers-1", "markers-2", "markers-3", "markers-5", "markers-8")
PERIOD_S = 0.1
GAMMAS = (0.001, 0.005, 0.01, 0.02, 0.05)
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "rls": ("rls", {"k": 12}),
    "aggregator": ("aggregator", {}),
}


def args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--horizons", type=float, nargs="+", default=[0.1, 0.5, 1.0, 2.1])
    ap.add_argument("--methods", nargs="*", default=["none", "rls"])
    ap.add_argument("--cine", action="store_true", help="also the ovgu-ks81 target centroid")
    return ap.parse_args()


def marker_forecasts(folder: Path, method: str, h: int) -> dict[str, tuple[np.ndarray, ...]]:
    """``{sequence: (truth (T, 9) mm, forecast (T, 9) mm, test (a, b), first target)}``."""
    out = {}
    for name in SEQUENCES:
        loaded = load_sequence(
            {"path": str(folder / name / "resampled_10hz.mat"), "frame_period_s": PERIOD_S}
        )
        mm = loaded.data.as_series()
        sp = loaded.splits
        if method == "none":
            pred = np.full_like(mm, np.nan)
            pred[h:] = mm[:-h]
            first = h
        else:
            std = Standardizer(mm[sp.train[0] : sp.train[1]])
            meth, params = METHODS[method]
            f = get(meth)(horizon=h, n_features=mm.shape[1], mode="causal", seed=0, **params)
            run = run_online(f, std.transform(mm))
            pred = std.inverse(run.predicted)
            first = int(np.flatnonzero(run.issued_at >= 0)[0])
        out[name] = (mm, pred, np.array(sp.test), np.array([first]))
    return out


def marker_scores(data: dict[str, tuple[np.ndarray, ...]], h: int, gamma: float) -> dict[str, Any]:
    """Per sequence: (coverage, mean radius mm) on the test window, averaged over markers."""
    res = {}
    for name, (mm, pred, test, first) in data.items():
        covs, widths = [], []
        sel = np.zeros(len(mm), dtype=bool)
        sel[test[0] : test[1]] = True
        for m in range(mm.shape[1] // 3):
            c = slice(3 * m, 3 * m + 3)
            s = conformal_series(mm[:, c], pred[:, c], h, start=int(first[0]), gamma=gamma)
            covs.append(s.coverage(sel))
            widths.append(s.mean_width(sel))
        res[name] = (float(np.mean(covs)), float(np.mean(widths)))
    return res


def choose(table: dict[float, dict[str, tuple[float, float]]], names: list[str]) -> float:
    """The gamma of the rule on the sequences ``names``."""
    stats = {
        g: (np.mean([table[g][n][0] for n in names]), np.mean([table[g][n][1] for n in names]))
        for g in table
    }
    ok = [g for g, (c, _) in stats.items() if abs(c - 0.9) <= 0.01]
    if ok:
        return min(ok, key=lambda g: stats[g][1])
    return min(stats, key=lambda g: abs(stats[g][0] - 0.9))


def report(label: str, table: dict[float, dict[str, tuple[float, float]]]) -> None:
    names = list(next(iter(table.values())))
    g_dev = choose(table, names)
    dev = [table[g_dev][n] for n in names]
    loo = [table[choose(table, [m for m in names if m != n])][n] for n in names]
    fixed = [table[0.005][n] for n in names]

    def fmt(rows: list[tuple[float, float]]) -> str:
        cov = np.array([r[0] for r in rows])
        return (
            f"{100 * cov.mean():5.1f} % [{100 * cov.min():4.1f}-{100 * cov.max():4.1f}] "
            f"{np.mean([r[1] for r in rows]):6.2f} mm"
        )

    print(f"| {label} | {fmt(fixed)} | {g_dev} | {fmt(dev)} | {fmt(loo)} |", flush=True)


CINE = {  # name: (load options, RLS k, 0-based half-open test window, horizons in frames)
    "ovgu-ks81": ({}, 23, (340, 498), (1, 3, 6)),
    "eth-1": ({"spacing_mm": 1.0}, 12, (180, 200), (1, 2, 3)),
}


def cine_table(folder: Path) -> None:
    from motionpredict.io.loader import load
    from motionpredict.pipeline import OnlineFramePipeline
    from motionpredict.target import mask_from_sidecar, track_pipeline

    print("\n## Cine: sidecar ROI centroid, causal RLS, 2D radius (gamma 0.005)\n")
    print(
        "| sequence | horizon | coverage test window (n) | coverage all scored (n) | mean radius "
        "| centroid error | no-prediction error | s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, (opts, k, test, horizons) in CINE.items():
        path = folder / "cine_mri" / name
        seq = load(path, **opts)
        mask = mask_from_sidecar(path, tuple(seq.shape))
        for h_steps in horizons:
            t0 = time.perf_counter()
            pipe = OnlineFramePipeline(
                seq, method="rls", horizon_s=h_steps * seq.frame_period, method_params={"k": k}
            )
            tr = track_pipeline(pipe, mask)
            h = pipe.horizon_steps
            n = seq.n_frames
            truth = np.full((n, 2), np.nan)
            pred = np.full((n, 2), np.nan)
            truth[tr.targets] = tr.actual_centroid_mm
            pred[tr.targets] = tr.predicted_centroid_mm
            first = int(tr.targets[0])
            truth[:first] = tr.actual_centroid_mm[0]  # no scores are taken before `first`
            s = conformal_series(truth, pred, h, start=first, gamma=0.005)
            sel = np.zeros(n, dtype=bool)
            sel[test[0] : test[1]] = True
            err = np.linalg.norm(truth - pred, axis=1)[first:]
            nopred = np.linalg.norm(truth[first:] - truth[first - h : n - h], axis=1)
            print(
                f"| {name} | {h * seq.frame_period:.3f} s ({h}) | {100 * s.coverage(sel):.1f} % "
                f"({int((s.ready & sel).sum())}) | {100 * s.coverage():.1f} % "
                f"({int(s.ready.sum())}) | {s.mean_width():.2f} mm | {err.mean():.2f} mm "
                f"| {nopred.mean():.2f} mm "
                f"| {time.perf_counter() - t0:.0f} |",
                flush=True,
            )


def main() -> None:
    a = args()
    folder = a.data / "markers"
    print("# Adaptive conformal intervals, nominal 90 %, test windows\n")
    print(
        "Markers, 10 Hz, per-marker 3D radius; coverage mean [min-max over the 5 sequences], "
        "mean radius.\n"
    )
    print(
        "| method, horizon | gamma 0.005 (paper, not tuned) | dev-fitted gamma | dev-fitted "
        "| leave-one-sequence-out |"
    )
    print("|---|---|---|---|---|")
    with threadpool_limits(limits=1, user_api="blas"):
        for method in a.methods:
            for hs in a.horizons:
                h = max(1, round(hs / PERIOD_S))
                data = marker_forecasts(folder, method, h)
                table = {g: marker_scores(data, h, g) for g in GAMMAS}
                report(f"{method} {hs:.1f} s", table)
        if a.cine:
            cine_table(a.data)


if __name__ == "__main__":
    main()
