"""Gating simulation on the marker data: no prediction vs causal forecasts (issue #21).

Target signal: on each development sequence (``markers-1, -2, -3, -5, -8``,
``resampled_10hz.mat``, 10 Hz) the coordinate of the 9 with the largest motion in the training
window (a surrogate of the superior-inferior tumour motion); planned position = its most dwelt-in
value in the training window (end of exhale: the mode of a 0.25 mm histogram). Beam latency
500 ms (5 samples, the system delay of Sun et al. 2023). Scored on the test window.

Rows: no prediction (the beam follows the position acquired 500 ms earlier); causal RLS
(``k = 12``, horizon 0.5 s); RLS whose 90 % conformal interval (ACI, ``gamma = 0.005``, per
coordinate) must lie inside the window; RLS that holds the beam while the interval half-width
exceeds half the window. Nothing is tuned (no dev-fitted vs leave-one-out split is needed): the
settings are fixed before looking at the results.

    nice -n 5 .venv/bin/python benchmarks/gating.py [--data ../shared/data] [--out gating.png]

About 20 s on one core. Needs the reference data. Prints one table per window (mean over the 5
sequences) and writes the duty cycle vs residual motion plot.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from motionpredict.evaluation.batch import load_sequence
from motionpredict.forecasters import Standardizer, get, run_online
from motionpredict.target.gating import GatingResult, plot_gating_curves, simulate_gating
from motionpredict.target.intervals import conformal_series

REPO = Path(__file__).resolve().parents[1]
SEQUENCES = ("markers-1", "markers-2", "markers-3", "markers-5", "markers-8")
PERIOD_S = 0.1
LATENCY_MS = 500.0
WINDOWS_MM = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
METHODS = ("no prediction", "RLS", "RLS + interval inside", "RLS + hold if wide")


def args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("gating.png"))
    return ap.parse_args()


def _mean(values: list[float]) -> float:
    """Mean of the finite values (NaN when none: e.g. no beam switch at all)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")


def main() -> None:
    a = args()
    h = round(LATENCY_MS / 1e3 / PERIOD_S)
    results: dict[str, dict[float, list[GatingResult]]] = {
        m: {w: [] for w in WINDOWS_MM} for m in METHODS
    }
    print("| sequence | coordinate | planned (mm) | peak-to-peak (mm) | RLS RMSE (mm) | "
          "no-pred RMSE (mm) | interval coverage |")
    print("|---|---|---|---|---|---|---|")
    with threadpool_limits(limits=1, user_api="blas"):
        for name in SEQUENCES:
            loaded = load_sequence(
                {
                    "path": str(a.data / "markers" / name / "resampled_10hz.mat"),
                    "frame_period_s": PERIOD_S,
                }
            )
            mm = loaded.data.as_series()
            sp = loaded.splits
            train = mm[sp.train[0] : sp.train[1]]
            c = int(np.argmax(train.std(axis=0)))
            edges = np.arange(train[:, c].min(), train[:, c].max() + 0.25, 0.25)
            hist, edges = np.histogram(train[:, c], bins=edges)
            planned = float(0.5 * (edges[np.argmax(hist)] + edges[np.argmax(hist) + 1]))
            std = Standardizer(train)
            f = get("rls")(horizon=h, n_features=mm.shape[1], mode="causal", seed=0, k=12)
            pred = std.inverse(run_online(f, std.transform(mm)).predicted)[:, c]
            first = int(np.flatnonzero(np.isfinite(pred))[0])
            iv = conformal_series(mm[:, c], pred, h, start=first, score="coordinate")
            radius = np.where(iv.ready, iv.widths_mm[:, 0], np.nan)
            a0, b0 = sp.test
            t = np.arange(b0 - a0) * PERIOD_S
            x = mm[a0:b0, c]
            fc, r = pred[a0:b0], radius[a0:b0]
            test_sel = np.zeros(len(mm), dtype=bool)
            test_sel[a0:b0] = True
            rmse = float(np.sqrt(np.nanmean((fc - x) ** 2)))
            nop = float(np.sqrt(np.mean((x[h:] - x[:-h]) ** 2)))
            print(
                f"| {name} | {c} | {planned:.2f} | {np.ptp(train[:, c]):.1f} | {rmse:.2f} | "
                f"{nop:.2f} | {100 * iv.coverage(test_sel):.1f} % |",
                flush=True,
            )
            for w in WINDOWS_MM:
                kw = {"planned_mm": planned, "window_mm": w, "latency_ms": LATENCY_MS}
                results["no prediction"][w].append(simulate_gating(t, x, **kw)[0])
                results["RLS"][w].append(simulate_gating(t, x, forecast_mm=fc, **kw)[0])
                results["RLS + interval inside"][w].append(
                    simulate_gating(t, x, forecast_mm=fc, interval_mm=r, **kw)[0]
                )
                results["RLS + hold if wide"][w].append(
                    simulate_gating(
                        t,
                        x,
                        forecast_mm=fc,
                        interval_mm=r,
                        interval_rule="none",
                        hold_width_mm=0.5 * w,
                        **kw,
                    )[0]
                )
    keys = (
        "duty_cycle",
        "residual_mean_mm",
        "residual_p95_mm",
        "outside_fraction",
        "gating_accuracy",
        "crossing_error_ms",
        "gating_error_ms",
    )
    print("\nMean over the 5 test windows (latency 500 ms).\n")
    print(
        "| window (mm) | method | duty cycle | residual mean (mm) | residual p95 (mm) | beam on "
        "outside | gating accuracy | crossing error (ms) | gating error (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    curves: dict[str, list[GatingResult]] = {}
    for m in METHODS:
        curves[m] = []
        for w in WINDOWS_MM:
            rows = [r.to_dict() for r in results[m][w]]
            mean = {k: _mean([r[k] for r in rows]) for k in keys}
            curves[m].append(GatingResult(**mean, n_samples=0, latency_steps=h))  # type: ignore[arg-type]
    for w_i, w in enumerate(WINDOWS_MM):
        for m in METHODS:
            g = curves[m][w_i]
            print(
                f"| {w:g} | {m} | {100 * g.duty_cycle:.1f} % | {g.residual_mean_mm:.2f} | "
                f"{g.residual_p95_mm:.2f} | {100 * g.outside_fraction:.1f} % | "
                f"{100 * g.gating_accuracy:.1f} % | {g.crossing_error_ms:.0f} | "
                f"{g.gating_error_ms:.0f} |"
            )
    out = plot_gating_curves(curves, WINDOWS_MM, a.out)
    print(f"\nplot: {out}")


if __name__ == "__main__":
    main()
